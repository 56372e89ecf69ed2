"""A Whoosh segment writer for cold builds: the same files as Whoosh's own writer, written faster.

Whoosh's ``SegmentWriter`` turns every posting (one term in one document: 1.5 million of them at
10,000 products) into a tuple, sorts all of them in an external-merge pool, then feeds them one at a
time to the postings writer, reading each document's field length back from disk on the way. That
cost 9 s for a 10k store, more than rendering the whole site.

:class:`BulkWriter` keeps Whoosh's per-document writer (stored fields, columns, lengths) and its
TOC, and replaces the pool and the postings writers:

* an analyzer that offers ``term_stats(value)`` (``storefront.search.StoreAnalyzer`` does) gives each
  document's term frequencies and weights in one call, with no ``Token`` per term; other fields go
  through ``field.index`` as usual;
* a field's postings are appended to flat arrays (term code, document, weight, frequency) by a few
  C-level calls per document;
* at the end numpy groups them by term, a chunk of terms at a time, and works out the delta-encoded
  ids and each block's statistics; what is left per block and per term is pickling and packing
  the bytes ``W3PostingsWriter`` and ``W3FieldWriter`` write, and the term table's records.

The segment it writes reads back identically to one written by ``SegmentWriter``:
``tests/search/test_bulk_writer.py`` compares every term, posting, weight, length and stored field.
(Its postings and term files are byte for byte those of Whoosh's writer with uncompressed blocks.)
"""

from __future__ import annotations

import bisect
import importlib
import marshal
import multiprocessing
import struct
from array import array
from collections import defaultdict
from itertools import count, repeat
from pickle import dumps
from typing import Any, Callable, Iterator, Sequence

from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC, W3Codec
from whoosh.analysis import IDTokenizer
from whoosh.fields import ID
from whoosh.formats import Existence, Frequency
from whoosh.index import TOC, LockError
from whoosh.system import pack_int, pack_ushort
from whoosh.util.numeric import length_to_byte
from whoosh.writing import SegmentWriter


class _Postings:
    """One field's postings in the order they were added, which is document order: per posting
    its term's code, its document, its weight, and its frequency (fields counted by
    ``term_stats``) or its encoded value (other fields). Appending a document's postings is a
    few C-level ``extend`` calls; :meth:`BulkWriter._flush_segment` groups them by term with one
    stable sort."""

    __slots__ = ("codes", "terms", "docs", "weights", "freqs", "values")

    def __init__(self) -> None:
        self.codes: defaultdict[Any, int] = defaultdict(count().__next__)
        """term -> code, a new term getting the next code (in C, without a Python call)."""
        self.terms = array("I")
        self.docs = array("I")
        self.weights = array("d")
        self.freqs = array("I")
        self.values: list[bytes] = []


