"""Payments, shared part: the records every provider adapter takes and returns, the errors, money
on the wire, RSA signing and the small HTTP client the adapters use (standard library only).

Stage: runtime of the checkout service. Nothing here knows about orders in the database; the
service turns a verified ``PaymentEvent`` into an order transition.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Literal, Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..errors import CheckoutError

Client = Literal["pc", "mobile"]
EventKind = Literal["paid", "pending", "failed", "refunded", "approved", "closed", "cancelled"]


# --- errors -------------------------------------------------------------------------------------

class PaymentError(CheckoutError):
    """Base of every payment error (a ``CheckoutError``: routes answer it as JSON, no traceback)."""

    code = "payment_error"
    status = 400

    def __init__(self, provider: str, message: str):
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class PaymentConfigError(PaymentError):
    """A payment setting is missing or malformed (names the environment variable)."""

    code = "config_error"
    status = 500

    def __init__(self, variable: str, message: str, provider: str = "payments"):
        super().__init__(provider, f"{variable}: {message}")
        self.variable = variable


class PaymentVerificationError(PaymentError):
    """A notification (or a signed answer) failed verification; it must not change any order.

    ``reason`` is a stable code for logs and tests: ``bad_signature``, ``stale``, ``merchant_mismatch``,
    ``amount_mismatch``, ``currency_mismatch``, ``order_mismatch``, ``untrusted_certificate``,
    ``unknown_serial``, ``decrypt_failed``, ``malformed``, ``missing_header``.
    """

    code = "payment_not_verified"
    status = 400

    def __init__(self, provider: str, reason: str, detail: str):
        super().__init__(provider, f"notification rejected ({reason}): {detail}")
        self.reason = reason
        self.detail = detail


class ProviderError(PaymentError):
    """The provider answered an API call with an error, or could not be reached. The message holds
    the provider's words: log it, and show clients only ``code``."""

    code = "payment_provider_error"
    status = 502

    def __init__(self, provider: str, operation: str, status: int | None, code: str, detail: str):
        where = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(provider, f"{operation} failed ({where}, {code}): {detail}")
        self.operation = operation
        self.http_status = status
        """The provider's HTTP status (``status`` is ours: 502)."""
        self.provider_code = code
        self.detail = detail


# --- records ------------------------------------------------------------------------------------

ADDRESS_FIELDS = ("name", "line1", "line2", "city", "province", "postal_code", "country_code")


@dataclass(frozen=True)
class PaymentRequest:
    """What the service asks a provider to collect for one order."""

    order_number: str
    """Our order number; the provider's ``out_trade_no`` / ``custom_id``."""
    amount_minor: int
    """Total in minor units of ``currency`` (fen, cents)."""
    currency: str
    """ISO 4217 code."""
    subject: str
    """Short text shown by the provider's cashier (e.g. "umegou 订单 U20240101-0001")."""
    shipping_address: Mapping[str, str]
    """Keys: name, line1, line2, city, province, postal_code, country_code. Only PayPal receives it."""
    return_url: str
    """Where the cashier sends the browser back after paying."""
    cancel_url: str
    """Where the cashier sends the browser when the shopper gives up."""
    notify_url: str
    """Where the provider posts notifications (PayPal: configured as a webhook instead)."""
    expires_at: datetime
    """Provider-side expiry (timezone-aware); shorter than our stock hold."""
    client: Client = "pc"
    """``pc`` (Alipay page pay, WeChat Native QR) or ``mobile`` (Alipay wap pay, WeChat H5)."""
    client_ip: str = "127.0.0.1"
    """The shopper's address; WeChat H5 requires it."""


@dataclass(frozen=True)
class PaymentStart:
    """Where to send the shopper next. Exactly one of the three URLs is set."""

    provider: str
    provider_reference: str
    """PayPal order id; our order number for Alipay and WeChat (their trade ids come with payment)."""
    redirect_url: str | None = None
    qr_code_url: str | None = None
    """WeChat Native ``weixin://wxpay/bizpayurl?pr=...``: show it as a QR code."""
    h5_url: str | None = None


