"""Fixtures of the end-to-end tests: `build.py serve` on a copy of the demo store, and Chromium.

The server is the real command (`build.py serve`, a subprocess) on a free port, serving a copy of
content/ and templates/ in a temporary directory, with the checkout service mounted on the same
origin, SQLite and file mail under a temporary CHECKOUT_DATA_DIR. The browser is Debian's Chromium
driven by Playwright (never a downloaded browser).

Every page a test visits through ``shop.visit`` (or checks with ``shop.audit``) gets the
accessibility smoke checks: a title, exactly one h1, labelled form fields, images with alt text,
and no sideways scrolling (the phone tests run at 390x844).
Every test's page fails at teardown if the browser logged a console error or an uncaught
exception, except errors a test declares expected (``shop.allow_console(...)``).

Screenshots go to test-artifacts/e2e/ (git-ignored).
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
# The demo store has a major privacy version effective 2027-01-01: build as of a fixed day before it,
# so the site-wide notice is there whatever the calendar says.
BUILD_NOW = "2026-11-25"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running `build.py serve` and the directories it works on."""

    base_url: str
    root: Path
    content: Path
    output: Path
    data_dir: Path
    process: subprocess.Popen
    log: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_text(self) -> str:
        return "".join(self.log[-60:])

    def wait_for_log(self, pattern: str, after: int = 0, timeout: float = 30.0) -> str:
        """The first log line after line index ``after`` matching ``pattern``."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log[after:]:
                if rx.search(line):
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no log line matching {pattern!r} within {timeout} s; log:\n{self.log_text()}")

    def mails(self) -> list[email.message.EmailMessage]:
        folder = self.data_dir / "mail"
        if not folder.is_dir():
            return []
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
                for p in sorted(folder.glob("*.eml"))]

    def wait_for_mail(self, to: str, timeout: float = 20.0) -> email.message.EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in self.mails():
                if to in str(msg["To"]):
                    return msg
            time.sleep(0.1)
        raise AssertionError(f"no mail to {to} in {self.data_dir / 'mail'} within {timeout} s; log:\n{self.log_text()}")


def _pump(stream, sink: list[str]) -> None:
    for raw in iter(stream.readline, b""):
        sink.append(raw.decode("utf-8", "replace"))


def start_server(root: Path) -> Server:
    content, templates = root / "content", root / "templates"
    if not content.exists():
        shutil.copytree(ROOT / "content", content)
        shutil.copytree(ROOT / "templates", templates)
    data_dir = root / "data"
    data_dir.mkdir(exist_ok=True)
    for attempt in range(3):  # the free port can be taken between the probe and the bind
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONHASHSEED="0",
                   CHECKOUT_DATA_DIR=str(data_dir), CHECKOUT_SITE_ORIGIN=base,
                   CHECKOUT_MAIL_TEMPLATES=str(templates / "mail"), CHECKOUT_MAIL_SENDER_INTERVAL="0.2",
                   # cheap argon2 keeps registration and login fast; the cost is tested elsewhere
                   CHECKOUT_ARGON2_TIME_COST="1", CHECKOUT_ARGON2_MEMORY_COST="8192",
                   CHECKOUT_ARGON2_PARALLELISM="1")
        for name in ("DATABASE_URL", "CHECKOUT_MAIL_URL", "CHECKOUT_PUBLIC_URL", "CHECKOUT_ENV",
                     "CHECKOUT_SITE_DIR", "CHECKOUT_INDEX_DIR"):
            env.pop(name, None)
        cmd = [sys.executable, str(ROOT / "build.py"), "serve", "--content", str(content), "--templates",
               str(templates), "--output", str(root / "output"), "--index", str(root / "search_index"),
               "--now", BUILD_NOW, "--jobs", "1", "--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        server = Server(base, root, content, root / "output", data_dir, proc)
        threading.Thread(target=_pump, args=(proc.stdout, server.log), daemon=True).start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(base + "/api/health", timeout=2) as r:
                    if r.status == 200:
                        return server
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        stop_server(server)
        if "cannot listen" not in server.log_text():
            break
    raise AssertionError(f"build.py serve did not come up; its output:\n{server.log_text()}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("e2e-store"))
    yield srv
    stop_server(srv)


# ---- the per-test page with its checks ------------------------------------------------------------

AUDIT_JS = """() => {
  const problems = [];
  if (!document.title.trim()) problems.push("no <title>");
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) problems.push(`${h1} <h1> elements (want exactly 1)`);
  const skip = new Set(["hidden", "submit", "button", "reset", "image"]);
  document.querySelectorAll("input, select, textarea").forEach((el) => {
    if (el.tagName === "INPUT" && skip.has(el.type)) return;
    const named = (el.labels && el.labels.length) || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")
      || el.getAttribute("title");
    if (!named) problems.push(`unlabelled field ${el.outerHTML.slice(0, 120)}`);
  });
  document.querySelectorAll("img:not([alt])").forEach((img) => problems.push(`image without alt: ${img.src}`));
  const wide = document.documentElement.scrollWidth;
  if (wide > window.innerWidth) problems.push(`page is ${wide}px wide in a ${window.innerWidth}px viewport (sideways scrolling)`);
  return problems;
}"""


@dataclass
class Shop:
    """A browser tab on the served shop, recording what the checks need."""

    page: Page
    server: Server
    name: str
    console_errors: list[str] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    audited: list[str] = field(default_factory=list)
    _allowed: list[Callable[[ConsoleMessage], bool]] = field(default_factory=list)

    def allow_console(self, predicate: Callable[[ConsoleMessage], bool]) -> None:
        """Declare console errors the test provokes on purpose (e.g. an aborted API call)."""
        self._allowed.append(predicate)

    def listen(self, page: Page) -> None:
        """Record console errors and uncaught exceptions of ``page`` (the tab itself, or another one)."""
        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error" and not any(ok(msg) for ok in self._allowed):
                self.console_errors.append(f"{page.url}: {msg.text} ({msg.location.get('url', '')})")
        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"{page.url}: uncaught {exc}"))

    def visit(self, path: str) -> None:
        self.responses.clear()
        self.page.goto(self.server.url(path), wait_until="load")
        self.audit()

    def audit(self) -> None:
        """The accessibility smoke checks on the page as it is now."""
        self.page.wait_for_load_state("load")
        problems = self.page.evaluate(AUDIT_JS)
        assert not problems, f"{self.page.url}: " + "; ".join(problems)
        self.audited.append(self.page.url)

    def screenshot(self, label: str, page: Page | None = None) -> Path:
        """Save ``page`` (default: this tab) as test-artifacts/e2e/<test>-<label>.png."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        (page or self.page).screenshot(path=str(path), full_page=True)
        return path

    def bytes_before_images(self) -> tuple[int, list[tuple[str, int]]]:
        """Bytes transferred (headers + body, as served) by the last visited page, images excepted.

        Served uncompressed by the preview server, so this is an upper bound of what a CDN
        sends. The live-reload event stream is the preview server's, not the page's, and never
        ends, so it is left out. Fonts count as images here: the theme uses system fonts.
        """
        rows = []
        for resp in list(self.responses):
            req = resp.request
            if req.resource_type in ("image", "media", "font") or "/__storefront/" in req.url:
                continue
            sizes = req.sizes()
            rows.append((req.url, sizes["responseHeadersSize"] + sizes["responseBodySize"]))
        return sum(n for _, n in rows), rows


