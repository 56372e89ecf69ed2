"""Orders: pricing from the catalog, placing (stock, coupon, store credit in one transaction), the
one state machine, payments (start, verified provider events, bank transfer), expiry, shipping,
cancellation, refunds and anonymisation.

Stage: runtime of the checkout service and the admin CLI. Plain functions that know nothing of
HTTP: routes and CLI commands parse their input, call these with explicit arguments and render the
result. Every status change goes through ``transition``: one conditional ``UPDATE ... WHERE status
IN (expected)`` plus one audit row, so a repeated, late or concurrent event changes nothing twice.

States (DESIGN): ``pending_payment -> paid -> shipped -> completed``; ``pending_payment ->
cancelled | expired``; ``paid -> refunded``; ``paid -> on_hold`` (PayPal address rule);
``pending_payment -> awaiting_confirmation -> paid`` (bank transfer, confirmed by customer
service). Added here: ``expired | cancelled -> on_hold`` (a payment that arrives after the hold
ended goes to customer service instead of being lost), ``on_hold -> paid | refunded`` (customer
service decides), ``awaiting_confirmation -> cancelled | expired``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

import peewee as pw

from . import coupons, credit, mail, stock, validate
from .accounts import Context
from .catalog import Catalog
from .errors import CheckoutError, NotFoundError, ValidationError
from .models import Account, Order, OrderEvent, OrderLine, PaymentNotice, RefundRecord, database
from .payments import (PaymentEvent, PaymentRequest, PaymentVerificationError, ProviderError, RefundRequest,
                       check_event_matches, paypal_hold_reasons)
from .payments.bank import clean_transfer_reference, transfer_instructions
from .payments.common import to_decimal_string
from .stock import write_transaction

log = logging.getLogger("checkout.orders")

PENDING = "pending_payment"
AWAITING = "awaiting_confirmation"
PAID = "paid"
ON_HOLD = "on_hold"
SHIPPED = "shipped"
COMPLETED = "completed"
CANCELLED = "cancelled"
EXPIRED = "expired"
REFUNDED = "refunded"
UNPAID = (PENDING, AWAITING)

TRANSITIONS: Mapping[str | None, frozenset[str]] = {
    None: frozenset({PENDING}),
    PENDING: frozenset({PAID, AWAITING, CANCELLED, EXPIRED}),
    AWAITING: frozenset({PAID, CANCELLED, EXPIRED}),
    PAID: frozenset({SHIPPED, REFUNDED, ON_HOLD}),
    ON_HOLD: frozenset({PAID, REFUNDED}),
    SHIPPED: frozenset({COMPLETED}),
    EXPIRED: frozenset({ON_HOLD}),
    CANCELLED: frozenset({ON_HOLD}),
    COMPLETED: frozenset(),
    REFUNDED: frozenset(),
}
STATUSES = tuple(s for s in TRANSITIONS if s)
ONLINE_METHODS = ("paypal", "alipay", "wechat")
MAX_LINES = 50
MAX_QTY = 99
ORDER_FIELDS = frozenset({"lines", "shipping_address", "coupon", "use_credit"})
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U to misread


@dataclass(frozen=True)
class OrderSettings:
    """Timing of holds, read from the environment (``CHECKOUT_ORDER_HOLD_MINUTES``, default 30)."""

    hold_minutes: int = 30
    """How long an unpaid online order holds its stock."""
    provider_margin_minutes: int = 5
    """The provider-side expiry (``time_expire``) ends this much earlier than our hold."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "OrderSettings":
        environ = os.environ if environ is None else environ
        text = environ.get("CHECKOUT_ORDER_HOLD_MINUTES", "").strip()
        if not text:
            return cls()
        if not text.isdigit() or not 10 <= int(text) <= 1440:
            raise ValidationError(f"CHECKOUT_ORDER_HOLD_MINUTES={text!r} must be 10-1440 minutes. "
                                  "Fix: e.g. CHECKOUT_ORDER_HOLD_MINUTES=30", field="CHECKOUT_ORDER_HOLD_MINUTES")
        return cls(hold_minutes=int(text))


