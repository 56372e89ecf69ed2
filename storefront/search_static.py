"""Static search fallback: a sharded JSON index written into ``output/search/`` by the build.

When the checkout service cannot be reached, ``templates/static/js/search-index.js`` answers from
these files with the same tokenizer as :func:`storefront.search.tokenize` (``search.js``). Layout
(all JSON, compact and gzip-friendly: small integers, no repeated keys):

* ``search/manifest.json``: format, document count, block size, shard count, category slugs and
  titles, the default currency, and one category number per document (facets and the category
  filter work without loading documents).
* ``search/shards/<xx>.json``: ``{term: postings}`` for the terms whose :func:`shard_of` is ``xx``
  (a hash of the whole term, so shards are even whatever the alphabet). Postings are integers
  ``gap * 4 + where`` where ``gap`` is the distance to the previous document number (the first
  one counts from -1) and ``where`` is 2 for the title, 1 for category/tags/URL words, 0 for the
  body.
* ``search/skus/<n>.json``: ``{sku lowercased: document number}`` for the n-th run of
  SKU_CHUNK SKUs in sorted order; the manifest's ``sku_chunks`` holds each run's first SKU.
* ``search/docs/<n>.json``: documents ``n*block .. n*block+block-1`` as
  ``[kind, url, title, price_minor]`` plus the currency when it is not the default; ``kind`` is
  an index into the manifest's ``kinds``, and a product URL ``/products/<slug>/`` is kept as
  ``<slug>``.

What is indexed: every document's title, category, tags and URL words (numbers left out), every
SKU, and the whole body of help articles, policies and pages. Product descriptions are left out:
the fallback finds products by name, brand, type, model and SKU. Chinese runs are indexed as
bigrams only (a one-character run as itself), which is what queries ask for; a one-character
query therefore finds only one-character words here. This keeps 10,000 products within the
download budget (see ``bench/search.py``).

Documents are numbered in (category, title, id) order: what one query finds then sits in few
document blocks, which keeps the first query's download small, and an incremental and a full
build still write identical files.
The export is made once per index build and kept inside that build's directory, so a build that
changed nothing reads it back instead of recomputing it.
"""

from __future__ import annotations

import json
import marshal
import os
import re
import shutil
from collections import Counter
from pathlib import Path

from whoosh import index as whoosh_index

from storefront.search import SearchIndexError, is_model, segments, stem

FORMAT = 2
SHARDS = 256
BLOCK = 100
SKU_CHUNK = 200
CACHE_DIR = "static"
"""Inside a build directory of the index: the exported files, made on first use."""
KINDS = ("product", "help", "policy", "page")


def shard_of(term: str) -> str:
    """Shard of a term: a 32-bit multiplicative hash of its UTF-16 code units (what JavaScript's
    ``charCodeAt`` sees) modulo SHARDS, as two hex digits."""
    h = 0
    units = term.encode("utf-16-le")
    for i in range(0, len(units), 2):
        h = (h * 31 + (units[i] | units[i + 1] << 8)) & 0xFFFFFFFF
    return format(h % SHARDS, "02x")


_PRODUCT_URL = re.compile(r"/products/[^/]+/$")


def _terms(text: str, skip_numbers: bool = False) -> list[str]:
    """What a query can ask for: ``tokenize(text, "query") + model_terms(text)`` in one pass over
    the segments (Latin words, model terms, Chinese bigrams; the index-mode unigrams only serve
    one-character queries, and would double the download)."""
    out: list[str] = []
    prev = ""
    for kind, seg in segments(text):
        if kind == "latin":
            if not (skip_numbers and seg.isdigit()):  # URL words such as the "-2137" of a slug
                out.append(stem(seg))
            if is_model(prev, seg):
                out.append(prev + seg)
            prev = seg
        else:
            prev = ""
            if len(seg) == 1:
                out.append(seg)
            else:
                out.extend(seg[i:i + 2] for i in range(len(seg) - 1))
    return out


