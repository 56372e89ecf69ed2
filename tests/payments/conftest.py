"""Fixtures of the payment tests: real RSA keys (once per session), one real HTTP server on
127.0.0.1 with the three sandboxes mounted at /sandbox/<provider>/ and a receiver app standing in for
the service's /pay/<provider>/notify routes (it verifies with the real adapters and records what it
saw), and a tiny browser that follows redirects and submits the sandbox forms."""

from __future__ import annotations

import itertools
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode, urljoin
from wsgiref.validate import validator

import bottle
import pytest

from ..conftest import LocalServer, NoRedirect, PageForms
from checkout.payments import PaymentRequest, PaymentVerificationError
from checkout.payments.alipay import AlipayAdapter
from checkout.payments.paypal import PayPalAdapter
from checkout.payments.sandbox import generate_sandbox_keys, make_sandbox_apps, sandbox_setup
from checkout.payments.wechat import WeChatAdapter

ADDRESS = {"name": "张三", "line1": "浦东新区世纪大道 100 号", "line2": "2 号楼 501 室", "city": "上海市",
           "province": "上海", "postal_code": "200120", "country_code": "CN"}


@dataclass
class Received:
    provider: str
    body: bytes
    headers: dict[str, str]
    event: Any = None
    error: PaymentVerificationError | None = None


@dataclass
class Receiver:
    """What the stand-in notify routes saw."""

    items: list[Received] = field(default_factory=list)
    returns: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def for_order(self, order_number: str) -> list[Received]:
        with self.lock:
            return [r for r in self.items if (r.event and r.event.order_number == order_number)
                    or (r.error and order_number.encode() in r.body)]

    def events(self, order_number: str) -> list[Any]:
        return [r.event for r in self.for_order(order_number) if r.event]

    def errors(self, order_number: str) -> list[PaymentVerificationError]:
        return [r.error for r in self.for_order(order_number) if r.error]


def make_receiver(adapters: dict[str, Any], receiver: Receiver) -> bottle.Bottle:
    app = bottle.Bottle()

    @app.post("/pay/<provider>/notify")
    def notify(provider: str):
        adapter = adapters[provider]
        body = bottle.request.body.read()
        headers = dict(bottle.request.headers.items())
        item = Received(provider, body, headers)
        try:
            item.event = adapter.verify_notification(body, headers)
            ack = adapter.acknowledge(True)
        except PaymentVerificationError as err:
            item.error = err
            ack = adapter.acknowledge(False, err.reason)
        with receiver.lock:
            receiver.items.append(item)
        return bottle.HTTPResponse(ack.body, ack.status, {"Content-Type": ack.content_type})

    @app.get("/pay/<provider>/<what:re:return|cancel>")
    def back(provider: str, what: str):
        with receiver.lock:
            receiver.returns.append((f"{provider}/{what}", dict(bottle.request.query.decode().items())))
        return "<p>processing</p>"

    return app


@dataclass
class Stack:
    base_url: str
    setup: Any
    sandboxes: dict[str, bottle.Bottle]
    adapters: dict[str, Any]
    receiver: Receiver
    keys: Any

    def sandbox(self, provider: str):
        return self.sandboxes[provider].sandbox

    def wait(self) -> None:
        for app in self.sandboxes.values():
            app.sandbox.outbox.wait_idle()


@pytest.fixture(scope="session")
def sandbox_keys():
    return generate_sandbox_keys()


@pytest.fixture(scope="session")
def stack(sandbox_keys):
    server = LocalServer()
    base = server.url
    setup = sandbox_setup(sandbox_keys, sandbox_url=f"{base}/sandbox", service_url=base)
    sandboxes = make_sandbox_apps(setup)
    adapters = {"paypal": PayPalAdapter(setup.paypal), "alipay": AlipayAdapter(setup.alipay),
                "wechat": WeChatAdapter(setup.wechat)}
    receiver = Receiver()
    root = make_receiver(adapters, receiver)
    for name, sub in sandboxes.items():
        root.mount(f"/sandbox/{name}/", sub)
    server.serve(validator(root))  # every request of the tests also checks WSGI compliance
    yield Stack(base, setup, sandboxes, adapters, receiver, sandbox_keys)
    server.close()


_numbers = itertools.count(1)


@pytest.fixture
def order_number() -> str:
    return f"UM{datetime.now():%Y%m%d}{next(_numbers):06d}"


@pytest.fixture
def make_request(stack, order_number):
    def make(provider: str, amount_minor: int = 19900, currency: str = "CNY", client: str = "pc",
             number: str | None = None) -> PaymentRequest:
        return PaymentRequest(order_number=number or order_number, amount_minor=amount_minor, currency=currency,
                              subject=f"umegou 订单 {number or order_number}", shipping_address=ADDRESS,
                              return_url=f"{stack.base_url}/pay/{provider}/return",
                              cancel_url=f"{stack.base_url}/pay/{provider}/cancel?order={number or order_number}",
                              notify_url=f"{stack.base_url}/pay/{provider}/notify",
                              expires_at=datetime.now(timezone.utc) + timedelta(minutes=30), client=client,
                              client_ip="203.0.113.7")
    return make


# -- a small browser ----------------------------------------------------------------------------

@dataclass
class Page:
    url: str
    status: int
    location: str | None
    text: str

    def forms(self) -> PageForms:
        parser = PageForms()
        parser.feed(self.text)
        return parser


class Browser:
    """Enough of a browser for the cashier pages: GET, submit a form by id; redirects are reported,
    not followed, so the tests can look at each hop."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(NoRedirect)

    def open(self, url: str, data: bytes | None = None) -> Page:
        try:
            resp = self.opener.open(urllib.request.Request(url, data=data), timeout=20)
            status, headers, body = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            status, headers, body = err.code, err.headers, err.read()
        location = headers.get("Location")
        return Page(url, status, urljoin(url, location) if location else None, body.decode("utf-8", "replace"))

    def submit(self, page: Page, form_id: str) -> Page:
        form = page.forms().forms[form_id]
        assert form["method"].lower() == "post"
        return self.open(urljoin(page.url, form["action"]), urlencode(form["fields"]).encode())


@pytest.fixture
def browser() -> Browser:
    return Browser()
