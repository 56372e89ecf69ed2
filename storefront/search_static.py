"""Static search fallback: a sharded JSON index written into ``output/search/`` by the build.

When the checkout service cannot be reached, ``templates/static/js/search.js`` answers from these
files with the same tokenizer as :func:`storefront.search.tokenize`. Layout (all JSON, compact and
gzip-friendly: small integers, no repeated keys):

* ``search/manifest.json``: format, document count, block size, shard modulus, the list of shards
  that exist, category slugs and titles, and one category number per document (facets and the
  category filter work without loading documents).
* ``search/shards/<xx>.json``: ``{term: postings}`` for terms whose first character's code point
  modulo the shard count is ``xx`` (hex). Postings are integers ``gap * 4 + where`` where ``gap``
  is the distance to the previous document number (the first one counts from -1) and ``where`` is
  2 for the title, 1 for category/tags, 0 for the body. SKUs are terms ``#<sku lowercased>``.
* ``search/docs/<n>.json``: documents ``n*block .. n*block+block-1`` as
  ``[kind, url, title, sku, price_minor, currency, category, image]``.

Documents are numbered in id order, so an incremental and a full build write identical files.
Product bodies are cut to their first 160 characters (help, policy and pages keep their whole
body) to stay within the download budget at 10,000 products.
"""

from __future__ import annotations

import json
from pathlib import Path

from whoosh import index as whoosh_index

from storefront.search import SearchIndexError, tokenize

FORMAT = 1
SHARDS = 128
BLOCK = 50
PRODUCT_BODY_CHARS = 160
"""Only the opening of a product body is indexed statically (the part meta descriptions show)."""


def shard_of(term: str) -> str:
    """Shard id of a term: its first character's code point modulo SHARDS, as two hex digits."""
    return format(ord(term[0]) % SHARDS, "02x")


def _dump(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def static_index_files(index_dir: Path) -> dict[str, bytes]:
    """The static fallback index as ``{path under output/: bytes}``, derived from the index the
    ``index_dir`` symlink points at."""
    real = Path(index_dir).resolve()
    if not whoosh_index.exists_in(str(real)):
        raise SearchIndexError(f"{index_dir}: no search index to export. Fix: build the index first.")
    ix = whoosh_index.open_dir(str(real))
    with ix.reader() as reader:
        stored = [reader.stored_fields(n) for n in reader.all_doc_ids()]
    stored.sort(key=lambda f: f["id"])

    categories = sorted({f.get("category", "") for f in stored} - {""})
    cat_no = {c: i + 1 for i, c in enumerate(categories)}
    titles = {}
    postings: dict[str, dict[int, int]] = {}
    for docnum, f in enumerate(stored):
        if f.get("category") and f.get("category_title"):
            titles.setdefault(f["category"], f["category_title"])
        body = f.get("body", "") or ""
        parts = [(body if f.get("kind") != "product" else body[:PRODUCT_BODY_CHARS], 0)]
        parts += [(f.get("meta", ""), 1), (f.get("title", ""), 2)]
        for text, where in parts:
            for term in tokenize(text or "", "index"):
                slot = postings.setdefault(term, {})
                if slot.get(docnum, -1) < where:
                    slot[docnum] = where
        for sku in (f.get("sku") or "").split():
            postings.setdefault("#" + sku.lower(), {})[docnum] = 2

    shards: dict[str, dict[str, list[int]]] = {}
    for term, docs in postings.items():
        encoded, prev = [], -1
        for docnum in sorted(docs):
            encoded.append((docnum - prev) * 4 + docs[docnum])
            prev = docnum
        key = term[1:] if term.startswith("#") else term
        shards.setdefault(shard_of(key), {})[term] = encoded

    files: dict[str, bytes] = {}
    for sid, terms in shards.items():
        files[f"search/shards/{sid}.json"] = _dump(terms)
    for start in range(0, len(stored), BLOCK):
        block = [[f.get("kind", ""), f.get("url", ""), f.get("title", ""),
                  (f.get("sku") or "").split(" ")[0], f.get("price_minor"), f.get("currency", ""),
                  f.get("category", ""), f.get("image", "")] for f in stored[start:start + BLOCK]]
        files[f"search/docs/{start // BLOCK}.json"] = _dump(block)
    # One character per document: 0 = none, then the category's number in base 36 (then more
    # symbols); kept in the manifest so facets never need the document blocks.
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if len(categories) >= len(alphabet):
        cats = [cat_no.get(f.get("category", ""), 0) for f in stored]
    else:
        cats = "".join(alphabet[cat_no.get(f.get("category", ""), 0)] for f in stored)
    files["search/manifest.json"] = _dump({
        "format": FORMAT, "docs": len(stored), "block": BLOCK, "shards": SHARDS,
        "present": sorted(shards), "categories": categories,
        "category_titles": dict(sorted(titles.items())), "doc_categories": cats,
        "boosts": [1, 2, 4],
    })
    return files
