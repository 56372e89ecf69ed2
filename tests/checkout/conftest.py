"""Fixtures of the checkout tests.

Database tests run on SQLite always and on PostgreSQL when STOREFRONT_TEST_DATABASE_URL is set
(``.ci/postgres.sh`` starts a throwaway server and sets it). Without it they skip, except in CI
(``CI=true``), where a missing PostgreSQL is a failure: CI must test both databases.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import webtest

from checkout import accounts
from checkout.config import Config, DataKey
from checkout.models import Outbox

SITE_ORIGIN = "https://shop.example"
CLIENT_ADDR = "203.0.113.5"
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost": 8, "argon2_parallelism": 1}
POLICIES = {
    "schema": 1, "timezone": "Asia/Shanghai", "in_force": "2025-10-01", "upcoming": "2027-01-01",
    "versions": [
        {"id": "2024-03-01", "title": "隐私政策 v1", "effective": "2024-03-01", "major": False,
         "summary": "首版", "sha256": "a" * 64, "url": "/privacy/2024-03-01/"},
        {"id": "2025-10-01", "title": "隐私政策 v2", "effective": "2025-10-01", "major": False,
         "summary": "联系方式更新", "sha256": "b" * 64, "url": "/privacy/2025-10-01/"},
        {"id": "2027-01-01", "title": "隐私政策 v3", "effective": "2027-01-01", "major": True,
         "summary": "共享对象变化", "sha256": "c" * 64, "url": "/privacy/2027-01-01/"},
    ],
}
# 2026-11-25 12:00 UTC: 2025-10-01 in force, the major 2027-01-01 upcoming.
START = datetime(2026, 11, 25, 12, 0, 0)
MAJOR_IN_FORCE = datetime(2026, 12, 31, 16, 0, 0)  # midnight 2027-01-01 in Asia/Shanghai


class Clock:
    """A naive-UTC clock the tests move by hand."""

    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def site_dir(tmp_path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "policies.json").write_text(json.dumps(POLICIES, ensure_ascii=False), encoding="utf-8")
    (site / "catalog.json").write_text(json.dumps({"schema": 1, "version": "v0", "currency": "CNY", "products": []}),
                                       encoding="utf-8")
    return site


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_config(tmp_path, site_dir, clock):
    def make(database_url: str, **overrides) -> Config:
        values = dict(data_dir=tmp_path / "var", site_dir=site_dir, database_url=database_url,
                      mail_url=f"file://{tmp_path / 'var' / 'mail'}", site_origin=SITE_ORIGIN,
                      public_url=SITE_ORIGIN, data_keys=(DataKey("k1", b"\x01" * 32),),
                      email_index_key=b"\x02" * 32, clock=clock, mail_sender_interval=0,
                      **FAST_ARGON2)
        values.update(overrides)
        config = Config(**values)
        config.check()
        return config
    return make


@pytest.fixture
def config(make_config, database_url) -> Config:
    return make_config(database_url)


@pytest.fixture
def app(config):
    from checkout import create_app

    application = create_app(config)
    yield application
    db = application.config["checkout.database"]
    if not db.is_closed():
        db.close()


@pytest.fixture
def ctx(app) -> accounts.Context:
    return app.config["checkout.context"]


class Api:
    """WebTest client that speaks like the account pages: JSON, Origin, cookies."""

    def __init__(self, app, origin: str = SITE_ORIGIN, addr: str = CLIENT_ADDR):
        self.test = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": addr})
        self.origin = origin

    def _headers(self, headers):
        return {"Origin": self.origin, **(headers or {})}

    def get(self, path, status=200, headers=None):
        return self.test.get(path, status=status, headers=headers or {})

    def post(self, path, body=None, status=200, headers=None):
        return self.test.post_json(path, body if body is not None else {}, status=status,
                                   headers=self._headers(headers))

    def patch(self, path, body, status=200, headers=None):
        return self.test.patch_json(path, body, status=status, headers=self._headers(headers))

    def delete(self, path, body=None, status=200, headers=None):
        return self.test.delete_json(path, body if body is not None else {}, status=status,
                                     headers=self._headers(headers))


@pytest.fixture
def api(app) -> Api:
    return Api(app)


class Mailbox:
    """Reads the outbox (decrypted) the way a shopper reads their inbox."""

    def __init__(self, ctx):
        self.ctx = ctx

    def __call__(self, *, kind: str | None = None, to: str | None = None) -> list[dict]:
        out = []
        with Outbox._meta.database.connection_context():
            for row in Outbox.select().order_by(Outbox.id):
                item = {"kind": row.kind, "subject": row.subject, "status": row.status,
                        "to": self.ctx.cipher.decrypt(row.recipient_enc, "outbox.recipient"),
                        "body": self.ctx.cipher.decrypt(row.body_enc, "outbox.body")}
                if (kind is None or item["kind"] == kind) and (to is None or item["to"] == to):
                    out.append(item)
        return out

    def token(self, kind: str, to: str) -> str:
        found = self(kind=kind, to=to)
        assert found, f"no {kind} mail to {to}"
        match = re.search(r"[?&]token=([A-Za-z0-9_\-]+)", found[-1]["body"])
        assert match, found[-1]["body"]
        return match.group(1)


@pytest.fixture
def mailbox(ctx) -> Mailbox:
    return Mailbox(ctx)


def registration(**overrides) -> dict:
    body = {"nickname": "小梅", "email": "mei@example.com", "password": "correct horse 1",
            "policy_version": "2025-10-01"}
    body.update(overrides)
    return body


class Shopper:
    """A shopper's journey through the API, for tests that need one past registration."""

    def __init__(self, api: Api, mailbox: Mailbox):
        self.api, self.mailbox = api, mailbox

    def register(self, status: int = 202, **overrides) -> dict:
        body = registration(**overrides)
        self.api.post("/api/accounts", body, status=status)
        return body

    def activate(self, body: dict) -> dict:
        return self.api.post("/api/accounts/activate",
                             {"token": self.mailbox.token("activate", body["email"])}).json

    def login(self, body: dict, status: int = 200):
        return self.api.post("/api/session", {"email": body["email"], "password": body["password"]},
                             status=status)

    def active(self, **overrides) -> dict:
        body = self.register(**overrides)
        self.activate(body)
        self.login(body)
        return body


@pytest.fixture
def shopper(api, mailbox) -> Shopper:
    return Shopper(api, mailbox)


@pytest.fixture
def registration_body():
    return registration


@pytest.fixture
def make_api(app):
    """Another client: a foreign origin, another address, another browser (own cookies)."""
    return lambda origin=SITE_ORIGIN, addr=CLIENT_ADDR: Api(app, origin=origin, addr=addr)


@pytest.fixture
def api_for():
    """A client for an app built inside the test (with its own config)."""
    return lambda application, **kw: Api(application, **kw)
