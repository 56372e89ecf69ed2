"""The OpenAPI 3.1 document of the API, served at ``/api/openapi.json``.

Written by hand next to the routes; ``tests/checkout/test_openapi.py`` checks that every route of
``create_app()`` is listed with its request and response shapes. Other route modules contribute
their own path sets through ``add_openapi_route(app, *path_sets)``.
"""

from __future__ import annotations

import copy
import json

import bottle


def _obj(props: dict, required: list[str] = (), extra: bool = False) -> dict:
    schema = {"type": "object", "properties": props, "additionalProperties": extra}
    if required:
        schema["required"] = list(required)
    return schema


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
BOOL = {"type": "boolean"}
DATE = {"type": "string", "format": "date"}
STAMP = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS = {
    "Error": _obj({"error": _obj({"code": STR, "message": STR, "field": STR, "policy_version": STR},
                                 ["code", "message"])}, ["error"]),
    "Address": _obj({"name": STR, "phone": STR, "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                     "province": STR, "city": STR, "line1": STR, "line2": STR, "postal_code": STR},
                    ["name", "phone", "country", "city", "line1"]),
    "RegisterRequest": _obj({"nickname": STR, "email": {"type": "string", "format": "email"},
                             "password": {"type": "string", "minLength": 8}, "birthday": DATE,
                             "guardian_email": {"type": "string", "format": "email"},
                             "policy_version": STR},
                            ["nickname", "email", "password", "policy_version"]),
    "RegisterResponse": _obj({"status": {"const": "pending_activation"},
                              "guardian_consent_required": BOOL, "message": STR},
                             ["status", "guardian_consent_required"]),
    "TokenRequest": _obj({"token": STR}, ["token"]),
    "GuardianDecision": _obj({"token": STR, "decision": {"enum": ["consent", "refuse"]}}, ["token"]),
    "AccountStatus": _obj({"status": {"enum": ["pending_activation", "pending_guardian_consent",
                                                "active", "deleted"]}}, ["status"]),
    "LoginRequest": _obj({"email": STR, "password": STR}, ["email", "password"]),
    "LoginResponse": _obj({"status": STR, "nickname": STR}, ["status", "nickname"]),
    "ConsentView": _obj({"accepted_version": NSTR, "accepted_at": STAMP, "required": BOOL,
                         "required_version": NSTR, "in_force": NSTR, "upcoming": NSTR},
                        ["accepted_version", "required", "in_force"]),
    "Profile": _obj({"nickname": NSTR, "email": NSTR, "phone": NSTR, "birthday": NSTR,
                     "addresses": {"type": "array", "items": _ref("Address")},
                     "status": STR, "created_at": STAMP,
                     "guardian_consent": _obj({"required": BOOL, "given": BOOL}, ["required", "given"]),
                     "consent": _ref("ConsentView")},
                    ["nickname", "email", "status", "addresses", "consent", "guardian_consent"]),
    "ProfilePatch": _obj({"nickname": STR, "phone": NSTR, "birthday": NSTR,
                          "addresses": {"type": "array", "items": _ref("Address"), "maxItems": 10}}),
    "Export": _obj({"exported_at": STAMP, "profile": _ref("Profile"), "guardian_email": NSTR,
                    "consents": {"type": "array", "items": _obj(
                        {"policy_version": STR, "policy_sha256": STR, "accepted_at": STAMP, "source": STR})},
                    "sessions": {"type": "array", "items": _obj(
                        {"created_at": STAMP, "last_seen_at": STAMP, "expires_at": STAMP})},
                    "activated_at": STAMP}, ["profile", "consents", "sessions"], extra=True),
    "PasswordRequest": _obj({"password": STR}, ["password"]),
    "ConsentRequest": _obj({"policy_version": STR}, ["policy_version"]),
    "ResetRequest": _obj({"email": STR}, ["email"]),
    "ResetConfirm": _obj({"token": STR, "password": {"type": "string", "minLength": 8}},
                         ["token", "password"]),
    "Sent": _obj({"status": STR, "message": STR}, ["status"]),
    "Health": _obj({"status": {"enum": ["ok", "degraded"]}, "database": BOOL, "catalog": BOOL, "policies": BOOL},
                   ["status", "database"], extra=True),
}


def _op(summary: str, ok: int, response: str | None, request: str | None = None,
        errors: tuple[int, ...] = (400,), auth: bool = False) -> dict:
    op: dict = {"summary": summary, "responses": {}}
    if request:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(request)}}}
    if response:
        op["responses"][str(ok)] = {"description": "success",
                                    "content": {"application/json": {"schema": _ref(response)}}}
    else:
        op["responses"][str(ok)] = {"description": "success, no body"}
    for code in sorted(set(errors) | ({401} if auth else set())):
        op["responses"][str(code)] = {"description": "error",
                                      "content": {"application/json": {"schema": _ref("Error")}}}
    if auth:
        op["security"] = [{"session": []}]
    return op


