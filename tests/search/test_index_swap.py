"""Incremental updates answer exactly like a full rebuild; swaps are atomic under readers."""

from __future__ import annotations

import dataclasses
import os
import threading

import pytest

import storefront.search as search_mod
from storefront.search import (IndexHandle, SearchIndexError, open_index, search, suggest,
                               update_index)

QUERIES = ["声驰蓝牙耳机", "声驰 耳机", "Soundrive 耳机", "earbud", "UM-1005", "bluetoth", "Aurora",
           "极光", "耳机", "PayPal", "配送", "手机壳", "charging cables", "保温杯 Aoki", "降噪 新款"]


def answers(path):
    oi = open_index(path)
    try:
        out = {q: search(oi, q, page_size=50).to_json() for q in QUERIES}
        out.update({"suggest:" + q: suggest(oi, q) for q in ["声驰", "au", "充电"]})
        return out
    finally:
        oi.close()


def edited(docs):
    changed = [dataclasses.replace(docs[0], title=docs[0].title + " 新款", tags=docs[0].tags + ("新款",)),
               dataclasses.replace(docs[20], text="全新 Soundrive 降噪耳机 earbuds")]
    added = [dataclasses.replace(docs[3], id="product:UM-9000", sku="UM-9000", url="/products/um-9000/",
                                 title="极光充电宝 mini")]
    removed = {docs[5].id, docs[30].id}
    final = [d for d in docs if d.id not in removed and d.id not in {c.id for c in changed}] + changed + added
    return changed + added, {d.id for d in final}, final


def test_incremental_update_answers_like_a_full_rebuild(tmp_path, docs):
    inc, full = tmp_path / "inc" / "search_index", tmp_path / "full" / "search_index"
    update_index(inc, docs, full=True)
    changes, keep, final = edited(docs)
    stats = update_index(inc, changes, keep_ids=keep)
    assert stats["mode"] == "incremental" and stats["deleted"] == 2 and stats["replaced"] == 2 and stats["added"] == 1
    update_index(full, final, full=True)
    assert answers(inc) == answers(full)


def test_a_second_edit_of_the_same_product_still_matches(tmp_path, docs):
    inc, full = tmp_path / "inc" / "search_index", tmp_path / "full" / "search_index"
    update_index(inc, docs, full=True)
    keep = {d.id for d in docs}
    current = docs[1]
    for n in range(5):
        current = dataclasses.replace(current, title=f"{docs[1].title} v{n}")
        update_index(inc, [current], keep_ids=keep)
    update_index(full, [current if d.id == current.id else d for d in docs], full=True)
    assert answers(inc) == answers(full)


def test_deleted_documents_never_come_back(tmp_path, docs):
    path = tmp_path / "search_index"
    update_index(path, docs, full=True)
    handle = IndexHandle(path)
    assert search(handle.get(), "UM-1006").total == 1
    update_index(path, [], keep_ids={d.id for d in docs} - {"product:UM-1006"})
    assert search(handle.get(), "UM-1006").total == 0
    assert all(h.id != "product:UM-1006" for h in search(handle.get(), "雷霆 运动鞋").hits)


def test_keeps_previous_build_and_deletes_older(tmp_path, docs):
    path = tmp_path / "search_index"
    for _ in range(4):
        update_index(path, docs, full=True)
    builds = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("search_index.b"))
    assert builds == ["search_index.b000003", "search_index.b000004"]
    assert path.is_symlink() and os.readlink(path) == "search_index.b000004"


