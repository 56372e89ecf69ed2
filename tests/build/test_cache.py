"""The build cache records a build in one transaction: all of it or nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storefront import cache as cache_mod
from storefront.builder import build

from .test_build import options


def _rows(site: Path, table: str) -> list[tuple]:
    db = sqlite3.connect(site / ".output-cache" / "build.sqlite")
    try:
        return sorted(db.execute(f"SELECT * FROM {table}"))
    finally:
        db.close()


def test_a_save_that_fails_halfway_leaves_the_cache_as_it_was(minimal_site: Path, monkeypatch) -> None:
    build(options(minimal_site))
    before = {t: _rows(minimal_site, t) for t in ("files", "records", "catalog", "artifacts", "meta")}
    for path in sorted((minimal_site / "content/products").rglob("*.md")):
        path.write_text(path.read_text(encoding="utf-8").replace("title: ", "title: 新 ", 1), encoding="utf-8")
    products = sorted((minimal_site / "content/products").rglob("*.md"))
    calls = []
    real_pack = cache_mod._pack

    def pack_then_fail(parsed):
        calls.append(parsed.rel)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_pack(parsed)

    monkeypatch.setattr(cache_mod, "_pack", pack_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        build(options(minimal_site))
    # The files rows were written before the records failed, in the same transaction: rolled back.
    assert {t: _rows(minimal_site, t) for t in before} == before
    monkeypatch.setattr(cache_mod, "_pack", real_pack)
    report = build(options(minimal_site))
    assert report.parsed == len(products) > 1  # nothing of the failed build was taken as known
    assert "新 " in (minimal_site / "output/catalog.json").read_text(encoding="utf-8")
