"""The demo store (content/) built through the CLI: regressions seen there, asserted by rank."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from storefront.search import open_index, search

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    subprocess.run([sys.executable, str(ROOT / "build.py"), "build", "--content", str(ROOT / "content"),
                    "--templates", str(ROOT / "templates"), "--output", str(base / "out"),
                    "--index", str(base / "search_index"), "--quiet"], check=True, cwd=ROOT, timeout=300)
    oi = open_index(base / "search_index")
    yield base, oi
    oi.close()


@pytest.mark.parametrize("q,sku", [
    ("UM-1601", "UM-1601"),            # the help article "搜索技巧" quotes this SKU
    ("UM-1101", "UM-1101"),            # and "如何下单" quotes this one
    ("earbuds", "UM-1101"),            # English plural; the product says "earbuds" only in its URL
    ("earbud", "UM-1101"),
    ("thermaru bottle", "UM-1601"),
    ("保温杯 480ml", "UM-1601"),
])
def test_demo_product_ranks_first(demo, q, sku):
    _base, oi = demo
    hit = search(oi, q).hits[0]
    assert (hit.kind, hit.sku) == ("product", sku), [(h.kind, h.title) for h in search(oi, q).hits[:3]]


def test_demo_help_questions_find_their_article(demo):
    _base, oi = demo
    assert search(oi, "PayPal 地址").hits[0].title.startswith("PayPal 付款")
    assert search(oi, "退货").hits[0].title == "退货与换货"


def test_demo_static_index_is_written_and_finds_a_sku(demo):
    base, _oi = demo
    search_dir = base / "out" / "search"
    manifest = json.loads((search_dir / "manifest.json").read_text("utf-8"))
    assert manifest["docs"] > 40 and manifest["sku_chunks"]
    total = sum(len(gzip.compress(p.read_bytes())) for p in search_dir.rglob("*.json"))
    assert total < 120_000
    run = json.loads((search_dir / "skus" / "0.json").read_text("utf-8"))
    assert "um-1601" in run