def test_failed_build_leaves_the_old_index(tmp_path, docs, monkeypatch):
    path = tmp_path / "search_index"
    update_index(path, docs, full=True)
    before = os.readlink(path)

    def broken(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(search_mod, "point_at", broken)
    with pytest.raises(SearchIndexError) as err:
        update_index(path, docs[:3], full=True)
    assert "Fix:" in str(err.value)
    assert os.readlink(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["search_index", before]
    assert open_index(path).searcher.doc_count() == len(docs)


def test_duplicate_ids_are_refused(tmp_path, docs):
    with pytest.raises(SearchIndexError, match="given twice"):
        update_index(tmp_path / "ix", [docs[0], docs[0]], full=True)
    assert not (tmp_path / "ix").exists()


def test_plain_directory_index_is_adopted(tmp_path, docs):
    from whoosh import index as wi
    path = tmp_path / "search_index"
    path.mkdir()
    wi.create_in(str(path), search_mod.make_schema()).writer().commit()
    update_index(path, docs, full=True)
    assert path.is_symlink() and open_index(path).searcher.doc_count() == len(docs)


def test_swap_under_concurrent_readers(tmp_path, docs):
    path = tmp_path / "search_index"
    update_index(path, docs, full=True)
    handle = IndexHandle(path)
    errors, seen, stop = [], [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                r = search(handle.get(), "声驰 耳机")
                seen.append(r.total)
            except Exception as exc:  # noqa: BLE001 - the test reports any failure
                errors.append(repr(exc))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        keep = {d.id for d in docs}
        for n in range(6):
            changed = dataclasses.replace(docs[7], title=f"声驰有线耳机 W3 第{n}代")
            if n % 2:
                update_index(path, [changed], keep_ids=keep)
            else:
                update_index(path, [changed] + [d for d in docs if d.id != changed.id], full=True)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert seen and min(seen) == 3  # never an empty or half-built index


def test_parallel_cold_build_and_pruned_queries_answer_like_a_single_writer(tmp_path, docs, monkeypatch):
    # The parallel bulk writer (one segment per process) only starts at PARALLEL_MIN_DOCS documents and
    # bigram pruning at PRUNE_MIN_DOCS; lower both so the fixture store takes those paths.
    monkeypatch.setattr(search_mod, "PRUNE_MIN_DOCS", 10)
    single, parallel, inc = (tmp_path / n / "search_index" for n in ("single", "parallel", "inc"))
    monkeypatch.setenv("STOREFRONT_SEARCH_PROCS", "1")
    update_index(single, docs, full=True)
    monkeypatch.setenv("STOREFRONT_SEARCH_PROCS", "2")
    monkeypatch.setattr(search_mod, "PARALLEL_MIN_DOCS", 10)
    update_index(parallel, docs, full=True)
    if (os.cpu_count() or 1) > 1:
        oi = open_index(parallel)
        try:
            assert len(oi.searcher.reader().leaf_readers()) == 2  # really one segment per process
        finally:
            oi.close()
    assert answers(parallel) == answers(single)
    update_index(inc, docs, full=True)
    changes, keep, final = edited(docs)
    update_index(inc, changes, keep_ids=keep)
    update_index(single, final, full=True)
    assert answers(inc) == answers(single)


def test_deleted_document_statistics_are_carried_over_and_only_new_deletions_analysed(tmp_path, docs, monkeypatch):
    from whoosh import index as whoosh_index

    path = tmp_path / "search_index"
    update_index(path, docs, full=True)
    keep = {d.id for d in docs}
    analysed, inside = [], []
    real_values, real_corrections = search_mod._indexed_values, search_mod._deleted_corrections
    monkeypatch.setattr(search_mod, "_indexed_values", lambda *a: (inside and analysed.append(a[1])) or real_values(*a))

    def corrections(*a):
        inside.append(True)
        try:
            return real_corrections(*a)
        finally:
            inside.clear()
    monkeypatch.setattr(search_mod, "_deleted_corrections", corrections)
    for n in range(6):  # edits, a deletion, and enough segments for Whoosh to merge some
        doc = docs[n % 3]
        changed = [dataclasses.replace(doc, title=f"{doc.title} v{n}")]
        if n == 4:
            keep = keep - {docs[10].id}
        analysed.clear()
        update_index(path, changed, keep_ids=keep)
        oi = open_index(path)
        try:
            carried = oi.manifest["corrections"]
            recount = real_corrections(whoosh_index.open_dir(str(oi.path)), search_mod.make_schema())
        finally:
            oi.close()
        assert {k: carried[k] for k in ("docs", "df", "len")} == {k: recount[k] for k in ("docs", "df", "len")}
        # this update replaced one document (and deleted one at n == 4): only those were analysed
        assert len(analysed) <= (2 if n == 4 else 1)
    assert carried["docs"] >= 1
