"""Markdown to HTML, and HTML to plain text (for meta descriptions and the search index)."""

from __future__ import annotations

import html
import re
import sys
import threading

from markupsafe import Markup

# Tables, fenced code and sane lists cover product descriptions; every extension costs time on
# each of 10,000 documents (attr_list and def_list together were 10% of a cold build).
_EXTENSIONS = ["tables", "fenced_code", "sane_lists"]
_local = threading.local()

INLINE_SYNTAX = re.compile(r"[`\\\[<&*_\x02\x03]|  \n")
"""What any of Python-Markdown's inline patterns needs to match: a backtick, a backslash escape, a
link or image bracket, an autolink, raw HTML or an entity, emphasis, a hard line break (two spaces
before a newline), or one of its own placeholders."""


def make_markdown(quick: bool = True):
    """Python-Markdown with our extensions. ``quick``: text with none of :data:`INLINE_SYNTAX`
    skips the inline patterns (each of 14 patterns otherwise scans each text node: a third of the
    parse time of a product); the HTML is the same, which tests/build/test_markdown.py checks."""
    import markdown  # imported on first use: a rebuild that parses nothing never needs it
    from markdown.treeprocessors import InlineProcessor, UnescapeTreeprocessor

    class QuickInline(InlineProcessor):
        # Overrides InlineProcessor's private (name-mangled) method, which run() calls per text node.
        def run(self, tree, ancestors=None):
            self.md.sf_inline_syntax = False
            return super().run(tree, ancestors)

        def _InlineProcessor__handleInline(self, data: str, patternIndex: int = 0) -> str:
            if patternIndex == 0 and not INLINE_SYNTAX.search(data):
                return data
            self.md.sf_inline_syntax = True
            return InlineProcessor._InlineProcessor__handleInline(self, data, patternIndex)

    class QuickUnescape(UnescapeTreeprocessor):
        # What it restores (STX code ETX) only the backslash-escape pattern writes, and text with
        # a backslash (or STX) took the inline patterns: when none did, there is nothing to restore.
        def run(self, root):
            if getattr(self.md, "sf_inline_syntax", True):
                super().run(root)

    FencedCodeExtension = _fenced_code_extension()
    from markdown.extensions.sane_lists import SaneListExtension
    from markdown.extensions.tables import TableExtension

    # Instances, not names: naming an extension makes Markdown look it up among the installed
    # packages' entry points, 25 ms on every build that parses a file.
    extensions = {"tables": TableExtension, "fenced_code": FencedCodeExtension, "sane_lists": SaneListExtension}
    md = markdown.Markdown(extensions=[extensions[name]() for name in _EXTENSIONS], output_format="html")
    if quick:
        if not hasattr(InlineProcessor, "_InlineProcessor__handleInline"):  # pragma: no cover
            raise RuntimeError("this Python-Markdown has no InlineProcessor.__handleInline")
        md.treeprocessors.register(QuickInline(md), "inline", 20)
        md.treeprocessors.register(QuickUnescape(md), "unescape", 0)
        # A set, not the list Markdown keeps (the prettifier asks once per element); none of our
        # extensions adds block-level tags.
        block_level = frozenset(md.block_level_elements)
        md.is_block_level = lambda tag: isinstance(tag, str) and tag.lower().rstrip("/") in block_level
    return md


def _fenced_code_extension() -> type:
    """Python-Markdown's fenced code extension. It imports the code highlighting extension, which
    imports Pygments when that is installed (13 ms, most of it a scan of installed plugins). We
    never highlight (code blocks stay ``<pre><code class="language-x">``), so Pygments is hidden
    while that extension loads; it stays importable for everything else."""
    if "markdown.extensions.codehilite" in sys.modules or "pygments" in sys.modules:
        from markdown.extensions.fenced_code import FencedCodeExtension
        return FencedCodeExtension
    sys.modules["pygments"] = None  # type: ignore[assignment]  # "import pygments" raises ImportError
    try:
        from markdown.extensions.fenced_code import FencedCodeExtension
    finally:
        del sys.modules["pygments"]
    return FencedCodeExtension


def render_markdown(text: str) -> Markup:
    quick = simple_html(text)
    if quick is not None:
        return Markup(quick)
    md = getattr(_local, "md", None)
    if md is None:
        md = _local.md = make_markdown()
    else:
        md.reset()
    return Markup(md.convert(text))


