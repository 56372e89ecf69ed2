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
    md = getattr(_local, "md", None)
    if md is None:
        md = _local.md = make_markdown()
    else:
        md.reset()
    return Markup(md.convert(text))


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_BLOCK_END = re.compile(r"</(p|li|h[1-6]|tr|td|th|div|blockquote|pre)>", re.I)


def plain_text(body_html: str) -> str:
    """The text of an HTML fragment, one space between blocks."""
    text = _BLOCK_END.sub(" ", body_html)
    text = _TAG.sub("", text)
    return _SPACE.sub(" ", html.unescape(text)).strip()


def excerpt(text: str, limit: int = 160) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"
