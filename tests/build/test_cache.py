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


def test_sources_recorded_beside_rendering_are_those_recorded_at_the_end(minimal_site: Path, monkeypatch) -> None:
    import shutil

    from storefront import builder

    started = []
    real_start = builder.SourceSaver.start_beside
    monkeypatch.setattr(builder.SourceSaver, "start_beside",
                        lambda self, n: (real_start(self, n), started.append(self._proc is not None)))
    monkeypatch.setattr(builder, "_alone", lambda: True)  # whatever else this test process runs
    build(options(minimal_site))  # at the end, in this process
    at_the_end = {t: _rows(minimal_site, t) for t in ("files", "records", "bodies", "catalog")}
    shutil.rmtree(minimal_site / ".output-cache")
    monkeypatch.setattr(builder, "SAVE_BESIDE_MIN", 1)
    build(options(minimal_site, full=True))  # in a forked process, while the site renders
    assert started == [False, True]
    assert {t: _rows(minimal_site, t) for t in at_the_end} == at_the_end
    second = build(options(minimal_site))
    assert second.parsed == 0 and second.written == []


def test_a_build_failing_after_the_sources_were_recorded_leaves_true_rows(minimal_site: Path, monkeypatch) -> None:
    from storefront import builder
    from storefront.errors import ContentError

    monkeypatch.setattr(builder, "SAVE_BESIDE_MIN", 1)
    monkeypatch.setattr(builder, "_alone", lambda: True)
    build(options(minimal_site))
    product = minimal_site / "content/products/audio/speaker.md"
    product.write_text(product.read_text(encoding="utf-8").replace("title: ", "title: 新款 ", 1), encoding="utf-8")
    template = minimal_site / "templates/product.html"
    good = template.read_text(encoding="utf-8")
    template.write_text(good.replace("{{ product.body_html }}", "{{ product.body_html.nope() }}"), encoding="utf-8")
    with pytest.raises(ContentError):
        build(options(minimal_site))
    template.write_text(good, encoding="utf-8")
    report = build(options(minimal_site))
    # The edited file's record was kept by the failed build: not parsed again, and still shown.
    assert report.parsed == 0
    assert "新款 " in (minimal_site / "output/products/speaker/index.html").read_text(encoding="utf-8")
    assert "products/speaker/index.html" in report.written


def test_sources_recorded_before_a_cross_file_error_stay_true(minimal_site: Path, monkeypatch) -> None:
    """The sources are recorded as soon as the files are parsed, before the library is assembled:
    a build that then fails on a problem between files leaves rows that are true."""
    from storefront import builder
    from storefront.errors import ContentError

    monkeypatch.setattr(builder, "SAVE_BESIDE_MIN", 1)
    monkeypatch.setattr(builder, "_alone", lambda: True)
    build(options(minimal_site))
    products = minimal_site / "content/products/audio"
    speaker = products / "speaker.md"
    speaker.write_text(speaker.read_text(encoding="utf-8").replace("title: ", "title: 新款 ", 1), encoding="utf-8")
    twin = products / "twin.md"  # the same SKU as x12.md: found when the library is assembled
    twin.write_text((products / "x12.md").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ContentError) as info:
        build(options(minimal_site))
    assert any("UM-1001" in p.message for p in info.value.problems)
    assert "twin.md" in {Path(r[0]).name for r in _rows(minimal_site, "records")}  # recorded before the check
    twin.unlink()
    report = build(options(minimal_site))
    assert report.parsed == 0  # the edited file's record was kept by the failed build
    assert "新款 " in (minimal_site / "output/products/speaker/index.html").read_text(encoding="utf-8")
    assert "twin.md" not in {Path(r[0]).name for r in _rows(minimal_site, "records")}
    fresh = minimal_site.parent / "fresh"
    import shutil
    shutil.copytree(minimal_site, fresh, ignore=shutil.ignore_patterns("output", ".output-*"))
    build(options(fresh, full=True))
    assert (fresh / "output/catalog.json").read_bytes() == (minimal_site / "output/catalog.json").read_bytes()
