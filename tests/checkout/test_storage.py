"""What lands in the database: no plaintext personal data, key rotation, migrations."""

from __future__ import annotations

from pathlib import Path

import peewee as pw
import pytest

from checkout import accounts, migrations
from checkout.accounts import Context
from checkout.config import DataKey
from checkout.db import is_postgres, open_database
from checkout.errors import ConfigError
from checkout.models import ALL_MODELS, Account, Outbox

SECRETS = ["mei@example.com", "guardian.mum@example.com", "13912345678", "2012-06-01",
           "南京西路一千号", "Nanjing West Road 1000", "200040"]


def raw_database_bytes(db: pw.Database, url: str) -> bytes:
    """Everything stored: the SQLite files byte for byte, or every PostgreSQL row as text."""
    if not is_postgres(db):
        path = Path(url[len("sqlite:///"):])
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    with db.connection_context():
        chunks = []
        for table in db.get_tables():
            for (row,) in db.execute_sql(f'SELECT t::text FROM "{table}" t'):
                chunks.append(row.encode())
        return b"\n".join(chunks)


def fill_with_personal_data(api, shopper, mailbox):
    address = {"name": "梅", "phone": "13912345678", "country": "CN", "city": "上海",
               "line1": "南京西路一千号", "line2": "Nanjing West Road 1000", "postal_code": "200040"}
    minor = shopper.register(birthday="2012-06-01", guardian_email="guardian.mum@example.com",
                             email="mei@example.com")
    shopper.activate(minor)
    api.post("/api/accounts/guardian-consent",
             {"token": mailbox.token("guardian_consent", "guardian.mum@example.com")})
    shopper.login(minor)
    api.patch("/api/me", {"phone": "13912345678", "addresses": [address]})
    api.post("/api/password-reset", {"email": "mei@example.com"}, status=202)


def test_no_plaintext_personal_data_in_the_database(app, api, shopper, mailbox, database_url):
    fill_with_personal_data(api, shopper, mailbox)
    assert api.get("/api/me").json["addresses"][0]["line1"] == "南京西路一千号"
    raw = raw_database_bytes(app.config["checkout.database"], database_url)
    # The scan does see row contents: the nickname is not personal data in the list and is in clear.
    assert "小梅".encode() in raw
    for secret in SECRETS:
        assert secret.encode() not in raw, f"{secret!r} stored in clear"
        assert secret.upper().encode() not in raw


def test_rotate_keys_reencrypts_under_the_newest_key(app, api, shopper, mailbox, make_config,
                                                     database_url, api_for):
    fill_with_personal_data(api, shopper, mailbox)
    old = app.config["checkout.config"].data_keys[0]
    new = DataKey("k2", b"\x09" * 32)
    rotated = Context.from_config(make_config(database_url, data_keys=(new, old)))
    db = app.config["checkout.database"]
    with db.connection_context():
        assert accounts.rotate_keys(rotated) >= 5
        assert accounts.rotate_keys(rotated) == 0  # nothing left under the old key
        stored = [getattr(a, c) for a in Account.select() for c in accounts.ENC_COLUMNS]
        stored += [o.recipient_enc for o in Outbox.select()] + [o.body_enc for o in Outbox.select()]
    assert all(v.startswith("k2:") for v in stored if v is not None)
    # The old key can now be retired: an app with only the new key reads everything.
    from checkout import create_app

    only_new = create_app(make_config(database_url, data_keys=(new,)))
    client = api_for(only_new)
    client.post("/api/session", {"email": "mei@example.com", "password": "correct horse 1"})
    assert client.get("/api/me").json["phone"] == "13912345678"
    only_new.config["checkout.database"].close()


def test_migrate_is_recorded_and_idempotent(database_url):
    db = open_database(database_url)
    with db.connection_context():
        every = [number for number, _ in migrations.MIGRATIONS]
        assert migrations.pending(db) == every
        assert migrations.migrate(db) == every
        assert migrations.migrate(db) == []
        assert migrations.current_version(db) == migrations.LATEST
        assert all(db.table_exists(m._meta.table_name) for m in ALL_MODELS)


def test_upgrade_keeps_data(database_url, monkeypatch):
    db = open_database(database_url)
    with db.connection_context():
        migrations.migrate(db)
        Account.create(status="active", nickname="keep me", created_at=migrations.utc_now())

        def _next_add_column(database):
            """add a column (test only)"""
            database.execute_sql("ALTER TABLE account ADD COLUMN note VARCHAR(20)")

        following = migrations.LATEST + 1
        monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS + [(following, _next_add_column)])
        monkeypatch.setattr(migrations, "LATEST", following)
        with pytest.raises(ConfigError, match="python -m checkout migrate"):
            migrations.ensure_current(db, apply=False)
        assert migrations.migrate(db) == [following]
        assert Account.get().nickname == "keep me"
        assert "note" in [c.name for c in db.get_columns("account")]


def test_newer_schema_than_code_is_refused(database_url, monkeypatch):
    db = open_database(database_url)
    with db.connection_context():
        migrations.migrate(db)
        migrations.SchemaVersion.create(version=99, name="future", applied_at=migrations.utc_now())
        with pytest.raises(ConfigError, match="newer than this code"):
            migrations.pending(db)
