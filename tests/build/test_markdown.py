"""The quick inline path of storefront.markup must give exactly Python-Markdown's HTML."""

from __future__ import annotations

from pathlib import Path

import pytest

from storefront import frontmatter
from storefront.markup import make_markdown, render_markdown

ROOT = Path(__file__).resolve().parents[2]

TRICKY = [
    "plain 中文 text with no syntax at all\n\nsecond paragraph",
    "*em* and **strong** and _under_ and __double__ in 一句话",
    "a `code span` and ``double `tick` code``",
    "escaped \\*not em\\* and \\[not a link\\]",
    "[a link](https://example.com/) and ![an image](/media/x.png \"title\")",
    "[ref link][r]\n\n[r]: https://example.com/ref",
    "<https://example.com/auto> and <shop@example.com>",
    "inline <span class=\"x\">html</span> and &amp; &#169; &copy; entities, a bare & and < too",
    "hard  \nline break and a soft\nline break",
    "snake_case_word and 2*3*4 arithmetic",
    "- item with *em*\n- plain item 商品\n  continued\n\n1. one\n2. `two`",
    "| 项目 | 参数 |\n| --- | --- |\n| 品牌 | **Aurelo** |\n| 重量 | 1925 g |",
    "```\ncode block with *stars* and <tags>\n```\n\nafter",
    "> quoted *em*\n> plain quote",
    "# Heading with `code`\n\n## 规格参数\n\ntext",
    "Text with a trailing backslash \\",
    "<div>raw block</div>\n\nthen text",
    "a raw placeholder \x0265\x03 in plain text, and one in `code \x0266\x03`",
    "    indented code with \\* and \x0267\x03\n\nthen a plain paragraph",
    "| a | b |\n| --- | --- |\n| \\| escaped pipe | plain 文字 |",
]


def _content_bodies() -> list[str]:
    bodies = []
    for path in sorted((ROOT / "content").rglob("*.md")):
        doc = frontmatter.parse(frontmatter.decode(path.read_bytes()), require_front_matter=False)
        bodies.append(doc.body)
    return bodies


@pytest.mark.parametrize("text", TRICKY)
def test_quick_inline_matches_python_markdown(text):
    assert make_markdown(quick=True).convert(text) == make_markdown(quick=False).convert(text)


def test_quick_inline_matches_python_markdown_on_the_demo_store():
    bodies = _content_bodies()
    assert len(bodies) > 60
    plain, quick = make_markdown(quick=False), make_markdown(quick=True)
    for body in bodies:
        plain.reset()
        quick.reset()
        assert quick.convert(body) == plain.convert(body)
    assert str(render_markdown(bodies[0])) == make_markdown(quick=False).convert(bodies[0])


def _random_document(rng) -> str:
    """Blocks of the kinds simple_html() makes, with their near misses."""
    words = ["商品", "正品", "Aurelo", "S3", "2.4GHz", "7至15天", "#1", "a#b", "C#", "x - y", "1.5", "3)",
             "+", "=", ":", "~", "!", "\"引号\"", "'", "(括号)", "%", "@", "{x}", "…", "—", "\u3000", " ", "#", "-"]
    starts = ["", "", "", "# ", "## ", "###### ", "####### ", "#", "- ", "- - ", "-", "--- ", "* ", "+ ", "1. ",
              "2) ", "| ", "  ", "    ", "> ", "=", ":"]

    def text() -> str:
        return "".join(rng.choice(words) for _ in range(rng.randint(1, 6)))

    def line() -> str:
        return rng.choice(starts) + text() + rng.choice(["", "", "", " ", "#", " #", "|"])

    noisy = rng.random() < 0.5
    if not noisy:  # words that keep a block simple wherever they fall
        words = ["商品", "正品", "Aurelo", "S3", "2.4GHz", "a#b", "x - y", "\"引号\"", "(括号)", "…", "a\u3000b", "%"]
    blocks = []
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(["p", "p", "h", "ul", "table", "mixed" if noisy else "p"])
        if kind == "p":
            blocks.append("\n".join(text() for _ in range(rng.randint(1, 3))))
        elif kind == "h":
            if noisy:
                blocks.append("#" * rng.randint(1, 7) + rng.choice([" ", "  ", ""]) + text() + rng.choice(["", " #", "#"]))
            else:
                blocks.append("#" * rng.randint(1, 6) + " " + text())
        elif kind == "ul":
            blocks.append("\n".join("- " + text() for _ in range(rng.randint(1, 4))))
        elif kind == "table":
            width = rng.randint(1, 3)
            rows = [[text() for _ in range(width + (noisy and rng.random() < 0.1))] for _ in range(rng.randint(1, 4))]
            rules = ["---", " --- ", "-", ":--", "--:"] if noisy else ["---", " --- ", "-"]
            rule_width = width + (rng.choice([-1, 1]) if noisy and rng.random() < 0.2 else 0)
            rule = "|" + "|".join(rng.choice(rules) for _ in range(max(1, rule_width))) + "|"
            lines = ["| " + " | ".join(r) + " |" for r in rows]
            blocks.append("\n".join([lines[0], rule, *lines[1:]]))
        else:
            blocks.append("\n".join(line() for _ in range(rng.randint(1, 3))))
    return rng.choice(["", "\n"]) + rng.choice(["\n\n", "\n\n\n"]).join(blocks) + rng.choice(["", "\n", "\n\n"])


def test_the_simple_path_gives_python_markdowns_html():
    import random

    from storefront.markup import simple_html
    rng = random.Random(20261126)
    plain = make_markdown(quick=False)
    taken = 0
    for _ in range(4000):
        doc = _random_document(rng)
        quick = simple_html(doc)
        if quick is None:
            continue
        taken += 1
        plain.reset()
        assert quick == plain.convert(doc), doc
    assert taken > 500  # the generator does reach the simple path


def test_the_simple_path_takes_the_demo_stores_plain_descriptions():
    from storefront.markup import simple_html
    plain = make_markdown(quick=False)
    taken = 0
    for body in _content_bodies():
        quick = simple_html(body)
        if quick is not None:
            taken += 1
            plain.reset()
            assert quick == plain.convert(body)
    assert taken >= 10
