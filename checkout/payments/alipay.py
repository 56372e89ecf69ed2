"""Alipay adapter (open platform, RSA2): page pay for PC, wap pay for mobile, notification and
return verification, trade.query, trade.close and trade.refund.

Stage: runtime of the checkout service. Talks HTTP with the standard library only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit

from .common import (Acknowledgement, PaymentEvent, PaymentRequest, PaymentStart, PaymentStatus,
                     PaymentVerificationError, ProviderError, RefundRequest, RefundResult, Transport, call,
                     from_decimal_string, load_private_key, load_public_key, rsa_sign, rsa_verify,
                     to_decimal_string, urllib_transport)

PROVIDER = "alipay"
LIVE_GATEWAY = "https://openapi.alipay.com/gateway.do"
BEIJING = timezone(timedelta(hours=8))  # Alipay's timestamps are Beijing time (no DST)


@dataclass(frozen=True)
class AlipayConfig:
    app_id: str
    app_private_key: str
    """PEM (or Alipay's bare base64) of our application private key."""
    alipay_public_key: str
    """Alipay's public key for our app (not ours): verifies notifications and answers."""
    gateway_url: str = LIVE_GATEWAY
    seller_id: str | None = None
    """Our Alipay PID (2088...); when set, notifications for another seller are rejected."""
    timeout: float = 15.0


def signing_string(params: Mapping[str, str], exclude: tuple[str, ...] = ("sign",)) -> str:
    """Sorted ``k=v`` pairs joined by ``&``, raw values, empty values and ``exclude`` dropped."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in exclude and params[k] not in ("", None))


def extract_signed_response(text: str, key: str) -> tuple[dict[str, Any], str, str | None]:
    """From an API answer ``{"<method>_response": {...}, "sign": "..."}`` return the response object,
    its exact source text (which is what Alipay signed) and the signature."""
    decoder = json.JSONDecoder()
    data = json.loads(text)
    marker = f'"{key}"'
    pos = text.find(marker)
    if pos < 0 or key not in data:
        raise ValueError(f"answer has no {key}")
    pos = text.index(":", pos + len(marker)) + 1
    while text[pos] in " \t\r\n":
        pos += 1
    _, end = decoder.raw_decode(text, pos)
    return data[key], text[pos:end], data.get("sign")


class AlipayAdapter:
    provider = PROVIDER

    def __init__(self, config: AlipayConfig, transport: Transport = urllib_transport, clock=time.time):
        self.config = config
        self._key = load_private_key(config.app_private_key, "CHECKOUT_ALIPAY_PRIVATE_KEY_FILE")
        self._alipay_key = load_public_key(config.alipay_public_key, "CHECKOUT_ALIPAY_PUBLIC_KEY_FILE")
        self._transport = transport
        self._clock = clock

    def _now(self) -> str:
        return datetime.fromtimestamp(self._clock(), BEIJING).strftime("%Y-%m-%d %H:%M:%S")

    def signed_params(self, method: str, biz: Mapping[str, Any], **extra: str) -> dict[str, str]:
        params = {"app_id": self.config.app_id, "method": method, "format": "JSON", "charset": "utf-8",
                  "sign_type": "RSA2", "timestamp": self._now(), "version": "1.0",
                  "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")), **extra}
        params = {k: v for k, v in params.items() if v not in ("", None)}
        params["sign"] = rsa_sign(self._key, signing_string(params).encode("utf-8"))
        return params

    def start(self, req: PaymentRequest) -> PaymentStart:
        if req.currency != "CNY":
            raise ProviderError(PROVIDER, "start", None, "currency",
                                f"order {req.order_number}: Alipay page/wap pay takes CNY, not {req.currency}. "
                                "Fix: offer Alipay only for CNY orders")
        if not 0 < len(req.order_number) <= 64:
            raise ProviderError(PROVIDER, "start", None, "out_trade_no", "order number must be 1-64 characters")
        if urlsplit(req.return_url).query:
            # Alipay appends its signed parameters to return_url; ours would be mixed into the
            # signed set and break verify_return.
            raise ProviderError(PROVIDER, "start", None, "return_url",
                                f"return_url {req.return_url!r} has a query. Fix: use a plain path such as "
                                "/pay/alipay/return; out_trade_no comes back signed")
        mobile = req.client == "mobile"
        # No address or name goes to Alipay: the privacy policy promises to share only what the
        # partner needs, and Alipay needs the amount and a subject.
        biz = {"out_trade_no": req.order_number, "total_amount": to_decimal_string(req.amount_minor, "CNY"),
               "subject": req.subject[:256],
               "product_code": "QUICK_WAP_WAY" if mobile else "FAST_INSTANT_TRADE_PAY",
               "time_expire": req.expires_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")}
        if mobile:
            biz["quit_url"] = req.cancel_url
        method = "alipay.trade.wap.pay" if mobile else "alipay.trade.page.pay"
        params = self.signed_params(method, biz, notify_url=req.notify_url, return_url=req.return_url)
        return PaymentStart(PROVIDER, req.order_number, redirect_url=f"{self.config.gateway_url}?{urlencode(params)}")

    # -- API calls

    def _api(self, method: str, biz: Mapping[str, Any]) -> dict[str, Any]:
        params = self.signed_params(method, biz)
        resp = call(self._transport, PROVIDER, method, "POST", self.config.gateway_url,
                    {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
                    urlencode(params).encode("utf-8"), self.config.timeout)
        key = method.replace(".", "_") + "_response"
        try:
            text = resp.body.decode("utf-8")
            data, signed_text, sign = extract_signed_response(text, key)
        except (ValueError, UnicodeDecodeError, IndexError) as err:
            raise ProviderError(PROVIDER, method, resp.status, "malformed", f"unreadable answer: {err}") from None
        if sign is not None or data.get("code") == "10000":
            # Successful answers are always signed; an unsigned success is not to be trusted.
            if not sign or not rsa_verify(self._alipay_key, signed_text.encode("utf-8"), sign):
                raise PaymentVerificationError(PROVIDER, "bad_signature", f"{method} answer signature does not verify")
        if data.get("code") != "10000":
            raise ProviderError(PROVIDER, method, resp.status, data.get("sub_code") or data.get("code", "?"),
                                data.get("sub_msg") or data.get("msg", ""))
        return data

    def query(self, order_number: str) -> PaymentStatus:
        try:
            data = self._api("alipay.trade.query", {"out_trade_no": order_number})
        except ProviderError as err:
            if err.provider_code == "ACQ.TRADE_NOT_EXIST":  # the shopper never reached the cashier
                return PaymentStatus(PROVIDER, order_number, "unknown", None, None, None)
            raise
        kind = {"TRADE_SUCCESS": "paid", "TRADE_FINISHED": "paid", "WAIT_BUYER_PAY": "pending",
                "TRADE_CLOSED": "closed"}.get(data.get("trade_status"), "unknown")
        return PaymentStatus(PROVIDER, order_number, kind, from_decimal_string(data["total_amount"], "CNY"), "CNY",
                             data.get("trade_no"), data.get("trade_no"), raw=data)

    def close(self, order_number: str) -> None:
        """Close the trade so a late payment cannot land after we release the stock."""
        try:
            self._api("alipay.trade.close", {"out_trade_no": order_number})
        except ProviderError as err:
            if err.provider_code != "ACQ.TRADE_NOT_EXIST":  # never opened at Alipay: nothing to close
                raise

    def refund(self, req: RefundRequest) -> RefundResult:
        biz = {"out_trade_no": req.order_number, "refund_amount": to_decimal_string(req.amount_minor, "CNY"),
               "out_request_no": req.refund_key}
        if req.reason:
            biz["refund_reason"] = req.reason[:256]
        data = self._api("alipay.trade.refund", biz)
        return RefundResult(PROVIDER, req.refund_key, data.get("trade_no", ""), "completed", req.amount_minor, "CNY", data)

    # -- notifications and returns

    def _verify_params(self, params: Mapping[str, str], what: str) -> None:
        sign = params.get("sign")
        if not sign:
            raise PaymentVerificationError(PROVIDER, "missing_header", f"{what} has no sign")
        if params.get("sign_type", "RSA2") != "RSA2":
            raise PaymentVerificationError(PROVIDER, "bad_signature", f"{what} sign_type {params.get('sign_type')}")
        message = signing_string(params, exclude=("sign", "sign_type")).encode("utf-8")
        if not rsa_verify(self._alipay_key, message, sign):
            raise PaymentVerificationError(PROVIDER, "bad_signature", f"{what} signature does not verify")
        if params.get("app_id") != self.config.app_id:
            raise PaymentVerificationError(PROVIDER, "merchant_mismatch",
                                           f"app_id {params.get('app_id')!r} is not ours ({self.config.app_id})")
        if self.config.seller_id and params.get("seller_id") and params["seller_id"] != self.config.seller_id:
            raise PaymentVerificationError(PROVIDER, "merchant_mismatch",
                                           f"seller_id {params['seller_id']!r} is not ours ({self.config.seller_id})")

    def verify_notification(self, body: bytes, headers: Mapping[str, str] | None = None) -> PaymentEvent:
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise PaymentVerificationError(PROVIDER, "malformed", "body is not a UTF-8 form") from None
        params = dict(pairs)
        if len(params) != len(pairs):
            raise PaymentVerificationError(PROVIDER, "malformed", "repeated form field")
        self._verify_params(params, "notification")
        try:
            amount = from_decimal_string(params["total_amount"], "CNY")
            status, trade_no, order_number = params["trade_status"], params["trade_no"], params["out_trade_no"]
        except (KeyError, ValueError) as err:
            raise PaymentVerificationError(PROVIDER, "malformed", f"notification field {err}") from None
        refund_key = params.get("out_biz_no") if params.get("refund_fee") or params.get("gmt_refund") else None
        if refund_key:
            kind, event_id = "refunded", f"{trade_no}:REFUND:{refund_key}"
        else:
            kind = {"TRADE_SUCCESS": "paid", "TRADE_FINISHED": "paid", "WAIT_BUYER_PAY": "pending",
                    "TRADE_CLOSED": "closed"}.get(status)
            if kind is None:
                raise PaymentVerificationError(PROVIDER, "malformed", f"unknown trade_status {status!r}")
            # Alipay retries with the same content; trade and status identify the state change, so
            # TRADE_FINISHED after TRADE_SUCCESS is a new event but a retry is not.
            event_id = f"{trade_no}:{status}"
        return PaymentEvent(PROVIDER, event_id, kind, order_number, amount, "CNY", params.get("seller_id"),
                            trade_no, transaction_id=trade_no, refund_key=refund_key, raw=params)

    def verify_return(self, query: Mapping[str, str]) -> str:
        """The order number of a signed return redirect. Display only: it is not proof of payment."""
        self._verify_params(dict(query), "return")
        return query["out_trade_no"]

    def acknowledge(self, ok: bool, message: str = "") -> Acknowledgement:
        """Alipay wants the bare text ``success``; anything else makes it retry."""
        return Acknowledgement(200, "text/plain; charset=utf-8", b"success" if ok else b"failure")