class IllegalTransition(CheckoutError):
    """The order is not in a state that allows this step; the message says which state it is in."""

    code = "illegal_transition"
    status = 409

    def __init__(self, number: str, current: str, wanted: str, why: str = ""):
        super().__init__(f"订单 {number} 当前状态为 {current}，不能变为 {wanted}。Order {number} is {current}; "
                         f"it cannot become {wanted}{': ' + why if why else ''}.", field="status")
        self.number, self.current, self.wanted = number, current, wanted


# --- numbers, pricing ----------------------------------------------------------------------------

def new_order_number(now: datetime) -> str:
    """``UM261125-7KQ3-M9XD``: the date for people, 40 random bits so numbers cannot be guessed."""
    tail = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"UM{now:%y%m%d}-{tail[:4]}-{tail[4:]}"


@dataclass(frozen=True)
class PricedLine:
    sku: str
    title: str
    qty: int
    unit_price_minor: int

    @property
    def total_minor(self) -> int:
        return self.unit_price_minor * self.qty


def parse_lines(value: Any) -> list[tuple[str, int]]:
    """``[{sku, qty}]`` -> ``[(sku, qty)]`` with repeated SKUs merged; each error names its line."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LINES:
        raise ValidationError(f"订单需要 1–{MAX_LINES} 件商品。lines must be a list of 1 to {MAX_LINES} items.",
                              field="lines")
    merged: dict[str, int] = {}
    for i, line in enumerate(value):
        where = f"lines[{i}]"
        if not isinstance(line, dict) or set(line) - {"sku", "qty"}:
            raise ValidationError(f"{where} must be an object with sku and qty only.", field=where)
        sku, qty = line.get("sku"), line.get("qty")
        if not isinstance(sku, str) or not 1 <= len(sku) <= 64:
            raise ValidationError(f"{where}.sku is required.", field=f"{where}.sku")
        if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QTY:
            raise ValidationError(f"数量应为 1–{MAX_QTY}。{where}.qty must be an integer from 1 to {MAX_QTY}.",
                                  field=f"{where}.qty")
        merged[sku] = merged.get(sku, 0) + qty
        if merged[sku] > MAX_QTY:
            raise ValidationError(f"{sku} 数量超过 {MAX_QTY}。At most {MAX_QTY} of one SKU.", field=f"{where}.qty")
    return list(merged.items())


def price_lines(lines: Iterable[tuple[str, int]], catalog: Catalog) -> tuple[list[PricedLine], str]:
    """Price each line from the catalog (never from the client); returns the lines and their currency."""
    priced, currencies = [], set()
    for i, (sku, qty) in enumerate(lines):
        item = catalog.get(sku)
        if item is None:
            raise ValidationError(f"商品 {sku} 不存在或已下架。{sku} is not for sale (unknown or unpublished). "
                                  "Fix: remove it from the cart.", field=f"lines[{i}].sku", code="unknown_sku")
        priced.append(PricedLine(sku, item.title, qty, item.price_minor))
        currencies.add(item.currency)
    if len(currencies) != 1:
        raise ValidationError("一个订单只能使用一种货币。All items of an order must share one currency. "
                              f"Found {', '.join(sorted(currencies))}.", field="lines", code="mixed_currency")
    return priced, currencies.pop()


# --- the state machine ---------------------------------------------------------------------------

def transition(order: Order, expected: str | Iterable[str], to: str, *, actor: str, reason: str = "",
               now: datetime, **updates: Any) -> Order:
    """Move ``order`` from one of ``expected`` to ``to`` with one conditional update and one audit row.

    Raises ``IllegalTransition`` when the step is not in ``TRANSITIONS`` or when the order is no
    longer in an expected state (another request moved it first): nothing is changed then.
    """
    expected = (expected,) if isinstance(expected, str) or expected is None else tuple(expected)
    for state in expected:
        if to not in TRANSITIONS.get(state, ()):
            raise IllegalTransition(order.number, state, to, "not a step of the order state machine")
    with write_transaction():
        current = _locked(order.id).status
        if current not in expected:
            raise IllegalTransition(order.number, current, to)
        # Conditional on the state we read: a concurrent writer that got in first makes this a no-op.
        changed = (Order.update(status=to, updated_at=now, **updates)
                   .where((Order.id == order.id) & (Order.status == current)).execute())
        if changed != 1:
            raise IllegalTransition(order.number, Order.get_by_id(order.id).status, to)
        OrderEvent.create(order=order.id, from_status=current, to_status=to, actor=actor, reason=reason[:2000],
                          created_at=now)
    order.status = to
    for key, value in updates.items():
        setattr(order, key, value)
    order.updated_at = now
    return order


def _locked(order_id: int) -> Order:
    """The order row, locked until the transaction ends on PostgreSQL (SQLite: the write
    transaction already excludes other writers)."""
    query = Order.select().where(Order.id == order_id)
    if isinstance(database.obj, pw.PostgresqlDatabase):
        query = query.for_update()
    return query.get()


def audit(order: Order) -> list[dict]:
    return [{"from": e.from_status, "to": e.to_status, "actor": e.actor, "reason": e.reason, "at": _iso(e.created_at)}
            for e in OrderEvent.select().where(OrderEvent.order == order).order_by(OrderEvent.id)]


# --- placing -------------------------------------------------------------------------------------

def place_order(ctx: Context, catalog: Catalog, account: Account, data: Any, *, now: datetime,
                settings: OrderSettings = OrderSettings()) -> Order:
    """Price, reserve stock, claim the coupon, spend credit and create the order, all or nothing."""
    data = validate.json_object(data)
    validate.known_fields(data, ORDER_FIELDS)
    lines, currency = price_lines(parse_lines(data.get("lines")), catalog)
    address = validate.address(data.get("shipping_address"), "shipping_address")
    use_credit = data.get("use_credit", False)
    if not isinstance(use_credit, bool):
        raise ValidationError("use_credit must be true or false.", field="use_credit")
    subtotal = sum(line.total_minor for line in lines)
    coupon_price = None
    if data.get("coupon") not in (None, ""):
        if not isinstance(data["coupon"], str):
            raise ValidationError("coupon must be a string.", field="coupon")
        coupon_price = coupons.price_coupon(data["coupon"], account, subtotal, currency, now)
    discount = coupon_price.discount_minor if coupon_price else 0
    shipping_enc = ctx.cipher.encrypt(json.dumps(address, ensure_ascii=False), "order.shipping")
    wanted = [(line.sku, line.qty) for line in lines]
    expected_tracked = stock.tracked_skus([sku for sku, _ in wanted])
    for _ in range(3):  # a number collision (40 random bits a day) is retried, not reported
        try:
            with write_transaction():
                order = Order.create(number=new_order_number(now), account=account, status=PENDING,
                                     currency=currency, subtotal_minor=subtotal, discount_minor=discount,
                                     credit_minor=0, total_minor=subtotal - discount,
                                     catalog_version=catalog.version,
                                     coupon=coupon_price.coupon if coupon_price else None,
                                     shipping_enc=shipping_enc, created_at=now, updated_at=now,
                                     expires_at=now + timedelta(minutes=settings.hold_minutes),
                                     stock_held=bool(expected_tracked))
                OrderLine.insert_many([{"order": order.id, "sku": line.sku, "title": line.title[:300],
                                        "qty": line.qty, "unit_price_minor": line.unit_price_minor,
                                        "line_total_minor": line.total_minor, "tracked": line.sku in expected_tracked}
                                       for line in lines]).execute()
                if coupon_price:
                    coupons.claim(coupon_price, account, order, now)
                spent = credit.spend(account, order.total_minor, currency, order, now) if use_credit else 0
                if spent:
                    Order.update(credit_minor=spent, total_minor=order.total_minor - spent).where(
                        Order.id == order.id).execute()
                    order.credit_minor, order.total_minor = spent, order.total_minor - spent
                OrderEvent.create(order=order, from_status=None, to_status=PENDING, actor="shopper",
                                  reason=f"placed at catalog {catalog.version[:12]}", created_at=now)
                _mail(ctx, order, "order_placed", now)
                # Last: on PostgreSQL the stock rows stay locked only from here to the commit, so
                # buyers of the same SKU queue for as short a time as possible.
                tracked = stock.reserve(wanted, now)
                if tracked != expected_tracked:  # an owner started or stopped tracking a SKU meanwhile
                    for line in lines:
                        OrderLine.update(tracked=line.sku in tracked).where(
                            (OrderLine.order == order.id) & (OrderLine.sku == line.sku)).execute()
                    Order.update(stock_held=bool(tracked)).where(Order.id == order.id).execute()
                order.stock_held = bool(tracked)
                if order.total_minor == 0:
                    transition(order, PENDING, PAID, actor="system", reason="paid in full by coupon/store credit",
                               now=now, paid_at=now, payment_method="credit")
                    _mail(ctx, order, "order_paid", now)
            return order
        except pw.IntegrityError as exc:
            if "number" not in str(exc).lower():
                raise
    raise CheckoutError("could not allocate an order number; try again.", status=503, code="busy")


# --- reading -------------------------------------------------------------------------------------

def get_order(number: str) -> Order:
    order = Order.get_or_none(Order.number == (number or "").strip().upper())
    if order is None:
        raise NotFoundError(f"订单 {number} 不存在。No order {number!r}. Fix: check the number (UMyymmdd-XXXX-XXXX).")
    return order


def get_for(account: Account, number: str) -> Order:
    """The shopper's own order; someone else's answers 404 exactly like a missing one."""
    order = Order.get_or_none((Order.number == (number or "").strip().upper()) & (Order.account == account))
    if order is None:
        raise NotFoundError(f"订单 {number} 不存在。No order {number!r}.")
    return order


def shipping_address(ctx: Context, order: Order) -> dict | None:
    raw = ctx.cipher.decrypt(order.shipping_enc, "order.shipping")
    return json.loads(raw) if raw else None


def order_view(ctx: Context, order: Order, *, bank=None, detail: bool = True) -> dict:
    view = {"number": order.number, "status": order.status, "currency": order.currency,
            "subtotal_minor": order.subtotal_minor, "discount_minor": order.discount_minor,
            "credit_minor": order.credit_minor, "total_minor": order.total_minor,
            "created_at": _iso(order.created_at), "expires_at": _iso(order.expires_at),
            "paid_at": _iso(order.paid_at), "payment_method": order.payment_method,
            "tracking_number": order.tracking_number, "catalog_version": order.catalog_version,
            "lines": [{"sku": l.sku, "title": l.title, "qty": l.qty, "unit_price_minor": l.unit_price_minor,
                       "line_total_minor": l.line_total_minor}
                      for l in OrderLine.select().where(OrderLine.order == order).order_by(OrderLine.id)]}
    if detail:
        view["shipping_address"] = shipping_address(ctx, order)
        view["coupon"] = order.coupon.code if order.coupon_id else None
        view["transfer_reference"] = order.transfer_reference
        view["can_pay"] = order.status == PENDING
        view["can_cancel"] = order.status in UNPAID
        if order.status == AWAITING and bank is not None:
            view["bank_instructions"] = bank_view(bank, order)
    return view


def list_orders(ctx: Context, account: Account, limit: int = 50) -> list[dict]:
    rows = Order.select().where(Order.account == account).order_by(Order.created_at.desc(), Order.id.desc()).limit(limit)
    return [order_view(ctx, o, detail=False) for o in rows]


def bank_view(bank, order: Order) -> dict:
    i = transfer_instructions(bank, order.number, order.total_minor, order.currency)
    return {"account_name": i.account_name, "bank_name": i.bank_name, "account_number": i.account_number,
            "swift": i.swift, "branch": i.branch, "amount": i.amount, "currency": i.currency,
            "reference": i.reference, "reservation_hours": i.reservation_hours}


# --- paying --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PaymentContext:
    """What starting a payment needs besides the order: adapters, bank details, our public URL."""

    adapters: Mapping[str, Any]
    bank: Any
    methods: tuple[str, ...]
    service_url: str
    settings: OrderSettings = OrderSettings()


def start_payment(ctx: Context, pay: PaymentContext, order: Order, method: Any, *, client: str = "pc",
                  client_ip: str = "127.0.0.1", now: datetime) -> dict:
    """Send the shopper to the provider (``redirect_url`` / ``qr_code_url``) or give bank instructions."""
    if method not in pay.methods:
        raise ValidationError(f"支付方式 {method} 不可用。method must be one of {', '.join(pay.methods)}.",
                              field="method")
    if client not in ("pc", "mobile"):
        raise ValidationError("client must be pc or mobile.", field="client")
    if order.status != PENDING:
        raise IllegalTransition(order.number, order.status, "paying", "only an order waiting for payment can be paid")
    if order.expires_at <= now:
        raise IllegalTransition(order.number, "expired", "paying", "the stock hold has ended; order again")
    if method == "bank_transfer":
        hours = pay.bank.reservation_hours
        transition(order, PENDING, AWAITING, actor="shopper", reason="chose bank transfer", now=now,
                   payment_method="bank_transfer", expires_at=now + timedelta(hours=hours))
        _mail(ctx, order, "order_bank_instructions", now, bank=bank_view(pay.bank, order))
        return {"method": method, "status": order.status, "bank_instructions": bank_view(pay.bank, order)}
    if method in ("alipay", "wechat") and order.currency != "CNY":
        raise ValidationError(f"{method} 只支持人民币订单。{method} takes CNY orders only.", field="method")
    adapter = pay.adapters[method]
    previous = order.payment_method
    if previous in ONLINE_METHODS and previous != method and order.provider_reference:
        # Paying again with another provider: close the first one so the shopper cannot pay twice.
        try:
            _close_at_provider(order, pay.adapters)
        except ProviderError as exc:
            log.warning("order %s: closing %s before switching failed: %s", order.number, previous, exc)
            raise CheckoutError(f"订单 {order.number} 在 {previous} 的付款还不能关闭，请继续用 {previous} 付款或稍后再试。"
                                f"The {previous} payment of {order.number} cannot be closed yet.",
                                code="payment_in_progress", status=409) from None
    address = shipping_address(ctx, order) or {}
    base = pay.service_url.rstrip("/")
    return_url = f"{base}/pay/{method}/return" + (f"?order={order.number}" if method == "wechat" else "")
    request = PaymentRequest(
        order_number=order.number, amount_minor=order.total_minor, currency=order.currency,
        subject=f"umegou 订单 {order.number}",
        shipping_address={"name": address.get("name", ""), "line1": address.get("line1", ""),
                          "line2": address.get("line2", "") or "", "city": address.get("city", ""),
                          "province": address.get("province", "") or "",
                          "postal_code": address.get("postal_code", "") or "",
                          "country_code": address.get("country", "")},
        return_url=return_url, cancel_url=f"{base}/pay/{method}/cancel?order={order.number}",
        notify_url=f"{base}/pay/{method}/notify",
        expires_at=(order.expires_at - timedelta(minutes=pay.settings.provider_margin_minutes)).replace(
            tzinfo=timezone.utc),
        client=client, client_ip=client_ip)
    started = adapter.start(request)  # outside any transaction: a slow provider holds no lock
    recorded = (Order.update(payment_method=method, provider_reference=started.provider_reference, updated_at=now)
                .where((Order.id == order.id) & (Order.status == PENDING)).execute())
    if recorded != 1:
        raise IllegalTransition(order.number, Order.get_by_id(order.id).status, "paying")
    answer = {"method": method, "status": PENDING}
    if started.qr_code_url:
        from .payments.wechat import qr_svg

        answer.update(qr_code_url=started.qr_code_url, qr_svg=qr_svg(started.qr_code_url))
    else:
        answer["redirect_url"] = started.redirect_url or started.h5_url
    return answer


def set_transfer_reference(order: Order, reference: Any, now: datetime) -> Order:
    if order.status not in UNPAID:
        raise IllegalTransition(order.number, order.status, "transfer reference")
    value = clean_transfer_reference(reference if isinstance(reference, str) else "")
    Order.update(transfer_reference=value, updated_at=now).where(Order.id == order.id).execute()
    order.transfer_reference = value
    return order


def capture_paypal_return(ctx: Context, adapter, paypal_order_id: str, *, now: datetime) -> Order | None:
    """The shopper came back from PayPal: capture (idempotent) and apply the capture's answer.

    The capture answer comes from PayPal's API over TLS with our credentials, so it is a statement
    of the provider, not of the browser: the return URL alone never marks anything paid.
    """
    order = Order.get_or_none((Order.provider_reference == paypal_order_id) & (Order.payment_method == "paypal"))
    if order is None:
        return None
    if order.status == PENDING:  # an expired or cancelled order is not captured: the approval lapses
        event = adapter.capture(paypal_order_id)
        apply_payment_event(ctx, event, now=now)
    return Order.get_by_id(order.id)


def apply_payment_event(ctx: Context, event: PaymentEvent, *, now: datetime, adapter=None) -> str:
    """Apply a verified provider event once. Returns the outcome recorded with its event id:
    ``duplicate`` (seen before: nothing happens), ``paid``, ``on_hold:<reasons>``, ``refunded``,
    ``no_change:<status>`` (late or out of order), ``recorded`` (informational events).

    Raises ``PaymentVerificationError`` (nothing recorded, the provider will retry) when the event
    does not match the stored order: another order number, amount or currency.
    """
    order = Order.get_or_none(Order.number == event.order_number)
    if order is None:
        raise PaymentVerificationError(event.provider, "order_mismatch", f"no order {event.order_number!r}")
    check_event_matches(event, order.number, order.total_minor, order.currency)
    payer_address, payer_verified = event.payer_address, event.payer_verified
    if event.provider == "paypal" and event.kind == "paid" and payer_address is None and adapter is not None:
        # A capture webhook does not carry the ship-to address: ask PayPal for the order.
        status = adapter.query(order.provider_reference or event.provider_reference)
        payer_address, payer_verified = status.payer_address, status.payer_verified
    actor = f"provider:{event.provider}"
    with write_transaction():
        try:
            with database.atomic():  # a savepoint: the unique violation must not poison the transaction
                notice = PaymentNotice.create(provider=event.provider, event_id=event.event_id[:128],
                                              order_number=order.number, kind=event.kind,
                                              amount_minor=event.amount_minor, currency=event.currency,
                                              outcome="pending", received_at=now)
        except pw.IntegrityError:
            return "duplicate"
        order = _locked(order.id)
        outcome = _apply(ctx, order, event, actor, payer_address, payer_verified, now)
        PaymentNotice.update(outcome=outcome[:64]).where(PaymentNotice.id == notice.id).execute()
    return outcome


def _apply(ctx, order, event, actor, payer_address, payer_verified, now) -> str:
    if event.kind == "paid":
        updates = {"transaction_id": event.transaction_id or order.transaction_id,
                   "payment_method": order.payment_method or event.provider}
        if order.status in UNPAID:  # not expired yet (expiry releases first): the stock is still ours
            transition(order, order.status, PAID, actor=actor, reason=f"event {event.event_id}", now=now,
                       paid_at=now, **updates)
            _mail(ctx, order, "order_paid", now)
            if event.provider == "paypal":
                hold = paypal_hold_reasons(replace(event, payer_address=payer_address, payer_verified=payer_verified),
                                           _paypal_address(ctx, order))
                if hold:
                    reason = "; ".join(hold)
                    transition(order, PAID, ON_HOLD, actor=actor, reason=reason, now=now, hold_reason=reason[:200])
                    _mail(ctx, order, "order_on_hold", now, reason=reason)
                    return f"on_hold:{reason}"
            return "paid"
        if order.status in (EXPIRED, CANCELLED):
            reason = f"payment arrived after the order was {order.status}"
            transition(order, order.status, ON_HOLD, actor=actor, reason=reason, now=now, paid_at=now,
                       hold_reason=reason[:200], **updates)
            _mail(ctx, order, "order_on_hold", now, reason=reason)
            return "on_hold:late_payment"
        if order.status == PAID and order.payment_method and event.provider != order.payment_method:
            reason = f"paid twice: {order.payment_method} and {event.provider} ({event.transaction_id}); refund one"
            transition(order, PAID, ON_HOLD, actor=actor, reason=reason, now=now, hold_reason=reason[:200])
            return "on_hold:paid_twice"
        return f"no_change:{order.status}"
    if event.kind == "refunded":
        if order.status in (PAID, ON_HOLD):
            transition(order, order.status, REFUNDED, actor=actor, reason=f"refund event {event.event_id}", now=now)
            _release(order, now, "已退款")
            _mail(ctx, order, "order_refunded", now, amount=to_decimal_string(order.total_minor, order.currency))
            return "refunded"
        return f"no_change:{order.status}"
    return "recorded"


def _paypal_address(ctx: Context, order: Order) -> dict:
    a = shipping_address(ctx, order) or {}
    return {"name": a.get("name", ""), "line1": a.get("line1", ""), "line2": a.get("line2", "") or "",
            "city": a.get("city", ""), "province": a.get("province", "") or "",
            "postal_code": a.get("postal_code", "") or "", "country_code": a.get("country", "")}


# --- releasing, expiring, cancelling -------------------------------------------------------------

def _release(order: Order, now: datetime, why: str) -> None:
    """Give back stock, the coupon use and spent credit, exactly once per order."""
    if Order.update(stock_held=False).where((Order.id == order.id) & (Order.stock_held == True)).execute():  # noqa: E712
        stock.release([(l.sku, l.qty) for l in OrderLine.select().where((OrderLine.order == order) & OrderLine.tracked)],
                      now)
    order.stock_held = False
    if why in ("expired", "cancelled"):
        coupons.release(order)
    credit.restore(order, now, why)


def _close_at_provider(order: Order, adapters: Mapping[str, Any]) -> None:
    """Close the provider's order first, so no payment can land after the stock is released."""
    adapter = adapters.get(order.payment_method or "")
    if adapter is not None and order.provider_reference:
        adapter.close(order.provider_reference)


