"""The simple front matter path of storefront.frontmatter reads exactly what PyYAML reads."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from storefront import frontmatter

ROOT = Path(__file__).resolve().parents[2]


def _pyyaml(fm_text: str):
    """What _load_yaml returns through PyYAML (or the DocumentError it raises)."""
    simple = frontmatter._simple_yaml
    frontmatter._simple_yaml = lambda *a: None
    try:
        return frontmatter._load_yaml(fm_text, 2)
    except frontmatter.DocumentError as exc:
        return exc
    finally:
        frontmatter._simple_yaml = simple


def _same(fm_text: str) -> bool:
    """The simple path declines, or gives PyYAML's values (types and key order included), lines
    and duplicates."""
    quick = frontmatter._simple_yaml(fm_text, 2)
    return quick is None or repr(quick) == repr(_pyyaml(fm_text))


def _front_matters() -> list[str]:
    out = []
    for path in sorted(ROOT.glob("content/**/*.md")) + sorted(ROOT.glob("tests/sites/**/*.md")):
        text = frontmatter.decode(path.read_bytes())
        end = frontmatter._closing_fence(text) if text.startswith("---\n") else None
        if end is not None:
            out.append(text[4:end])
    return out


def test_the_demo_store_and_test_sites_read_the_same():
    texts = _front_matters()
    taken = [t for t in texts if frontmatter._simple_yaml(t, 2) is not None]
    assert len(texts) > 60 and len(taken) > 40
    for text in texts:
        assert _same(text), text


def test_a_product_file_reads_with_types_and_lines():
    text = ('sku: UM-1\ntitle: "奥瑞 Air 5"\nprice: 99.5\nstock: 120\ndraft: false\nnote:\n'
            'tags: [静音, 无线]\nextra: {brand: "Aurelo", 产地: 德国}\nvariants:\n'
            '  - {sku: UM-1-GRN, options: {颜色: 墨绿}, price: "1687.00", stock: 0}\n  - {sku: UM-1-WHT}\nsku: UM-2\n')
    data, lines, dups = frontmatter._simple_yaml(text, 2)
    assert repr((data, lines, dups)) == repr(_pyyaml(text))
    assert data["price"] == frontmatter.Decimal("99.5") and data["stock"] == 120 and data["draft"] is False
    assert data["note"] is None and data["sku"] == "UM-2" and dups == [("sku", 13)]
    assert lines["variants.0.options.颜色"] == 11 and lines["tags.1"] == 8


NEAR_MISSES = [
    "title: A: B\n", "title: 'single'\n", "title: \"esc \\\" aped\"\n", "title: x # comment\n",
    "date: 2026-02-30\n", "n: 0123\n", "n: 1_000\n", "n: -5\n", "n: +5\n", "n: 1e3\n", "n: .5\n", "n: 12.\n",
    "flag: yes\n", "flag: On\n", "flag: NO\n", "x: ~\n", "x: null\n", "x: Null\n", "x:\n  a: 1\n",
    "x: |\n  text\n", "x: >\n  text\n", "x: &a 1\ny: *a\n", "x: !tag v\n", "x: [a, [b, c], {d: e}]\n",
    "x: {a: [1, 2], b: {c: d}}\n", "x: [a,b]\n", "x: {a:b}\n", "x: [a, ]\n", "x: {}\n", "x: []\n",
    "x:\n- a\n- b\n", "x:\n  - a\n    - b\n", "x:\n  - a\n  continued\n", "x:\n  - a: 1\n", "x:\n  -\n",
    "x: a\n  continued\n", " x: 1\n", "x: 1\n\n\ny: 2\n", "x: 1\nx: 2\n", "x: {a: 1, a: 2}\n",
    "yes: 1\n", "1: a\n", "x: \u3000全角\n", "x: \"\u3000全角\"\n", "x: a\u2028b\n", "x: \"tab\there\"\n",
    "x: 5\" screen\n", "x: a - b\n", "x: - a\n", "x: ? a\n", "x: %a\n", "x: @a\n", "x: `a`\n",
    "x: [a b, c  d ]\n", "x: { a : b }\n", "x: {a: b }\n", "x:   spaced   \n", "x: true\ny: FALSE\n",
    "x: 0\ny: 10\nz: 3.14\n", "x: 0.5\n", "x: 00\n", "x: 0x1F\n", "x: 1:30\n", "x: <<\n", "x: =\n",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_read_the_same_or_go_to_pyyaml(text):
    assert _same(text), text


def test_generated_front_matter_reads_the_same():
    rng = random.Random(20261126)
    scalars = ["UM-1", "奥瑞", "Air 5", "a - b", "0", "12", "-3", "99.5", "1.50", "yes", "no", "on", "off",
               "true", "Null", "~", "fashion", "null x", "2026-01-01", "0x10", "1e5", "a b", '"quoted"',
               '"带 空格 "', '""', "x,y", "[a]", "{a: b}", " ", ":", "a:b", "#"]
    keys = ["sku", "title", "price", "stock", "tags", "options", "draft", "yes", "颜色", "a1", "_x"]

    def flow(depth: int) -> str:
        roll = rng.random()
        if depth < 2 and roll < 0.2:
            return "[" + ", ".join(flow(depth + 1) for _ in range(rng.randint(0, 3))) + "]"
        if depth < 2 and roll < 0.4:
            return "{" + ", ".join(f"{rng.choice(keys)}: {flow(depth + 1)}" for _ in range(rng.randint(0, 3))) + "}"
        return rng.choice(scalars)

    taken = 0
    for _ in range(3000):
        rows = []
        for _ in range(rng.randint(1, 6)):
            key = rng.choice(keys)
            if rng.random() < 0.2:
                indent = rng.choice(["", "  ", "    "])
                rows.append(f"{key}:")
                rows.extend(f"{indent}- {flow(1)}" for _ in range(rng.randint(1, 3)))
            else:
                rows.append(f"{key}: {flow(0)}")
        text = "\n".join(rows) + "\n"
        taken += frontmatter._simple_yaml(text, 2) is not None
        assert _same(text), text
    assert taken > 300
