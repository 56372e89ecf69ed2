"""The watch loop (driven with injected change notes, no real observer) and the preview server."""

from __future__ import annotations

import threading
from pathlib import Path

import webtest

from storefront.devserver import LiveState, make_app
from storefront.watch import IGNORED, BuildResult, ChangeQueue, build_once, watch_loop

from .test_build import options


def run_loop(opts, notes: list[list[str]], edits: list) -> list[BuildResult]:
    """Feed each burst of notes (after applying its edit) to the loop and collect the results."""
    queue, stop, results = ChangeQueue(), threading.Event(), []
    got = threading.Event()

    def on_result(result: BuildResult) -> None:
        results.append(result)
        got.set()

    loop = threading.Thread(target=watch_loop, args=(opts, queue, on_result, stop), kwargs={"debounce": 0.05})
    loop.start()
    try:
        for burst, edit in zip(notes, edits):
            got.clear()
            edit()
            for path in burst:
                queue.note(path)
            assert got.wait(20), "no build after a change"
    finally:
        stop.set()
        loop.join(5)
    return results


def test_editor_temp_files_are_ignored() -> None:
    for name in ["content/.x12.md.swp", "content/x12.md~", "content/#x12.md#", "content/.#x12.md",
                 "templates/base.html___jb_tmp___", "content/a.tmp"]:
        assert IGNORED.search(name), name
    assert not IGNORED.search("content/products/x12.md")


def test_a_burst_of_changes_is_one_build_and_a_broken_file_recovers(minimal_site: Path) -> None:
    opts = options(minimal_site)
    assert build_once(opts).ok
    product = minimal_site / "content/products/audio/speaker.md"
    good = product.read_text(encoding="utf-8")

    def break_it() -> None:
        product.write_text(good.replace("price: 99.5", "price: 99元"), encoding="utf-8")

    def fix_it() -> None:
        product.write_text(good.replace("防水音箱。", "防水音箱，已修好。"), encoding="utf-8")

    results = run_loop(opts, [[str(product)] * 5, [str(product), str(product) + ".swp"]], [break_it, fix_it])
    assert len(results) == 2
    assert not results[0].ok and any("speaker.md:4" in str(p) for p in results[0].problems)
    # the last good site stayed while broken
    assert results[1].ok and results[1].generation == 2
    assert "已修好" in (minimal_site / "output/products/speaker/index.html").read_text(encoding="utf-8")


def test_preview_server_pretty_urls_404_and_reload_script(minimal_site: Path) -> None:
    opts = options(minimal_site)
    build_once(opts)
    app = webtest.TestApp(make_app(opts.output, LiveState()))
    page = app.get("/products/x12/")
    assert "无线蓝牙耳机" in page.text and "/__storefront/events" in page.text
    assert app.get("/products/x12").status_int == 301
    missing = app.get("/no/such/page/", status=404)
    assert "页面不存在" in missing.text
    assert app.get("/../../etc/passwd", status=404)
    # the reload script is injected at serve time only, never written into output/
    assert "__storefront" not in (opts.output / "products/x12/index.html").read_text(encoding="utf-8")


def test_preview_server_hands_api_to_the_backend(minimal_site: Path) -> None:
    opts = options(minimal_site)
    build_once(opts)

    def backend(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"backend": true}']

    app = webtest.TestApp(make_app(opts.output, None, backend))
    assert app.get("/api/health").json == {"backend": True}
    assert "__storefront" not in app.get("/").text


def test_watcher_survives_a_build_that_crashes(minimal_site: Path, monkeypatch) -> None:
    # Regression: only ContentError was caught, so an OSError or a SearchIndexError ended the
    # watch thread of `serve` silently and the preview never rebuilt again.
    import storefront.watch as watch_mod
    from storefront.search import SearchIndexError

    opts = options(minimal_site)
    real_build, failures = watch_mod.build, [OSError(28, "No space left on device"),
                                             SearchIndexError("search_index: building the search index failed")]

    def flaky_build(o, *a, **kw):
        if failures:
            raise failures.pop(0)
        return real_build(o, *a, **kw)

    monkeypatch.setattr(watch_mod, "build", flaky_build)
    product = str(minimal_site / "content/products/audio/speaker.md")
    results = run_loop(opts, [[product], [product], [product]], [lambda: None] * 3)
    assert [r.ok for r in results] == [False, False, True]
    assert "internal error OSError" in str(results[0].problems[0]) and "last good site" in str(results[0].problems[0])
    assert "building the search index failed" in str(results[1].problems[0])


def test_page_opened_while_broken_carries_the_last_good_generation(minimal_site: Path) -> None:
    # Regression: pages carried the latest (failed) generation, so a page opened while the build
    # was broken ignored the failure event and showed no error overlay.
    opts = options(minimal_site)
    assert build_once(opts).ok
    live = LiveState()
    live.publish(BuildResult(True, generation=3))
    live.publish(BuildResult(False, generation=4))
    app = webtest.TestApp(make_app(opts.output, live))
    assert "window.__sfGen=3;" in app.get("/products/x12/").text
    assert b'"generation": 4, "ok": false' in live.event()
