"""WeChat Pay API v3 adapter: Native (QR) for PC and H5 for mobile browsers, signed requests and
verified answers, notification verification and AES-256-GCM decryption, query, close, refund.

Stage: runtime of the checkout service. Talks HTTP with the standard library only.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .common import (Acknowledgement, HttpResponse, PaymentEvent, PaymentRequest, PaymentStart, PaymentStatus,
                     PaymentVerificationError, ProviderError, RefundRequest, RefundResult, Transport, call,
                     load_private_key, load_public_key, lower_headers, rsa_sign, rsa_verify, urllib_transport)

PROVIDER = "wechat"
LIVE_API = "https://api.mch.weixin.qq.com"
_OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")


@dataclass(frozen=True)
class WeChatConfig:
    mchid: str
    appid: str
    merchant_private_key: str
    """PEM of the merchant API certificate's private key (apiclient_key.pem)."""
    merchant_serial_no: str
    """Serial number of that merchant API certificate."""
    apiv3_key: str
    """The 32-character APIv3 key set in the merchant platform; decrypts notifications."""
    platform_public_keys: Mapping[str, str] = field(default_factory=dict)
    """WeChat Pay platform certificate serial (or public key id) -> PEM; verifies what WeChat sends."""
    api_url: str = LIVE_API
    timestamp_window: int = 300
    h5_app_name: str = "umegou"
    h5_app_url: str = ""
    timeout: float = 15.0