def _dump(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


EXPORT = "export.marshal"
"""Inside CACHE_DIR: ``{"files": {path: bytes}, "entries": {doc id: entry}}`` (see :func:`_entry`);
the entries let the next build's export recompute only the documents that changed."""


def static_index_files(index_dir: Path) -> dict[str, bytes]:
    """The static fallback index as ``{path under output/: bytes}`` for the build the
    ``index_dir`` symlink points at (or for a build directory itself): read back when this build
    was exported before, else exported now and kept in the build directory."""
    real = Path(index_dir).resolve()
    if not whoosh_index.exists_in(str(real)):
        raise SearchIndexError(f"{index_dir}: no search index to export. Fix: build the index first.")
    saved = _saved(real)
    if saved is not None:
        return saved["files"]
    return save_export(real, _entries(real))


def save_export(build_dir: Path, entries: dict[str, tuple]) -> dict[str, bytes]:
    """Export ``entries`` (every live document's, see :func:`entry`) and keep the result in the
    index build ``build_dir``, for :func:`static_index_files`."""
    files = export_entries(entries)
    tmp = build_dir / f".{CACHE_DIR}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        (tmp / EXPORT).write_bytes(marshal.dumps({"files": files, "entries": entries}))
        os.replace(tmp, build_dir / CACHE_DIR)
    except OSError:  # read-only or raced by another build: the answer is the same, only uncached
        shutil.rmtree(tmp, ignore_errors=True)
    return files


def _saved(build_dir: Path) -> dict | None:
    try:
        saved = marshal.loads((build_dir / CACHE_DIR / EXPORT).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    return saved if isinstance(saved, dict) and "files" in saved and "entries" in saved else None


def export(build_dir: Path) -> dict[str, bytes]:
    """Compute the static files from the stored fields of the index in ``build_dir``."""
    return export_entries(_entries(Path(build_dir)))


def _entries(build_dir: Path) -> dict[str, tuple]:
    """Every live document's entry. An incremental index build records which build it was copied
    from and which documents it changed (``storefront.search.update_index``): when that build's
    entries were kept, only the changed documents are read and analysed again."""
    ix = whoosh_index.open_dir(str(build_dir))
    base = _base_entries(build_dir)
    with ix.reader() as reader:
        if base is not None:
            entries, changed = base
            for doc_id in changed:
                if not reader.doc_frequency("id", doc_id):
                    continue
                for docnum in reader.postings("id", doc_id).all_ids():  # the replaced copy may still be there
                    if not reader.is_deleted(docnum):
                        entries[doc_id] = entry(reader.stored_fields(docnum))
            if len(entries) == reader.doc_count():
                return entries
            # not what the index holds: start over
        return {f["id"]: entry(f) for f in (reader.stored_fields(n) for n in reader.all_doc_ids())}


def _base_entries(build_dir: Path) -> tuple[dict[str, tuple], list[str]] | None:
    from storefront.search import MANIFEST
    try:
        manifest = json.loads((build_dir / MANIFEST).read_text("utf-8"))
        source = manifest.get("derived_from")
        if not source or "/" in source or source.startswith("."):
            return None
    except (OSError, ValueError):
        return None
    saved = _saved(build_dir.parent / source)
    if saved is None:
        return None
    entries = saved["entries"]
    changed = list(manifest.get("changed", []))
    for doc_id in (*changed, *manifest.get("deleted", [])):
        entries.pop(doc_id, None)
    return entries, changed


def entry(f: dict) -> tuple:
    """What the export needs of one document (from its stored fields, or equally from the fields
    ``storefront.search`` indexes it with): its sort key, its row in the document blocks, its
    category, its terms (each with where it was found, the highest place kept) and its SKUs."""
    kind, title = f.get("kind", ""), f.get("title", "")
    where: dict[str, int] = {}
    parts = [(f.get("meta", ""), 1), (title, 2)]
    if kind != "product":
        parts.insert(0, (f.get("body", ""), 0))
    for text, w in parts:
        for term in _terms(text or "", skip_numbers=w == 1):
            if where.get(term, -1) < w:
                where[term] = w
    url = f.get("url", "")
    if kind == "product" and _PRODUCT_URL.match(url):
        url = url[len("/products/"):-1]
    return ((f.get("category", ""), title, f["id"]), kind, url, title, f.get("price_minor"),
            f.get("currency") or "", f.get("category_title") or "", tuple(where.items()),
            tuple((f.get("sku") or "").split()))


def export_entries(entries: dict[str, tuple]) -> dict[str, bytes]:
    """The static files from the documents' entries; documents are numbered in sort-key order."""
    stored = sorted(entries.values())
    categories = sorted({e[0][0] for e in stored} - {""})
    cat_no = {c: i + 1 for i, c in enumerate(categories)}
    currency = Counter(e[5] for e in stored if e[5]).most_common(1)
    currency = currency[0][0] if currency else ""
    titles: dict[str, str] = {}
    codes: dict[str, list[int]] = {}  # per term: docnum * 4 + where, in docnum order
    skus: dict[str, int] = {}
    for docnum, e in enumerate(stored):
        category = e[0][0]
        if category and e[6]:
            titles.setdefault(category, e[6])
        base = docnum * 4
        for term, where in e[7]:
            found = codes.get(term)
            if found is None:
                codes[term] = [base + where]
            else:
                found.append(base + where)
        for sku in e[8]:
            skus.setdefault(sku.lower(), docnum)

    shards: dict[str, dict[str, list[int]]] = {}
    for term, cs in codes.items():
        # gap * 4 + where, the gap counted from the previous document (from -1 for the first)
        encoded = [cs[0] + 4]
        if len(cs) > 1:
            encoded += [c - (p & ~3) for p, c in zip(cs, cs[1:])]
        shards.setdefault(shard_of(term), {})[term] = encoded

    files: dict[str, bytes] = {}
    for sid, terms in shards.items():
        files[f"search/shards/{sid}.json"] = _dump(terms)
    # SKUs in sorted chunks rather than hashed shards: neighbours share prefixes, so a chunk
    # compresses to a third of what the same SKUs cost scattered over shards.
    sku_list = sorted(skus)
    sku_chunks = []
    for n, start in enumerate(range(0, len(sku_list), SKU_CHUNK)):
        chunk = sku_list[start:start + SKU_CHUNK]
        sku_chunks.append(chunk[0])
        files[f"search/skus/{n}.json"] = _dump({k: skus[k] for k in chunk})
    for start in range(0, len(stored), BLOCK):
        block = []
        for e in stored[start:start + BLOCK]:
            kind = e[1]
            row = [KINDS.index(kind) if kind in KINDS else kind, e[2], e[3], e[4]]
            if e[5] and e[5] != currency:
                row.append(e[5])
            block.append(row)
        files[f"search/docs/{start // BLOCK}.json"] = _dump(block)
    # One character per document: 0 = none, then the category's number in base 62; kept in the
    # manifest so facets and the category filter never need the document blocks.
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if len(categories) >= len(alphabet):
        cats = [cat_no.get(e[0][0], 0) for e in stored]
    else:
        cats = "".join(alphabet[cat_no.get(e[0][0], 0)] for e in stored)
    files["search/manifest.json"] = _dump({
        "format": FORMAT, "docs": len(stored), "block": BLOCK, "shards": SHARDS,
        "present": sorted(shards), "categories": categories, "kinds": list(KINDS),
        "category_titles": dict(sorted(titles.items())), "doc_categories": cats,
        "boosts": [1, 2, 4], "currency": currency, "sku_chunks": sku_chunks,
    })
    return files
