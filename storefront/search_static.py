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
from bisect import bisect_left, bisect_right
from collections import Counter
from pathlib import Path
from typing import Callable

from whoosh import index as whoosh_index

from storefront.search import SearchIndexError, counted_terms

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
    """What a query can ask for: ``tokenize(text, "query") + model_terms(text)`` (Latin words,
    model terms, Chinese bigrams; the index-mode unigrams only serve one-character queries, and
    would double the download), in another order. ``skip_numbers`` leaves out words of digits
    only, such as the "-2137" of a slug."""
    return counted_terms(text, "query", models=True, skip_numbers=skip_numbers)


def _dump(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


EXPORT = "export.marshal"
"""Inside CACHE_DIR: ``{"files": {path: bytes}, "entries": {doc id: entry}}`` (see :func:`entry`);
the entries let the next build's export recompute only the documents that changed."""


def static_index_files(index_dir: Path) -> dict[str, bytes]:
    """The static fallback index as ``{path under output/: bytes}`` for the build the
    ``index_dir`` symlink points at (or for a build directory itself): read back when this build
    was exported before, else exported now and kept in the build directory."""
    files, keep = export_files(index_dir)
    keep()
    return files


def export_files(index_dir: Path) -> tuple[dict[str, bytes], Callable[[], None]]:
    """:func:`static_index_files`, and a function that keeps a new export in the build directory,
    for a caller that has better things to do first (the search stage's process answers first)."""
    real = Path(index_dir).resolve()
    if not whoosh_index.exists_in(str(real)):
        raise SearchIndexError(f"{index_dir}: no search index to export. Fix: build the index first.")
    kept = _kept.pop(str(real), None)
    if kept is not None and kept[0] == _stamp(real):
        return kept[1], lambda: None
    saved = _saved(real)
    if saved is not None:
        return saved["files"], lambda: None
    made = _export(real)
    return made.files, lambda: made.keep(real)


def _saved(build_dir: Path) -> dict | None:
    try:
        saved = marshal.loads((build_dir / CACHE_DIR / EXPORT).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    return saved if isinstance(saved, dict) and "files" in saved and "entries" in saved else None


_preloaded: dict[str, Export] = {}
_kept: dict[str, tuple[tuple[int, int] | None, dict[str, bytes]]] = {}
"""The files of the export this process kept last, by build directory (with the kept file's
identity): asked for right after."""


def _stamp(build_dir: Path) -> tuple[int, int] | None:
    try:
        st = (build_dir / CACHE_DIR / EXPORT).stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def preload(index_dir: Path) -> None:
    """Read back the export of the build ``index_dir`` points at now, ready to derive the next
    build's from (the search stage's process does this while the build is still reading the content)."""
    real = os.path.realpath(index_dir)
    found = _read_back(Path(real))
    if found is not None:
        _preloaded[real] = found


def _previous(build_dir: Path) -> Export | None:
    return _preloaded.pop(os.path.realpath(build_dir), None) or _read_back(build_dir)


def _read_back(build_dir: Path) -> Export | None:
    """The export kept in ``build_dir``, ready to derive from; None when there is none."""
    saved = _saved(build_dir)
    return Export(saved["entries"], files=saved["files"]) if saved is not None else None


def export(build_dir: Path) -> dict[str, bytes]:
    """Compute the static files from the stored fields of the index in ``build_dir``."""
    return _export(Path(build_dir)).files


def _export(build_dir: Path) -> Export:
    """The export of every live document. An incremental index build records which build it was
    copied from and which documents it changed (``storefront.search.update_index``): when that
    build's export was kept, only the changed documents are read and analysed again, and only the
    files they touch are made again."""
    ix = whoosh_index.open_dir(str(build_dir))
    base = _base(build_dir)
    with ix.reader() as reader:
        if base is not None:
            previous, changed, deleted = base
            entries = dict(previous.entries)
            for doc_id in (*changed, *deleted):
                entries.pop(doc_id, None)
            for doc_id in changed:
                if not reader.doc_frequency("id", doc_id):
                    continue
                for docnum in reader.postings("id", doc_id).all_ids():  # the replaced copy may still be there
                    if not reader.is_deleted(docnum):
                        entries[doc_id] = entry(reader.stored_fields(docnum))
            if len(entries) == reader.doc_count():
                return previous.derive(entries, {*changed, *deleted})
            # not what the index holds: start over
        pairs: dict = {}
        return Export({f["id"]: entry(f, pairs) for f in (reader.stored_fields(n) for n in reader.all_doc_ids())})


def _base(build_dir: Path) -> tuple[Export, list[str], list[str]] | None:
    from storefront.search import MANIFEST
    try:
        manifest = json.loads((build_dir / MANIFEST).read_text("utf-8"))
        source = manifest.get("derived_from")
        if not source or "/" in source or source.startswith("."):
            return None
    except (OSError, ValueError):
        return None
    previous = _previous(build_dir.parent / source)
    if previous is None:
        return None
    return previous, list(manifest.get("changed", [])), list(manifest.get("deleted", []))


def entry(f: dict, pairs: dict[tuple[str, int], tuple[str, int]] | None = None) -> tuple:
    """What the export needs of one document (from its stored fields, or equally from the fields
    ``storefront.search`` indexes it with): its sort key, its row in the document blocks, its
    category, its terms (each with where it was found, the highest place kept) and its SKUs.

    ``pairs``, shared by the entries of one export, keeps one ``(term, where)`` tuple for all the
    documents that have it: a bigram repeated in thousands of descriptions is then one object
    (the entries of 10,000 products took 25 MB without)."""
    kind, title = f.get("kind", ""), f.get("title", "")
    parts = [(f.get("meta", ""), 1), (title, 2)]
    if kind != "product":
        parts.insert(0, (f.get("body", ""), 0))
    where: dict[str, int] = {}
    for text, w in parts:  # places ascending: a term keeps the highest
        where.update(dict.fromkeys(_terms(text or "", skip_numbers=w == 1), w))
    items = where.items()
    terms = tuple(map(pairs.setdefault, items, items)) if pairs is not None else tuple(items)
    url = f.get("url", "")
    if kind == "product" and _PRODUCT_URL.match(url):
        url = url[len("/products/"):-1]
    return ((f.get("category", ""), title, f["id"]), kind, url, title, f.get("price_minor"),
            f.get("currency") or "", f.get("category_title") or "", terms,
            tuple((f.get("sku") or "").split()))


class Export:
    """The static files made from a set of entries (``{doc id: entry}``), with what making the
    next set's needs: the entries in document-number order, each term's codes (``docnum * 4 +
    where``, ascending), the terms of each shard and the SKU map. :meth:`derive` makes the export
    of a set in which a few documents changed by redoing only the shards, document blocks and SKU
    chunks they touch; the result equals ``Export(new entries)`` (tests compare them)."""

    def __init__(self, entries: dict[str, tuple], files: dict[str, bytes] | None = None):
        self.entries = entries
        self.stored = sorted(entries.values())
        self.codes = _codes(self.stored, 0, len(self.stored))
        self.shards: dict[str, set[str]] = {}
        for term in self.codes:
            self.shards.setdefault(shard_of(term), set()).add(term)
        self.skus = _sku_map(self.stored, 0, len(self.stored))
        self.sku_chunks: list[str] = []
        self._sku_sorted: list[str] | None = None
        self.currency = _currency(self.stored)
        if files is not None:  # made from these entries before
            self.files = files
            self.sku_chunks = json.loads(files["search/manifest.json"])["sku_chunks"]
            return
        self.files = {}
        for sid in self.shards:
            self.files[f"search/shards/{sid}.json"] = self._shard(sid)
        self._sku_files()
        for n in range((len(self.stored) + BLOCK - 1) // BLOCK):
            self.files[f"search/docs/{n}.json"] = self._block(n)
        self.files["search/manifest.json"] = self._manifest()

    def derive(self, entries: dict[str, tuple], touched: set[str]) -> Export:
        """The export of ``entries``: these entries with the documents ``touched`` added, changed
        or removed."""
        new = object.__new__(Export)
        new.entries = entries
        old, old_n = self.stored, len(self.stored)
        # The others keep their order: merging the touched ones in is one pass (timsort runs).
        new.stored = stored = sorted([e for e in old if e[0][2] not in touched]
                                     + [entries[i] for i in touched if i in entries])
        n = len(stored)
        shift = n - old_n
        # The window [lo, hi) where the numbering differs; past it, documents moved by ``shift``.
        lo = 0
        while lo < n and lo < old_n and stored[lo] is old[lo]:
            lo += 1
        tail = 0
        while tail < n - lo and tail < old_n - lo and stored[n - 1 - tail] is old[old_n - 1 - tail]:
            tail += 1
        hi_old, hi_new = old_n - tail, n - tail
        fresh = _codes(stored, lo, hi_new)
        affected = set(fresh)
        for e in old[lo:hi_old]:
            affected.update(term for term, _ in e[7])
        if shift:
            cut = hi_old * 4
            affected.update(t for t, cs in self.codes.items() if cs[-1] >= cut)
        new.codes = codes = dict(self.codes)
        new.shards = shards = dict(self.shards)
        dirty: set[str] = set()
        for term in affected:
            was = self.codes.get(term, [])
            a, b = bisect_left(was, lo * 4), bisect_left(was, hi_old * 4)
            right = was[b:] if not shift else [c + 4 * shift for c in was[b:]]
            now = was[:a] + fresh.get(term, []) + right
            if now == was:
                continue
            sid = shard_of(term)
            dirty.add(sid)
            if now:
                codes[term] = now
                if not was:
                    shards[sid] = shards.get(sid, set()) | {term}
            else:
                del codes[term]
                shards[sid] = shards[sid] - {term}
                if not shards[sid]:
                    del shards[sid]
        new.files = files = dict(self.files)
        for sid in dirty:
            if sid in shards:
                files[f"search/shards/{sid}.json"] = new._shard(sid)
            else:
                del files[f"search/shards/{sid}.json"]
        new.currency = _currency(stored)
        # SKUs: when the window holds the same SKUs, and held their first appearance, only the
        # chunks holding them change; else the chunks are made again.
        before, after = _sku_map(old, lo, hi_old), _sku_map(stored, lo, hi_new)
        if not shift and before.keys() == after.keys() and all(self.skus[k] == v for k, v in before.items()):
            new.skus = {**self.skus, **after}
            new.sku_chunks, new._sku_sorted = self.sku_chunks, self._sku_sorted
            for k in after:
                if after[k] != before[k]:
                    c = bisect_right(new.sku_chunks, k) - 1
                    files[f"search/skus/{c}.json"] = new._sku_chunk(c)
        else:
            new.skus, new._sku_sorted = _sku_map(stored, 0, n), None
            for path in [p for p in files if p.startswith("search/skus/")]:
                del files[path]
            new._sku_files()
        # Document blocks: those holding the window, or every one past it when numbers moved.
        blocks = (n + BLOCK - 1) // BLOCK
        if new.currency != self.currency:
            first, last = 0, blocks
        else:
            first, last = lo // BLOCK, blocks if shift else min(blocks, (hi_new + BLOCK - 1) // BLOCK)
        for b in range(first, last):
            files[f"search/docs/{b}.json"] = new._block(b)
        for b in range(blocks, (old_n + BLOCK - 1) // BLOCK):
            del files[f"search/docs/{b}.json"]
        files["search/manifest.json"] = new._manifest()
        return new

    def keep(self, build_dir: Path) -> None:
        """Keep this export in the index build ``build_dir``, for :func:`static_index_files`."""
        tmp = build_dir / f".{CACHE_DIR}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            (tmp / EXPORT).write_bytes(marshal.dumps({"files": self.files, "entries": self.entries}))
            os.replace(tmp, build_dir / CACHE_DIR)
        except OSError:  # read-only or raced by another build: the answer is the same, only uncached
            shutil.rmtree(tmp, ignore_errors=True)
        _kept.clear()  # one at a time: it is asked for right after, if at all
        real = os.path.realpath(build_dir)
        stamp = _stamp(Path(real))
        if stamp is not None:
            _kept[real] = (stamp, self.files)

    def _shard(self, sid: str) -> bytes:
        out = {}
        for term in self.shards[sid]:
            cs = self.codes[term]
            # gap * 4 + where, the gap counted from the previous document (from -1 for the first)
            encoded = [cs[0] + 4]
            if len(cs) > 1:
                encoded += [c - (p & ~3) for p, c in zip(cs, cs[1:])]
            out[term] = encoded
        return _dump(out)

    def _sku_files(self) -> None:
        # SKUs in sorted chunks rather than hashed shards: neighbours share prefixes, so a chunk
        # compresses to a third of what the same SKUs cost scattered over shards.
        self._sku_sorted = sorted(self.skus)
        self.sku_chunks = self._sku_sorted[::SKU_CHUNK]
        for c in range(len(self.sku_chunks)):
            self.files[f"search/skus/{c}.json"] = self._sku_chunk(c)

    def _sku_chunk(self, c: int) -> bytes:
        if self._sku_sorted is None:
            self._sku_sorted = sorted(self.skus)
        return _dump({k: self.skus[k] for k in self._sku_sorted[c * SKU_CHUNK:(c + 1) * SKU_CHUNK]})

    def _block(self, b: int) -> bytes:
        block = []
        for e in self.stored[b * BLOCK:(b + 1) * BLOCK]:
            kind = e[1]
            row = [KINDS.index(kind) if kind in KINDS else kind, e[2], e[3], e[4]]
            if e[5] and e[5] != self.currency:
                row.append(e[5])
            block.append(row)
        return _dump(block)

    def _manifest(self) -> bytes:
        stored = self.stored
        categories = sorted({e[0][0] for e in stored} - {""})
        cat_no = {c: i + 1 for i, c in enumerate(categories)}
        titles: dict[str, str] = {}
        for e in stored:
            if e[0][0] and e[6] and e[0][0] not in titles:
                titles[e[0][0]] = e[6]
        # One character per document: 0 = none, then the category's number in base 62; kept in the
        # manifest so facets and the category filter never need the document blocks.
        alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        if len(categories) >= len(alphabet):
            cats: list[int] | str = [cat_no.get(e[0][0], 0) for e in stored]
        else:
            cats = "".join(alphabet[cat_no.get(e[0][0], 0)] for e in stored)
        return _dump({
            "format": FORMAT, "docs": len(stored), "block": BLOCK, "shards": SHARDS,
            "present": sorted(self.shards), "categories": categories, "kinds": list(KINDS),
            "category_titles": dict(sorted(titles.items())), "doc_categories": cats,
            "boosts": [1, 2, 4], "currency": self.currency, "sku_chunks": self.sku_chunks,
        })


def _codes(stored: list[tuple], lo: int, hi: int) -> dict[str, list[int]]:
    """Per term of the documents numbered [lo, hi): ``docnum * 4 + where``, ascending."""
    codes: dict[str, list[int]] = {}
    for docnum in range(lo, hi):
        base = docnum * 4
        for term, where in stored[docnum][7]:
            found = codes.get(term)
            if found is None:
                codes[term] = [base + where]
            else:
                found.append(base + where)
    return codes


def _sku_map(stored: list[tuple], lo: int, hi: int) -> dict[str, int]:
    """SKU (lowercased) -> number of the first document in [lo, hi) that has it."""
    skus: dict[str, int] = {}
    for docnum in range(lo, hi):
        for sku in stored[docnum][8]:
            skus.setdefault(sku.lower(), docnum)
    return skus


def _currency(stored: list[tuple]) -> str:
    """The most common currency: the documents' default."""
    found = Counter(e[5] for e in stored if e[5]).most_common(1)
    return found[0][0] if found else ""
