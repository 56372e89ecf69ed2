"""A Whoosh segment writer for cold builds: the same files as Whoosh's own writer, written faster.

Whoosh's ``SegmentWriter`` turns every posting (one term in one document: 1.5 million of them at
10,000 products) into a tuple, sorts all of them in an external-merge pool, then feeds them one at a
time to the postings writer, reading each document's field length back from disk on the way. That
cost 9 s for a 10k store, more than rendering the whole site.

:class:`BulkWriter` keeps Whoosh's per-document writer (stored fields, columns, lengths), its
postings and term-table writers and its TOC, and replaces only the pool:

* an analyzer that offers ``term_stats(value)`` (``storefront.search.StoreAnalyzer`` does) gives each
  document's term frequencies and weights in one call, with no ``Token`` per term; other fields go
  through ``field.index`` as usual;
* postings are collected per field and term in arrays, already in document order, so only the terms
  need sorting;
* each block of 128 postings is handed to Whoosh's ``W3PostingsWriter`` whole, with its statistics
  computed from the lengths kept in memory.

The segment it writes reads back identically to one written by ``SegmentWriter``:
``tests/search/test_bulk_writer.py`` compares every term, posting, weight, length and stored field.
"""

from __future__ import annotations

import marshal
import multiprocessing
import sys
from array import array
from typing import Any, Callable, Iterator, Sequence

from whoosh.codec.whoosh3 import W3Codec
from whoosh.formats import Frequency
from whoosh.index import TOC, LockError
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import SegmentWriter


class BulkWriter(SegmentWriter):
    """A writer for a new, empty index that only adds documents (no deletes, no merges)."""

    def __init__(self, ix: Any, lock: bool = True):
        super().__init__(ix, _lk=lock, limitmb=1)  # the inherited pool stays empty
        if not isinstance(self.codec, W3Codec):
            raise TypeError(f"BulkWriter writes Whoosh's W3 codec only, not {type(self.codec).__name__}")
        if self.segments:
            raise ValueError("BulkWriter writes a new index; this one already has segments")
        self._postings: dict[str, dict[bytes, tuple[array, array, list[bytes]]]] = {}
        self._counted: dict[str, dict[str, tuple[array, array, array]]] = {}
        self._lengths: dict[str, array] = {}
        """Per scorable field, every document's length as Whoosh reads it back (quantised)."""
        self._fast: dict[str, Any] = {}
        for name, field in self.schema.items():
            analyzer = getattr(field, "analyzer", None)
            if (field.indexed and type(field.format) is Frequency and field.scorable and not field.vector
                    and not field.separate_spelling() and hasattr(analyzer, "term_stats")):
                self._fast[name] = analyzer.term_stats

    def delete_document(self, docnum, delete=True):
        raise NotImplementedError("BulkWriter only adds documents")

    def update_document(self, **fields):
        raise NotImplementedError("BulkWriter only adds documents")

    def add_document(self, **fields):
        self._check_state()
        if any(name.startswith("_") for name in fields):
            raise ValueError("BulkWriter does not take boosts or custom stored values (_-prefixed keys)")
        schema = self.schema
        docnum = self.docnum
        perdoc = self.perdocwriter
        names = sorted(fields)
        self._check_fields(schema, names)
        perdoc.start_doc(docnum)
        try:
            for name in names:
                value = fields[name]
                if value is None:
                    continue
                field = schema[name]
                length = 0
                if field.indexed:
                    fast = self._fast.get(name)
                    if fast is not None and isinstance(value, str):
                        length, freqs, weights = fast(value)
                        self._add_counted(name, docnum, freqs, weights, field.format.field_boost)
                    else:
                        items = list(field.index(value))
                        if field.scorable:
                            length = sum(item[1] for item in items)
                        self._add_items(name, docnum, items)
                    if length:
                        lengths = self._lengths.get(name)
                        if lengths is None:
                            lengths = self._lengths[name] = array("I")
                        lengths.extend(bytes(docnum + 1 - len(lengths)))
                        lengths[docnum] = byte_to_length(length_to_byte(length))
                perdoc.add_field(name, field, value if field.stored else None, length)
                column = field.column_type
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
        """Postings of a fast field: per term (str), document numbers, weights and frequencies."""
        terms = self._counted.get(name)
        if terms is None:
            terms = self._counted[name] = {}
        get = terms.get
        for term, freq in freqs.items():
            entry = get(term)
            if entry is None:
                entry = terms[term] = (array("I"), array("d"), array("I"))
            entry[0].append(docnum)
            entry[1].append(weights[term] * boost)
            entry[2].append(freq)

    def _add_items(self, name: str, docnum: int, items: list) -> None:
        """Postings from ``field.index``: per term (bytes), document numbers, weights and values."""
        terms = self._postings.get(name)
        if terms is None:
            terms = self._postings[name] = {}
        get = terms.get
        for btext, _freq, weight, vbytes in items:
            entry = get(btext)
            if entry is None:
                entry = terms[btext] = (array("I"), array("d"), [])
            entry[0].append(docnum)
            entry[1].append(weight)
            if vbytes:
                entry[2].append(vbytes)

    def _flush_segment(self):
        self.perdocwriter.close()
        fw = self.fieldwriter
        limit = self.codec._blocklimit
        swap = sys.byteorder == "little"
        for name in sorted({*self._postings, *self._counted}):
            counted = name in self._counted
            # str order is code point order, which is the UTF-8 byte order Whoosh sorts terms in
            terms = self._counted.pop(name) if counted else self._postings.pop(name)
            lengths = self._lengths.get(name)
            fw.start_field(name, self.schema[name])
            pw = fw._postwriter
            # Posting blocks are written uncompressed (each block records its level, so readers
            # take either): zlib was a fifth of writing a segment, for a postings file a third
            # smaller, and queries then skip the decompression.
            pw._compression = 0
            for term in sorted(terms):
                docs, weights, values = terms.pop(term)
                fw.start_term(term.encode("utf-8") if counted else term)
                n = len(docs)
                for start in range(0, n, limit):
                    end = min(n, start + limit)
                    # The block exactly as W3PostingsWriter.add_posting would have filled it.
                    pw._ids = ids = docs[start:end]
                    pw._weights = array("f", weights[start:end])
                    pw._maxweight = max(0, max(weights[start:end]))
                    if counted:  # Frequency values: each a big-endian uint; Whoosh joins them
                        packed = values[start:end]
                        if swap:
                            packed.byteswap()
                        pw._values = [packed.tobytes()]
                    else:
                        pw._values = values[start:end]
                    if lengths is not None:
                        have = len(lengths)
                        ls = [lengths[d] for d in ids if d < have]
                        nonzero = [x for x in ls if x]
                        pw._minlength = min(nonzero) if nonzero else None
                        pw._maxlength = max(0, *ls) if ls else 0
                    else:
                        pw._minlength, pw._maxlength = None, 0
                    if end < n:
                        pw._write_block()
                fw.finish_term()  # writes the last block
            fw.finish_field()
        fw.close()


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
