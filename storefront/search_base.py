"""What the build needs of search without loading Whoosh: the document type it hands to
:func:`storefront.search.update_index`, and the index's build directories (``<index>.bNNNNNN``
beside the ``<index>`` symlink: swapping a new build in, discarding one never swapped in, pruning
old ones). The build's own process uses only this; Whoosh loads in the search stage.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SearchDoc:
    """One searchable document, as the build hands it to :func:`update_index`."""

    id: str
    """Unique and stable: ``product:UM-1001``, ``help:payment/paypal``, ``policy:2025-10-01``."""
    kind: str
    """``product``, ``help``, ``policy`` or ``page``."""
    url: str
    title: str
    text: str
    """Plain text of the body (no HTML)."""
    sku: str = ""
    variant_skus: tuple[str, ...] = ()
    category: str = ""
    """Category slug (products) or help section slug (help articles)."""
    category_title: str = ""
    tags: tuple[str, ...] = ()
    price_minor: int | None = None
    currency: str = ""
    image: str = ""


def build_dirs(index_dir: Path) -> list[Path]:
    pat = re.compile(re.escape(index_dir.name) + r"\.b(\d{6})$")
    found = [p for p in index_dir.parent.iterdir() if pat.match(p.name) and p.is_dir()]
    return sorted(found, key=lambda p: int(pat.match(p.name).group(1)))


def current_build(index_dir: Path) -> Path | None:
    if index_dir.is_symlink():
        target = index_dir.resolve()
        return target if target.is_dir() else None
    return None


def new_build_dir(index_dir: Path) -> Path:
    existing = build_dirs(index_dir)
    n = int(existing[-1].name.rsplit(".b", 1)[1]) + 1 if existing else 1
    while True:
        path = index_dir.parent / f"{index_dir.name}.b{n:06d}"
        try:
            path.mkdir()
            return path
        except FileExistsError:  # a concurrent build took this number
            n += 1


def swap_index(index_dir: Path, build: Path) -> None:
    """Make ``build`` (written by ``update_index(..., swap=False)``) the index ``index_dir`` points
    at; the previous build is kept for rollback, older ones are deleted."""
    index_dir, build = Path(index_dir), Path(build)
    current = current_build(index_dir)
    point_at(index_dir, build)
    prune(index_dir, keep={build, current} - {None})


def discard_unswapped(index_dir: Path) -> None:
    """Delete the builds newer than the one ``index_dir`` points at: written, never swapped in."""
    index_dir = Path(index_dir)
    if not index_dir.parent.is_dir():
        return
    current = current_build(index_dir)
    newer = current is None
    for b in build_dirs(index_dir):
        if newer:
            shutil.rmtree(b, ignore_errors=True)
        elif b.resolve() == current.resolve():
            newer = True


def point_at(index_dir: Path, build: Path) -> None:
    tmp = index_dir.parent / f".{index_dir.name}.swap-{os.getpid()}-{threading.get_ident()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(build.name, tmp)  # relative: the pair can be moved together
    os.replace(tmp, index_dir)


def prune(index_dir: Path, keep: set[Path]) -> None:
    keep = {p.resolve() for p in keep}
    for p in build_dirs(index_dir):
        if p.resolve() not in keep:
            shutil.rmtree(p, ignore_errors=True)
