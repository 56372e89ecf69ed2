"""The JavaScript tokenizer and static fallback agree with the Python analyzer and index."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from storefront.search import open_index, search, suggest_terms, tokenize
from storefront.search_static import static_index_files

JS = Path(__file__).resolve().parents[2] / "templates" / "static" / "js" / "search.js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")  # CI image has node 20

INPUTS = [
    "声驰蓝牙耳机", "声驰 耳机", "Soundrive 耳机", "Soundrive耳机X12", "earbuds", "batteries", "boxes",
    "glasses", "Bus", "UM-1001-BLK", "bluetoth", "ＡＯＫＩ　ｋｅｙｂｏａｒｄ", "Café crème", "naïve résumé",
    "ｶﾀｶﾅ かな カタカナ", "가나다", "Ελληνικά", "İstanbul", "ﬁle ﬂag", "①②③ ⅻ", "20000mAh", "x", "a1b2",
    "蓝", "‘’“”—…", "\t\n 混合 text\u3000全角空格", "😀 emoji 耳机", "𠀀𠀁 ext-b", "豈更車", "ßtraße",
    "Ⅳ號", "déjà-vu's", "classes series analysis", "", "   ",
]


def run_node(script: str) -> object:
    out = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_tokenizer_parity():
    script = f"""
    const s = require({json.dumps(str(JS))});
    const inputs = {json.dumps(INPUTS)};
    console.log(JSON.stringify(inputs.map(t => [s.tokenize(t, "index"), s.tokenize(t, "query"), s.suggestTerms(t)])));
    """
    js = run_node(script)
    py = [[tokenize(t, "index"), tokenize(t, "query"), suggest_terms(t)] for t in INPUTS]
    for text, a, b in zip(INPUTS, py, js):
        assert a == b, text


def test_static_fallback_ranks_like_the_service(tmp_path, index_dir, oi):
    files = static_index_files(index_dir)
    for rel, data in files.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    queries = ["声驰蓝牙耳机", "极光 音箱", "Aoki keyboard", "UM-1005", "um-1001-wht", "PayPal 付款", "隐私政策",
               "声驰 键盘"]
    script = f"""
    const fs = require("fs");
    const s = require({json.dumps(str(JS))});
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