def cancel_order(ctx: Context, order: Order, *, actor: str, reason: str, now: datetime,
                 adapters: Mapping[str, Any] | None = None) -> Order:
    if order.status not in UNPAID:
        raise IllegalTransition(order.number, order.status, CANCELLED,
                                "a paid order is refunded, not cancelled (admin refund)")
    _close_at_provider(order, adapters or {})
    with write_transaction():
        transition(order, UNPAID, CANCELLED, actor=actor, reason=reason, now=now)
        _release(order, now, "cancelled")
    return order


def expire_due(ctx: Context, adapters: Mapping[str, Any], *, now: datetime, limit: int = 500) -> dict:
    """Expire unpaid orders whose hold ended: close at the provider, then release. A provider that
    cannot be reached keeps its order for the next run (its payment might still land)."""
    due = list(Order.select().where(Order.status.in_(UNPAID) & (Order.expires_at <= now))
               .order_by(Order.expires_at).limit(limit))
    expired, kept = [], []
    for order in due:
        try:
            _close_at_provider(order, adapters)
        except ProviderError as exc:
            log.warning("order %s: provider close failed, expiry postponed: %s", order.number, exc)
            kept.append(order.number)
            continue
        try:
            with write_transaction():
                transition(order, UNPAID, EXPIRED, actor="system", reason="stock hold ended unpaid", now=now)
                _release(order, now, "expired")
            expired.append(order.number)
        except IllegalTransition:
            continue  # paid or cancelled meanwhile
    return {"expired": expired, "postponed": kept}


