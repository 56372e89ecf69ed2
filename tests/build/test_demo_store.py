"""The demo store (content/ with the demo theme) builds cleanly and has what the shop needs."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from storefront.builder import BuildOptions, build, check

ROOT = Path(__file__).resolve().parents[2]
# A copy of ../shared/seeds/000_9f7421d55a22fa8e.txt (umegou's policy as published), kept in the repo
# so that the test does not depend on what lies beside the checkout.
SEED = ROOT / "tests" / "fixtures" / "privacy-policy-seed.txt"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo store built once into a temporary directory (the content is copied: the build
    may write versions.lock)."""
    root = tmp_path_factory.mktemp("demo")
    shutil.copytree(ROOT / "content", root / "content")
    build(BuildOptions(content=root / "content", templates=ROOT / "templates", output=root / "output",
                       index=root / "search_index", now=dt.date(2026, 11, 25), jobs=1, quiet=True))
    return root


def test_demo_store_has_the_promised_catalog_and_help(demo: Path) -> None:
    lib = check(BuildOptions(content=demo / "content", templates=ROOT / "templates", now=dt.date(2026, 11, 25)))
    assert len(lib.products) >= 40 and len(lib.categories) >= 8
    assert sum(1 for p in lib.products if p.variants) >= 5
    assert sum(1 for p in lib.products if p.sold_out) >= 3
    assert sum(1 for p in lib.products if p.compare_at_minor) >= 5
    assert all(p.currency == "CNY" for p in lib.products)
    assert sum(len(s.articles) for s in lib.help_sections) >= 12 and len(lib.help_sections) >= 4
    assert {p.slug for p in lib.pages} >= {"about", "contact"}
    assert len(lib.policies) >= 2


def test_privacy_version_1_is_the_seed_policy(demo: Path) -> None:
    """Every paragraph of the seed (without its page chrome) appears in version 1's page text."""
    page = (demo / "output/privacy/2024-03-01/index.html").read_text(encoding="utf-8")
    import html
    import re
    text = re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", page)))
    lines = [l.strip() for l in SEED.read_text(encoding="utf-8").splitlines() if l.strip()]
    body = [l for l in lines if l not in ("帮助中心", "隐私政策:", "umegou用户隐私政策")]
    missing = [l for l in body if re.sub(r"\s+", "", l) not in text]
    assert not missing, missing[:3]
    for address in ("service@umegou.com", "tousu@umegou.com", "cooperation@umegou.com"):
        assert address in page


def test_demo_store_policies_and_notice(demo: Path) -> None:
    pol = json.loads((demo / "output/policies.json").read_text())
    assert pol["in_force"] and pol["versions"][0]["id"] == "2024-03-01"
    history = (demo / "output/privacy/history/index.html").read_text(encoding="utf-8")
    assert "<ins>" in history and "<del>" in history


def test_demo_store_pages_link_each_other(demo: Path) -> None:
    out = demo / "output"
    product = next((out / "products").iterdir()) / "index.html"
    html = product.read_text(encoding="utf-8")
    assert 'href="/categories/' in html and 'application/ld+json' in html and 'og:title' in html
    assert (out / "sitemap.xml").read_text().count("<loc>") > 60


def test_shared_product_cards_render_exactly_like_the_macro(demo: Path, tmp_path: Path, monkeypatch) -> None:
    """Cards rendered once per build (Renderer.share_cards) give the same bytes as calling the macro."""
    from storefront.render import Renderer

    monkeypatch.setattr(Renderer, "share_cards", lambda self: None)
    build(BuildOptions(content=demo / "content", templates=ROOT / "templates", output=tmp_path / "plain",
                       index=tmp_path / "index", now=dt.date(2026, 11, 25), jobs=1, quiet=True, search=False))
    shared, plain = demo / "output", tmp_path / "plain"
    pages = [p.relative_to(plain) for p in plain.rglob("*.html")]
    assert len(pages) > 60
    different = [str(p) for p in pages if (plain / p).read_bytes() != (shared / p).read_bytes()]
    assert not different, different[:5]
