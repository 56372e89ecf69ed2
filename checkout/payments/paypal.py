"""PayPal Orders v2 adapter: create an order, send the shopper to PayPal, capture on return, verify
webhooks locally (certificate + CRC32 message), query, refund; and the umegou address rule.

Stage: runtime of the checkout service. Talks HTTP with the standard library only.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import urlsplit

from cryptography import x509

from .common import (Acknowledgement, HttpResponse, PaymentEvent, PaymentRequest,
                     PaymentStart, PaymentStatus, PaymentVerificationError, ProviderError, RefundRequest,
                     RefundResult, Transport, address_differences, call, from_decimal_string,
                     lower_headers, rsa_verify, to_decimal_string, urllib_transport)

PROVIDER = "paypal"
LIVE_API = "https://api-m.paypal.com"
# Hosts PayPal serves webhook signing certificates from (?): keep configurable.
LIVE_CERT_ORIGINS = ("https://api.paypal.com", "https://api-m.paypal.com")


@dataclass(frozen=True)
class PayPalConfig:
    client_id: str
    client_secret: str
    webhook_id: str
    """The id PayPal gave the webhook registered for ``/pay/paypal/notify``; part of the signed message."""
    api_url: str = LIVE_API
    cert_origins: tuple[str, ...] = LIVE_CERT_ORIGINS
    """``scheme://host[:port]`` allowed for ``PAYPAL-CERT-URL``; anything else is rejected unfetched."""
    merchant_id: str | None = None
    """Our PayPal merchant id (payer id of the shop account); checked against the payee when set."""
    max_transmission_age: int = 600
    """Seconds a webhook transmission time may be away from our clock."""
    locale: str = "zh-CN"
    brand_name: str | None = None
    timeout: float = 15.0


def paypal_hold_reasons(event: PaymentEvent | PaymentStatus, our_address: Mapping[str, str]) -> tuple[str, ...]:
    """Why an order paid with PayPal must go on hold instead of shipping (empty: ship it).

    umegou's privacy policy: the address in PayPal must equal the shipping address, otherwise the
    order is not shipped. An unverified PayPal account is held for the same reason (fraud risk).
    """
    reasons = []
    diffs = address_differences(our_address, event.payer_address)
    if diffs:
        reasons.append("address_mismatch:" + ",".join(diffs))
    if event.payer_verified is not True:
        reasons.append("payer_unverified" if event.payer_verified is False else "payer_status_unknown")
    return tuple(reasons)


def _to_paypal_address(address: Mapping[str, str]) -> dict[str, Any]:
    out = {"address_line_1": address.get("line1", ""), "address_line_2": address.get("line2", ""),
           "admin_area_2": address.get("city", ""), "admin_area_1": address.get("province", ""),
           "postal_code": address.get("postal_code", ""), "country_code": address.get("country_code", "")}
    return {k: v for k, v in out.items() if v}


