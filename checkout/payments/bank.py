"""Bank transfer: the instructions shown on the order page and the check of a transfer reference the
shopper submits. Confirmation is manual (``python -m checkout admin confirm-transfer``).

Stage: runtime of the checkout service. No provider to talk to.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .common import PaymentError, to_decimal_string

PROVIDER = "bank_transfer"
_REFERENCE = re.compile(r"^[0-9A-Za-z\-_/ ]{4,64}$")


@dataclass(frozen=True)
class BankTransferConfig:
    account_name: str
    bank_name: str
    account_number: str
    swift: str = ""
    branch: str = ""
    reservation_hours: int = 72
    """Stock stays reserved this long for a bank transfer (longer than for online payment)."""


@dataclass(frozen=True)
class BankInstructions:
    """What the order page shows for paying by transfer."""

    account_name: str
    bank_name: str
    account_number: str
    swift: str
    branch: str
    amount: str
    """Decimal text, e.g. "199.00"."""
    currency: str
    reference: str
    """The order number: the shopper writes it in the transfer's remark so service can match it."""
    reservation_hours: int


def transfer_instructions(config: BankTransferConfig, order_number: str, amount_minor: int,
                          currency: str) -> BankInstructions:
    return BankInstructions(config.account_name, config.bank_name, config.account_number, config.swift,
                            config.branch, to_decimal_string(amount_minor, currency), currency, order_number,
                            config.reservation_hours)


def clean_transfer_reference(text: str) -> str:
    """Normalise the bank's transaction reference a shopper types in (full-width digits from Chinese
    input methods are folded); raise PaymentError with a fix when it cannot be one."""
    value = unicodedata.normalize("NFKC", text or "").strip()
    if not _REFERENCE.match(value):
        raise PaymentError(PROVIDER, "the transfer reference must be 4-64 letters, digits, spaces or -_/. "
                           "Fix: copy the transaction number from the bank's receipt")
    return value