@dataclass(frozen=True)
class PaymentEvent:
    """A verified statement from a provider about one order."""

    provider: str
    event_id: str
    """Unique per provider event; a replayed or retried notification has the same id."""
    kind: EventKind
    order_number: str
    amount_minor: int
    currency: str
    merchant_id: str | None
    """The merchant the provider says was paid (PayPal payee, Alipay seller_id, WeChat mchid)."""
    provider_reference: str
    """PayPal order id, Alipay trade_no, WeChat transaction_id (or our order number when unknown)."""
    transaction_id: str | None = None
    """What a refund needs: PayPal capture id, Alipay trade_no, WeChat transaction_id."""
    payer_address: Mapping[str, str] | None = None
    """PayPal only: the ship-to address PayPal recorded (compare with ours)."""
    payer_verified: bool | None = None
    """PayPal only: whether the payer's account is verified; None when the message does not say."""
    refund_key: str | None = None
    """For ``refunded`` events: our idempotency key of that refund, when the provider echoes it."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """The parsed (and, for WeChat, decrypted) message, for the audit log."""


@dataclass(frozen=True)
class Acknowledgement:
    """The HTTP answer a provider expects to a notification."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class RefundRequest:
    """A refund of (part of) a paid order."""

    order_number: str
    transaction_id: str
    """From the ``paid`` event: PayPal capture id, Alipay trade_no, WeChat transaction_id."""
    refund_key: str
    """Our stable idempotency key for this refund (PayPal-Request-Id, out_request_no, out_refund_no):
    retrying with the same key never refunds twice."""
    amount_minor: int
    total_minor: int
    currency: str
    reason: str = ""
    notify_url: str | None = None


@dataclass(frozen=True)
class RefundResult:
    provider: str
    refund_key: str
    refund_id: str
    status: Literal["completed", "pending", "failed"]
    amount_minor: int
    currency: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class PaymentStatus:
    """What a provider says about an order when asked (query)."""

    provider: str
    order_number: str
    kind: Literal["paid", "pending", "failed", "refunded", "closed", "approved", "unknown"]
    amount_minor: int | None
    currency: str | None
    provider_reference: str | None
    transaction_id: str | None = None
    payer_address: Mapping[str, str] | None = None
    payer_verified: bool | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


def check_event_matches(event: PaymentEvent, order_number: str, amount_minor: int, currency: str) -> None:
    """Raise PaymentVerificationError unless ``event`` is about this order, amount and currency.

    The service calls this with the stored order before it moves the order: a correctly signed
    notification for another amount (a bug or a tampered return flow) must not mark it paid.
    """
    if event.order_number != order_number:
        raise PaymentVerificationError(event.provider, "order_mismatch",
                                       f"event is for order {event.order_number!r}, not {order_number!r}")
    if event.currency != currency:
        raise PaymentVerificationError(event.provider, "currency_mismatch",
                                       f"order {order_number}: event currency {event.currency}, order {currency}")
    if event.amount_minor != amount_minor:
        raise PaymentVerificationError(event.provider, "amount_mismatch",
                                       f"order {order_number}: event amount {event.amount_minor}, "
                                       f"order total {amount_minor} (minor units of {currency})")


# --- money on the wire --------------------------------------------------------------------------

# ISO 4217 exponents that differ from 2; enough for the providers we speak to.
_EXPONENTS = {"JPY": 0, "KRW": 0, "TWD": 2, "HUF": 2, "VND": 0, "CLP": 0, "ISK": 0,
              "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}
_DECIMAL = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]+)?$")


def minor_digits(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def to_decimal_string(amount_minor: int, currency: str) -> str:
    """``19900, "CNY"`` -> ``"199.00"`` (PayPal ``value``, Alipay ``total_amount``). Never a float."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor < 0:
        raise ValueError(f"amount {amount_minor!r} is not a non-negative integer of minor units. "
                         "Fix: pass prices as integer minor units (fen, cents)")
    digits = minor_digits(currency)
    if digits == 0:
        return str(amount_minor)
    whole, frac = divmod(amount_minor, 10 ** digits)
    return f"{whole}.{frac:0{digits}d}"


def from_decimal_string(text: Any, currency: str) -> int:
    """``"199.00", "CNY"`` -> ``19900``. Rejects anything but a plain decimal with at most the
    currency's digits (no exponent, sign, spaces or floats), so a wire value maps to one integer."""
    if not isinstance(text, str) or not _DECIMAL.match(text):
        raise ValueError(f"{text!r} is not a plain decimal amount")
    digits = minor_digits(currency)
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes this
        raise ValueError(f"{text!r} is not a decimal amount") from None
    scaled = value.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} has more than {digits} decimals for {currency}")
    return int(scaled)