def _from_paypal_shipping(shipping: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not shipping or "address" not in shipping:
        return None
    a = shipping["address"]
    return {"name": (shipping.get("name") or {}).get("full_name", ""),
            "line1": a.get("address_line_1", ""), "line2": a.get("address_line_2", ""),
            "city": a.get("admin_area_2", ""), "province": a.get("admin_area_1", ""),
            "postal_code": a.get("postal_code", ""), "country_code": a.get("country_code", "")}


def _payer_verified(order: Mapping[str, Any]) -> bool | None:
    status = (((order.get("payment_source") or {}).get("paypal") or {}).get("account_status"))
    return None if status is None else status == "VERIFIED"


_CAPTURE_KIND = {"COMPLETED": "paid", "PENDING": "pending", "DECLINED": "failed", "FAILED": "failed",
                 "REFUNDED": "refunded", "PARTIALLY_REFUNDED": "paid"}


class PayPalAdapter:
    provider = PROVIDER

    def __init__(self, config: PayPalConfig, transport: Transport = urllib_transport,
                 clock=time.time):
        self.config = config
        self._transport = transport
        self._clock = clock
        self._token: tuple[str, float] | None = None
        self._certs: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- API plumbing

    def _access_token(self) -> str:
        with self._lock:
            if self._token and self._token[1] > self._clock() + 60:
                return self._token[0]
        basic = base64.b64encode(f"{self.config.client_id}:{self.config.client_secret}".encode()).decode()
        resp = call(self._transport, PROVIDER, "oauth2/token", "POST", self.config.api_url + "/v1/oauth2/token",
                    {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json"}, b"grant_type=client_credentials", self.config.timeout)
        data = self._answer(resp, "oauth2/token")
        token = data.get("access_token")
        if not token:
            raise ProviderError(PROVIDER, "oauth2/token", resp.status, "no_token", "answer has no access_token")
        with self._lock:
            self._token = (token, self._clock() + int(data.get("expires_in", 300)))
        return token

    def _answer(self, resp: HttpResponse, operation: str) -> dict[str, Any]:
        try:
            data = resp.json() if resp.body else {}
        except ValueError:
            data = {}
        if 200 <= resp.status < 300:
            return data
        if resp.status == 401 and operation != "oauth2/token":
            self._token = None  # expired or revoked: the next call fetches a new one
        code = data.get("name") or data.get("error") or "error"
        issues = ", ".join(d.get("issue", "") for d in data.get("details") or [] if isinstance(d, dict))
        detail = data.get("message") or data.get("error_description") or resp.body[:200].decode("utf-8", "replace")
        if issues:
            detail = f"{detail} [{issues}]"
        raise ProviderError(PROVIDER, operation, resp.status, code, detail)

    def _api(self, operation: str, method: str, path: str, body: Any = None,
             request_id: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._access_token()}", "Accept": "application/json",
                   "Content-Type": "application/json", "Prefer": "return=representation"}
        if request_id:
            headers["PayPal-Request-Id"] = request_id
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        resp = call(self._transport, PROVIDER, operation, method, self.config.api_url + path, headers, data,
                    self.config.timeout)
        return self._answer(resp, operation)

    # -- operations

    def start(self, req: PaymentRequest) -> PaymentStart:
        unit = {"reference_id": req.order_number, "custom_id": req.order_number, "invoice_id": req.order_number,
                "description": req.subject[:127],
                "amount": {"currency_code": req.currency, "value": to_decimal_string(req.amount_minor, req.currency)},
                "shipping": {"name": {"full_name": req.shipping_address.get("name", "")},
                             "address": _to_paypal_address(req.shipping_address)}}
        context = {"return_url": req.return_url, "cancel_url": req.cancel_url,
                   "shipping_preference": "SET_PROVIDED_ADDRESS", "user_action": "PAY_NOW",
                   "locale": self.config.locale}
        if self.config.brand_name:
            context["brand_name"] = self.config.brand_name
        body = {"intent": "CAPTURE", "purchase_units": [unit],
                "payment_source": {"paypal": {"experience_context": context}}}
        # One request id per order: a retried create (timeout, double click) returns the same order.
        order = self._api("create order", "POST", "/v2/checkout/orders", body, request_id=f"create-{req.order_number}")
        link = next((l["href"] for l in order.get("links", []) if l.get("rel") in ("payer-action", "approve")), None)
        if not link or not order.get("id"):
            raise ProviderError(PROVIDER, "create order", 200, "no_payer_action",
                                f"order {req.order_number}: answer has no payer-action link")
        return PaymentStart(PROVIDER, order["id"], redirect_url=link)

    def capture(self, paypal_order_id: str) -> PaymentEvent:
        """Capture after the shopper returns (``?token=<paypal order id>``). The request id is derived
        from the PayPal order, so a retried or repeated return never captures twice."""
        if not paypal_order_id or "/" in paypal_order_id:
            raise ProviderError(PROVIDER, "capture", None, "bad_token", f"bad PayPal order id {paypal_order_id!r}")
        try:
            order = self._api("capture", "POST", f"/v2/checkout/orders/{paypal_order_id}/capture", {},
                              request_id=f"capture-{paypal_order_id}")
        except ProviderError as err:
            if "ORDER_ALREADY_CAPTURED" not in err.detail:
                raise
            order = self._api("get order", "GET", f"/v2/checkout/orders/{paypal_order_id}")
        return self._order_event(order)

    def _order_event(self, order: Mapping[str, Any]) -> PaymentEvent:
        try:
            unit = order["purchase_units"][0]
            capture = unit["payments"]["captures"][0]
            currency = capture["amount"]["currency_code"]
            amount = from_decimal_string(capture["amount"]["value"], currency)
            order_number = capture.get("custom_id") or unit.get("custom_id") or unit["reference_id"]
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise ProviderError(PROVIDER, "capture", 200, "malformed", f"capture answer lacks {err}") from None
        merchant = (capture.get("payee") or unit.get("payee") or {}).get("merchant_id")
        self._check_merchant(merchant)
        return PaymentEvent(PROVIDER, f"CAPTURE-{capture['id']}-{capture['status']}",
                            _CAPTURE_KIND.get(capture["status"], "pending"), order_number, amount, currency,
                            merchant, order["id"], transaction_id=capture["id"],
                            payer_address=_from_paypal_shipping(unit.get("shipping")),
                            payer_verified=_payer_verified(order), raw=order)

    def _check_merchant(self, merchant: str | None) -> None:
        if self.config.merchant_id and merchant and merchant != self.config.merchant_id:
            raise PaymentVerificationError(PROVIDER, "merchant_mismatch",
                                           f"payee {merchant} is not our merchant id {self.config.merchant_id}")

    def query(self, paypal_order_id: str) -> PaymentStatus:
        order = self._api("get order", "GET", f"/v2/checkout/orders/{paypal_order_id}")
        unit = (order.get("purchase_units") or [{}])[0]
        captures = (unit.get("payments") or {}).get("captures") or []
        amount = unit.get("amount") or (captures[0]["amount"] if captures else {})
        currency = amount.get("currency_code")
        kind = {"COMPLETED": "paid", "APPROVED": "approved", "VOIDED": "closed"}.get(order.get("status"), "pending")
        if captures:
            kind = _CAPTURE_KIND.get(captures[0].get("status"), "pending")
        return PaymentStatus(PROVIDER, unit.get("custom_id") or unit.get("reference_id", ""), kind,
                             from_decimal_string(amount["value"], currency) if currency else None, currency,
                             order.get("id"), captures[0]["id"] if captures else None,
                             _from_paypal_shipping(unit.get("shipping")), _payer_verified(order), order)

    def close(self, paypal_order_id: str) -> None:
        """Orders v2 has no close: an uncaptured order simply expires at PayPal (3 hours after
        approval, ?). Nothing to do, but the method exists so the service can treat providers alike."""

    def refund(self, req: RefundRequest) -> RefundResult:
        body = {"amount": {"currency_code": req.currency, "value": to_decimal_string(req.amount_minor, req.currency)},
                "invoice_id": req.order_number}
        if req.reason:
            body["note_to_payer"] = req.reason[:255]
        data = self._api("refund", "POST", f"/v2/payments/captures/{req.transaction_id}/refund", body,
                         request_id=f"refund-{req.refund_key}")
        status = {"COMPLETED": "completed", "PENDING": "pending"}.get(data.get("status"), "failed")
        return RefundResult(PROVIDER, req.refund_key, data.get("id", ""), status, req.amount_minor, req.currency, data)

    # -- webhooks

    def verify_notification(self, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        h = lower_headers(headers)
        needed = ("paypal-transmission-id", "paypal-transmission-time", "paypal-transmission-sig",
                  "paypal-cert-url", "paypal-auth-algo")
        missing = [name for name in needed if not h.get(name)]
        if missing:
            raise PaymentVerificationError(PROVIDER, "missing_header", "missing " + ", ".join(missing))
        if h["paypal-auth-algo"] != "SHA256withRSA":
            raise PaymentVerificationError(PROVIDER, "bad_signature", f"unsupported algorithm {h['paypal-auth-algo']}")
        try:
            sent = datetime.fromisoformat(h["paypal-transmission-time"].replace("Z", "+00:00"))
            if sent.tzinfo is None:
                sent = sent.replace(tzinfo=timezone.utc)
        except ValueError:
            raise PaymentVerificationError(PROVIDER, "malformed", "unreadable PAYPAL-TRANSMISSION-TIME") from None
        age = self._clock() - sent.timestamp()
        if abs(age) > self.config.max_transmission_age:
            raise PaymentVerificationError(PROVIDER, "stale", f"transmission time {h['paypal-transmission-time']} is "
                                           f"{int(age)} s from now (limit {self.config.max_transmission_age} s)")
        key = self._certificate_key(h["paypal-cert-url"])
        message = "|".join((h["paypal-transmission-id"], h["paypal-transmission-time"], self.config.webhook_id,
                            str(zlib.crc32(body) & 0xFFFFFFFF)))
        if not rsa_verify(key, message.encode(), h["paypal-transmission-sig"]):
            raise PaymentVerificationError(PROVIDER, "bad_signature",
                                           "PAYPAL-TRANSMISSION-SIG does not match the body, time and webhook id")
        try:
            envelope = json.loads(body.decode("utf-8"))
            return self._webhook_event(envelope)
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise PaymentVerificationError(PROVIDER, "malformed", f"webhook body: {err}") from None

    def _certificate_key(self, url: str):
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        if origin not in {o.lower().rstrip("/") for o in self.config.cert_origins} or parts.username or parts.password:
            raise PaymentVerificationError(PROVIDER, "untrusted_certificate",
                                           f"certificate URL host {parts.netloc!r} is not allow-listed")
        with self._lock:
            cert = self._certs.get(url)
        if cert is None:
            resp = call(self._transport, PROVIDER, "fetch certificate", "GET", url, {}, None, self.config.timeout)
            try:
                if resp.status != 200:
                    raise ValueError(f"HTTP {resp.status}")
                cert = x509.load_pem_x509_certificate(resp.body)
            except ValueError as err:
                raise PaymentVerificationError(PROVIDER, "untrusted_certificate",
                                               f"certificate at {url} unusable: {err}") from None
            with self._lock:
                if len(self._certs) > 32:  # certificates rotate rarely; keep the cache bounded
                    self._certs.clear()
                self._certs[url] = cert
        now = self._clock()
        if not (cert.not_valid_before_utc.timestamp() <= now <= cert.not_valid_after_utc.timestamp()):
            raise PaymentVerificationError(PROVIDER, "untrusted_certificate", f"certificate at {url} is expired")
        return cert.public_key()

    def _webhook_event(self, env: Mapping[str, Any]) -> PaymentEvent:
        etype, res = env["event_type"], env["resource"]
        if etype == "CHECKOUT.ORDER.APPROVED" or etype == "CHECKOUT.ORDER.COMPLETED":
            unit = res["purchase_units"][0]
            currency = unit["amount"]["currency_code"]
            merchant = (unit.get("payee") or {}).get("merchant_id")
            self._check_merchant(merchant)
            return PaymentEvent(PROVIDER, env["id"], "approved" if etype.endswith("APPROVED") else "paid",
                                unit.get("custom_id") or unit["reference_id"],
                                from_decimal_string(unit["amount"]["value"], currency), currency, merchant, res["id"],
                                payer_address=_from_paypal_shipping(unit.get("shipping")),
                                payer_verified=_payer_verified(res), raw=env)
        kinds = {"PAYMENT.CAPTURE.COMPLETED": "paid", "PAYMENT.CAPTURE.PENDING": "pending",
                 "PAYMENT.CAPTURE.DENIED": "failed", "PAYMENT.CAPTURE.DECLINED": "failed",
                 "PAYMENT.CAPTURE.REFUNDED": "refunded", "PAYMENT.CAPTURE.REVERSED": "refunded"}
        if etype not in kinds:
            raise PaymentVerificationError(PROVIDER, "malformed", f"unhandled event type {etype}")
        currency = res["amount"]["currency_code"]
        merchant = (res.get("payee") or {}).get("merchant_id")
        self._check_merchant(merchant)
        related = (res.get("supplementary_data") or {}).get("related_ids") or {}
        capture_id = related.get("capture_id") or res["id"] if kinds[etype] == "refunded" else res["id"]
        return PaymentEvent(PROVIDER, env["id"], kinds[etype], res["custom_id"],
                            from_decimal_string(res["amount"]["value"], currency), currency, merchant,
                            related.get("order_id", ""), transaction_id=capture_id,
                            refund_key=None, raw=env)

    def acknowledge(self, ok: bool, message: str = "") -> Acknowledgement:
        """2xx stops PayPal's retries; anything else makes it retry (so only a verification failure
        or our own outage should answer an error)."""
        if ok:
            return Acknowledgement(200, "application/json", b"{}")
        return Acknowledgement(400, "application/json", json.dumps({"error": message or "rejected"}).encode())
