"""Errors of the checkout service.

Every error a client or an operator can cause is a ``CheckoutError``: it carries the API error
``code``, the HTTP ``status`` it maps to, a message (ending in ``Fix: ...`` where there is one) and,
when one input field is at fault, that ``field``. Routes turn them into the JSON error shape;
the CLI prints the message without a traceback.
"""

from __future__ import annotations


class CheckoutError(Exception):
    """Base of every error the service reports to a client or operator."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_json(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return {"error": body}


class ConfigError(CheckoutError):
    """The service is misconfigured (environment, secrets, database schema)."""

    code = "config_error"
    status = 500


class ValidationError(CheckoutError):
    """One input field is invalid; ``field`` names it."""

    code = "invalid"
    status = 400


class AuthError(CheckoutError):
    """Not logged in, or the credentials or token are not valid."""

    code = "unauthorized"
    status = 401


class ForbiddenError(CheckoutError):
    """Logged in, but this call is not allowed (foreign Origin, consent missing, ...)."""

    code = "forbidden"
    status = 403


class NotFoundError(CheckoutError):
    code = "not_found"
    status = 404


class ConsentRequired(ForbiddenError):
    """A major policy version is in force that the shopper has not accepted yet."""

    code = "consent_required"
    status = 403

    def __init__(self, message: str, *, policy_version: str):
        super().__init__(message)
        self.policy_version = policy_version

    def to_json(self) -> dict:
        body = super().to_json()
        body["error"]["policy_version"] = self.policy_version
        return body


class RateLimited(CheckoutError):
    """Too many attempts from one address or for one account; retry after ``retry_after`` s."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class MailError(CheckoutError):
    """A mail could not be rendered or handed to the mail server."""

    code = "mail_error"
    status = 500