ACCOUNT_PATHS = {
    "/api/accounts": {"post": _op("Register; mails the activation link (same answer for a taken email)",
                                  202, "RegisterResponse", "RegisterRequest", (400, 403, 415, 429))},
    "/api/accounts/activate": {"post": _op("Activate with the mailed token (single use, expires)",
                                           200, "AccountStatus", "TokenRequest", (400, 403))},
    "/api/accounts/guardian-consent": {"post": _op("A guardian consents to (or refuses) a minor's account",
                                                   200, "AccountStatus", "GuardianDecision", (400, 403))},
    "/api/session": {"post": _op("Log in; sets the session cookie", 200, "LoginResponse", "LoginRequest",
                                 (400, 401, 403, 429)),
                     "delete": _op("Log out", 204, None, None, (403,))},
    "/api/me": {"get": _op("The shopper's profile", 200, "Profile", None, (), auth=True),
                "patch": _op("Update nickname, phone, birthday, addresses", 200, "Profile", "ProfilePatch",
                             (400, 403), auth=True),
                "delete": _op("Delete the account (password confirmation)", 200, "AccountStatus",
                              "PasswordRequest", (400, 403), auth=True)},
    "/api/me/export": {"get": _op("Everything stored about the shopper", 200, "Export", None, (), auth=True)},
    "/api/me/consents": {"post": _op("Accept a policy version", 201, "ConsentView", "ConsentRequest",
                                     (400, 403), auth=True)},
    "/api/password-reset": {"post": _op("Mail a password reset link (same answer for unknown emails)",
                                        202, "Sent", "ResetRequest", (400, 403, 429))},
    "/api/password-reset/confirm": {"post": _op("Set a new password; ends every session", 200,
                                                "AccountStatus", "ResetConfirm", (400, 403))},
    "/api/health": {"get": {**_op("Liveness and readiness", 200, "Health", None, ()), "responses": {
        str(code): {"description": "ready" if code == 200 else "not ready (database or catalog missing)",
                    "content": {"application/json": {"schema": _ref("Health")}}} for code in (200, 503)}}},
    "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {
        "description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
}


def build_document(*path_sets: dict, schemas: dict | None = None) -> dict:
    paths: dict = {}
    for path_set in (ACCOUNT_PATHS, *path_sets):
        for path, ops in path_set.items():
            paths.setdefault(path, {}).update(copy.deepcopy(ops))
    return {"openapi": "3.1.0",
            "info": {"title": "Storefront checkout API", "version": "1"},
            "paths": paths,
            "components": {"schemas": {**SCHEMAS, **(schemas or {})},
                           "securitySchemes": {"session": {"type": "apiKey", "in": "cookie",
                                                           "name": "sf_session"}}}}


def add_openapi_route(app: bottle.Bottle, *path_sets: dict, schemas: dict | None = None) -> None:
    document = build_document(*path_sets, schemas=schemas)

    def serve():
        bottle.response.content_type = "application/json; charset=utf-8"
        bottle.response.set_header("Access-Control-Allow-Origin", "*")
        return json.dumps(document, ensure_ascii=False)

    app.route("/api/openapi.json", method="GET", callback=serve)


