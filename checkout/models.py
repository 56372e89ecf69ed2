"""Database tables of the accounts side (peewee models on a deferred database).

Columns ending in ``_enc`` hold AES-GCM ciphertext (see ``crypto.Cipher``); nothing here stores an
email, phone, birthday, address or raw token in clear. Datetimes are naive UTC. The schema is
created and changed only by ``migrations.py``; a change here needs a new migration there.
"""

from __future__ import annotations

import peewee as pw

database = pw.DatabaseProxy()


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


class Account(BaseModel):
    """A shopper. After deletion the row stays as an anonymous tombstone so orders keep a key."""

    email_index = pw.CharField(max_length=64, null=True, unique=True)
    """HMAC of the normalised email; NULL once deleted."""
    email_enc = pw.TextField(null=True)
    nickname = pw.CharField(max_length=64, null=True)
    password_hash = pw.TextField(null=True)
    status = pw.CharField(max_length=32, index=True)
    """pending_activation | pending_guardian_consent | active | deleted"""
    birthday_enc = pw.TextField(null=True)
    phone_enc = pw.TextField(null=True)
    addresses_enc = pw.TextField(null=True)
    """JSON list of addresses, encrypted as one value."""
    guardian_email_enc = pw.TextField(null=True)
    needs_guardian = pw.BooleanField(default=False)
    guardian_consented_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(index=True)
    activated_at = pw.DateTimeField(null=True)
    deleted_at = pw.DateTimeField(null=True)
    policy_notified = pw.CharField(max_length=64, null=True)
    """Id of the last upcoming policy version this account was mailed about."""


class Session(BaseModel):
    token_hash = pw.CharField(max_length=64, unique=True)
    account = pw.ForeignKeyField(Account, on_delete="CASCADE", backref="sessions")
    created_at = pw.DateTimeField()
    last_seen_at = pw.DateTimeField()
    expires_at = pw.DateTimeField(index=True)
    """Absolute expiry; idle expiry is computed from last_seen_at."""


class AccountToken(BaseModel):
    """Single-use mailed token: activation, password reset or guardian consent."""

    kind = pw.CharField(max_length=16)
    token_hash = pw.CharField(max_length=64, unique=True)
    account = pw.ForeignKeyField(Account, on_delete="CASCADE", backref="tokens")
    created_at = pw.DateTimeField()
    expires_at = pw.DateTimeField(index=True)
    used_at = pw.DateTimeField(null=True)


class Consent(BaseModel):
    """Which policy version (and the sha256 of its text) an account accepted, and when."""

    account = pw.ForeignKeyField(Account, on_delete="CASCADE", backref="consents")
    policy_version = pw.CharField(max_length=64)
    policy_sha256 = pw.CharField(max_length=64)
    accepted_at = pw.DateTimeField()
    source = pw.CharField(max_length=16)
    """registration | reconsent"""


class Outbox(BaseModel):
    """A mail waiting to be sent, being sent, sent (body erased) or given up on."""

    kind = pw.CharField(max_length=32)
    account = pw.ForeignKeyField(Account, null=True, on_delete="SET NULL")
    recipient_enc = pw.TextField(null=True)
    subject = pw.TextField()
    body_enc = pw.TextField(null=True)
    message_id = pw.CharField(max_length=128, unique=True)
    status = pw.CharField(max_length=16, index=True)
    """pending | sending | sent | failed"""
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(index=True)
    claimed_at = pw.DateTimeField(null=True)
    sent_at = pw.DateTimeField(null=True)
    last_error = pw.TextField(null=True)
    created_at = pw.DateTimeField()


class RateLimit(BaseModel):
    """Fixed-window counters shared by every worker: (hashed key, window start) -> count."""

    key = pw.CharField(max_length=64)
    window_start = pw.BigIntegerField()
    count = pw.IntegerField(default=0)

    class Meta:
        primary_key = pw.CompositeKey("key", "window_start")


ALL_MODELS = [Account, Session, AccountToken, Consent, Outbox, RateLimit]


# --- orders and payments (issue 5) -------------------------------------------------------------

class StockLevel(BaseModel):
    """Live inventory of one tracked SKU. Untracked SKUs (``stock`` absent in Markdown) have no row."""

    sku = pw.CharField(max_length=64, primary_key=True)
    on_hand = pw.IntegerField()
    """Units that can still be sold; reservations take from it, releases give back. Never negative."""
    seeded = pw.IntegerField()
    """The Markdown ``stock`` value last applied; a new value adds or removes the difference."""
    updated_at = pw.DateTimeField()

    class Meta:
        constraints = [pw.SQL("CHECK (on_hand >= 0)")]


class Coupon(BaseModel):
    """A discount code: fixed (minor units of ``currency``) or percentage, with limits."""

    code = pw.CharField(max_length=32, unique=True)
    """Stored upper-case; shoppers type it in any case."""
    kind = pw.CharField(max_length=8)
    """fixed | percent"""
    value = pw.IntegerField()
    """Minor units for ``fixed``, whole percent (1-100) for ``percent``."""
    currency = pw.CharField(max_length=3, null=True)
    min_spend_minor = pw.IntegerField(default=0)
    valid_from = pw.DateTimeField(null=True)
    valid_until = pw.DateTimeField(null=True)
    usage_limit = pw.IntegerField(null=True)
    used_count = pw.IntegerField(default=0)
    per_account_limit = pw.IntegerField(null=True)
    active = pw.BooleanField(default=True)
    created_at = pw.DateTimeField()