_SIMPLE_TEXT = re.compile(r"[^\t\r\x00-\x09\x0b-\x1f`\\\[<>&*_]*")
"""Text that may take the simple path: no tabs or control characters, and nothing Python-Markdown
treats inline (code, escapes, links, HTML and entities, emphasis); ``>`` and ``&`` would need
escaping."""
_HEADING = re.compile(r"(#{1,6}) (?=\S)(.*[^\s#])")
_ITEM = re.compile(r"- (\S(?:.*\S)?)")
_RULE = re.compile(r"\|(?: *-+ *\|)+")
_NOT_PLAIN = re.compile(r"[#=+|~:-]|\d+[.)]|\s")
"""What a paragraph line must not start with: headings, setext and rule lines, list items, tables,
fences, and indentation (the rest is excluded by _SIMPLE_TEXT)."""


def simple_html(text: str) -> str | None:
    """Python-Markdown's HTML for the Markdown most descriptions are written in, made directly:
    paragraphs, one-line ``#`` headings, single-line ``- `` lists and pipe tables of plain text.
    None for anything else (which Python-Markdown then renders), for example emphasis, links, a
    list item spanning lines, or a list right after another. A product description costs 0.02 ms
    here against 0.2 ms; tests/build/test_markdown.py compares both on every body it can find."""
    if not _SIMPLE_TEXT.fullmatch(text) or "  \n" in text:
        return None
    out: list[str] = []
    last = ""
    for block in text.split("\n\n"):
        block = block.strip("\n")
        if not block:
            continue
        lines = block.split("\n")
        first = lines[0]
        if first.startswith("#"):
            m = _HEADING.fullmatch(first)
            if m is None or len(lines) > 1:
                return None
            level = len(m.group(1))
            out.append(f"<h{level}>{m.group(2)}</h{level}>")
            last = "h"
        elif first.startswith("- "):
            if last == "ul":  # Python-Markdown joins it to the list before, as loose items
                return None
            items = []
            for line in lines:
                m = _ITEM.fullmatch(line)
                # an item's text is parsed as blocks: "- - x" is a list in a list
                if m is None or _NOT_PLAIN.match(m.group(1)) or "|" in line:
                    return None
                items.append(f"<li>{m.group(1)}</li>")
            out.append("<ul>\n" + "\n".join(items) + "\n</ul>")
            last = "ul"
        elif first.startswith("|"):
            table = _table(lines)
            if table is None:
                return None
            out.append(table)
            last = "table"
        else:
            for line in lines:
                if _NOT_PLAIN.match(line) or line[-1:].isspace() or "|" in line:
                    return None
            out.append("<p>" + block + "</p>")
            last = "p"
    return "\n".join(out) if out else None


def _table(lines: list[str]) -> str | None:
    if len(lines) < 3 or not _RULE.fullmatch(lines[1]):
        return None
    rows = []
    for line in (lines[0], *lines[2:]):
        if not (line.startswith("|") and line.endswith("|") and len(line) > 1):
            return None
        cells = [c.strip(" ") for c in line[1:-1].split("|")]
        if not all(c and c == c.strip() for c in cells):  # Python-Markdown strips spaces only
            return None
        rows.append(cells)
    width = len(rows[0])
    if lines[1].count("|") - 1 != width or any(len(r) != width for r in rows):
        return None
    head = "\n".join(f"<th>{c}</th>" for c in rows[0])
    body = "\n".join("<tr>\n" + "\n".join(f"<td>{c}</td>" for c in r) + "\n</tr>" for r in rows[1:])
    return f"<table>\n<thead>\n<tr>\n{head}\n</tr>\n</thead>\n<tbody>\n{body}\n</tbody>\n</table>"


_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|li|h[1-6]|tr|td|th|div|blockquote|pre)>", re.I)


def plain_text(body_html: str) -> str:
    """The text of an HTML fragment, one space between blocks."""
    text = _TAG.sub("", _BLOCK_END.sub(" ", body_html))
    # str.split() splits on exactly what \s matches: one space between words, none at the ends
    return " ".join(html.unescape(text).split())


def excerpt(text: str, limit: int = 160) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"
