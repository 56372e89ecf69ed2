"""Parsed files travel from the parse workers as plain tuples (cache.pack_parsed): they must come
back equal, with the same types, for every kind of file; and so must the cache's records."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

from storefront.builder import scan
from storefront.cache import _pack, _unpack, pack_parsed, unpack_parsed
from storefront.errors import Problems
from storefront.loader import DOCUMENT_KINDS, load_site_config, parse_file

ROOT = Path(__file__).resolve().parents[2]


def _parsed(content: Path) -> list:
    site, _ = load_site_config(content, Problems())
    assert site is not None
    sources, _ = scan(content)
    return [parse_file(content, s.kind, s.rel, Path(s.path).read_bytes(), site)
            for s in sources if s.kind in DOCUMENT_KINDS]


def _same(a, b) -> bool:
    """Equal, and of the same types down the record (Markup stays Markup, tuples stay tuples)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if hasattr(a, "__dataclass_fields__"):
        return all(_same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return a == b


def test_every_parsed_file_of_the_demo_and_test_stores_comes_back_the_same() -> None:
    files = _parsed(ROOT / "content") + _parsed(ROOT / "tests/sites/minimal/content")
    kinds = {p.kind for p in files}
    assert {"product", "category", "help_article", "policy", "page"} <= kinds
    products = [p for p in files if p.kind == "product" and p.record is not None]
    assert len(products) >= 40 and any(p.record.variants for p in products)
    for p in files:
        back = unpack_parsed(pickle.loads(pickle.dumps(pack_parsed(p))))
        assert _same(back, p), p.rel
    for p in products:  # the product path is plain data, not the dataclasses
        assert pack_parsed(p)[0] == "W"
        # The cache keeps the record without its description, catalog entry and text.
        kept = _unpack(_pack(p))
        assert _same(kept.record, replace(p.record, body_html=None, description=None))
        assert kept.catalog is None and kept.text is None and kept.lines == p.lines


def test_a_file_with_problems_comes_back_with_them(tmp_path: Path) -> None:
    import shutil

    content = tmp_path / "content"
    shutil.copytree(ROOT / "tests/sites/minimal/content", content)
    product = next((content / "products").rglob("x12.md"))
    product.write_text(product.read_text(encoding="utf-8").replace('price: "199.00"', 'price: "199元"'),
                       encoding="utf-8")
    broken = [p for p in _parsed(content) if p.problems]
    assert broken
    for p in broken:
        assert _same(unpack_parsed(pack_parsed(p)), p)


def test_a_product_whose_extra_marshal_cannot_take_is_kept_without_its_description() -> None:
    import datetime as dt

    site_products = [p for p in _parsed(ROOT / "tests/sites/minimal/content") if p.kind == "product" and p.record]
    p = site_products[0]
    odd = replace(p, record=replace(p.record, extra={**p.record.extra, "released": dt.date(2026, 5, 1)}))
    assert _pack(odd)[:1] == b"P"
    kept = _unpack(_pack(odd))
    assert kept.record.extra["released"] == dt.date(2026, 5, 1)
    assert kept.record.body_html is None and kept.record.description is None and kept.catalog is None
    assert _same(unpack_parsed(pickle.loads(pickle.dumps(pack_parsed(odd)))), odd)