# --- addresses ----------------------------------------------------------------------------------

_SPACES = re.compile(r"[\s,.;:#\-/]+")


def _norm_text(value: Any) -> str:
    # NFKC folds full-width forms (Chinese input methods type "１２号" or "，"); casefold and
    # collapsing punctuation/space make "Room 5, Bldg 2" equal "room 5 bldg 2".
    text = unicodedata.normalize("NFKC", str(value or "")).casefold()
    return _SPACES.sub(" ", text).strip()


def normalise_address(address: Mapping[str, Any] | None) -> dict[str, str]:
    """Our address dict, normalised for comparison (not for display)."""
    address = address or {}
    out = {key: _norm_text(address.get(key)) for key in ADDRESS_FIELDS}
    out["country_code"] = out["country_code"].upper()
    out["postal_code"] = out["postal_code"].replace(" ", "")
    return out


def address_differences(ours: Mapping[str, Any], theirs: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Fields that differ after normalisation (empty tuple: the same address).

    The two street lines are compared joined, because payers and providers split them differently.
    """
    if theirs is None:
        return ("missing",)
    a, b = normalise_address(ours), normalise_address(theirs)
    diffs = [key for key in ("name", "city", "province", "postal_code", "country_code") if a[key] != b[key]]
    if _norm_text(f"{a['line1']} {a['line2']}") != _norm_text(f"{b['line1']} {b['line2']}"):
        diffs.append("street")
    return tuple(diffs)


# --- crypto -------------------------------------------------------------------------------------

def load_private_key(pem: str | bytes, what: str = "private key") -> rsa.RSAPrivateKey:
    data = pem.encode() if isinstance(pem, str) else pem
    if b"-----BEGIN" not in data:
        # Alipay's key tool hands out the bare base64 body; accept it as PKCS#8 / PKCS#1 DER.
        data = base64.b64decode(b"".join(data.split()))
        key = serialization.load_der_private_key(data, password=None)
    else:
        key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{what} is not an RSA key. Fix: use the RSA2048 key the provider issued")
    return key


def load_public_key(pem: str | bytes, what: str = "public key") -> rsa.RSAPublicKey:
    """A PEM public key, a PEM certificate, or (Alipay's download form) bare base64 SubjectPublicKeyInfo."""
    data = pem.encode() if isinstance(pem, str) else pem
    if b"-----BEGIN CERTIFICATE" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    elif b"-----BEGIN" in data:
        key = serialization.load_pem_public_key(data)
    else:
        key = serialization.load_der_public_key(base64.b64decode(b"".join(data.split())))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{what} is not an RSA key. Fix: use the RSA public key the provider shows")
    return key


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    pub = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA, PKCS#1 v1.5, base64 (Alipay RSA2, WeChat v3, PayPal webhooks)."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


# --- HTTP ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    """Lower-cased header names."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


Transport = Callable[[str, str, Mapping[str, str], bytes | None, float], HttpResponse]


def urllib_transport(method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                     timeout: float) -> HttpResponse:
    """One HTTP exchange; an error status is an answer, not an exception (the caller reads it)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"refusing non-HTTP URL {url!r}")
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            return HttpResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return HttpResponse(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


def lower_headers(headers: Mapping[str, str] | Any) -> dict[str, str]:
    """Header lookup without caring how the WSGI server or framework spelled the names."""
    items = headers.items() if hasattr(headers, "items") else headers
    return {str(k).lower().replace("_", "-"): str(v) for k, v in items}


def call(transport: Transport, provider: str, operation: str, method: str, url: str,
         headers: Mapping[str, str], body: bytes | None, timeout: float) -> HttpResponse:
    try:
        return transport(method, url, headers, body, timeout)
    except (OSError, ValueError) as err:  # URLError, timeouts and refused connections are OSErrors
        raise ProviderError(provider, operation, None, "unreachable",
                            f"{url}: {err}. Fix: check the provider base URL and the network") from None