class BulkWriter(SegmentWriter):
    """A writer for a new, empty index that only adds documents (no deletes, no merges)."""

    def __init__(self, ix: Any, lock: bool = True):
        super().__init__(ix, _lk=lock, limitmb=1)  # the inherited pool stays empty
        if not isinstance(self.codec, W3Codec):
            raise TypeError(f"BulkWriter writes Whoosh's W3 codec only, not {type(self.codec).__name__}")
        if self.segments:
            raise ValueError("BulkWriter writes a new index; this one already has segments")
        # Stored fields are kept uncompressed (zlib level 0, which readers decompress like any
        # level): compressing each document's description took 0.32 s of CPU at 10,000 products
        # and saved 6 MB of a 40 MB index, since a description on its own hardly compresses.
        stored = self.perdocwriter._colwriters.get("_stored")
        if stored is not None and hasattr(getattr(stored, "_child", None), "_level"):
            stored._child._level = 0
        self._counted: dict[str, _Postings] = {}
        self._items: dict[str, _Postings] = {}
        self._lengths: dict[str, bytearray] = {}
        """Per scorable field, every document's length as Whoosh stores it: one byte."""
        self._plan: dict[str, tuple[Any, str | None, Any, bool, Any]] = {}
        """Per field, worked out once (not per document and field): the field; how it is indexed:
        "fast" (its analyzer's ``term_stats`` counts the terms, with no ``Token`` per term),
        "single" (an ID field: one term, the value itself; ``field.index`` makes a token, a set
        and a generator for that, and it was the writer's busiest line), "index" (``field.index``)
        or None (not indexed); what that uses (``term_stats``, or the ID field's boost); whether
        the field is stored; its column type."""
        for name, field in self.schema.items():
            analyzer = getattr(field, "analyzer", None)
            how, use = ("index" if field.indexed else None), None
            if field.indexed and not field.vector and not field.separate_spelling():
                if type(field.format) is Frequency and field.scorable and hasattr(analyzer, "term_stats"):
                    how, use = "fast", analyzer.term_stats
                elif type(field) is ID and type(field.format) is Existence and type(analyzer) is IDTokenizer:
                    how, use = "single", field.format.field_boost
            self._plan[name] = (field, how, use, bool(field.stored), field.column_type)

    def delete_document(self, docnum, delete=True):
        raise NotImplementedError("BulkWriter only adds documents")

    def update_document(self, **fields):
        raise NotImplementedError("BulkWriter only adds documents")

    def add_document(self, **fields):
        self._check_state()
        plan = self._plan
        for name in fields:
            if name not in plan:
                raise ValueError("BulkWriter does not take boosts or custom stored values (_-prefixed keys)"
                                 if name.startswith("_") else f"No field named {name!r} in {self.schema}")
        docnum = self.docnum
        perdoc = self.perdocwriter
        perdoc.start_doc(docnum)
        stored = perdoc._storedfields
        try:
            for name in sorted(fields):
                value = fields[name]
                if value is None:
                    continue
                field, how, use, keep, column = plan[name]
                if how is None:  # not indexed
                    if keep:
                        stored[name] = value
                    if column:
                        perdoc.add_column_value(name, column, field.to_column_value(value))
                    continue
                length = 0
                if how == "fast" and isinstance(value, str):
                    length, freqs, weights = use(value)
                    self._add_counted(name, docnum, freqs, weights, field.format.field_boost)
                elif how == "single" and isinstance(value, str):
                    self._add_items(name, docnum, [(value.encode("utf-8"), 1, use, b"")])
                    length = 1 if field.scorable else 0
                else:
                    items = list(field.index(value))
                    if field.scorable:
                        length = sum(item[1] for item in items)
                    self._add_items(name, docnum, items)
                if length:
                    lengths = self._lengths.get(name)
                    if lengths is None:
                        lengths = self._lengths[name] = bytearray()
                    if len(lengths) <= docnum:
                        lengths.extend(bytes(docnum + 1 - len(lengths)))
                    lengths[docnum] = length_to_byte(length)
                perdoc.add_field(name, field, value if keep else None, length)
                if column:
                    perdoc.add_column_value(name, column, field.to_column_value(value))
        except Exception:
            perdoc.cancel_doc()
            raise
        perdoc.finish_doc()
        self._added = True
        self.docnum += 1

    def _add_counted(self, name: str, docnum: int, freqs: dict[str, int], weights: dict[str, float],
                     boost: float) -> None:
        """Postings of a field counted by ``term_stats`` (terms are str)."""
        p = self._counted.get(name)
        if p is None:
            p = self._counted[name] = _Postings()
        p.terms.extend(map(p.codes.__getitem__, freqs))
        p.docs.extend(repeat(docnum, len(freqs)))
        p.freqs.extend(freqs.values())
        if boost == 1.0:  # term_stats gives the weights in the frequencies' key order
            p.weights.extend(weights.values())
        else:
            p.weights.extend([weights[t] * boost for t in freqs])

    def _add_items(self, name: str, docnum: int, items: list) -> None:
        """Postings from ``field.index`` (terms are bytes, values encoded by the field's format)."""
        p = self._items.get(name)
        if p is None:
            p = self._items[name] = _Postings()
        for btext, _freq, weight, vbytes in items:
            p.terms.append(p.codes[btext])
            p.docs.append(docnum)
            p.weights.append(weight)
            p.values.append(vbytes)

    def _flush_segment(self):
        self.perdocwriter.close()
        fw = self.fieldwriter
        for name in sorted({*self._items, *self._counted}):
            counted = name in self._counted
            p = self._counted.pop(name) if counted else self._items.pop(name)
            field = self.schema[name]
            fw.start_field(name, field)
            _write_postings(fw, name, field, p, counted, self._lengths.get(name), self.codec._blocklimit)
            fw.finish_field()
        fw.close()


_INFO = struct.Struct("!BfIBBfIIqi")
"""A term's info as ``W3TermInfo.to_bytes`` packs it for postings in the postings file: flags,
total weight, document frequency, min and max length bytes, max weight, first and last document,
then the postings' offset and length."""


CHUNK_POSTINGS = 1 << 14
"""Postings whose blocks are worked out together: numpy's temporaries and the Python lists made
from them stay a few MiB however big the field (all at once, they took 40 MiB per writer)."""


