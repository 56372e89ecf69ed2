"""Sandbox plumbing shared by the fake providers: the outbox that delivers signed notifications
(with the test hooks: replay, send twice, send late), the payer page and JSON answers.

Stage: development and tests only; never mounted with ``CHECKOUT_ENV=production``.
"""

from __future__ import annotations

import html
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

import bottle

# Served on the shop's origin, where no /favicon.ico exists: without an icon of their own the sandbox
# pages make the browser fetch it, and the 404 is logged as a console error.
NO_FAVICON = '<link rel="icon" href="data:,">'

Build = Callable[[float], tuple[bytes, dict[str, str]]]
"""Given the signing time (unix seconds), the notification body and headers."""


@dataclass
class Delivery:
    """One notification the sandbox sent (and every attempt to send it)."""

    index: int
    url: str
    reference: str
    kind: str
    build: Build = field(repr=False)
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    """HTTP status of each attempt; 0 when the receiver could not be reached."""

    def summary(self) -> dict[str, Any]:
        return {"index": self.index, "url": self.url, "reference": self.reference, "kind": self.kind,
                "statuses": list(self.statuses)}


class Outbox:
    """Sends notifications over HTTP from background threads, as a provider does: the cashier's
    redirect does not wait for the merchant's notify route (and a single-threaded dev server that
    hosts both the sandbox and the notify route does not deadlock)."""

    def __init__(self, clock: Callable[[], float] = time.time, timeout: float = 10.0):
        self.clock = clock
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def post(self, url: str, reference: str, kind: str, build: Build, options: dict[str, Any] | None = None) -> Delivery:
        """Sign and send. ``options`` (test hooks): ``copies`` (send it N times), ``delay_seconds``
        (send later), ``signed_at`` (unix time to sign with) or ``signed_offset`` (seconds from now)."""
        options = options or {}
        signed_at = options.get("signed_at")
        if signed_at is None:
            signed_at = self.clock() + float(options.get("signed_offset", 0))
        body, headers = build(float(signed_at))
        with self._lock:
            delivery = Delivery(len(self.deliveries), url, reference, kind, build, body, headers)
            self.deliveries.append(delivery)
        for _ in range(max(1, int(options.get("copies", 1)))):
            self._send_later(delivery, float(options.get("delay_seconds", 0)))
        return delivery

    def replay(self, index: int) -> Delivery:
        """Send the very same bytes and headers again (a retry, or an attacker's replay)."""
        delivery = self.deliveries[index]
        self._send_later(delivery, 0)
        return delivery

    def resend(self, index: int, signed_at: float | None = None) -> Delivery:
        """Sign the same notification again, now or at ``signed_at`` (e.g. long ago: a stale one)."""
        old = self.deliveries[index]
        return self.post(old.url, old.reference, old.kind, old.build,
                         {"signed_at": self.clock() if signed_at is None else signed_at})

    def _send_later(self, delivery: Delivery, delay: float) -> None:
        thread = threading.Thread(target=self._send, args=(delivery, delay), daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _send(self, delivery: Delivery, delay: float) -> None:
        if delay:
            time.sleep(delay)
        req = urllib.request.Request(delivery.url, data=delivery.body, method="POST", headers=delivery.headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - sandbox only
                status = resp.status
        except urllib.error.HTTPError as err:
            status = err.code
            err.close()
        except OSError:
            status = 0
        with self._lock:
            delivery.statuses.append(status)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every notification sent so far has had its attempts (tests call this)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [t for t in self._threads if t.is_alive()]
                self._threads = pending
            if not pending:
                return
            pending[0].join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                raise TimeoutError("sandbox notifications still in flight")


def json_answer(status: int, data: Any, headers: dict[str, str] | None = None) -> bottle.HTTPResponse:
    body = json.dumps(data, ensure_ascii=False)
    return bottle.HTTPResponse(body, status, {"Content-Type": "application/json", **(headers or {})})


def redirect(url: str) -> bottle.HTTPResponse:
    return bottle.HTTPResponse("", 303, {"Location": url})


def cashier_page(title: str, rows: list[tuple[str, str]], pay_action: str, cancel_action: str,
                 extra_html: str = "", hidden: dict[str, str] | None = None) -> str:
    """The payer page: the order as the provider would show it, and the two forms the tests submit."""
    fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in (hidden or {}).items())
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">{NO_FAVICON}'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
            f'</head><body><h1>{html.escape(title)}</h1><p>沙箱 / sandbox: no real money moves.</p>'
            f'<table>{table}</table>{extra_html}'
            f'<form id="sandbox-pay" method="post" action="{html.escape(pay_action)}">{fields}'
            f'<button type="submit">确认付款 Pay</button></form>'
            f'<form id="sandbox-cancel" method="post" action="{html.escape(cancel_action)}">{fields}'
            f'<button type="submit">取消 Cancel</button></form></body></html>')


def message_page(title: str, text: str, status: int = 200) -> bottle.HTTPResponse:
    body = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">{NO_FAVICON}<title>{html.escape(title)}</title>'
            f'</head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>')
    return bottle.HTTPResponse(body, status, {"Content-Type": "text/html; charset=utf-8"})


def add_test_routes(app: bottle.Bottle, outbox: Outbox, options: dict[str, dict[str, Any]],
                    lock: threading.Lock) -> None:
    """Hooks the tests (and browser tests) drive over HTTP, under ``/_test/``."""

    @app.get("/_test/notifications")
    def list_notifications():
        return json_answer(200, {"notifications": [d.summary() for d in outbox.deliveries]})

    @app.post("/_test/notifications/<index:int>/replay")
    def replay(index: int):
        if index >= len(outbox.deliveries):
            return json_answer(404, {"error": "no such notification"})
        return json_answer(200, outbox.replay(index).summary())

    @app.post("/_test/notifications/<index:int>/resend")
    def resend(index: int):
        if index >= len(outbox.deliveries):
            return json_answer(404, {"error": "no such notification"})
        data = bottle.request.json or {}
        signed_at = data.get("signed_at")
        return json_answer(200, outbox.resend(index, None if signed_at is None else float(signed_at)).summary())

    @app.put("/_test/options/<reference>")
    def set_options(reference: str):
        data = bottle.request.json
        if not isinstance(data, dict):
            return json_answer(400, {"error": "send a JSON object"})
        with lock:
            options.setdefault(reference, {}).update(data)
        return json_answer(200, options[reference])

    @app.post("/_test/wait")
    def wait():
        outbox.wait_idle()
        return json_answer(200, {"idle": True})
