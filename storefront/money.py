"""Money: prices parsed from content into integer minor units, and formatted for the site locale."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from babel.numbers import format_currency, get_currency_precision, list_currencies

_CURRENCIES = frozenset(list_currencies())


def is_currency(code: Any) -> bool:
    return isinstance(code, str) and code in _CURRENCIES


@lru_cache(maxsize=None)
def minor_digits(currency: str) -> int:
    return get_currency_precision(currency)


def parse_price(value: Any, currency: str) -> int:
    """``"199.00"`` -> ``19900`` for CNY. Raises ValueError with a message that says how to fix it."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"'{value}' is not a price. Fix: write it as a quoted decimal, e.g. \"199.00\"")
    if isinstance(value, float):  # not produced by our YAML loader, but by other callers
        value = repr(value)
    text = str(value).strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"'{text}' is not a decimal number. Fix: write digits only, e.g. \"199.00\"; "
                         "the currency comes from 'currency:' (default from site.toml), not from "
                         "symbols such as 元 or ¥") from None
    if not amount.is_finite():
        raise ValueError(f"'{text}' is not a finite number. Fix: write e.g. \"199.00\"")
    if amount <= 0:
        raise ValueError(f"'{text}' must be greater than 0. Fix: write the selling price, e.g. \"199.00\"")
    digits = minor_digits(currency)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > digits:
        raise ValueError(f"'{text}' has {-exponent} decimals but {currency} allows at most {digits}. "
                         f"Fix: round it, e.g. \"{amount.quantize(Decimal(1).scaleb(-digits))}\"")
    return int(amount.scaleb(digits))


def minor_to_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_digits(currency))


def wire_amount(minor: int, currency: str) -> str:
    """``19900`` -> ``"199.00"``: the plain decimal form (JSON-LD, payment providers)."""
    digits = minor_digits(currency)
    return f"{minor_to_decimal(minor, currency):.{digits}f}"


@lru_cache(maxsize=65536)
def format_money(minor: int, currency: str, locale: str) -> str:
    """``19900, "CNY", "zh_CN"`` -> ``¥199.00``."""
    return format_currency(minor_to_decimal(minor, currency), currency, locale=locale)
