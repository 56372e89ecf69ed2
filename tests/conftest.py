"""Shared test fixtures: sample sites copied into tmp_path and built there."""

from __future__ import annotations

import os
import shutil
import threading
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any, Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITES = Path(__file__).resolve().parent / "sites"


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class LocalServer:
    """A threaded WSGI server on a free loopback port, bound before the app it serves exists (the
    app's configuration needs the server's URL). It is its own dispatcher: ``serve(app)`` starts
    it, and a test may put another app (a front) in ``app`` later. ``close()`` stops it."""

    def __init__(self) -> None:
        self.app: Any = None
        self._server = make_server("127.0.0.1", 0, self, server_class=_ThreadingServer,
                                   handler_class=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread: threading.Thread | None = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)

    def serve(self, app: Any) -> None:
        self.app = app
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever, which never started otherwise
            self._server.shutdown()
        self._server.server_close()


class PageForms(HTMLParser):
    """The forms (by id: action, method, fields) and the links (by id) of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, Any]] = {}
        self.links: dict[str, str] = {}
        self._current: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id"):
            self._current = a["id"]
            self.forms[a["id"]] = {"action": a.get("action", ""), "method": a.get("method", "get"), "fields": {}}
        elif tag == "input" and self._current and a.get("name"):
            self.forms[self._current]["fields"][a["name"]] = a.get("value", "")
        elif tag == "a" and a.get("id"):
            self.links[a["id"]] = a.get("href", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are reported, not followed, so a test can look at each hop."""

    def redirect_request(self, *args, **kwargs):
        return None


def _reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Each database test runs on SQLite and on PostgreSQL; in CI the PostgreSQL half must not skip."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'checkout.db'}"
    url = os.environ.get("STOREFRONT_TEST_DATABASE_URL")
    if not url:
        reason = ("PostgreSQL tests need STOREFRONT_TEST_DATABASE_URL "
                  "(source .ci/postgres.sh to start a throwaway server)")
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    _reset_postgres(url)
    return url


@pytest.fixture
def minimal_site(tmp_path: Path) -> Path:
    """A copy of tests/sites/minimal (content + templates) that a test may edit."""
    dest = tmp_path / "site"
    shutil.copytree(SITES / "minimal", dest)
    return dest


# One Chromium for the whole session: Playwright's sync API allows one running instance per thread,
# so every browser suite (theme, orders, e2e) shares this fixture.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def chromium_path() -> str:
    """Debian's Chromium (never a downloaded browser); CHROMIUM=/path overrides."""
    path = os.environ.get("CHROMIUM") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None) \
        or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("no Chromium for the browser tests. Fix: run .ci/run (apt-get install chromium "
                    "fonts-noto-cjk), or set CHROMIUM=/path/to/chrome")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
