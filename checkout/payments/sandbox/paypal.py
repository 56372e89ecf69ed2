"""Fake PayPal (Orders v2 + webhooks) as a Bottle app, mounted at ``/sandbox/paypal/`` in
development and in the tests. It checks client credentials and bearer tokens, honours
``PayPal-Request-Id``, answers errors in PayPal's form and signs webhooks with its own
certificate (served at ``/v1/notifications/certs/...``) exactly as the adapter expects from PayPal.

Test hooks (``PUT /_test/options/<paypal order id>``): ``ship_to`` (an address dict that the payer
"chose" instead of ours), ``payer_verified`` (false: unverified account), ``capture_status``
(PENDING, DECLINED), plus the outbox options ``copies``, ``delay_seconds``, ``signed_at``,
``signed_offset``.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import bottle

from ..common import from_decimal_string, load_private_key, rsa_sign, to_decimal_string
from .base import Outbox, add_test_routes, cashier_page, json_answer, message_page, redirect

CERT_PATH = "/v1/notifications/certs/CERT-sandbox-1"


@dataclass(frozen=True)
class PayPalSandboxConfig:
    base_url: str
    """Absolute URL where this app is mounted, e.g. ``http://127.0.0.1:8000/sandbox/paypal``."""
    client_id: str
    client_secret: str
    webhook_id: str
    webhook_url: str
    """Where webhooks go: what an owner registers in the PayPal dashboard (our ``/pay/paypal/notify``)."""
    merchant_id: str
    webhook_key: str
    """PEM private key that signs webhooks."""
    webhook_cert: str
    """PEM certificate of that key, served to the adapter."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, name: str, message: str, issue: str | None = None, field: str | None = None):
    details = []
    if issue:
        details.append({"issue": issue, "description": message, **({"field": field} if field else {})})
    return json_answer(status, {"name": name, "message": message, "debug_id": secrets.token_hex(6),
                                "details": details})


class PayPalSandbox:
    def __init__(self, config: PayPalSandboxConfig, clock=time.time):
        self.config = config
        self.clock = clock
        self.key = load_private_key(config.webhook_key)
        self.outbox = Outbox(clock)
        self.lock = threading.Lock()
        self.tokens: dict[str, float] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.captures: dict[str, str] = {}
        """capture id -> PayPal order id"""
        self.refunds: dict[str, list[dict[str, Any]]] = {}
        self.idempotent: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self.options: dict[str, dict[str, Any]] = {}

    # -- helpers

    def authorized(self) -> bool:
        auth = bottle.request.get_header("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self.lock:
            return self.tokens.get(token, 0) > self.clock()

    def webhook(self, event_type: str, resource: dict[str, Any], reference: str) -> None:
        envelope = {"id": f"WH-{uuid.uuid4().hex[:17].upper()}", "event_version": "1.0",
                    "create_time": _iso(self.clock()), "resource_type": event_type.split(".")[1].lower(),
                    "event_type": event_type, "summary": event_type, "resource": resource}
        body = json.dumps(envelope, ensure_ascii=False).encode("utf-8")

        def build(signed_at: float) -> tuple[bytes, dict[str, str]]:
            tid, ttime = str(uuid.uuid4()), _iso(signed_at)
            message = f"{tid}|{ttime}|{self.config.webhook_id}|{zlib.crc32(body) & 0xFFFFFFFF}".encode()
            return body, {"Content-Type": "application/json", "PAYPAL-TRANSMISSION-ID": tid,
                          "PAYPAL-TRANSMISSION-TIME": ttime, "PAYPAL-AUTH-ALGO": "SHA256withRSA",
                          "PAYPAL-CERT-URL": self.config.base_url + CERT_PATH,
                          "PAYPAL-TRANSMISSION-SIG": rsa_sign(self.key, message)}

        self.outbox.post(self.config.webhook_url, reference, event_type, build, self.options.get(reference))

    def idempotent_call(self, operation: str, handler):
        """PayPal-Request-Id: the same id gets the same answer without doing the work twice."""
        request_id = bottle.request.get_header("PayPal-Request-Id")
        if request_id:
            with self.lock:
                stored = self.idempotent.get((operation, request_id))
            if stored:
                return json_answer(stored[0], stored[1])
        answer = handler()
        if request_id and 200 <= answer.status_code < 300:
            with self.lock:
                self.idempotent[(operation, request_id)] = (answer.status_code, json.loads(answer.body))
        return answer

    # -- API

    def token(self):
        auth = bottle.request.get_header("Authorization", "")
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":") if auth.startswith("Basic ") else ("", "", "")
        except ValueError:
            user, password = "", ""
        if (user, password) != (self.config.client_id, self.config.client_secret):
            return json_answer(401, {"error": "invalid_client", "error_description": "Client Authentication failed"})
        if bottle.request.forms.get("grant_type") != "client_credentials":
            return json_answer(400, {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"})
        token = "A21AA" + secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = self.clock() + 32400
        return json_answer(200, {"scope": "https://uri.paypal.com/services/payments/payment", "access_token": token,
                                 "token_type": "Bearer", "app_id": "APP-SANDBOX", "expires_in": 32400,
                                 "nonce": secrets.token_hex(8)})

    def create_order(self):
        if not self.authorized():
            return _error(401, "AUTHENTICATION_FAILURE", "Authentication failed due to invalid authentication "
                          "credentials or a missing Authorization header.")
        try:
            body = json.loads(bottle.request.body.read() or b"null")
        except ValueError:
            return _error(400, "INVALID_REQUEST", "Request is not well-formed.", "MALFORMED_REQUEST_JSON")
        if not isinstance(body, dict) or body.get("intent") != "CAPTURE":
            return _error(400, "INVALID_REQUEST", "intent must be CAPTURE", "INVALID_PARAMETER_VALUE", "/intent")
        units = body.get("purchase_units")
        if not isinstance(units, list) or len(units) != 1 or not isinstance(units[0], dict):
            return _error(400, "INVALID_REQUEST", "one purchase unit", "INVALID_ARRAY_MAX_ITEMS", "/purchase_units")
        unit = units[0]
        amount = unit.get("amount") or {}
        currency = str(amount.get("currency_code", ""))
        if len(currency) != 3 or not currency.isupper():
            return _error(422, "UNPROCESSABLE_ENTITY", "currency", "CURRENCY_NOT_SUPPORTED",
                          "/purchase_units/@reference_id=='default'/amount/currency_code")
        try:
            value = from_decimal_string(amount.get("value"), currency)
        except ValueError:
            return _error(422, "UNPROCESSABLE_ENTITY", "amount value", "DECIMAL_PRECISION",
                          "/purchase_units/@reference_id=='default'/amount/value")
        if value <= 0:
            return _error(422, "UNPROCESSABLE_ENTITY", "amount must be positive", "CANNOT_BE_ZERO_OR_NEGATIVE")
        ctx = (((body.get("payment_source") or {}).get("paypal") or {}).get("experience_context") or {})
        for name in ("return_url", "cancel_url"):
            if not str(ctx.get(name, "")).startswith(("http://", "https://")):
                return _error(400, "INVALID_REQUEST", f"{name} must be an absolute URL", "INVALID_PARAMETER_SYNTAX",
                              f"/payment_source/paypal/experience_context/{name}")
        shipping = unit.get("shipping") or {}
        if ctx.get("shipping_preference") == "SET_PROVIDED_ADDRESS" and not (shipping.get("address") or {}).get(
                "country_code"):
            return _error(422, "UNPROCESSABLE_ENTITY", "shipping address required", "MISSING_SHIPPING_ADDRESS",
                          "/purchase_units/0/shipping/address")
        order_id = secrets.token_hex(8).upper()[:17]
        order = {"id": order_id, "intent": "CAPTURE", "status": "PAYER_ACTION_REQUIRED",
                 "create_time": _iso(self.clock()),
                 "purchase_units": [{**unit, "reference_id": unit.get("reference_id", "default"),
                                     "payee": {"merchant_id": self.config.merchant_id}}],
                 "payment_source": {"paypal": {}},
                 "links": [{"href": f"{self.config.base_url}/v2/checkout/orders/{order_id}", "rel": "self", "method": "GET"},
                           {"href": f"{self.config.base_url}/checkoutnow?token={order_id}", "rel": "payer-action",
                            "method": "GET"}],
                 "_context": ctx}
        with self.lock:
            self.orders[order_id] = order
        return json_answer(200, self.public(order))

    @staticmethod
    def public(order: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in order.items() if not k.startswith("_")}

    def get_order(self, order_id: str):
        if not self.authorized():
            return _error(401, "AUTHENTICATION_FAILURE", "Authentication failed.")
        order = self.orders.get(order_id)
        if order is None:
            return _error(404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID")
        return json_answer(200, self.public(order))

    def capture(self, order_id: str):
        if not self.authorized():
            return _error(401, "AUTHENTICATION_FAILURE", "Authentication failed.")
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return _error(404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID")
            if order["status"] == "COMPLETED":
                return _error(422, "UNPROCESSABLE_ENTITY", "Order already captured.", "ORDER_ALREADY_CAPTURED")
            if order["status"] != "APPROVED":
                return _error(422, "UNPROCESSABLE_ENTITY", "Payer has not yet approved the Order for payment.",
                              "ORDER_NOT_APPROVED")
            unit = order["purchase_units"][0]
            status = self.options.get(order_id, {}).get("capture_status", "COMPLETED")
            capture = {"id": secrets.token_hex(8).upper()[:17], "status": status, "amount": unit["amount"],
                       "custom_id": unit.get("custom_id"), "invoice_id": unit.get("invoice_id"),
                       "final_capture": True, "payee": {"merchant_id": self.config.merchant_id},
                       "supplementary_data": {"related_ids": {"order_id": order_id}},
                       "create_time": _iso(self.clock())}
            unit["payments"] = {"captures": [capture]}
            order["status"] = "COMPLETED"
            self.captures[capture["id"]] = order_id
        event = {"COMPLETED": "PAYMENT.CAPTURE.COMPLETED", "PENDING": "PAYMENT.CAPTURE.PENDING"}.get(
            status, "PAYMENT.CAPTURE.DENIED")
        self.webhook(event, capture, order_id)
        return json_answer(201, self.public(order))

    def refund(self, capture_id: str):
        if not self.authorized():
            return _error(401, "AUTHENTICATION_FAILURE", "Authentication failed.")
        body = json.loads(bottle.request.body.read() or b"{}")
        with self.lock:
            order_id = self.captures.get(capture_id)
            if order_id is None:
                return _error(404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID")
            capture = self.orders[order_id]["purchase_units"][0]["payments"]["captures"][0]
            if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
                return _error(422, "UNPROCESSABLE_ENTITY", "Capture cannot be refunded.", "CAPTURE_NOT_COMPLETED")
            currency = capture["amount"]["currency_code"]
            total = from_decimal_string(capture["amount"]["value"], currency)
            done = sum(r["_minor"] for r in self.refunds.get(capture_id, []))
            try:
                amount = from_decimal_string((body.get("amount") or {}).get("value"), currency) \
                    if body.get("amount") else total - done
            except ValueError:
                return _error(422, "UNPROCESSABLE_ENTITY", "amount value", "DECIMAL_PRECISION", "/amount/value")
            if (body.get("amount") or {}).get("currency_code", currency) != currency:
                return _error(422, "UNPROCESSABLE_ENTITY", "currency differs from the capture", "CURRENCY_MISMATCH")
            if amount <= 0 or done + amount > total:
                return _error(422, "UNPROCESSABLE_ENTITY", "The refund amount must be less than or equal to the "
                              "capture amount that has not yet been refunded.", "REFUND_AMOUNT_EXCEEDED")
            refund = {"id": secrets.token_hex(8).upper()[:17], "status": "COMPLETED",
                      "amount": {"currency_code": currency, "value": to_decimal_string(amount, currency)},
                      "custom_id": capture.get("custom_id"), "invoice_id": body.get("invoice_id"),
                      "payee": {"merchant_id": self.config.merchant_id},
                      "supplementary_data": {"related_ids": {"order_id": order_id, "capture_id": capture_id}},
                      "create_time": _iso(self.clock()), "_minor": amount}
            self.refunds.setdefault(capture_id, []).append(refund)
            capture["status"] = "REFUNDED" if done + amount == total else "PARTIALLY_REFUNDED"
        public = self.public(refund)
        self.webhook("PAYMENT.CAPTURE.REFUNDED", public, order_id)
        return json_answer(201, public)

    # -- payer pages

    def payer_page(self):
        order = self.orders.get(bottle.request.query.get("token", ""))
        if order is None or order["status"] not in ("PAYER_ACTION_REQUIRED", "APPROVED"):
            return message_page("PayPal", "这个付款链接无效或已过期 / this payment link is no longer valid", 404)
        unit = order["purchase_units"][0]
        address = (unit.get("shipping") or {}).get("address", {})
        rows = [("商户 Merchant", self.config.merchant_id), ("订单 Order", str(unit.get("custom_id"))),
                ("金额 Amount", f"{unit['amount']['value']} {unit['amount']['currency_code']}"),
                ("收货地址 Ship to", ", ".join(str(v) for v in address.values()))]
        base = f"{self.config.base_url}/checkoutnow/{order['id']}"
        return cashier_page("PayPal 沙箱 / sandbox", rows, f"{base}/pay", f"{base}/cancel")

    def pay(self, order_id: str):
        options = self.options.get(order_id, {})
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order["status"] not in ("PAYER_ACTION_REQUIRED", "APPROVED"):
                return message_page("PayPal", "订单无效 / invalid order", 404)
            unit = order["purchase_units"][0]
            if options.get("ship_to"):
                a = options["ship_to"]
                unit["shipping"] = {"name": {"full_name": a.get("name", "")},
                                    "address": {"address_line_1": a.get("line1", ""), "address_line_2": a.get("line2", ""),
                                                "admin_area_2": a.get("city", ""), "admin_area_1": a.get("province", ""),
                                                "postal_code": a.get("postal_code", ""),
                                                "country_code": a.get("country_code", "")}}
            payer_id = "SBX" + secrets.token_hex(5).upper()
            country = unit["shipping"]["address"].get("country_code", "CN")
            account = {"email_address": f"buyer-{payer_id.lower()}@example.com", "account_id": payer_id,
                       "account_status": "VERIFIED" if options.get("payer_verified", True) else "UNVERIFIED",
                       "name": {"given_name": "Sandbox", "surname": "Buyer"}, "address": {"country_code": country}}
            order["payment_source"] = {"paypal": account}
            order["payer"] = {"payer_id": payer_id, "email_address": account["email_address"],
                              "name": account["name"], "address": {"country_code": country}}
            order["status"] = "APPROVED"
            return_url = order["_context"]["return_url"]
            resource = self.public(order)
        self.webhook("CHECKOUT.ORDER.APPROVED", resource, order_id)
        sep = "&" if "?" in return_url else "?"
        return redirect(f"{return_url}{sep}{urlencode({'token': order_id, 'PayerID': payer_id})}")

    def cancel(self, order_id: str):
        order = self.orders.get(order_id)
        if order is None:
            return message_page("PayPal", "订单无效 / invalid order", 404)
        url = order["_context"]["cancel_url"]
        return redirect(f"{url}{'&' if '?' in url else '?'}{urlencode({'token': order_id})}")


def make_paypal_sandbox(config: PayPalSandboxConfig, clock=time.time) -> bottle.Bottle:
    sandbox = PayPalSandbox(config, clock)
    app = bottle.Bottle()
    app.sandbox = sandbox  # tests reach the state (outbox, orders) through the app they mounted
    app.post("/v1/oauth2/token", callback=sandbox.token)
    app.post("/v2/checkout/orders", callback=lambda: sandbox.idempotent_call("create", sandbox.create_order))
    app.get("/v2/checkout/orders/<order_id>", callback=sandbox.get_order)
    app.post("/v2/checkout/orders/<order_id>/capture",
             callback=lambda order_id: sandbox.idempotent_call("capture", lambda: sandbox.capture(order_id)))
    app.post("/v2/payments/captures/<capture_id>/refund",
             callback=lambda capture_id: sandbox.idempotent_call("refund", lambda: sandbox.refund(capture_id)))
    app.get("/checkoutnow", callback=sandbox.payer_page)
    app.post("/checkoutnow/<order_id>/pay", callback=sandbox.pay)
    app.post("/checkoutnow/<order_id>/cancel", callback=sandbox.cancel)
    app.get(CERT_PATH, callback=lambda: bottle.HTTPResponse(config.webhook_cert, 200,
                                                            {"Content-Type": "application/x-pem-file"}))
    add_test_routes(app, sandbox.outbox, sandbox.options, sandbox.lock)
    return app