# --- customer service ----------------------------------------------------------------------------

def confirm_transfer(ctx: Context, order: Order, *, who: str, now: datetime, note: str = "") -> Order:
    if order.status != AWAITING:
        why = "the shopper has not chosen bank transfer" if order.status == PENDING else ""
        raise IllegalTransition(order.number, order.status, PAID, why)
    with write_transaction():
        transition(order, AWAITING, PAID, actor=f"admin:{who}", now=now, paid_at=now,
                   reason=f"bank transfer confirmed by {who}{': ' + note if note else ''}")
        _mail(ctx, order, "order_paid", now)
    return order


def ship(ctx: Context, order: Order, tracking: str, *, who: str, now: datetime) -> Order:
    tracking = (tracking or "").strip()
    if not 4 <= len(tracking) <= 64:
        raise ValidationError("tracking number must be 4-64 characters.", field="tracking")
    if order.status == ON_HOLD:
        raise IllegalTransition(order.number, order.status, SHIPPED,
                                f"held ({order.hold_reason}); release the hold or refund first")
    with write_transaction():
        transition(order, PAID, SHIPPED, actor=f"admin:{who}", reason=f"tracking {tracking}", now=now,
                   tracking_number=tracking)
        _mail(ctx, order, "order_shipped", now, tracking=tracking)
    return order


