"""Fixtures of the order tests: the real service (``create_app``) with its sandbox providers behind a
multi-threaded HTTP server on 127.0.0.1, on SQLite always and on PostgreSQL when
STOREFRONT_TEST_DATABASE_URL is set (``.ci/postgres.sh``; required in CI, as in tests/checkout).

Shoppers get their session straight from the database (registration has its own tests); every
request then goes over real HTTP with the shop's Origin, like the static pages send it.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin
from wsgiref.validate import validator

import pytest

from ..conftest import LocalServer, NoRedirect, PageForms
from checkout.config import Config, DataKey, utc_now
from checkout.crypto import email_index, new_token, token_digest
from checkout.models import Account, Consent, Order, Session, StockLevel
from checkout.payments.sandbox import generate_sandbox_keys

FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost": 8, "argon2_parallelism": 1}
POLICIES = {"schema": 1, "timezone": "Asia/Shanghai", "in_force": "2024-03-01", "upcoming": None,
            "versions": [{"id": "2024-03-01", "title": "隐私政策", "effective": "2024-03-01", "major": False,
                          "summary": "首版", "sha256": "a" * 64, "url": "/privacy/2024-03-01/"}]}
ADDRESS = {"name": "张三", "phone": "13800000000", "country": "CN", "province": "上海", "city": "上海市",
           "line1": "浦东新区世纪大道 100 号", "line2": "2 号楼 501 室", "postal_code": "200120"}
PRODUCTS = [
    {"sku": "UM-1001", "slug": "earbuds", "url": "/products/earbuds/", "title": "无线蓝牙耳机 X12", "category": "audio",
     "price_minor": 19900, "currency": "CNY", "compare_at_minor": None, "stock": 5, "variants": []},
    {"sku": "UM-2000", "slug": "tea", "url": "/products/tea/", "title": "抹茶", "category": "food",
     "price_minor": 4550, "currency": "CNY", "compare_at_minor": None, "stock": None, "variants": []},
    {"sku": "UM-3000", "slug": "shirt", "url": "/products/shirt/", "title": "T 恤", "category": "wear",
     "price_minor": 9900, "currency": "CNY", "compare_at_minor": None, "stock": None,
     "variants": [{"sku": "UM-3000-BLK", "options": {"颜色": "黑色"}, "price_minor": 9900, "compare_at_minor": None,
                   "stock": 3},
                  {"sku": "UM-3000-WHT", "options": {"颜色": "白色"}, "price_minor": 10900, "compare_at_minor": None,
                   "stock": 0}]},
]


class Clock:
    """Naive UTC, starting at the real time (provider signatures use the real clock), moved by hand."""

    def __init__(self) -> None:
        self.now = utc_now().replace(microsecond=0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, **delta) -> None:
        with self._lock:
            self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def sandbox_keys():
    return generate_sandbox_keys()


def write_catalog(site_dir: Path, products: list[dict], version: str = "v1") -> None:
    data = {"schema": 1, "version": version, "currency": "CNY", "products": products}
    tmp = site_dir / "catalog.json.tmp"
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, site_dir / "catalog.json")
    # Same-second rewrites must still be seen as new files: move the mtime on explicitly.
    stamp = (site_dir / "catalog.json").stat().st_mtime_ns
    os.utime(site_dir / "catalog.json", ns=(stamp, stamp + hash(version) % 1000 + 1))


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def location(self) -> str | None:
        return self.headers.get("location")


_opener = urllib.request.build_opener(NoRedirect)


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _opener.open(req, timeout=30) as resp:
            return Answer(resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()})
    except urllib.error.HTTPError as err:
        with err:
            return Answer(err.code, err.read(), {k.lower(): v for k, v in err.headers.items()})


class Client:
    """A shopper's browser on the shop's pages: JSON, the shop Origin, its session cookie."""

    def __init__(self, base: str, token: str | None):
        self.base, self.token = base, token

    def _headers(self, extra=None) -> dict[str, str]:
        h = {"Origin": self.base, "Accept": "application/json"}
        if self.token:
            h["Cookie"] = f"sf_session={self.token}"
        return {**h, **(extra or {})}

    def get(self, path: str) -> Answer:
        return http("GET", self.base + path, headers=self._headers())

    def post(self, path: str, body: Any = None) -> Answer:
        return http("POST", self.base + path, json.dumps(body or {}).encode(),
                    self._headers({"Content-Type": "application/json"}))

    def order(self, lines=None, status: int = 201, **extra) -> dict:
        answer = self.post("/api/orders", {"lines": lines or [{"sku": "UM-1001", "qty": 1}],
                                           "shipping_address": extra.pop("address", ADDRESS), **extra})
        assert answer.status == status, answer.body
        return answer.json


def submit(page_url: str, form_id: str = "sandbox-pay") -> Answer:
    """Open a cashier page and submit one of its forms, as a shopper's browser does."""
    page = http("GET", page_url)
    assert page.status == 200, (page_url, page.status, page.body[:300])
    parser = PageForms()
    parser.feed(page.body.decode("utf-8"))
    if form_id not in parser.forms and "sandbox-open" in parser.links:  # WeChat QR page: "scan" it
        return submit(urljoin(page_url, parser.links["sandbox-open"]), form_id)
    form = parser.forms[form_id]
    return http("POST", urljoin(page_url, form["action"]), urlencode(form["fields"]).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})


