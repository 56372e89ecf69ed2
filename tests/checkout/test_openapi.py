"""The OpenAPI document lists every route with its shapes, and real answers match them."""

from __future__ import annotations

import re

from checkout.openapi import ORDER_PATHS, ORDER_SCHEMAS, SEARCH_PATHS, SEARCH_SCHEMAS, build_document


def served_document():
    """The document create_app() serves: accounts plus the route sets other modules add."""
    return build_document(SEARCH_PATHS, ORDER_PATHS, schemas={**SEARCH_SCHEMAS, **ORDER_SCHEMAS})


def resolve(doc, schema):
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def check(doc, schema, value, where="$"):
    """A small structural validator: types, required keys, no undeclared keys, enums, items."""
    schema = resolve(doc, schema)
    types = schema.get("type")
    types = [types] if isinstance(types, str) else (types or [])
    if value is None:
        assert not types or "null" in types, f"{where}: null not allowed"
        return
    if "const" in schema:
        assert value == schema["const"], where
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if "object" in types:
        assert isinstance(value, dict), where
        for key in schema.get("required", []):
            assert key in value, f"{where}: missing {key}"
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            extra = set(value) - set(props)
            assert not extra, f"{where}: undeclared {sorted(extra)}"
        for key, sub in props.items():
            if key in value:
                check(doc, sub, value[key], f"{where}.{key}")
    elif "array" in types:
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            check(doc, schema.get("items", {}), item, f"{where}[{i}]")
    elif "string" in types:
        assert isinstance(value, str), where
    elif "boolean" in types:
        assert isinstance(value, bool), where


def test_every_route_is_documented_with_shapes(app):
    doc = served_document()
    assert doc["openapi"].startswith("3.")
    seen = 0
    for route in app.routes:
        if route.method in ("OPTIONS", "PROXY"):
            continue  # the CORS preflight and mounted sandbox providers, not API operations
        path = re.sub(r"<(\w+)(:[^>]*)?>", r"{\1}", route.rule)
        op = doc["paths"].get(path, {}).get(route.method.lower())
        assert op is not None, f"{route.method} {route.rule} missing from /api/openapi.json"
        ok = [code for code in op["responses"] if code[0] in "23"]  # 303: the payment return redirects
        assert ok, f"{route.method} {path}: no success response"
        for code, response in op["responses"].items():
            for media in response.get("content", {}).values():
                resolve(doc, media["schema"])  # every $ref resolves
            if code.startswith("4"):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        if route.method in ("POST", "PATCH") or (route.method == "DELETE" and path == "/api/me"):
            assert "requestBody" in op, f"{route.method} {path}: request shape missing"
        seen += 1
    assert seen >= 13


def test_served_document_equals_the_built_one(api):
    assert api.get("/api/openapi.json").json == served_document()


def test_answers_match_their_documented_shapes(api, shopper, mailbox):
    doc = served_document()

    def shape(path, method, status, answer):
        media = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]
        check(doc, media["schema"], answer.json)

    body = shopper.register()
    shape("/api/accounts", "post", 202, api.post("/api/accounts", body, status=202))
    shape("/api/accounts", "post", 400, api.post("/api/accounts", dict(body, email="x"), status=400))
    shape("/api/accounts/activate", "post", 200, api.post(
        "/api/accounts/activate", {"token": mailbox.token("activate", body["email"])}))
    shape("/api/session", "post", 200, shopper.login(body))
    shape("/api/me", "get", 200, api.get("/api/me"))
    address = {"name": "梅", "phone": "13800000000", "country": "CN", "city": "上海", "line1": "一号"}
    shape("/api/me", "patch", 200, api.patch("/api/me", {"addresses": [address]}))
    shape("/api/me/export", "get", 200, api.get("/api/me/export"))
    shape("/api/me/consents", "post", 201, api.post("/api/me/consents", {"policy_version": "2027-01-01"},
                                                     status=201))
    shape("/api/password-reset", "post", 202, api.post("/api/password-reset", {"email": body["email"]},
                                                       status=202))
    shape("/api/health", "get", 200, api.get("/api/health"))
    shape("/api/me", "delete", 200, api.delete("/api/me", {"password": body["password"]}))
    shape("/api/me", "get", 401, api.get("/api/me", status=401))
