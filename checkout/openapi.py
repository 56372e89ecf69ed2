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
    "Health": _obj({"status": {"enum": ["ok", "degraded"]}, "database": BOOL, "policies": BOOL},
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
    "/api/health": {"get": _op("Liveness and readiness", 200, "Health", None, (503,))},
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