@dataclass
class Service:
    base: str
    app: Any
    config: Config
    clock: Clock
    site_dir: Path
    env: dict[str, str]
    dispatch: Any = None
    """The server's WSGI dispatcher: a test may put a front (static pages) before the app."""
    shoppers: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ctx(self):
        return self.app.config["checkout.context"]

    @property
    def db(self):
        return self.app.config["checkout.database"]

    @property
    def setup(self):
        return self.app.config["checkout.payments"]

    def sandbox(self, name: str):
        return self.setup.sandbox_app(name).sandbox

    def wait_notifications(self) -> None:
        for name in ("paypal", "alipay", "wechat"):
            self.sandbox(name).outbox.wait_idle()

    def shopper(self, *, status: str = "active", email: str | None = None) -> Client:
        with self.lock:
            self.shoppers += 1
            n = self.shoppers
        email = email or f"buyer{n}@example.com"
        ctx, now = self.ctx, self.clock()
        with self.db.connection_context():
            account = Account.create(email_index=email_index(ctx.config.email_index_key, email),
                                     email_enc=ctx.cipher.encrypt(email, "account.email"), nickname=f"买家{n}",
                                     password_hash="unused", status=status, created_at=now, activated_at=now,
                                     needs_guardian=status == "pending_guardian_consent")
            Consent.create(account=account, policy_version="2024-03-01", policy_sha256="a" * 64, accepted_at=now,
                           source="registration")
            token = new_token()
            Session.create(token_hash=token_digest(token), account=account, created_at=now, last_seen_at=now,
                           expires_at=now + timedelta(days=30))
        client = Client(self.base, token)
        client.account_id = account.id
        client.email = email
        return client

    def order_row(self, number: str) -> Order:
        with self.db.connection_context():
            return Order.get(Order.number == number)

    def on_hand(self, sku: str) -> int | None:
        with self.db.connection_context():
            row = StockLevel.get_or_none(StockLevel.sku == sku)
            return None if row is None else row.on_hand


@pytest.fixture
def service(tmp_path, database_url, sandbox_keys, monkeypatch):
    monkeypatch.setenv("CHECKOUT_EXPIRY_INTERVAL", "0")  # tests run expiry themselves
    for name in ("CHECKOUT_PAYMENTS", "CHECKOUT_PUBLIC_URL", "CHECKOUT_ORDER_HOLD_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    server = LocalServer()
    base = server.url
    site = tmp_path / "site"
    site.mkdir()
    (site / "policies.json").write_text(json.dumps(POLICIES, ensure_ascii=False), encoding="utf-8")
    write_catalog(site, PRODUCTS)
    data_dir = tmp_path / "var"
    keys_dir = data_dir / "payments-sandbox"
    keys_dir.mkdir(parents=True)
    for name in ("alipay_app", "alipay_platform", "wechat_merchant", "wechat_platform", "paypal_webhook",
                 "paypal_webhook_cert", "wechat_apiv3_key", "paypal_client_secret"):
        (keys_dir / f"{name}.pem").write_text(getattr(sandbox_keys, name))
    clock = Clock()
    keys = (DataKey("k1", b"\x01" * 32),)
    config = Config(data_dir=data_dir, site_dir=site, database_url=database_url,
                    mail_url=f"file://{data_dir / 'mail'}", site_origin=base, public_url=base, data_keys=keys,
                    email_index_key=b"\x02" * 32, clock=clock, mail_sender_interval=0, **FAST_ARGON2)
    config.check()
    from checkout import create_app

    app = create_app(config)
    server.serve(validator(app))  # every request also checks WSGI compliance
    env = {"CHECKOUT_DATA_DIR": str(data_dir), "CHECKOUT_SITE_DIR": str(site), "DATABASE_URL": database_url,
           "CHECKOUT_PUBLIC_URL": base, "CHECKOUT_SITE_ORIGIN": base, "CHECKOUT_DATA_KEYS":
           "k1:" + __import__("base64").b64encode(b"\x01" * 32).decode(),
           "CHECKOUT_EMAIL_INDEX_KEY": __import__("base64").b64encode(b"\x02" * 32).decode(),
           "CHECKOUT_MAIL_URL": f"file://{data_dir / 'mail'}"}
    svc = Service(base, app, config, clock, site, env, server)
    yield svc
    try:
        svc.wait_notifications()
    except Exception:
        pass
    server.close()
    db = app.config["checkout.database"]
    if not db.is_closed():
        db.close()


def wechat_notification(keys, number: str, total: int, mchid: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A TRANSACTION.SUCCESS notification signed and encrypted as WeChat Pay (the sandbox) does it."""
    import base64
    import secrets
    import time

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from checkout.payments.common import load_private_key, rsa_sign
    from checkout.payments.sandbox import WECHAT_APPID, WECHAT_MCHID, WECHAT_PLATFORM_SERIAL

    plain = {"appid": WECHAT_APPID, "mchid": mchid or WECHAT_MCHID, "out_trade_no": number, "trade_state": "SUCCESS",
             "transaction_id": "4200" + str(secrets.randbelow(10 ** 24)).zfill(24),
             "amount": {"total": total, "currency": "CNY"}, "success_time": "2026-11-25T20:00:00+08:00"}
    nonce = secrets.token_hex(6)
    sealed = AESGCM(keys.wechat_apiv3_key.encode()).encrypt(nonce.encode(), json.dumps(plain).encode(), b"transaction")
    body = json.dumps({"id": secrets.token_hex(16), "event_type": "TRANSACTION.SUCCESS",
                       "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(sealed).decode(),
                                    "associated_data": "transaction", "nonce": nonce}}).encode()
    ts, hnonce = str(int(time.time())), secrets.token_hex(8)
    signature = rsa_sign(load_private_key(keys.wechat_platform), f"{ts}\n{hnonce}\n".encode() + body + b"\n")
    return body, {"Content-Type": "application/json", "Wechatpay-Timestamp": ts, "Wechatpay-Nonce": hnonce,
                  "Wechatpay-Signature": signature, "Wechatpay-Serial": WECHAT_PLATFORM_SERIAL}
