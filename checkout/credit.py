"""Store credit: a ledger of signed entries per account; the balance is their sum.

Stage: runtime of the checkout service. Nothing stores a balance that could drift: granting
credit, spending it on an order and giving it back when that order is cancelled are each one
ledger row (who, when, why, which order). Spending happens inside the order's transaction after
locking the account row (PostgreSQL ``FOR UPDATE``; SQLite write transactions are already
exclusive), so two orders placed at once cannot spend the same balance twice.
"""

from __future__ import annotations

from datetime import datetime

import peewee as pw

from .errors import ValidationError
from .models import Account, CreditEntry, Order


def balance(account: Account | int, currency: str) -> int:
    account_id = account if isinstance(account, int) else account.id
    return (CreditEntry.select(pw.fn.COALESCE(pw.fn.SUM(CreditEntry.amount_minor), 0))
            .where((CreditEntry.account == account_id) & (CreditEntry.currency == currency)).scalar()) or 0


def grant(account: Account, amount_minor: int, currency: str, reason: str, actor: str, now: datetime,
          order: Order | None = None) -> CreditEntry:
    """Add (positive) or take back (negative) credit; the balance may not go below zero."""
    if not reason.strip():
        raise ValidationError("a credit entry needs a reason (it is shown to the shopper).", field="reason")
    if amount_minor == 0:
        raise ValidationError("amount must not be zero.", field="amount")
    if amount_minor < 0 and balance(account, currency) + amount_minor < 0:
        raise ValidationError(f"the balance of account {account.id} would go below zero.", field="amount")
    return CreditEntry.create(account=account, amount_minor=amount_minor, currency=currency, reason=reason.strip(),
                              order=order, actor=actor, created_at=now)


def spend(account: Account, wanted_minor: int, currency: str, order: Order, now: datetime) -> int:
    """Spend up to ``wanted_minor`` on ``order`` (inside its transaction); returns the amount spent."""
    db = Account._meta.database
    query = Account.select(Account.id).where(Account.id == account.id)
    if isinstance(db.obj if isinstance(db, pw.DatabaseProxy) else db, pw.PostgresqlDatabase):
        query = query.for_update()
    query.get()
    amount = min(wanted_minor, balance(account, currency))
    if amount > 0:
        CreditEntry.create(account=account, amount_minor=-amount, currency=currency,
                           reason=f"用于订单 {order.number}", order=order, actor="shopper", created_at=now)
    return amount


def restore(order: Order, now: datetime, why: str) -> int:
    """Give back what ``order`` spent (expired or cancelled); idempotent per order."""
    spent = -(CreditEntry.select(pw.fn.COALESCE(pw.fn.SUM(CreditEntry.amount_minor), 0))
              .where(CreditEntry.order == order).scalar() or 0)
    if spent > 0:
        CreditEntry.create(account=order.account_id, amount_minor=spent, currency=order.currency,
                           reason=f"订单 {order.number} {why}，退回余额", order=order, actor="system", created_at=now)
    return max(spent, 0)


def statement(account: Account) -> list[dict]:
    return [{"amount_minor": e.amount_minor, "currency": e.currency, "reason": e.reason,
             "order": e.order.number if e.order_id else None, "at": e.created_at.isoformat() + "Z"}
            for e in CreditEntry.select().where(CreditEntry.account == account).order_by(CreditEntry.id)]
