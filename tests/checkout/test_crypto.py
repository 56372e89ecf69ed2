"""Encryption at rest and the email index."""

from __future__ import annotations

import pytest

from checkout.config import DataKey
from checkout.crypto import Cipher, email_index, token_digest
from checkout.errors import ConfigError

OLD, NEW = DataKey("old", b"\x01" * 32), DataKey("new", b"\x02" * 32)


def test_round_trip_with_key_id_and_fresh_nonce():
    cipher = Cipher((OLD,))
    a, b = cipher.encrypt("mei@example.com", "account.email"), cipher.encrypt("mei@example.com", "account.email")
    assert a.startswith("old:") and a != b and "mei" not in a
    assert cipher.decrypt(a, "account.email") == "mei@example.com"


def test_value_is_bound_to_its_column():
    cipher = Cipher((OLD,))
    stored = cipher.encrypt("13800000000", "account.phone")
    with pytest.raises(ConfigError, match="does not decrypt"):
        cipher.decrypt(stored, "account.email")


def test_old_keys_still_decrypt_and_unknown_keys_say_how_to_fix():
    stored = Cipher((OLD,)).encrypt("x", "c")
    assert Cipher((NEW, OLD)).decrypt(stored, "c") == "x"
    assert Cipher((NEW, OLD)).encrypt("x", "c").startswith("new:")
    with pytest.raises(ConfigError, match="Fix: keep old keys"):
        Cipher((NEW,)).decrypt(stored, "c")


def test_email_index_normalises_and_depends_on_the_key():
    key = b"k" * 32
    assert email_index(key, " Mei@Example.com ") == email_index(key, "mei@example.com")
    assert email_index(key, "mei@example.com") != email_index(b"j" * 32, "mei@example.com")
    assert len(token_digest("abc")) == 64
