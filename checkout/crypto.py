"""Encryption of personal data at rest, the email lookup index, and opaque tokens.

Values are stored as ``<key id>:<base64url(nonce || ciphertext+tag)>`` with AES-256-GCM; the
associated data binds each value to its column, so a value copied into another column does not
decrypt. Tokens (sessions, activation, reset, guardian links) are random, handed out once and
stored only as SHA-256 digests: a leaked database cannot be used to log in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .config import DataKey
from .errors import ConfigError


class Cipher:
    """Encrypts under the newest key, decrypts under any configured key."""

    def __init__(self, keys: tuple[DataKey, ...]):
        if not keys:
            raise ConfigError("no personal-data key configured. Fix: set CHECKOUT_DATA_KEYS.")
        self.current = keys[0]
        self._by_id = {k.id: AESGCM(k.key) for k in keys}

    def encrypt(self, plaintext: str | None, context: str) -> str | None:
        if plaintext is None:
            return None
        nonce = os.urandom(12)
        sealed = self._by_id[self.current.id].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{self.current.id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str | None, context: str) -> str | None:
        if stored is None:
            return None
        key_id, _, b64 = stored.partition(":")
        aes = self._by_id.get(key_id)
        if aes is None:
            raise ConfigError(f"a stored {context} value uses key {key_id!r}, which is not configured. "
                              "Fix: keep old keys in CHECKOUT_DATA_KEYS until `admin rotate-keys` ran.")
        raw = base64.urlsafe_b64decode(b64)
        try:
            return aes.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except InvalidTag:
            raise ConfigError(f"a stored {context} value does not decrypt under key {key_id!r} "
                              "(wrong key or tampered data).") from None

    def key_id_of(self, stored: str | None) -> str | None:
        return None if stored is None else stored.partition(":")[0]


def normalise_email(email: str) -> str:
    """The form used for the lookup index: NFKC, trimmed, lower-cased (whole address)."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def email_index(key: bytes, email: str) -> str:
    """Keyed HMAC-SHA256 of the normalised address: equal for equal emails, useless without the key."""
    return hmac.new(key, normalise_email(email).encode(), hashlib.sha256).hexdigest()


def new_token() -> str:
    """A URL-safe random token with 256 bits of entropy."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
