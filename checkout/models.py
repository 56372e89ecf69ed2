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