_SEARCH_PARAMS = [
    {"name": "q", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 200}},
    {"name": "category", "in": "query", "required": False, "schema": STR},
    {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
]
SEARCH_SCHEMAS = {
    "SearchHit": _obj({"kind": {"enum": ["product", "help", "policy", "page"]}, "url": STR, "title": STR,
                       "snippet": STR, "sku": STR, "price_minor": {"type": ["integer", "null"]},
                       "currency": STR, "category": STR, "image": STR},
                      ["kind", "url", "title", "snippet"]),
    "SearchResult": _obj({"query": STR, "total": {"type": "integer"}, "page": {"type": "integer"},
                          "pages": {"type": "integer"}, "mode": STR, "did_you_mean": NSTR,
                          "hits": {"type": "array", "items": _ref("SearchHit")},
                          "facets": _obj({"category": {"type": "object",
                                                       "additionalProperties": {"type": "integer"}}}),
                          "category_titles": {"type": "object", "additionalProperties": STR}},
                         ["query", "total", "hits", "facets"]),
    "Suggestions": _obj({"suggestions": {"type": "array", "items": _obj({"title": STR, "url": STR},
                                                                        ["title", "url"], extra=True)}},
                        ["suggestions"]),
}
SEARCH_PATHS = {
    "/api/search": {"get": {**_op("Search products, help, policy and pages (ranked, highlighted, faceted)",
                                  200, "SearchResult", None, (400, 503)), "parameters": _SEARCH_PARAMS}},
    "/api/suggest": {"get": {**_op("Search-as-you-type suggestions (at most 8)", 200, "Suggestions", None,
                                   (400, 503)), "parameters": _SEARCH_PARAMS[:1]}},
}


# --- orders, stock, payments (issue 5) ----------------------------------------------------------

INT = {"type": "integer"}
_LINE = _obj({"sku": STR, "title": STR, "qty": INT, "unit_price_minor": INT, "line_total_minor": INT},
             ["sku", "title", "qty", "unit_price_minor", "line_total_minor"])
_BANK = _obj({"account_name": STR, "bank_name": STR, "account_number": STR, "swift": STR, "branch": STR,
              "amount": STR, "currency": STR, "reference": STR, "reservation_hours": INT},
             ["account_name", "bank_name", "account_number", "amount", "currency", "reference"])
_ORDER_PROPS = {"number": STR, "status": {"enum": ["pending_payment", "awaiting_confirmation", "paid", "on_hold",
                                                   "shipped", "completed", "cancelled", "expired", "refunded"]},
                "currency": STR, "subtotal_minor": INT, "discount_minor": INT, "credit_minor": INT,
                "total_minor": INT, "created_at": STAMP, "expires_at": STAMP, "paid_at": STAMP,
                "payment_method": NSTR, "tracking_number": NSTR, "catalog_version": STR,
                "lines": {"type": "array", "items": _LINE}}
