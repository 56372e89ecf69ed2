"""Incremental builds: what a rebuild renders and writes, and that it equals a full build."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from storefront.builder import build

from .test_build import options, tree


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_second_build_writes_nothing(minimal_site: Path) -> None:
    first = build(options(minimal_site))
    assert first.written
    before = {p: p.stat().st_mtime_ns for p in (minimal_site / "output").rglob("*") if p.is_file()}
    second = build(options(minimal_site))
    assert second.written == [] and second.removed == [] and second.rendered == 0 and second.parsed == 0
    after = {p: p.stat().st_mtime_ns for p in (minimal_site / "output").rglob("*") if p.is_file()}
    assert before == after


def test_touching_a_file_without_changing_it_writes_nothing(minimal_site: Path) -> None:
    build(options(minimal_site))
    p = minimal_site / "content/products/audio/x12.md"
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 5_000_000_000))
    report = build(options(minimal_site))
    assert report.written == []


def test_editing_one_product_rewrites_its_page_and_the_pages_that_list_it(minimal_site: Path) -> None:
    build(options(minimal_site))
    edit(minimal_site / "content/products/audio/speaker.md", "title: Soundrive 声驰 蓝牙音箱", "title: Soundrive 声驰 音箱 Pro")
    report = build(options(minimal_site))
    assert report.parsed == 1
    assert "products/speaker/index.html" in report.written
    assert "categories/audio/index.html" in report.written  # lists it
    assert "catalog.json" in report.written
    # nothing that does not show the speaker
    allowed = {"products/speaker/index.html", "categories/audio/index.html", "catalog.json", "index.html"}
    assert set(report.written) <= allowed, set(report.written) - allowed
    assert "products/x12/index.html" not in report.written
    assert "Soundrive 声驰 音箱 Pro" in (minimal_site / "output/categories/audio/index.html").read_text()


def test_editing_a_product_body_does_not_rewrite_lists(minimal_site: Path) -> None:
    build(options(minimal_site))
    edit(minimal_site / "content/products/audio/speaker.md", "防水音箱。", "防水音箱，IPX7。")
    report = build(options(minimal_site))
    assert report.written == ["products/speaker/index.html"]


def test_editing_a_template_rewrites_exactly_the_pages_using_it(minimal_site: Path) -> None:
    build(options(minimal_site))
    edit(minimal_site / "templates/partials/card.html", 'class="card"', 'class="card product-card"')
    report = build(options(minimal_site))
    # only category pages include partials/card.html
    assert sorted(report.written) == ["categories/audio/index.html", "categories/earbuds/index.html"]
    edit(minimal_site / "templates/help/article.html", "<h1>", '<h1 class="article-title">')
    report = build(options(minimal_site))
    assert sorted(report.written) == ["help/order/cart/index.html", "help/order/how-to-order/index.html"]


def test_editing_the_base_template_rewrites_every_page(minimal_site: Path) -> None:
    first = build(options(minimal_site))
    edit(minimal_site / "templates/base.html", "<main>", '<main id="main">')
    report = build(options(minimal_site))
    html_pages = [p for p in first.written if p.endswith(".html")]
    assert sorted(p for p in report.written if p.endswith(".html")) == sorted(html_pages)


def test_changing_a_css_file_changes_its_name_and_every_page(minimal_site: Path) -> None:
    build(options(minimal_site))
    old = next((minimal_site / "output/static/css").glob("site.*.css")).name
    (minimal_site / "templates/static/css/site.css").write_text("body{color:#222}\n")
    report = build(options(minimal_site))
    new = next((minimal_site / "output/static/css").glob("site.*.css")).name
    assert old != new and f"static/css/{old}" in report.removed
    assert "index.html" in report.written


def test_deleting_a_product_removes_its_page_and_catalog_entry(minimal_site: Path) -> None:
    build(options(minimal_site))
    (minimal_site / "content/products/audio/speaker.md").unlink()
    report = build(options(minimal_site))
    assert "products/speaker/index.html" in report.removed
    assert not (minimal_site / "output/products/speaker").exists()
    skus = [p["sku"] for p in json.loads((minimal_site / "output/catalog.json").read_text())["products"]]
    assert skus == ["UM-1001"]
    assert "/products/speaker/" not in (minimal_site / "output/sitemap.xml").read_text()


def test_adding_a_product_adds_its_page(minimal_site: Path) -> None:
    build(options(minimal_site))
    (minimal_site / "content/products/audio/new.md").write_text(
        "---\nsku: UM-2000\ntitle: 新品耳机\nprice: \"59.00\"\ncategory: audio\n---\n新品。\n", encoding="utf-8")
    report = build(options(minimal_site))
    assert "products/new/index.html" in report.written
    assert "新品耳机" in (minimal_site / "output/categories/audio/index.html").read_text()


@pytest.mark.parametrize("change", ["product", "template", "delete", "category", "policy_date"])
def test_incremental_equals_full(minimal_site: Path, tmp_path: Path, change: str) -> None:
    build(options(minimal_site))
    now = None
    if change == "product":
        edit(minimal_site / "content/products/audio/x12.md", 'price: "199.00"\ncompare', 'price: "189.00"\ncompare')
    elif change == "template":
        edit(minimal_site / "templates/partials/nav.html", "帮助", "帮助中心")
    elif change == "delete":
        (minimal_site / "content/help/order/cart.md").unlink()
    elif change == "category":
        edit(minimal_site / "content/categories/earbuds.md", "title: 真无线耳机", "title: TWS 耳机")
    elif change == "policy_date":
        import datetime as dt
        now = dt.date(2030, 6, 1)
    kw = {"now": now} if now else {}
    build(options(minimal_site, **kw))
    full_out = tmp_path / "full"
    build(options(minimal_site, output=full_out, full=True, **kw))
    assert tree(minimal_site / "output") == tree(full_out)


def test_full_flag_renders_everything_but_writes_only_changes(minimal_site: Path) -> None:
    build(options(minimal_site))
    report = build(options(minimal_site, full=True))
    assert report.rendered == report.pages and report.written == []


def test_a_failed_build_leaves_the_previous_output_untouched(minimal_site: Path) -> None:
    build(options(minimal_site))
    before = tree(minimal_site / "output")
    edit(minimal_site / "content/products/audio/x12.md", 'price: "199.00"\ncompare', 'price: "199元"\ncompare')
    (minimal_site / "content/products/audio/speaker.md").unlink()
    from storefront.errors import ContentError
    with pytest.raises(ContentError):
        build(options(minimal_site))
    assert tree(minimal_site / "output") == before
    assert not list(minimal_site.glob(".output-staging-*"))


def test_a_template_error_at_render_time_leaves_the_output_untouched(minimal_site: Path) -> None:
    build(options(minimal_site))
    before = tree(minimal_site / "output")
    edit(minimal_site / "templates/product.html", "{{ product.body_html }}", "{{ product.body_html.nope() }}")
    from storefront.errors import ContentError
    with pytest.raises(ContentError) as info:
        build(options(minimal_site))
    assert any(p.path.endswith("product.html") and p.line == 6 for p in info.value.problems)
    assert tree(minimal_site / "output") == before


def test_a_missing_asset_is_named_with_the_template_line(minimal_site: Path) -> None:
    edit(minimal_site / "templates/base.html", "asset('css/site.css')", "asset('css/gone.css')")
    from storefront.errors import ContentError
    with pytest.raises(ContentError) as info:
        build(options(minimal_site))
    problem = next(p for p in info.value.problems if "gone.css" in p.message)
    assert problem.path.endswith("base.html") and problem.line == 4
    assert "asset('css/gone.css'): no file static/css/gone.css in the theme" in problem.message


def test_deleting_the_cache_only_costs_time(minimal_site: Path) -> None:
    build(options(minimal_site))
    before = tree(minimal_site / "output")
    import shutil
    shutil.rmtree(options(minimal_site).cache_dir)
    report = build(options(minimal_site))
    assert report.rendered == report.pages
    assert tree(minimal_site / "output") == before


def test_a_damaged_cache_is_replaced_not_fatal(minimal_site: Path) -> None:
    build(options(minimal_site))
    before = tree(minimal_site / "output")
    db = options(minimal_site).cache_dir / "build.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    report = build(options(minimal_site))
    assert report.rendered == report.pages
    assert tree(minimal_site / "output") == before


def _index_state(site: Path) -> tuple[str, list[str]]:
    index = site / "search_index"
    return os.readlink(index), sorted(p.name for p in site.glob("search_index.b*"))


def _watch_give(builder, monkeypatch) -> list[bool]:
    """Records, for each build, whether the search stage was handed to its own process."""
    handed: list[bool] = []
    real_give = builder.SearchJob.give
    monkeypatch.setattr(builder.SearchJob, "give",
                        lambda self, *a: (real_give(self, *a), handed.append(self._proc is not None)))
    return handed


def test_a_small_edit_indexes_beside_rendering_and_swaps_the_index_after(minimal_site: Path, monkeypatch) -> None:
    from storefront import builder
    from storefront.search import open_index, search

    monkeypatch.setattr(builder, "_alone", lambda: True)  # whatever else this test process runs
    build(options(minimal_site, search=True))
    started = _watch_give(builder, monkeypatch)
    edit(minimal_site / "content/products/audio/speaker.md", "title: Soundrive 声驰 蓝牙音箱", "title: Soundrive 声驰 音箱 Zeta")
    report = build(options(minimal_site, search=True))
    assert started == [True]  # the index was updated in its own process, beside rendering
    assert report.search["mode"] == "incremental" and report.search["replaced"] == 1
    oi = open_index(minimal_site / "search_index")
    try:
        assert [h.title for h in search(oi, "zeta").hits] == ["Soundrive 声驰 音箱 Zeta"]
    finally:
        oi.close()
    manifest = json.loads((minimal_site / "output/search/manifest.json").read_text())
    assert manifest["docs"] == report.search["documents"]


def test_with_other_threads_running_the_search_stage_still_runs_beside(minimal_site: Path, monkeypatch) -> None:
    import threading

    from storefront import builder

    build(options(minimal_site, search=True))
    started = _watch_give(builder, monkeypatch)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # as serve's HTTP and mail threads
    other.start()
    try:
        edit(minimal_site / "content/products/audio/speaker.md", "title: Soundrive 声驰 蓝牙音箱", "title: Soundrive 声驰 音箱 Eta")
        report = build(options(minimal_site, search=True))
    finally:
        stop.set()
        other.join()
    # a new interpreter, not a fork: it inherits no lock another thread might hold
    assert started == [True]
    assert report.search["replaced"] == 1


def test_a_build_failing_while_indexing_beside_leaves_the_index_as_it_was(minimal_site: Path, monkeypatch) -> None:
    from storefront import builder
    from storefront.errors import ContentError

    monkeypatch.setattr(builder, "_alone", lambda: True)
    build(options(minimal_site, search=True))
    before_output, before_index = tree(minimal_site / "output"), _index_state(minimal_site)
    edit(minimal_site / "content/products/audio/speaker.md", "title: Soundrive 声驰 蓝牙音箱", "title: Soundrive 声驰 音箱 Zeta")
    edit(minimal_site / "templates/product.html", "{{ product.body_html }}", "{{ product.body_html.nope() }}")
    with pytest.raises(ContentError):
        build(options(minimal_site, search=True))
    # The new index was written (or was being written) beside rendering; it was never swapped in,
    # and it is gone.
    assert _index_state(minimal_site) == before_index
    assert tree(minimal_site / "output") == before_output


def test_bad_content_after_the_search_stage_started_leaves_the_index_as_it_was(minimal_site: Path, monkeypatch) -> None:
    from storefront import builder
    from storefront.errors import ContentError

    monkeypatch.setattr(builder, "_alone", lambda: True)
    build(options(minimal_site, search=True))
    before_output, before_index = tree(minimal_site / "output"), _index_state(minimal_site)
    started = []
    real_start = builder.SearchJob.start_early
    monkeypatch.setattr(builder.SearchJob, "start_early",
                        lambda self: (real_start(self), started.append(self._proc is not None)))
    edit(minimal_site / "content/products/audio/speaker.md", "price: ", "price: 12元 ")
    with pytest.raises(ContentError):
        build(options(minimal_site, search=True))
    assert started == [True]  # started before the content was read, stopped when it failed
    assert _index_state(minimal_site) == before_index
    assert tree(minimal_site / "output") == before_output


def test_after_a_big_parse_the_search_stage_process_hands_over_to_this_process(minimal_site: Path, monkeypatch) -> None:
    from storefront import builder

    monkeypatch.setattr(builder, "_alone", lambda: True)
    build(options(minimal_site, search=True))
    monkeypatch.setattr(builder, "SEARCH_BESIDE_MAX", 0)
    handed = _watch_give(builder, monkeypatch)
    edit(minimal_site / "content/products/audio/speaker.md", "title: Soundrive 声驰 蓝牙音箱", "title: Soundrive 声驰 音箱 Theta")
    report = build(options(minimal_site, search=True))
    assert handed == [False] and report.search["replaced"] == 1
    assert "Soundrive 声驰 音箱 Theta" in (minimal_site / "output/search/docs/0.json").read_text()


def test_the_recorded_search_fingerprints_follow_edits_and_deletions(minimal_site: Path, tmp_path: Path, monkeypatch) -> None:
    import shutil

    from storefront import builder
    from storefront.cache import BuildCache

    monkeypatch.setattr(builder, "_alone", lambda: True)
    monkeypatch.setattr(builder, "REINDEX_SHARE", 1)  # an update, however much of this small store changes
    build(options(minimal_site, search=True))
    edit(minimal_site / "content/products/audio/speaker.md", "title: Soundrive 声驰 蓝牙音箱", "title: Soundrive 声驰 音箱 Iota")
    (minimal_site / "content/products/audio/x12.md").unlink()
    report = build(options(minimal_site, search=True))
    assert report.search["replaced"] == 1 and report.search["deleted"] == 1
    fresh = tmp_path / "fresh"
    shutil.copytree(minimal_site / "content", fresh / "content")
    build(options(fresh, templates=minimal_site / "templates", search=True))

    def recorded(site: Path) -> dict[str, str]:
        cache = BuildCache(options(site).cache_dir)
        try:
            return cache.search_docs()
        finally:
            cache.close()
    assert recorded(minimal_site) == recorded(fresh)
    assert "product:UM-1001" not in recorded(minimal_site)  # x12.md


def test_a_big_change_indexes_afresh_and_finds_what_an_update_would(minimal_site: Path, monkeypatch) -> None:
    from storefront import builder
    from storefront.search import open_index, search

    monkeypatch.setattr(builder, "_alone", lambda: True)
    build(options(minimal_site, search=True))
    edit(minimal_site / "content/products/audio/speaker.md", "title: Soundrive 声驰 蓝牙音箱", "title: Soundrive 声驰 音箱 Kappa")
    monkeypatch.setattr(builder, "REINDEX_SHARE", 1000)  # one changed document in a thousand is "big"
    report = build(options(minimal_site, search=True))
    assert report.search["mode"] == "full" and report.search["added"] == report.search["documents"]
    oi = open_index(minimal_site / "search_index")
    try:
        assert oi.manifest["corrections"]["docs"] == 0  # nothing replaced is left behind, deleted
        assert [h.title for h in search(oi, "kappa").hits] == ["Soundrive 声驰 音箱 Kappa"]
    finally:
        oi.close()