def _lookup(table: Any, index: Any) -> Any:
    """``table[index]`` a slice of ``index`` at a time: numpy copies a whole index array to 64-bit
    integers first (5 MiB for the 620,000 postings of one writer's text field)."""
    import numpy as np
    out = np.empty(len(index), dtype=table.dtype)
    for i in range(0, len(index), CHUNK_POSTINGS):
        out[i:i + CHUNK_POSTINGS] = table[index[i:i + CHUNK_POSTINGS]]
    return out


SORT_SLICE = 1 << 18


def _positions_by_chunk(chunk_ids: Any, chunks: int) -> list[Any]:
    """For each chunk, the positions of its postings, ascending (as 32-bit integers), found in one
    pass whatever the number of chunks (picking each chunk's out of the whole field took time in
    proportion to postings times chunks). Sorted a slice of SORT_SLICE at a time, so that
    numpy's 64-bit temporaries stay small."""
    import numpy as np
    pieces: list[list[Any]] = [[] for _ in range(chunks)]
    for i in range(0, len(chunk_ids), SORT_SLICE):
        ids = chunk_ids[i:i + SORT_SLICE]
        order = np.argsort(ids, kind="stable").astype(np.uint32)
        order += i
        counts = np.bincount(ids, minlength=chunks)
        start = 0
        for c in np.flatnonzero(counts).tolist():
            end = start + int(counts[c])
            pieces[c].append(order[start:end])
            start = end
    return [np.concatenate(p) if len(p) > 1 else p[0] for p in pieces]