def complete(order: Order, *, who: str, now: datetime) -> Order:
    return transition(order, SHIPPED, COMPLETED, actor=f"admin:{who}", reason="delivered", now=now)


def release_hold(ctx: Context, order: Order, *, who: str, now: datetime, note: str = "") -> Order:
    """Customer service checked a held order: it becomes paid (stock is taken again if it was released)."""
    if order.status != ON_HOLD:
        raise IllegalTransition(order.number, order.status, PAID, "only a held order can be released")
    with write_transaction():
        if not order.stock_held:
            lines = list(OrderLine.select().where(OrderLine.order == order))
            tracked = stock.reserve([(l.sku, l.qty) for l in lines], now)
            Order.update(stock_held=bool(tracked)).where(Order.id == order.id).execute()
        transition(order, ON_HOLD, PAID, actor=f"admin:{who}", reason=note or "hold released", now=now,
                   hold_reason=None)
    return order


def refund_order(ctx: Context, adapters: Mapping[str, Any], order: Order, *, who: str, now: datetime,
                 reason: str = "") -> dict:
    """Refund in full through the provider that was paid (bank transfer: record the manual refund)."""
    if order.status not in (PAID, ON_HOLD):
        raise IllegalTransition(order.number, order.status, REFUNDED,
                                "shipped orders are refunded after the return arrives" if order.status == SHIPPED else "")
    key = f"{order.number}-R1"
    provider = order.payment_method or "none"
    record = RefundRecord.get_or_none(RefundRecord.refund_key == key)
    if record is None:
        record = RefundRecord.create(order=order, refund_key=key, amount_minor=order.total_minor, currency=order.currency,
                                     provider=provider, status="requested", actor=f"admin:{who}", created_at=now)
    result_status, refund_id = "manual", None
    if provider in ONLINE_METHODS and order.total_minor > 0:
        if not order.transaction_id:
            raise CheckoutError(f"order {order.number} has no provider transaction id to refund. Fix: refund in the "
                                f"{provider} merchant dashboard, then record it.", code="no_transaction")
        result = adapters[provider].refund(RefundRequest(order.number, order.transaction_id, key, order.total_minor,
                                                         order.total_minor, order.currency, reason))
        result_status, refund_id = result.status, result.refund_id
        if result.status == "failed":
            RefundRecord.update(status="failed").where(RefundRecord.id == record.id).execute()
            raise CheckoutError(f"{provider} refused the refund of {order.number}.", code="refund_failed", status=502)
    with write_transaction():
        RefundRecord.update(status=result_status, provider_refund_id=refund_id).where(RefundRecord.id == record.id).execute()
        current = Order.get_by_id(order.id)
        if current.status in (PAID, ON_HOLD):  # the provider's refund notification may have come first
            transition(current, current.status, REFUNDED, actor=f"admin:{who}", now=now,
                       reason=f"refund {key} ({provider}, {result_status}){': ' + reason if reason else ''}")
            _release(current, now, "已退款")
            _mail(ctx, current, "order_refunded", now, amount=to_decimal_string(current.total_minor, current.currency))
    return {"order": order.number, "refund_key": key, "status": result_status, "provider": provider}