def _new_shop(browser: Browser, server: Server, name: str, viewport: dict[str, int]) -> tuple[Shop, Callable[[], None]]:
    context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai",
                                  is_mobile=viewport == PHONE, has_touch=viewport == PHONE)
    context.set_default_timeout(15_000)
    page = context.new_page()
    shop = Shop(page, server, name)
    shop.listen(page)
    page.on("response", lambda resp: shop.responses.append(resp))
    return shop, context.close


def _safe_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::")[-1])[:80]


@pytest.fixture
def shop(browser: Browser, server: Server, request: pytest.FixtureRequest) -> Iterator[Shop]:
    """A desktop-sized tab; fails the test at teardown on any unexpected console error."""
    s, close = _new_shop(browser, server, _safe_name(request.node.nodeid), DESKTOP)
    yield s
    errors = list(s.console_errors)
    close()
    assert not errors, "console errors:\n" + "\n".join(errors)


@pytest.fixture
def phone_shop(browser: Browser, server: Server, request: pytest.FixtureRequest) -> Iterator[Shop]:
    """The same on a 390x844 phone viewport, with touch."""
    s, close = _new_shop(browser, server, _safe_name(request.node.nodeid), PHONE)
    yield s
    errors = list(s.console_errors)
    close()
    assert not errors, "console errors:\n" + "\n".join(errors)