def authorization_header(key, mchid: str, serial_no: str, method: str, path_query: str, body: str,
                         timestamp: int | None = None, nonce: str | None = None) -> str:
    """The ``Authorization`` value of a v3 request (shared with the sandbox tests)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    signature = rsa_sign(key, f"{method}\n{path_query}\n{ts}\n{nonce}\n{body}\n".encode("utf-8"))
    return (f'WECHATPAY2-SHA256-RSA2048 mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{ts}",serial_no="{serial_no}"')


def decrypt_resource(apiv3_key: str, resource: Mapping[str, Any]) -> bytes:
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise ValueError(f"algorithm {resource.get('algorithm')!r}")
    aes = AESGCM(apiv3_key.encode("utf-8"))
    return aes.decrypt(resource["nonce"].encode("utf-8"), base64.b64decode(resource["ciphertext"]),
                       (resource.get("associated_data") or "").encode("utf-8"))


def rfc3339(dt) -> str:
    return dt.isoformat(timespec="seconds")


class WeChatAdapter:
    provider = PROVIDER

    def __init__(self, config: WeChatConfig, transport: Transport = urllib_transport, clock=time.time):
        if len(config.apiv3_key.encode("utf-8")) != 32:
            raise ValueError("CHECKOUT_WECHAT_APIV3_KEY must be exactly 32 bytes. Fix: copy the APIv3 key "
                             "from the merchant platform (API security)")
        self.config = config
        self._key = load_private_key(config.merchant_private_key, "CHECKOUT_WECHAT_PRIVATE_KEY_FILE")
        self._platform = {serial: load_public_key(pem, f"WeChat platform key {serial}")
                          for serial, pem in config.platform_public_keys.items()}
        self._transport = transport
        self._clock = clock

    # -- signatures

    def _check_signed(self, headers: Mapping[str, str], body: bytes, what: str) -> None:
        h = lower_headers(headers)
        missing = [n for n in ("wechatpay-timestamp", "wechatpay-nonce", "wechatpay-signature", "wechatpay-serial")
                   if not h.get(n)]
        if missing:
            raise PaymentVerificationError(PROVIDER, "missing_header", f"{what}: missing " + ", ".join(missing))
        key = self._platform.get(h["wechatpay-serial"])
        if key is None:
            raise PaymentVerificationError(PROVIDER, "unknown_serial",
                                           f"{what}: platform key {h['wechatpay-serial']} is not configured. Fix: add "
                                           "it to CHECKOUT_WECHAT_PLATFORM_KEYS (keys rotate)")
        try:
            ts = int(h["wechatpay-timestamp"])
        except ValueError:
            raise PaymentVerificationError(PROVIDER, "malformed", f"{what}: bad Wechatpay-Timestamp") from None
        # Checked before the signature so that a captured message cannot be replayed later.
        if abs(self._clock() - ts) > self.config.timestamp_window:
            raise PaymentVerificationError(PROVIDER, "stale", f"{what}: timestamp {ts} is more than "
                                           f"{self.config.timestamp_window} s from now")
        message = f"{h['wechatpay-timestamp']}\n{h['wechatpay-nonce']}\n".encode() + body + b"\n"
        if not rsa_verify(key, message, h["wechatpay-signature"]):
            raise PaymentVerificationError(PROVIDER, "bad_signature", f"{what}: Wechatpay-Signature does not verify")

    def _api(self, operation: str, method: str, path_query: str, body: Any = None) -> dict[str, Any]:
        text = "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        url = self.config.api_url.rstrip("/") + path_query
        signed_path = urlsplit(url).path + (("?" + urlsplit(url).query) if urlsplit(url).query else "")
        headers = {"Authorization": authorization_header(self._key, self.config.mchid, self.config.merchant_serial_no,
                                                         method, signed_path, text),
                   "Accept": "application/json", "Content-Type": "application/json", "User-Agent": "storefront-checkout"}
        resp: HttpResponse = call(self._transport, PROVIDER, operation, method, url, headers,
                                  text.encode("utf-8") if body is not None else None, self.config.timeout)
        if not 200 <= resp.status < 300:
            try:
                err = resp.json()
            except ValueError:
                err = {}
            raise ProviderError(PROVIDER, operation, resp.status, err.get("code", "error"),
                                err.get("message", resp.body[:200].decode("utf-8", "replace")))
        if resp.body or "wechatpay-signature" in resp.headers:
            self._check_signed(resp.headers, resp.body, f"{operation} answer")
        return resp.json() if resp.body else {}

    # -- operations

    def start(self, req: PaymentRequest) -> PaymentStart:
        if req.currency != "CNY":
            raise ProviderError(PROVIDER, "start", None, "currency",
                                f"order {req.order_number}: WeChat Pay takes CNY, not {req.currency}. "
                                "Fix: offer WeChat Pay only for CNY orders")
        if not _OUT_TRADE_NO.match(req.order_number):
            raise ProviderError(PROVIDER, "start", None, "out_trade_no",
                                f"order number {req.order_number!r} must be 6-32 letters, digits, _-|*")
        if urlsplit(req.notify_url).query:
            raise ProviderError(PROVIDER, "start", None, "notify_url",
                                "notify_url must not carry a query. Fix: route /pay/wechat/notify without parameters")
        body: dict[str, Any] = {"appid": self.config.appid, "mchid": self.config.mchid,
                                "description": req.subject[:127], "out_trade_no": req.order_number,
                                "time_expire": rfc3339(req.expires_at), "notify_url": req.notify_url,
                                "amount": {"total": req.amount_minor, "currency": "CNY"}}
        if req.client == "mobile":
            h5: dict[str, str] = {"type": "Wap", "app_name": self.config.h5_app_name}
            if self.config.h5_app_url:
                h5["app_url"] = self.config.h5_app_url
            body["scene_info"] = {"payer_client_ip": req.client_ip, "h5_info": h5}
            data = self._api("create h5", "POST", "/v3/pay/transactions/h5", body)
            if not data.get("h5_url"):
                raise ProviderError(PROVIDER, "create h5", 200, "malformed", "answer has no h5_url")
            # WeChat sends the browser back to redirect_url after the cashier (H5 only).
            return PaymentStart(PROVIDER, req.order_number,
                                h5_url=f"{data['h5_url']}&redirect_url={quote(req.return_url, safe='')}")
        data = self._api("create native", "POST", "/v3/pay/transactions/native", body)
        if not str(data.get("code_url", "")).startswith("weixin://"):
            raise ProviderError(PROVIDER, "create native", 200, "malformed", "answer has no weixin:// code_url")
        return PaymentStart(PROVIDER, req.order_number, qr_code_url=data["code_url"])

    def query(self, order_number: str) -> PaymentStatus:
        try:
            data = self._api("query", "GET", f"/v3/pay/transactions/out-trade-no/{quote(order_number)}"
                                             f"?mchid={quote(self.config.mchid)}")
        except ProviderError as err:
            if err.provider_code == "ORDER_NOT_EXIST":
                return PaymentStatus(PROVIDER, order_number, "unknown", None, None, None)
            raise
        kind = {"SUCCESS": "paid", "REFUND": "refunded", "NOTPAY": "pending", "USERPAYING": "pending",
                "CLOSED": "closed", "REVOKED": "closed", "PAYERROR": "failed"}.get(data.get("trade_state"), "unknown")
        amount = data.get("amount") or {}
        return PaymentStatus(PROVIDER, order_number, kind, amount.get("total"), amount.get("currency"),
                             data.get("transaction_id"), data.get("transaction_id"), raw=data)

    def close(self, order_number: str) -> None:
        """Close before releasing stock: a closed order can no longer be paid."""
        self._api("close", "POST", f"/v3/pay/transactions/out-trade-no/{quote(order_number)}/close",
                  {"mchid": self.config.mchid})

    def refund(self, req: RefundRequest) -> RefundResult:
        body: dict[str, Any] = {"out_trade_no": req.order_number, "out_refund_no": req.refund_key,
                                "amount": {"refund": req.amount_minor, "total": req.total_minor, "currency": "CNY"}}
        if req.transaction_id:
            body["transaction_id"] = req.transaction_id
            del body["out_trade_no"]
        if req.reason:
            body["reason"] = req.reason[:80]
        if req.notify_url:
            body["notify_url"] = req.notify_url
        data = self._api("refund", "POST", "/v3/refund/domestic/refunds", body)
        status = {"SUCCESS": "completed", "PROCESSING": "pending"}.get(data.get("status"), "failed")
        return RefundResult(PROVIDER, req.refund_key, data.get("refund_id", ""), status, req.amount_minor, "CNY", data)

    # -- notifications

    def verify_notification(self, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        self._check_signed(headers, body, "notification")
        try:
            env = json.loads(body.decode("utf-8"))
            plain = json.loads(decrypt_resource(self.config.apiv3_key, env["resource"]))
        except InvalidTag:
            raise PaymentVerificationError(PROVIDER, "decrypt_failed", "resource does not decrypt with our APIv3 key. "
                                           "Fix: check CHECKOUT_WECHAT_APIV3_KEY") from None
        except (ValueError, KeyError, TypeError) as err:
            raise PaymentVerificationError(PROVIDER, "malformed", f"notification body: {err}") from None
        if plain.get("mchid") != self.config.mchid or plain.get("appid", self.config.appid) != self.config.appid:
            raise PaymentVerificationError(PROVIDER, "merchant_mismatch",
                                           f"mchid/appid {plain.get('mchid')}/{plain.get('appid')} are not ours")
        try:
            etype = env["event_type"]
            amount = plain["amount"]
            if etype.startswith("REFUND."):
                kind = "refunded" if etype == "REFUND.SUCCESS" else "failed"
                return PaymentEvent(PROVIDER, env["id"], kind, plain["out_trade_no"], int(amount["total"]),
                                    amount.get("currency", "CNY"), plain["mchid"], plain["transaction_id"],
                                    transaction_id=plain["transaction_id"], refund_key=plain.get("out_refund_no"),
                                    raw={"envelope": env, "resource": plain})
            kind = {"SUCCESS": "paid", "NOTPAY": "pending", "USERPAYING": "pending", "CLOSED": "closed",
                    "PAYERROR": "failed", "REFUND": "refunded", "REVOKED": "closed"}[plain["trade_state"]]
            total = amount["total"]
            if not isinstance(total, int) or isinstance(total, bool):
                raise ValueError("amount.total is not an integer")
            return PaymentEvent(PROVIDER, env["id"], kind, plain["out_trade_no"], total, amount["currency"],
                                plain["mchid"], plain.get("transaction_id", ""),
                                transaction_id=plain.get("transaction_id"), raw={"envelope": env, "resource": plain})
        except (KeyError, ValueError, TypeError) as err:
            raise PaymentVerificationError(PROVIDER, "malformed", f"notification resource field {err}") from None

    def acknowledge(self, ok: bool, message: str = "") -> Acknowledgement:
        """204 stops WeChat's retries; a 4xx with ``{"code": "FAIL"}`` asks it to retry."""
        if ok:
            return Acknowledgement(204, "application/json", b"")
        return Acknowledgement(400, "application/json",
                               json.dumps({"code": "FAIL", "message": message or "失败"}, ensure_ascii=False).encode())


def qr_svg(code_url: str) -> str:
    """An inline SVG QR code of a ``weixin://`` code_url, for the page that asks the shopper to scan."""
    import segno  # only pages that show a QR code need it

    return segno.make(code_url, error="m").svg_inline(scale=5)