# --- privacy -------------------------------------------------------------------------------------

def anonymise_for_account(account: Account, now: datetime) -> int:
    """Account deletion: keep the order rows (bookkeeping) but erase the personal data in them."""
    return (Order.update(shipping_enc=None, transfer_reference=None, anonymised_at=now)
            .where((Order.account == account) & Order.anonymised_at.is_null()).execute())


# --- mail ----------------------------------------------------------------------------------------

def _mail(ctx: Context, order: Order, kind: str, now: datetime, **extra: Any) -> None:
    account = Account.get_by_id(order.account_id)
    address = ctx.cipher.decrypt(account.email_enc, "account.email")
    if not address:
        return  # deleted account: nobody to tell
    lines = list(OrderLine.select().where(OrderLine.order == order).order_by(OrderLine.id))
    context = {"nickname": account.nickname, "number": order.number, "status": order.status,
               "total": to_decimal_string(order.total_minor, order.currency), "currency": order.currency,
               "lines": [{"title": l.title, "qty": l.qty, "sku": l.sku,
                          "amount": to_decimal_string(l.line_total_minor, order.currency)} for l in lines],
               "link": f"{ctx.config.public_url}/account/orders/?order={order.number}",
               "expires_at": order.expires_at.strftime("%Y-%m-%d %H:%M UTC"), **extra}
    mail.enqueue(ctx.config, ctx.cipher, kind, address, context, account=account, now=now)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")