ORDER_SCHEMAS = {
    "OrderRequest": _obj({"lines": {"type": "array", "minItems": 1, "maxItems": 50,
                                    "items": _obj({"sku": STR, "qty": {"type": "integer", "minimum": 1,
                                                                       "maximum": 99}}, ["sku", "qty"])},
                          "shipping_address": _ref("Address"), "coupon": STR, "use_credit": BOOL},
                         ["lines", "shipping_address"]),
    "OrderSummary": _obj(_ORDER_PROPS, ["number", "status", "total_minor", "currency", "lines", "expires_at"]),
    "Order": _obj({**_ORDER_PROPS, "shipping_address": {"anyOf": [_ref("Address"), {"type": "null"}]},
                   "coupon": NSTR, "transfer_reference": NSTR, "can_pay": BOOL, "can_cancel": BOOL,
                   "bank_instructions": _BANK},
                  ["number", "status", "total_minor", "currency", "lines", "expires_at"]),
    "OrderList": _obj({"orders": {"type": "array", "items": _ref("OrderSummary")}}, ["orders"]),
    "PaymentRequest": _obj({"method": {"enum": ["paypal", "alipay", "wechat", "bank_transfer"]},
                            "client": {"enum": ["pc", "mobile"]}}, ["method"]),
    "PaymentStart": _obj({"method": STR, "status": STR, "redirect_url": STR, "qr_code_url": STR, "qr_svg": STR,
                          "bank_instructions": _BANK}, ["method", "status"]),
    "TransferReference": _obj({"reference": STR}, ["reference"]),
    "Empty": _obj({}),
    "Stock": _obj({"catalog_version": STR, "stock": {"type": "object", "additionalProperties": _obj(
        {"orderable": BOOL, "available": {"type": ["integer", "null"]}, "in_stock": BOOL,
         "price_minor": {"type": ["integer", "null"]}, "currency": NSTR, "title": STR},
        ["orderable", "available", "in_stock"])}}, ["catalog_version", "stock"]),
    "Credit": _obj({"currency": STR, "balance_minor": INT, "entries": {"type": "array", "items": _obj(
        {"amount_minor": INT, "currency": STR, "reason": STR, "order": NSTR, "at": STAMP})}},
        ["currency", "balance_minor", "entries"]),
}
_NUMBER = [{"name": "number", "in": "path", "required": True, "schema": STR}]
_PROVIDER = [{"name": "provider", "in": "path", "required": True,
              "schema": {"enum": ["paypal", "alipay", "wechat"]}}]


def _redirect(summary: str) -> dict:
    return {"summary": summary, "parameters": _PROVIDER,
            "responses": {"303": {"description": "redirect to the page that waits for the notification"}}}


ORDER_PATHS = {
    "/api/orders": {
        "post": _op("Place an order at server prices; reserves stock (409 out_of_stock, coupon_invalid)", 201,
                    "Order", "OrderRequest", (400, 403, 409, 415, 503), auth=True),
        "get": _op("The shopper's orders, newest first", 200, "OrderList", None, (), auth=True)},
    "/api/orders/{number}": {"get": {**_op("One of the shopper's orders", 200, "Order", None, (404,), auth=True),
                                     "parameters": _NUMBER}},
    "/api/orders/{number}/cancel": {"post": {**_op("Cancel an unpaid order; releases its stock", 200, "Order",
                                                   "Empty", (403, 404, 409), auth=True), "parameters": _NUMBER}},
    "/api/orders/{number}/payments": {"post": {**_op("Start paying: redirect_url, a WeChat QR code, or bank "
                                                     "instructions", 200, "PaymentStart", "PaymentRequest",
                                                     (400, 403, 404, 409, 502), auth=True),
                                               "parameters": _NUMBER}},
    "/api/orders/{number}/transfer-reference": {"post": {**_op("Record the shopper's bank transfer reference", 200,
                                                               "Order", "TransferReference", (400, 403, 404, 409),
                                                               auth=True), "parameters": _NUMBER}},
    "/api/stock": {"get": {**_op("Live availability and current price of SKUs", 200, "Stock", None, (400, 503)),
                           "parameters": [{"name": "sku", "in": "query", "required": True,
                                           "schema": {"type": "array", "items": STR, "maxItems": 100},
                                           "style": "form", "explode": True}]}},
    "/api/me/credit": {"get": _op("Store-credit balance and ledger", 200, "Credit", None, (), auth=True)},
    "/pay/{provider}/return": {"get": _redirect("The provider's cashier sends the shopper back here (never "
                                                "proof of payment)")},
    "/pay/{provider}/cancel": {"get": _redirect("The shopper gave up at the cashier")},
    "/pay/{provider}/notify": {"post": {
        "summary": "Signed provider notifications (PayPal webhooks, Alipay trade_status_sync, WeChat Pay v3)",
        "parameters": _PROVIDER,
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}},
                                                      "application/x-www-form-urlencoded": {
                                                          "schema": {"type": "object"}}}},
        "responses": {"200": {"description": "accepted (Alipay: the text `success`; `failure` asks for a retry). "
                                             "A rejected notification gets the provider's own error form (PayPal "
                                             "and WeChat Pay: 4xx), which makes the provider retry."},
                      "204": {"description": "accepted (WeChat Pay)"}}}},
}
