"""Markdown to HTML, and HTML to plain text (for meta descriptions and the search index)."""

from __future__ import annotations

import html
import re
import threading

from markupsafe import Markup

# Tables, fenced code and sane lists cover product descriptions; every extension costs time on
# each of 10,000 documents (attr_list and def_list together were 10% of a cold build).
_EXTENSIONS = ["tables", "fenced_code", "sane_lists"]
_local = threading.local()


def render_markdown(text: str) -> Markup:
    md = getattr(_local, "md", None)
    if md is None:
        import markdown  # imported on first use: a rebuild that parses nothing never needs it
        md = _local.md = markdown.Markdown(extensions=_EXTENSIONS, output_format="html")
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
