"""HTTP plumbing shared by the JSON API routes: errors, JSON bodies, Origin, CORS, cookies.

``api`` is applied to every ``/api`` route: it refuses state-changing calls without a JSON body
type or from an Origin that is not allowed, turns ``CheckoutError`` into the JSON error shape and
any other exception into a logged 500 without details. ``install_hooks`` adds the per-request
database connection, CORS answers for the configured site origin, and security headers.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Callable

import bottle
import peewee as pw

from .config import Config
from .errors import CheckoutError, ForbiddenError, RateLimited, ValidationError

log = logging.getLogger("checkout")

SESSION_COOKIE = "sf_session"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_BODY = 64 * 1024
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


def json_response(status: int, body: dict) -> str:
    bottle.response.status = status
    bottle.response.content_type = "application/json; charset=utf-8"
    return json.dumps(body, ensure_ascii=False)


def error_response(exc: CheckoutError) -> str:
    if isinstance(exc, RateLimited):
        bottle.response.set_header("Retry-After", str(exc.retry_after))
    return json_response(exc.status, exc.to_json())


def api(config: Config) -> Callable:
    """A Bottle plugin (a decorator) for JSON API routes."""

    def decorator(callback: Callable) -> Callable:
        @functools.wraps(callback)
        def wrapper(*args, **kwargs):
            try:
                if bottle.request.method in STATE_CHANGING:
                    check_origin(config)
                    check_json_type()
                result = callback(*args, **kwargs)
            except CheckoutError as exc:
                if exc.code == "unauthorized":
                    clear_session_cookie(config)  # no valid session: the pages stop asking
                return error_response(exc)
            except bottle.HTTPResponse:
                raise
            except Exception:  # never a stack trace to the client; the log keeps it
                log.exception("unhandled error in %s %s", bottle.request.method, bottle.request.path)
                return json_response(500, {"error": {"code": "internal_error",
                                                     "message": "服务器出错，请稍后再试。Internal error."}})
            if isinstance(result, tuple):
                status, body = result
            else:
                status, body = 200, result
            if status == 204:
                bottle.response.status = 204
                return ""
            return json_response(status, body)
        return wrapper

    return decorator


def check_origin(config: Config) -> None:
    origin = bottle.request.headers.get("Origin")
    if origin is None or origin.rstrip("/") not in config.allowed_origins:
        raise ForbiddenError("请求来源不被允许。State-changing calls must come from the shop's own "
                             "pages (Origin header).", code="forbidden_origin")


def check_json_type() -> None:
    ctype = bottle.request.content_type.split(";", 1)[0].strip().lower()
    if ctype != "application/json":
        raise CheckoutError("请求必须是 JSON。Send Content-Type: application/json.",
                            code="unsupported_media_type", status=415)


def read_json() -> dict:
    """The request body as a JSON object ({} when empty)."""
    length = bottle.request.content_length
    if length > MAX_BODY:
        raise CheckoutError("请求内容过大。The request body is too large.", code="too_large", status=413)
    raw = bottle.request.body.read(MAX_BODY + 1) if length else b""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"请求内容不是有效的 JSON。Invalid JSON: {exc}.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ValidationError("请求内容必须是 JSON 对象。The body must be a JSON object.", code="invalid_json")
    return data


def client_address(config: Config) -> str:
    if config.trust_proxy:
        forwarded = bottle.request.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1]
    return bottle.request.environ.get("REMOTE_ADDR") or "unknown"


def session_token() -> str | None:
    return bottle.request.get_cookie(SESSION_COOKIE)


def cookie_secure(config: Config) -> bool:
    """Secure always, except in development over plain HTTP on localhost (``make run``)."""
    if config.production:
        return True
    host = bottle.request.urlparts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return not (bottle.request.urlparts.scheme == "http" and host in LOCAL_HOSTS)


SIGNED_IN_HINT = "sf_signed_in"
"""A cookie the pages' scripts may read: "a session probably exists". It carries no secret (the
session cookie stays HttpOnly); it spares logged-out shoppers an API call that can only answer 401."""


def set_session_cookie(config: Config, token: str) -> None:
    secure = cookie_secure(config)
    bottle.response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="Lax",
                               secure=secure, max_age=config.session_absolute_seconds)
    bottle.response.set_cookie(SIGNED_IN_HINT, "1", path="/", samesite="Lax", secure=secure,
                               max_age=config.session_absolute_seconds)


def clear_session_cookie(config: Config) -> None:
    secure = cookie_secure(config)
    bottle.response.set_cookie(SESSION_COOKIE, "", path="/", httponly=True, samesite="Lax",
                               secure=secure, max_age=0, expires=0)
    bottle.response.set_cookie(SIGNED_IN_HINT, "", path="/", samesite="Lax", secure=secure, max_age=0, expires=0)


def install_hooks(app: bottle.Bottle, config: Config, db: pw.Database) -> None:
    def open_connection():
        db.connect(reuse_if_open=True)

    def finish():
        if not db.is_closed():
            db.close()
        headers = bottle.response
        headers.set_header("X-Content-Type-Options", "nosniff")
        headers.set_header("X-Frame-Options", "DENY")
        headers.set_header("Referrer-Policy", "strict-origin-when-cross-origin")
        if bottle.request.path.startswith("/api/"):
            headers.set_header("Cache-Control", "no-store")
            headers.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        if config.production:
            headers.set_header("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        origin = bottle.request.headers.get("Origin")
        if origin and origin.rstrip("/") == config.site_origin and bottle.request.path.startswith("/api/"):
            headers.set_header("Access-Control-Allow-Origin", config.site_origin)
            headers.set_header("Access-Control-Allow-Credentials", "true")
        if bottle.request.path.startswith("/api/"):
            headers.add_header("Vary", "Origin")

    app.add_hook("before_request", open_connection)
    app.add_hook("after_request", finish)

    def preflight(path):
        origin = (bottle.request.headers.get("Origin") or "").rstrip("/")
        if origin != config.site_origin:
            return json_response(403, {"error": {"code": "forbidden_origin",
                                                 "message": "Origin not allowed."}})
        bottle.response.status = 204
        bottle.response.set_header("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE")
        bottle.response.set_header("Access-Control-Allow-Headers", "Content-Type")
        bottle.response.set_header("Access-Control-Max-Age", "600")
        return ""

    app.route("/api/<path:path>", method="OPTIONS", callback=preflight)

    def json_error(err: bottle.HTTPError) -> str:
        if err.status_code == 405 and err.headers.get("Allow", "").strip() == "OPTIONS":
            err.status = 404  # only the CORS preflight route matched: the path does not exist
        if err.status_code >= 500:
            log.error("error %s on %s: %s", err.status_code, bottle.request.path, err.exception)
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        message = {404: "未找到。Not found.", 405: "不支持该请求方法。Method not allowed."}.get(
            err.status_code, "服务器出错，请稍后再试。Internal error.")
        return json_response(err.status_code, {"error": {"code": codes.get(err.status_code, "internal_error"),
                                                          "message": message}})

    for code in (400, 404, 405, 413, 500):
        app.error_handler[code] = json_error
