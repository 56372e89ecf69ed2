"""Versioned schema migrations, applied by ``python -m checkout migrate``.

Each migration is a numbered function run inside one transaction and recorded in
``schema_version``; an owner upgrades by running ``migrate`` and keeps their data. ``create_app``
checks that the schema is current: development applies pending migrations itself (``make run``
must work from nothing), production refuses to start until the owner ran ``migrate``.

Migration functions must stay valid forever: a later model change gets a new migration (built
with ``playhouse.migrate``), it never edits an old one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

import peewee as pw

from . import models
from .config import utc_now
from .errors import ConfigError


class SchemaVersion(pw.Model):
    version = pw.IntegerField(primary_key=True)
    name = pw.CharField(max_length=200)
    applied_at = pw.DateTimeField()

    class Meta:
        database = models.database
        table_name = "schema_version"


def _0001_accounts(db: pw.Database) -> None:
    """accounts, sessions, mailed tokens, consents, mail outbox, rate limits"""
    # The table set of version 1, listed explicitly: later models are not created here.
    db.create_tables([models.Account, models.Session, models.AccountToken, models.Consent,
                      models.Outbox, models.RateLimit], safe=False)


def _0002_orders(db: pw.Database) -> None:
    """orders, order lines, audit log, payment notices, stock, coupons, store-credit ledger, refunds"""
    db.create_tables([models.StockLevel, models.Coupon, models.Order, models.OrderLine, models.OrderEvent,
                      models.PaymentNotice, models.CreditEntry, models.CouponUse, models.RefundRecord],
                     safe=False)


MIGRATIONS: list[tuple[int, Callable[[pw.Database], None]]] = [
    (1, _0001_accounts),
    (2, _0002_orders),
]
LATEST = MIGRATIONS[-1][0]


def current_version(db: pw.Database) -> int:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    return SchemaVersion.select(pw.fn.MAX(SchemaVersion.version)).scalar() or 0


def pending(db: pw.Database) -> list[int]:
    have = current_version(db)
    if have > LATEST:
        raise ConfigError(f"the database schema is at version {have}, newer than this code "
                          f"({LATEST}). Fix: deploy the newer code, or restore a matching backup.")
    return [number for number, _ in MIGRATIONS if number > have]


def migrate(db: pw.Database, now: datetime | None = None) -> list[int]:
    """Apply every pending migration in order; returns the versions applied."""
    db.create_tables([SchemaVersion], safe=True)
    applied = []
    for number, func in MIGRATIONS:
        if number <= current_version(db):
            continue
        with db.atomic():
            func(db)
            SchemaVersion.create(version=number, name=(func.__doc__ or func.__name__).strip(),
                                 applied_at=now or utc_now())
        applied.append(number)
    return applied


def ensure_current(db: pw.Database, *, apply: bool) -> None:
    """Check the schema at start; apply pending migrations when ``apply`` (development)."""
    todo = pending(db)
    if not todo:
        return
    if apply:
        migrate(db)
        return
    raise ConfigError(f"the database schema is at version {current_version(db)}, this code needs "
                      f"{LATEST}. Fix: back up the database, then run `python -m checkout migrate`.")