def _write_postings(fw: Any, name: str, field: Any, p: _Postings, counted: bool, lengths: bytearray | None,
                    limit: int) -> None:
    """Write one field's postings and term infos: the bytes ``W3FieldWriter`` and
    ``W3PostingsWriter`` write for the same postings, with the posting blocks uncompressed (each
    block records its level, so readers take both; zlib was a fifth of writing a segment, for a
    postings file a third smaller, and queries then skip the decompression).

    Per posting the work is done by numpy: grouping by term (a stable sort keeps document order),
    the delta-encoded ids, each block's largest weight and shortest and longest field lengths.
    Per block and per term, what is left is pickling and packing."""
    import numpy as np

    codes = p.codes
    ordered = sorted(codes)  # str: code point order, which is the UTF-8 byte order Whoosh sorts in
    rank = np.empty(len(ordered), dtype=np.min_scalar_type(len(ordered)))
    rank[np.array([codes[t] for t in ordered], dtype=np.int64)] = np.arange(len(ordered))
    ranks = _lookup(rank, np.frombuffer(p.terms, dtype=np.uint32))  # each posting's term's rank
    p.terms = None  # type: ignore[assignment]
    bounds = [0]
    bounds += np.cumsum(np.bincount(ranks, minlength=len(ordered))).tolist()
    # Chunks: runs of terms with CHUNK_POSTINGS postings at most (or a single term with more).
    # Sorting the whole field at once, and gathering it, took 15 MiB more per writer process than
    # the postings themselves; a chunk's postings are found, sorted and gathered on their own.
    firsts = [0]
    while firsts[-1] < len(ordered):
        first = firsts[-1]
        firsts.append(max(first + 1, bisect.bisect_right(bounds, bounds[first] + CHUNK_POSTINGS, first + 1) - 1))
    chunk_of = np.repeat(np.arange(len(firsts) - 1, dtype=np.min_scalar_type(len(firsts))), np.diff(firsts))
    by_chunk = _positions_by_chunk(_lookup(chunk_of, ranks), len(firsts) - 1)
    all_docs = np.frombuffer(p.docs, dtype=np.uint32)
    all_weights = np.frombuffer(p.weights, dtype=np.float64)
    all_freqs = np.frombuffer(p.freqs, dtype=np.uint32) if counted else None
    table = None if lengths is None else np.frombuffer(bytes(lengths), dtype=np.uint8)
    fixed = field.format.fixed_value_size()
    values = p.values

    key_prefix = pack_ushort(fw._fieldmap[name])
    postfile = fw._postfile
    tindex = fw._tindex
    pos = postfile.tell()
    for c in range(len(firsts) - 1):
        # Terms first..last, whose postings are lo..hi.
        first, last = firsts[c], firsts[c + 1]
        lo, hi = bounds[first], bounds[last]
        # This chunk's postings in document order, then stably by term.
        mine = by_chunk[c]
        by_chunk[c] = None
        take = mine[np.argsort(ranks[mine], kind="stable")]
        if all_freqs is not None:  # Frequency values: each a big-endian uint; Whoosh joins them
            packed = all_freqs[take].astype(">u4").tobytes()
        else:
            chunk_values = [values[i] for i in take.tolist()]
        starts = np.array(bounds[first:last], dtype=np.int64) - lo
        sizes = np.diff(np.array(bounds[first:last + 1], dtype=np.int64))
        # A block starts at each term's start and every `limit` postings after it.
        within = np.arange(hi - lo, dtype=np.int64) - np.repeat(starts, sizes)
        block_starts = np.flatnonzero(within % limit == 0)
        d = all_docs[take].astype(np.int64)
        deltas = np.diff(d, prepend=0)
        deltas[block_starts] = d[block_starts]
        w = all_weights[take]
        # What a block keeps of a weight is a 32-bit float (W3PostingsWriter's array("f")).
        kept = w.astype(np.float32).astype(np.float64)
        block_max_w = np.maximum.reduceat(w, block_starts).tolist()
        block_min_k = np.minimum.reduceat(kept, block_starts).tolist()
        block_max_k = np.maximum.reduceat(kept, block_starts).tolist()
        term_max_w = np.maximum.reduceat(w, starts).tolist()
        if table is not None:
            # Every posting's document has a length of at least one (it holds the term), so a
            # zero is "no length" (a document past the table); the shortest skips those (256).
            lb = np.zeros(hi - lo, dtype=np.int16)
            inside = d < len(table)
            lb[inside] = table[d[inside]]
            lb_min = np.where(lb == 0, 256, lb)
            block_min_l = np.minimum.reduceat(lb_min, block_starts).tolist()
            block_max_l = np.maximum.reduceat(lb, block_starts).tolist()
            term_min_l = np.minimum.reduceat(lb_min, starts).tolist()
            term_max_l = np.maximum.reduceat(lb, starts).tolist()
        docs_l = d.tolist()
        deltas_l = deltas.tolist()
        kept_l = kept.tolist()
        chunks: list[bytes] = []
        term_keys: list[bytes] = []
        infos: list[bytes] = []
        block = 0
        for r in range(first, last):
            start, end = bounds[r] - lo, bounds[r + 1] - lo
            offset = pos
            chunks.append(WHOOSH3_HEADER_MAGIC)
            pos += 4
            total = 0.0
            s = start
            while s < end:
                e = min(s + limit, end)
                least, most = block_min_k[block], block_max_k[block]
                if least == most == 1.0:
                    mini_w = None
                elif least == most:
                    mini_w = kept_l[s]
                else:
                    mini_w = tuple(kept_l[s:e])
                total += sum(kept_l[s:e])
                if all_freqs is not None:
                    vals = packed[4 * s:4 * e]
                elif fixed is None or fixed < 0:
                    vals = tuple(chunk_values[s:e])
                elif fixed == 0:
                    vals = None
                else:
                    vals = b"".join(chunk_values[s:e])
                if table is not None:
                    minb, maxb = block_min_l[block] % 256, block_max_l[block]
                else:
                    minb = maxb = 0
                data = dumps((tuple(deltas_l[s:e]), mini_w, vals), 2)
                info = dumps((e - s, docs_l[e - 1], max(0, block_max_w[block]), 0, minb, maxb), 2)
                size = len(info) + len(data)
                chunks.append(pack_int(-size if e == end else size))
                chunks.append(info)
                chunks.append(data)
                pos += 4 + size
                s = e
                block += 1
            if table is not None:
                tminb, tmaxb = term_min_l[r - first] % 256, term_max_l[r - first]
            else:
                tminb = tmaxb = 0
            term = ordered[r]
            term_keys.append(key_prefix + (term.encode("utf-8") if counted else term))
            infos.append(_INFO.pack(0, total, end - start, tminb, tmaxb, max(0, term_max_w[r - first]),
                                    docs_l[start], docs_l[end - 1], offset, pos - offset))
        postfile.write(b"".join(chunks))
        _add_terms(tindex, term_keys, infos)
    p.docs = p.weights = p.freqs = None  # type: ignore[assignment]
    p.values = []


_RECORD = struct.Struct("!ii")


