"""The JavaScript tokenizer and static fallback agree with the Python analyzer and index."""

from __future__ import annotations

import gzip
import json
import marshal
import shutil
import subprocess
from pathlib import Path

import pytest

from storefront.search import model_terms, search, suggest_terms, tokenize, update_index
from storefront.search_static import CACHE_DIR, EXPORT, shard_of, static_index_files

JS_DIR = Path(__file__).resolve().parents[2] / "templates" / "static" / "js"
JS = JS_DIR / "search.js"
JS_INDEX = JS_DIR / "search-index.js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")  # CI image has node 20

INPUTS = [
    "声驰蓝牙耳机", "声驰 耳机", "Soundrive 耳机", "Soundrive耳机X12", "earbuds", "batteries", "boxes",
    "glasses", "Bus", "UM-1001-BLK", "bluetoth", "ＡＯＫＩ　ｋｅｙｂｏａｒｄ", "Café crème", "naïve résumé",
    "ｶﾀｶﾅ かな カタカナ", "가나다", "Ελληνικά", "İstanbul", "ﬁle ﬂag", "①②③ ⅻ", "20000mAh", "x", "a1b2",
    "蓝", "‘’“”—…", "\t\n 混合 text\u3000全角空格", "😀 emoji 耳机", "𠀀𠀁 ext-b", "豈更車", "ßtraße",
    "Ⅳ號", "déjà-vu's", "classes series analysis", "", "   ", "Pro 7 pro-8 Air5 X 12345 a 1", "Max 9耳机 3",
    "constructor __proto__ toString", "UM-1001-BLK um-2000",
]


def run_node(script: str) -> object:
    out = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_tokenizer_parity():
    script = f"""
    const s = require({json.dumps(str(JS_INDEX))});
    const inputs = {json.dumps(INPUTS)};
    console.log(JSON.stringify(inputs.map(t => [s.tokenize(t, "index"), s.tokenize(t, "query"), s.suggestTerms(t),
      s.modelTerms(t)])));
    """
    js = run_node(script)
    py = [[tokenize(t, "index"), tokenize(t, "query"), suggest_terms(t), model_terms(t)] for t in INPUTS]
    for text, a, b in zip(INPUTS, py, js):
        assert a == b, text


def test_static_fallback_ranks_like_the_service(tmp_path, index_dir, oi):
    files = static_index_files(index_dir)
    for rel, data in files.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    queries = ["声驰蓝牙耳机", "极光 音箱", "Aoki keyboard", "UM-1005", "um-1001-wht", "PayPal 付款", "隐私政策",
               "声驰 键盘", "earbuds", "desk lamp", "极光智能手表 Pro 7", "Aurora Pro 8", "搜索技巧", "UM-1001-BLK"]
    script = f"""
    const fs = require("fs");
    const s = require({json.dumps(str(JS_INDEX))});
    const idx = new s.StaticIndex({json.dumps(str(tmp_path / "search") + "/")},
      p => Promise.resolve(JSON.parse(fs.readFileSync(p, "utf8"))));
    const qs = {json.dumps(queries)};
    Promise.all(qs.map(q => idx.search(q, {{pageSize: 5}}))).then(rs => console.log(JSON.stringify(rs)));
    """
    results = run_node(script)
    for q, r in zip(queries, results):
        server = search(oi, q)
        assert r["hits"], q
        assert r["hits"][0]["url"] == server.hits[0].url, q
    filtered = run_node(script.replace("{pageSize: 5}", "{pageSize: 5, category: 'pc'}"))
    assert all(h["category"] == "pc" for r in filtered for h in r["hits"])


def test_static_files_are_deterministic_and_small(index_dir, docs, tmp_path):
    from storefront.search import update_index
    other = tmp_path / "ix"
    update_index(other, list(reversed(docs)), full=True)
    assert static_index_files(other) == static_index_files(index_dir)
    files = static_index_files(index_dir)
    assert "search/manifest.json" in files
    total = sum(len(gzip.compress(b)) for b in files.values())
    assert total < 60_000


def test_shard_hash_parity():
    terms = sorted({t for text in INPUTS for t in tokenize(text)} | {"#um-1001", "pro7", "𠀀"})
    script = f"""
    const s = require({json.dumps(str(JS_INDEX))});
    console.log(JSON.stringify({json.dumps(terms)}.map(t => s.shardOf(t, 256))));
    """
    assert run_node(script) == [shard_of(t) for t in terms]


def test_static_export_is_made_once_per_build_and_read_back(tmp_path, docs):
    path = tmp_path / "search_index"
    update_index(path, docs, full=True)
    first = static_index_files(path)
    cache = path.resolve() / CACHE_DIR
    assert cache.is_dir() and marshal.loads((cache / EXPORT).read_bytes())["files"] == first
    assert static_index_files(path) == first
    # An incremental build starts without the previous build's export and makes its own.
    keep = {d.id for d in docs}
    changed = [d for d in docs if d.id == "product:UM-1003"][0]
    update_index(path, [changed.__class__(**{**changed.__dict__, "title": "极光蓝牙音箱 S3 新款"})], keep_ids=keep)
    assert not (path.resolve() / CACHE_DIR).exists()
    second = static_index_files(path)
    assert second != first and "极光蓝牙音箱 S3 新款".encode() in b"".join(second.values())


def test_incremental_static_export_equals_a_full_one(tmp_path, docs, monkeypatch):
    import dataclasses

    from storefront import search_static
    inc, full = tmp_path / "inc" / "ix", tmp_path / "full" / "ix"
    update_index(inc, docs, full=True)
    static_index_files(inc)
    changed = dataclasses.replace(docs[2], title="极光蓝牙音箱 S3 二代")
    added = dataclasses.replace(docs[5], id="product:UM-NEW", sku="UM-NEW", title="全新 极光 音箱")
    keep = {d.id for d in docs} - {docs[9].id}
    update_index(inc, [changed, added], keep_ids=keep | {added.id})
    final = [changed if d.id == changed.id else d for d in docs if d.id in keep] + [added]
    update_index(full, final, full=True)
    analysed = []
    real_entry = search_static.entry
    monkeypatch.setattr(search_static, "entry", lambda f: analysed.append(f["id"]) or real_entry(f))
    incremental = static_index_files(inc)
    # Only the two documents that changed were read and analysed again: the others came from the
    # previous build's entries.
    assert sorted(analysed) == sorted([changed.id, added.id])
    assert incremental == static_index_files(full)


def test_a_full_build_exports_from_its_documents_what_the_index_holds(tmp_path, docs):
    from storefront import search_static
    path = tmp_path / "ix"
    update_index(path, docs, full=True)
    # update_index made the export from the documents while the index was written ...
    assert (path.resolve() / CACHE_DIR / EXPORT).is_file()
    # ... and it equals the export made from the index's stored fields.
    assert static_index_files(path) == search_static.export(path.resolve())


def test_script_files_stay_within_the_theme_budget():
    # tests/theme holds the theme's 10 KB budget per script; search ships two files.
    for path in (JS, JS_INDEX):
        assert path.stat().st_size < 10_000, f"{path.name} is {path.stat().st_size} bytes"


def test_static_terms_are_the_query_terms_plus_model_terms():
    from storefront.search_static import _terms
    for text in INPUTS:
        assert sorted(_terms(text)) == sorted(tokenize(text, "query") + model_terms(text)), text
