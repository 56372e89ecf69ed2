"""The cold-build writer (storefront.search_bulk) must write what Whoosh's own writer writes."""

from __future__ import annotations

import os
import shutil

import pytest
from whoosh import index as whoosh_index

from storefront import search as search_mod
from storefront import search_bulk
from storefront.search import SearchDoc, StoreAnalyzer, _fields_of, make_schema
from storefront.search_bulk import BulkWriter, write_new_index


def _contents(ix) -> dict:
    """Everything a reader can see: every posting with its weight, value and block statistics,
    term statistics, stored fields, field lengths, columns and collection totals."""
    schema = ix.schema
    with ix.reader() as r:
        terms = {}
        for name in schema.names():
            if not schema[name].indexed:
                continue
            for text in r.lexicon(name):
                info = r.term_info(name, text)
                m = r.postings(name, text)
                posts = []
                while m.is_active():
                    posts.append((m.id(), m.weight(), m.value(), m.block_max_weight(),
                                  m.block_min_length(), m.block_max_length()))
                    m.next()
                terms[(name, text)] = (info.weight(), info.doc_frequency(), info.min_length(), info.max_length(),
                                       info.max_weight(), info.min_id(), info.max_id(), posts)
        n = r.doc_count_all()
        return {
            "terms": terms,
            "stored": [r.stored_fields(i) for i in range(n)],
            "lengths": {f: [r.doc_field_length(i, f) for i in range(n)] for f in schema.names()},
            "columns": {f: list(r.column_reader(f)) for f in schema.names() if r.has_column(f)},
            "totals": {f: (r.field_length(f), r.min_field_length(f), r.max_field_length(f))
                       for f in schema.names() if schema[f].scorable},
        }


def _many(docs: list[SearchDoc], n: int) -> list[SearchDoc]:
    """n documents from the fixture store: enough for terms whose postings span several blocks."""
    import dataclasses
    return [dataclasses.replace(docs[i % len(docs)], id=f"{docs[i % len(docs)].id}-{i}",
                                sku=f"{docs[i % len(docs)].sku}-{i}" if docs[i % len(docs)].sku else "")
            for i in range(n)]


@pytest.fixture(scope="module")
def whoosh_written(tmp_path_factory, docs):
    path = tmp_path_factory.mktemp("whoosh")
    ix = whoosh_index.create_in(str(path), make_schema())
    writer = ix.writer()
    for d in _many(docs, 600):
        writer.add_document(**_fields_of(d))
    writer.commit()
    return _contents(whoosh_index.open_dir(str(path)))


@pytest.mark.parametrize("chunk", [None, 1, 100])
def test_bulk_writer_writes_what_whoosh_writes(tmp_path, docs, whoosh_written, chunk, monkeypatch):
    if chunk is not None:  # postings worked out a few terms at a time, a term on its own, or split
        monkeypatch.setattr(search_bulk, "CHUNK_POSTINGS", chunk)
        monkeypatch.setattr(search_bulk, "SORT_SLICE", chunk * 7)  # and found in several slices
    ix = whoosh_index.create_in(str(tmp_path), make_schema())
    assert write_new_index(ix, _many(docs, 600), _fields_of, procs=1) == 1
    got = _contents(whoosh_index.open_dir(str(tmp_path)))
    assert len(got["terms"]) == len(whoosh_written["terms"]) > 1000
    # Some terms really fill several 128-posting blocks.
    assert max(len(v[-1]) for v in got["terms"].values()) > 256
    for key in ("terms", "stored", "lengths", "columns", "totals"):
        assert got[key] == whoosh_written[key], key


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one segment per process needs two cores")
def test_parallel_bulk_segments_hold_the_same_documents_in_order(tmp_path, docs):
    many = _many(docs, 301)
    ix = whoosh_index.create_in(str(tmp_path), make_schema())
    assert write_new_index(ix, many, _fields_of, procs=2) == 2
    ix = whoosh_index.open_dir(str(tmp_path))
    with ix.reader() as r:
        assert [r.stored_fields(i)["id"] for i in range(r.doc_count_all())] == [d.id for d in many]
        assert len(r.leaf_readers()) == 2
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # the shared temp folder is gone


def test_term_stats_match_the_tokens_whoosh_counts():
    value = search_mod._composite("声驰 Pro 7 无线耳机 earbuds", "耳机 无线 soundrift", "无线耳机 Pro 7 降噪")
    for analyzer in (StoreAnalyzer(), StoreAnalyzer(grams=True)):
        length, freqs, weights = analyzer.term_stats(value)
        expected_f: dict[str, int] = {}
        expected_w: dict[str, float] = {}
        tokens = list(analyzer(value, mode="index", boosts=True))
        for t in analyzer(value, mode="index", boosts=True):
            expected_f[t.text] = expected_f.get(t.text, 0) + 1
            expected_w[t.text] = expected_w.get(t.text, 0.0) + t.boost
        assert length == len(tokens)
        assert dict(freqs) == expected_f and weights == expected_w


def test_bulk_writer_only_adds(tmp_path):
    ix = whoosh_index.create_in(str(tmp_path), make_schema())
    writer = BulkWriter(ix)
    try:
        with pytest.raises(ValueError, match="boosts"):
            writer.add_document(id="x", _boost=2.0)
        with pytest.raises(NotImplementedError):
            writer.delete_document(0)
    finally:
        writer.cancel()
    shutil.rmtree(tmp_path)