def _add_terms(tindex: Any, keys: list[bytes], values: list[bytes]) -> None:
    """``tindex.add(key, value)`` for each pair (keys ascending), with one write: the records, the
    hash buckets and the key positions ``OrderedHashWriter`` keeps (its per-call checks and
    three writes were a third of writing 26,000 one-posting id and SKU terms)."""
    if not keys:
        return
    if keys[0] <= tindex.lastkey:
        raise ValueError(f"Keys must increase: {tindex.lastkey!r}..{keys[0]!r}")
    dbfile = tindex.dbfile
    pos = dbfile.tell()
    hashfn = tindex.hashfn
    buckets = tindex.buckets
    positions = []
    records = []
    for key, value in zip(keys, values):
        positions.append(pos)
        h = hashfn(key)
        buckets[h & 255].append((h, pos))
        records += (_RECORD.pack(len(key), len(value)), key, value)
        pos += 8 + len(key) + len(value)
    dbfile.write(b"".join(records))
    index = tindex.index
    had = len(index)
    try:
        index.array.extend(positions)
    except (OverflowError, TypeError):  # past the array's type: Whoosh's append widens it
        del index.array[had:]
        for position in positions:
            index.append(position)
    tindex.lastkey = keys[-1]


_PARTS: list[Any] = []
PACK_RUN = 250


def write_new_index(ix: Any, docs: Sequence[Any], fields_of: Callable[[Any], dict], procs: int = 1,
                    meanwhile: Callable[[], None] | None = None,
                    pack: tuple[Callable[[Any], Any], Callable[[Any], Any]] | None = None) -> int:
    """Write ``docs`` (each turned into Whoosh fields by ``fields_of``) into the new, empty index
    ``ix``: one segment, or with ``procs`` > 1 one segment per forked process, each taking a
    contiguous run of the documents so that document numbers keep their order. ``meanwhile`` is
    called while the processes write (or before the single writer starts). Returns the number of
    segments written.

    ``pack``, a pair of functions (document -> marshal-able value, and back), hands each process
    its documents as one marshalled buffer instead of the parent's objects: a forked process that
    reads an object writes its reference count, which copies the page it lives on. Reading 5,000
    documents that way copied some 80 MiB per process; a buffer is read without being written."""
    procs = max(1, min(procs, len(docs)))
    if procs == 1 or "fork" not in multiprocessing.get_all_start_methods():
        if meanwhile is not None:
            meanwhile()
        writer = BulkWriter(ix)
        try:
            for doc in docs:
                writer.add_document(**fields_of(doc))
        except BaseException:
            writer.cancel()
            raise
        writer.commit()
        return 1
    importlib.import_module("numpy")  # the writers' flush uses it: loaded once, shared, not once per process
    step = -(-len(docs) // procs)
    parts = [docs[i:i + step] for i in range(0, len(docs), step)]
    lock = ix.lock("WRITELOCK")
    if not lock.acquire():
        raise LockError(f"{ix.storage.folder}: the index is locked by another writer")
    temp = ix.storage.temp_storage(f"{ix.indexname}.tmp")  # shared by the writers: made once, here
    try:
        if pack is not None:  # in runs of PACK_RUN, so that a process holds one run at a time
            _PARTS[:] = [(ix, [marshal.dumps([pack[0](d) for d in part[i:i + PACK_RUN]])
                               for i in range(0, len(part), PACK_RUN)], fields_of, pack[1]) for part in parts]
        else:
            _PARTS[:] = [(ix, part, fields_of, None) for part in parts]
        with multiprocessing.get_context("fork").Pool(len(parts)) as pool:
            # The writers have their copies now: the parent lets go of its own (and each writer of
            # the others' and of each run once read), so the buffers are freed as they are used.
            _PARTS.clear()
            pending = pool.map_async(_write_part, range(len(parts)))
            if meanwhile is not None:
                meanwhile()
            segments = pending.get()
        if len({s.segment_id() for s in segments}) != len(segments):
            raise RuntimeError("two index writers drew the same segment name")
        TOC(ix.schema, segments, ix.latest_generation() + 1).write(ix.storage, ix.indexname)
    finally:
        _PARTS.clear()
        temp.destroy()
        lock.release()
    return len(segments)


def _unpacked(runs: list[bytes], unpack: Callable[[Any], Any]) -> Iterator[Any]:
    runs.reverse()
    while runs:
        for value in marshal.loads(runs.pop()):
            yield unpack(value)


def _write_part(i: int) -> Any:
    ix, docs, fields_of, unpack = _PARTS[i]
    _PARTS.clear()
    if unpack is not None:
        docs = _unpacked(docs, unpack)
    writer = BulkWriter(ix, lock=False)
    for doc in docs:
        writer.add_document(**fields_of(doc))
    # Finish this segment's files but leave the TOC, the lock and the shared temp folder to the parent.
    return writer._finalize_segment()
