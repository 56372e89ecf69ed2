"""Input validation for the accounts API: each check names the field at fault.

Messages are Chinese first (shown to shoppers by the account pages), then English for operators.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from .errors import ValidationError

EMAIL_RE = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{4,19}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")

ADDRESS_FIELDS = {"name": (True, 64), "phone": (True, 24), "country": (True, 2),
                  "province": (False, 64), "city": (True, 64), "line1": (True, 200),
                  "line2": (False, 200), "postal_code": (False, 16)}
MAX_ADDRESSES = 10


def json_object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise ValidationError("请求内容必须是 JSON 对象。The request body must be a JSON object.")
    return body


def known_fields(data: dict, allowed: set[str] | frozenset[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationError(f"不支持的字段 {unknown[0]}。Unknown field {unknown[0]!r}.",
                              field=unknown[0], code="unknown_field")


def text(data: dict, name: str, *, required: bool = True, max_len: int = 200, min_len: int = 0,
         label: str | None = None) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ValidationError(f"请填写{label or name}。{name} is required.", field=name)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{label or name}格式不正确。{name} must be a string.", field=name)
    value = value.strip()
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
        raise ValidationError(f"{label or name}含有不可见字符。{name} contains control characters.", field=name)
    if not (min_len <= len(value) <= max_len):
        raise ValidationError(f"{label or name}长度应为 {min_len}–{max_len} 个字符。"
                              f"{name} must be {min_len} to {max_len} characters.", field=name)
    return value


def email(data: dict, name: str = "email", *, required: bool = True) -> str | None:
    value = text(data, name, required=required, max_len=254, label="电子邮箱")
    if value is not None and not EMAIL_RE.match(value):
        raise ValidationError("电子邮箱地址格式不正确。Not a valid email address.", field=name)
    return value


def nickname(data: dict, *, required: bool = True) -> str | None:
    return text(data, "nickname", required=required, min_len=2, max_len=32, label="昵称")


def password(data: dict, name: str = "password") -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValidationError("请填写密码。password is required.", field=name)
    if not (8 <= len(value) <= 128):
        raise ValidationError("密码长度应为 8–128 个字符。The password must be 8 to 128 characters.",
                              field=name)
    return value


def birthday(data: dict, today: date, *, required: bool = False) -> date | None:
    value = text(data, "birthday", required=required, max_len=10, label="生日")
    if value is None:
        return None
    try:
        born = date.fromisoformat(value)
    except ValueError:
        raise ValidationError("生日格式应为 YYYY-MM-DD。birthday must be YYYY-MM-DD.", field="birthday") from None
    if born > today or born.year < 1900:
        raise ValidationError("生日不正确。birthday is not a plausible date.", field="birthday")
    return born


def phone(data: dict, name: str = "phone", *, required: bool = False) -> str | None:
    value = text(data, name, required=required, max_len=24, label="电话号码")
    if value is not None and not PHONE_RE.match(value):
        raise ValidationError("电话号码格式不正确。Not a valid phone number.", field=name)
    return value


def addresses(data: dict) -> list[dict]:
    value = data.get("addresses")
    if not isinstance(value, list) or len(value) > MAX_ADDRESSES:
        raise ValidationError(f"地址必须是列表，最多 {MAX_ADDRESSES} 个。"
                              f"addresses must be a list of at most {MAX_ADDRESSES}.", field="addresses")
    return [address(item, f"addresses[{i}]") for i, item in enumerate(value)]


def address(item: Any, where: str) -> dict:
    if not isinstance(item, dict):
        raise ValidationError("地址格式不正确。An address must be an object.", field=where)
    unknown = sorted(set(item) - set(ADDRESS_FIELDS))
    if unknown:
        raise ValidationError(f"地址含有未知字段 {unknown[0]}。Unknown address field {unknown[0]!r}.",
                              field=f"{where}.{unknown[0]}")
    clean = {}
    for key, (required, max_len) in ADDRESS_FIELDS.items():
        try:
            clean[key] = text(item, key, required=required, max_len=max_len)
        except ValidationError as exc:
            raise ValidationError(exc.message, field=f"{where}.{key}") from None
    if not COUNTRY_RE.match(clean["country"].upper()):
        raise ValidationError("国家代码应为两位字母（如 CN）。country must be ISO 3166 alpha-2.",
                              field=f"{where}.country")
    clean["country"] = clean["country"].upper()
    if not PHONE_RE.match(clean["phone"]):
        raise ValidationError("电话号码格式不正确。Not a valid phone number.", field=f"{where}.phone")
    return {k: v for k, v in clean.items() if v is not None}


def token(data: dict) -> str:
    value = text(data, "token", max_len=128, label="链接")
    if not re.fullmatch(r"[A-Za-z0-9_\-]{20,128}", value):
        raise ValidationError("链接无效或已过期。The token is not valid.", field="token", code="invalid_token")
    return value


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