class Order(BaseModel):
    """An order priced by the server from catalog.json; moved between states only by
    ``orders.transition``. Personal data (the shipping address) is encrypted."""

    number = pw.CharField(max_length=32, unique=True)
    account = pw.ForeignKeyField(Account, backref="orders", on_delete="RESTRICT")
    status = pw.CharField(max_length=32, index=True)
    currency = pw.CharField(max_length=3)
    subtotal_minor = pw.IntegerField()
    discount_minor = pw.IntegerField(default=0)
    credit_minor = pw.IntegerField(default=0)
    """Store credit spent on this order (a ledger entry holds the same amount, negative)."""
    total_minor = pw.IntegerField()
    """What the shopper pays through a provider: subtotal - discount - credit."""
    catalog_version = pw.CharField(max_length=64)
    coupon = pw.ForeignKeyField(Coupon, null=True, on_delete="SET NULL")
    shipping_enc = pw.TextField(null=True)
    """JSON shipping address, AES-GCM; NULL once the account is deleted."""
    payment_method = pw.CharField(max_length=16, null=True)
    provider_reference = pw.CharField(max_length=64, null=True, index=True)
    """PayPal order id; our order number for Alipay and WeChat."""
    transaction_id = pw.CharField(max_length=64, null=True)
    """What a refund needs: PayPal capture id, Alipay trade_no, WeChat transaction_id."""
    transfer_reference = pw.CharField(max_length=64, null=True)
    tracking_number = pw.CharField(max_length=64, null=True)
    hold_reason = pw.CharField(max_length=200, null=True)
    created_at = pw.DateTimeField(index=True)
    updated_at = pw.DateTimeField()
    expires_at = pw.DateTimeField(index=True)
    """Stock is held until then while unpaid."""
    paid_at = pw.DateTimeField(null=True)
    stock_held = pw.BooleanField(default=False)
    """Whether this order currently holds stock (cleared exactly once when it is released)."""
    anonymised_at = pw.DateTimeField(null=True)


class OrderLine(BaseModel):
    order = pw.ForeignKeyField(Order, backref="lines", on_delete="CASCADE")
    sku = pw.CharField(max_length=64)
    title = pw.CharField(max_length=300)
    qty = pw.IntegerField()
    unit_price_minor = pw.IntegerField()
    line_total_minor = pw.IntegerField()
    tracked = pw.BooleanField(default=True)
    """Whether stock was reserved for this line (released on expiry and cancellation)."""


class OrderEvent(BaseModel):
    """Audit log: one row per state transition (who, when, why)."""

    order = pw.ForeignKeyField(Order, backref="events", on_delete="CASCADE")
    from_status = pw.CharField(max_length=32, null=True)
    to_status = pw.CharField(max_length=32)
    actor = pw.CharField(max_length=64)
    """``shopper``, ``system``, ``provider:<name>``, ``admin:<who>``"""
    reason = pw.TextField(default="")
    created_at = pw.DateTimeField()


class PaymentNotice(BaseModel):
    """Every verified provider event, once: the UNIQUE (provider, event_id) makes a replay a no-op."""

    provider = pw.CharField(max_length=16)
    event_id = pw.CharField(max_length=128)
    order_number = pw.CharField(max_length=64, index=True)
    kind = pw.CharField(max_length=16)
    amount_minor = pw.IntegerField()
    currency = pw.CharField(max_length=3)
    outcome = pw.CharField(max_length=64)
    received_at = pw.DateTimeField()

    class Meta:
        indexes = ((("provider", "event_id"), True),)


class CreditEntry(BaseModel):
    """Store-credit ledger: the balance is the sum of the entries, never a stored number."""

    account = pw.ForeignKeyField(Account, backref="credit", on_delete="CASCADE")
    amount_minor = pw.IntegerField()
    currency = pw.CharField(max_length=3)
    reason = pw.CharField(max_length=200)
    order = pw.ForeignKeyField(Order, null=True, on_delete="SET NULL")
    actor = pw.CharField(max_length=64)
    created_at = pw.DateTimeField(index=True)


class CouponUse(BaseModel):
    coupon = pw.ForeignKeyField(Coupon, backref="uses", on_delete="CASCADE")
    account = pw.ForeignKeyField(Account, on_delete="CASCADE")
    order = pw.ForeignKeyField(Order, on_delete="CASCADE", unique=True)
    released = pw.BooleanField(default=False)
    created_at = pw.DateTimeField()


class RefundRecord(BaseModel):
    order = pw.ForeignKeyField(Order, backref="refunds", on_delete="CASCADE")
    refund_key = pw.CharField(max_length=64, unique=True)
    amount_minor = pw.IntegerField()
    currency = pw.CharField(max_length=3)
    provider = pw.CharField(max_length=16)
    provider_refund_id = pw.CharField(max_length=64, null=True)
    status = pw.CharField(max_length=16)
    actor = pw.CharField(max_length=64)
    created_at = pw.DateTimeField()


ORDER_MODELS = [StockLevel, Coupon, Order, OrderLine, OrderEvent, PaymentNotice, CreditEntry, CouponUse,
                RefundRecord]
