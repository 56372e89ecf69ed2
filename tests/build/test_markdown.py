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
