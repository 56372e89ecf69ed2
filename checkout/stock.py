"""Inventory: seeding from the Markdown ``stock`` values, reservations, releases, admin corrections.

Stage: runtime of the checkout service. The rule for owners (docs/orders.md): the ``stock`` in a
product's Markdown seeds a SKU's inventory the first time the service sees it; a later change of
that number adds or removes the difference; sales, releases and ``admin set-stock`` change the
database only. A SKU without ``stock`` is not tracked (always available).

A reservation is one conditional ``UPDATE ... SET on_hand = on_hand - qty WHERE on_hand >= qty``
per line, inside the order's transaction: on PostgreSQL the row lock serialises concurrent buyers
and the condition is re-checked on the locked row; on SQLite the write transaction is taken
``IMMEDIATE`` (see ``write_transaction``), so writers queue on the database lock. Either way stock
never goes below zero (a CHECK constraint backs this up).
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Mapping

import peewee as pw

from .catalog import Catalog
from .errors import CheckoutError, NotFoundError, ValidationError
from .models import StockLevel, database


class OutOfStock(CheckoutError):
    """Fewer units left than ordered (409); ``sku`` and ``available`` say which and how many."""

    code = "out_of_stock"
    status = 409

    def __init__(self, sku: str, available: int, wanted: int):
        super().__init__(f"{sku} 库存不足（剩余 {available} 件，需要 {wanted} 件）。Only {available} of {sku} "
                         f"left, {wanted} wanted. Fix: lower the quantity or remove the item.", field="lines")
        self.sku, self.available, self.wanted = sku, available, wanted

    def to_json(self) -> dict:
        body = super().to_json()
        body["error"].update({"sku": self.sku, "available": self.available})
        return body


def write_transaction(db: pw.Database | None = None):
    """A write transaction that takes its lock up front on SQLite (``BEGIN IMMEDIATE``).

    A deferred SQLite transaction that reads first and writes later can fail with "database is
    locked" without waiting, when another writer got in between; IMMEDIATE waits (busy_timeout).
    """
    db = db or database.obj
    if isinstance(db, pw.SqliteDatabase) and not db.in_transaction():
        return db.atomic("IMMEDIATE")
    return db.atomic()


def sync_from_catalog(catalog: Catalog, now: datetime) -> dict[str, int]:
    """Apply the Markdown ``stock`` values of ``catalog``: seed new SKUs, add or remove the
    difference where the Markdown number changed. Safe to run from several workers at once."""
    wanted = {sku: item.stock for sku, item in catalog.items.items() if item.stock is not None}
    rows = {r.sku: r for r in StockLevel.select()}
    new = [{"sku": sku, "on_hand": n, "seeded": n, "updated_at": now} for sku, n in wanted.items() if sku not in rows]
    changed = 0
    with write_transaction():
        for start in range(0, len(new), 500):
            StockLevel.insert_many(new[start:start + 500]).on_conflict_ignore().execute()
        for sku, seeded in wanted.items():
            row = rows.get(sku)
            if row is None or row.seeded == seeded:
                continue
            diff = seeded - row.seeded
            # Conditional on the seed we read: when two workers sync at once, one applies the difference.
            changed += (StockLevel.update(on_hand=pw.Case(None, [((StockLevel.on_hand + diff) < 0, 0)],
                                                          StockLevel.on_hand + diff),
                                          seeded=seeded, updated_at=now)
                        .where((StockLevel.sku == sku) & (StockLevel.seeded == row.seeded)).execute())
    return {"seeded": len(new), "adjusted": changed}


def reserve(lines: Iterable[tuple[str, int]], now: datetime) -> set[str]:
    """Take ``qty`` of each SKU (call inside the order's transaction). Returns the tracked SKUs;
    raises ``OutOfStock`` for the first short line (the caller's transaction then rolls back)."""
    tracked = set()
    for sku, qty in sorted(lines):  # one lock order for every buyer: no deadlocks on PostgreSQL
        taken = (StockLevel.update(on_hand=StockLevel.on_hand - qty, updated_at=now)
                 .where((StockLevel.sku == sku) & (StockLevel.on_hand >= qty)).execute())
        if taken == 1:
            tracked.add(sku)
            continue
        row = StockLevel.get_or_none(StockLevel.sku == sku)
        if row is not None:
            raise OutOfStock(sku, row.on_hand, qty)
    return tracked


def tracked_skus(skus: Iterable[str]) -> set[str]:
    """Which of ``skus`` have inventory rows (the others are not tracked)."""
    skus = list(skus)
    return {r.sku for r in StockLevel.select(StockLevel.sku).where(StockLevel.sku.in_(skus))} if skus else set()


def release(lines: Iterable[tuple[str, int]], now: datetime) -> None:
    """Give reserved units back (expiry, cancellation, refund before shipping)."""
    for sku, qty in sorted(lines):
        StockLevel.update(on_hand=StockLevel.on_hand + qty, updated_at=now).where(StockLevel.sku == sku).execute()


def set_stock(sku: str, on_hand: int, now: datetime) -> int:
    """Admin correction (a stock count): returns the previous value."""
    if on_hand < 0:
        raise ValidationError(f"stock of {sku} must be >= 0, not {on_hand}.", field="stock")
    with write_transaction():
        row = StockLevel.get_or_none(StockLevel.sku == sku)
        if row is None:
            raise NotFoundError(f"{sku} is not a tracked SKU. Fix: give the product a `stock:` in its Markdown "
                                "and rebuild, so the service starts tracking it.")
        StockLevel.update(on_hand=on_hand, updated_at=now).where(StockLevel.sku == sku).execute()
    return row.on_hand


def availability(catalog: Catalog, skus: Iterable[str]) -> dict[str, dict]:
    """What the static pages show: price, currency and units left (None: not tracked) per SKU."""
    skus = list(dict.fromkeys(skus))
    levels: Mapping[str, int] = {r.sku: r.on_hand for r in StockLevel.select().where(StockLevel.sku.in_(skus))}
    out = {}
    for sku in skus:
        item = catalog.get(sku)
        if item is None:
            out[sku] = {"orderable": False, "available": 0, "in_stock": False, "price_minor": None, "currency": None}
            continue
        left = levels.get(sku)
        out[sku] = {"orderable": True, "available": left, "in_stock": left is None or left > 0,
                    "price_minor": item.price_minor, "currency": item.currency, "title": item.title}
    return out
