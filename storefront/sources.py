"""Listing the content tree: which files there are, of which kind, with their size and mtime.

Kept free of heavy imports: a no-op rebuild only scans and compares (see ``builder._world_key``).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import NamedTuple

from .errors import Problems

IGNORED_NAMES = re.compile(r"(^\.|~$|\.swp$|\.swx$|\.tmp$|^#.*#$|\.bak$)")
LOCK_NAME = "versions.lock"


class SourceFile(NamedTuple):
    """One file of the content tree (a named tuple: a scan makes 10,000 of them, and a frozen
    dataclass costs three times as much to make)."""

    rel: str
    """Path relative to the content directory, with '/'."""
    kind: str
    """site, category, product, help_section, help_article, policy, page, media, lock."""
    path: str
    """The file's path (a string: building 10,000 Path objects costs more than the scan)."""
    stat: tuple[int, int]
    """(size, mtime_ns): a hint only; the content hash decides."""


def scan(content_dir: Path) -> tuple[list[SourceFile], Problems]:
    """List every content file with its kind; files in unexpected places are problems."""
    files: list[SourceFile] = []
    problems = Problems()
    root = str(content_dir)
    stack = [(root, "")]
    while stack:
        directory, rel_dir = stack.pop()
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        subdirs = []
        md_kind: str | None = None  # every .md file of a directory has one kind, but _section.md
        for entry in entries:
            name = entry.name
            # A name ending in ".md" that starts with neither "." nor "#" is never ignored.
            if not (name.endswith(".md") and name[0] not in ".#") and IGNORED_NAMES.search(name):
                continue
            rel = rel_dir + name
            if entry.is_dir():
                subdirs.append((entry.path, rel + "/"))
                continue
            if name.endswith(".md") and name != "_section.md":
                if md_kind is None:
                    md_kind = _kind_of(rel) or ""
                kind = md_kind or None
            else:
                kind = _kind_of(rel)
            if kind is None:
                if name.endswith((".md", ".toml")):
                    problems.add(display(content_dir, rel), None,
                                 "this file is not in a known content location. Fix: put products under "
                                 "products/, categories under categories/, help under help/<section>/, "
                                 "policies under privacy/, pages under pages/")
                continue
            st = entry.stat()
            files.append(SourceFile(rel, kind, entry.path, (st.st_size, st.st_mtime_ns)))
        stack.extend(reversed(subdirs))
    files.sort()  # by rel: it comes first, and no two files share one
    return files, problems


def _kind_of(rel: str) -> str | None:
    parts = rel.split("/")
    top = parts[0]
    if rel == "site.toml":
        return "site"
    if top == "media" and len(parts) > 1:
        return "media"
    if not rel.endswith(".md"):
        return "lock" if rel == f"privacy/{LOCK_NAME}" else None
    if top == "categories" and len(parts) == 2:
        return "category"
    if top == "products" and len(parts) >= 2:
        return "product"
    if top == "help" and len(parts) == 3:
        return "help_section" if parts[2] == "_section.md" else "help_article"
    if top == "privacy" and len(parts) == 2:
        return "policy"
    if top == "pages" and len(parts) == 2:
        return "page"
    return None


def display(content_dir: Path, rel: str, cwd: str | None = None) -> str:
    """How a content path is shown in messages: relative to the working directory (``cwd``, or
    asked for) when inside it."""
    base = _shown_base(str(content_dir), cwd or os.getcwd())
    if base == ".":
        return rel
    return f"{base}/{rel}" if base else str(Path(content_dir, rel))


@functools.lru_cache(maxsize=8)
def _shown_base(content_dir: str, cwd: str) -> str:
    """The content directory relative to the working directory ("" when outside it). Resolved once
    per build and process, not once per file (two realpath calls were 5% of parsing a product)."""
    try:
        rel = Path(content_dir).resolve().relative_to(Path(cwd).resolve()).as_posix()
    except ValueError:
        return ""
    return rel if rel != "." else "."


