"""Coupons: fixed or percentage discounts with a minimum spend, validity dates and usage limits.

Stage: runtime of the checkout service. ``price_coupon`` only computes (used while pricing);
``claim`` counts a use with a conditional update inside the order's transaction, so a coupon with
``usage_limit`` N is never used N+1 times, whatever the concurrency; ``release`` gives the use back
when the order expires or is cancelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import peewee as pw

from .errors import CheckoutError, ValidationError
from .models import Account, Coupon, CouponUse, Order

CODE_RE = re.compile(r"^[A-Z0-9_-]{3,32}$")


class CouponRefused(CheckoutError):
    code = "coupon_invalid"
    status = 409

    def __init__(self, message: str):
        super().__init__(message, field="coupon")


@dataclass(frozen=True)
class CouponPrice:
    coupon: Coupon
    discount_minor: int


def normalise_code(code: str) -> str:
    value = (code or "").strip().upper()
    if not CODE_RE.match(value):
        raise ValidationError("优惠码格式不正确。A coupon code is 3-32 letters, digits, - or _.", field="coupon")
    return value


def create_coupon(code: str, *, kind: str, value: int, now: datetime, currency: str | None = None,
                  min_spend_minor: int = 0, valid_from: datetime | None = None, valid_until: datetime | None = None,
                  usage_limit: int | None = None, per_account_limit: int | None = None) -> Coupon:
    if kind not in ("fixed", "percent"):
        raise ValidationError(f"coupon kind {kind!r} is not fixed or percent.", field="kind")
    if kind == "percent" and not 1 <= value <= 100:
        raise ValidationError(f"a percentage coupon takes 1-100, not {value}.", field="value")
    if kind == "fixed" and (value <= 0 or not currency):
        raise ValidationError("a fixed coupon needs a positive value in minor units and a currency.", field="value")
    if valid_from and valid_until and valid_until <= valid_from:
        raise ValidationError("valid_until must be after valid_from.", field="valid_until")
    try:
        return Coupon.create(code=normalise_code(code), kind=kind, value=value, currency=currency,
                             min_spend_minor=min_spend_minor, valid_from=valid_from, valid_until=valid_until,
                             usage_limit=usage_limit, per_account_limit=per_account_limit, created_at=now)
    except pw.IntegrityError:
        raise ValidationError(f"coupon {code.upper()} exists already.", field="code") from None


def price_coupon(code: str, account: Account, subtotal_minor: int, currency: str, now: datetime) -> CouponPrice:
    """The discount ``code`` gives on ``subtotal_minor``; CouponRefused says why it does not apply."""
    coupon = Coupon.get_or_none(Coupon.code == normalise_code(code))
    if coupon is None or not coupon.active:
        raise CouponRefused("优惠码无效。This coupon code does not exist.")
    if coupon.valid_from and now < coupon.valid_from:
        raise CouponRefused("优惠码尚未生效。This coupon is not valid yet.")
    if coupon.valid_until and now >= coupon.valid_until:
        raise CouponRefused("优惠码已过期。This coupon has expired.")
    if coupon.usage_limit is not None and coupon.used_count >= coupon.usage_limit:
        raise CouponRefused("优惠码已被用完。This coupon has been used up.")
    if coupon.kind == "fixed" and coupon.currency != currency:
        raise CouponRefused(f"优惠码只适用于 {coupon.currency} 订单。This coupon is for {coupon.currency} orders.")
    if subtotal_minor < coupon.min_spend_minor:
        raise CouponRefused(f"订单金额未达到优惠码的最低消费。This coupon needs a subtotal of at least "
                            f"{coupon.min_spend_minor} (minor units).")
    if coupon.per_account_limit is not None:
        used = (CouponUse.select().where((CouponUse.coupon == coupon) & (CouponUse.account == account) &
                                         (CouponUse.released == False)).count())  # noqa: E712
        if used >= coupon.per_account_limit:
            raise CouponRefused("您已使用过这个优惠码。You have already used this coupon.")
    if coupon.kind == "percent":
        discount = subtotal_minor * coupon.value // 100  # rounds down: never more than promised
    else:
        discount = min(coupon.value, subtotal_minor)
    return CouponPrice(coupon, discount)


def claim(price: CouponPrice, account: Account, order: Order, now: datetime) -> None:
    """Count one use (inside the order's transaction); CouponRefused when the last use went meanwhile."""
    coupon = price.coupon
    cond = Coupon.id == coupon.id
    if coupon.usage_limit is not None:
        cond &= Coupon.used_count < coupon.usage_limit
    if Coupon.update(used_count=Coupon.used_count + 1).where(cond).execute() != 1:
        raise CouponRefused("优惠码已被用完。This coupon has been used up.")
    CouponUse.create(coupon=coupon, account=account, order=order, created_at=now)


def release(order: Order) -> None:
    """Give the use back (order expired or cancelled before payment)."""
    released = (CouponUse.update(released=True)
                .where((CouponUse.order == order) & (CouponUse.released == False)).execute())  # noqa: E712
    if released:
        Coupon.update(used_count=Coupon.used_count - 1).where(Coupon.id == order.coupon_id).execute()
