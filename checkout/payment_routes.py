"""Routes of payments: start paying an order, the provider return and notification routes, and (in
sandbox mode) the fake providers mounted at ``/sandbox/<provider>/``.

Stage: runtime of the checkout service. ``POST /pay/<provider>/notify`` is called by providers, not
by our pages: it is outside the JSON API plugin (no Origin check) and trusts nothing but the
signature, verified on the raw bytes by the adapter. ``GET /pay/<provider>/return`` is where the
shopper's browser comes back: it never marks an order paid by itself (PayPal's return triggers the
capture API call, whose answer is the provider's statement) and sends the browser to the page that
waits for the notification.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any
from urllib.parse import quote

import bottle

from . import orders
from .account_routes import current_account
from .accounts import Context, require_full_account
from .config import Config
from .errors import CheckoutError
from .payments import (PaymentError, PaymentsConfig, PaymentVerificationError, ProviderError, make_adapters,
                       payment_config_from_env)
from .web import api, client_address, read_json

log = logging.getLogger("checkout.payments")
PROVIDERS = ("paypal", "alipay", "wechat")


class PaymentSetup:
    """Payment configuration and adapters, built on first use (sandbox keys cost a moment to
    generate, and most requests never pay); in production built at start so errors stop it."""

    def __init__(self, config: Config, payments: PaymentsConfig | None = None):
        self.config = config
        self._payments = payments
        self._adapters: dict[str, Any] | None = None
        self._sandboxes: dict[str, bottle.Bottle] | None = None
        self._lock = threading.Lock()
        self.settings = orders.OrderSettings.from_env()
        if config.production:
            self.adapters()

    @property
    def payments(self) -> PaymentsConfig:
        with self._lock:
            if self._payments is None:
                env = {**os.environ, "CHECKOUT_PAYMENTS": self.config.payments,
                       "CHECKOUT_DATA_DIR": str(self.config.data_dir), "CHECKOUT_PUBLIC_URL": self.config.public_url}
                self._payments = payment_config_from_env(env)
            return self._payments

    def adapters(self) -> dict[str, Any]:
        payments = self.payments
        with self._lock:
            if self._adapters is None:
                self._adapters = make_adapters(payments)
            return self._adapters

    def context(self) -> orders.PaymentContext:
        payments = self.payments
        return orders.PaymentContext(self.adapters(), payments.bank, payments.methods, self.config.public_url,
                                     self.settings)

    def sandbox_app(self, name: str) -> bottle.Bottle:
        payments = self.payments
        with self._lock:
            if self._sandboxes is None:
                from .payments.sandbox import make_sandbox_apps

                if payments.sandbox is None:
                    raise CheckoutError("sandbox providers are off (CHECKOUT_PAYMENTS=live).", status=404,
                                        code="not_found")
                self._sandboxes = make_sandbox_apps(payments.sandbox)
            return self._sandboxes[name]


def add_payment_routes(app: bottle.Bottle, ctx: Context, payments: PaymentsConfig | None = None) -> PaymentSetup:
    config = ctx.config
    setup = PaymentSetup(config, payments)
    app.config["checkout.payments"] = setup
    plugin = [api(config)]

    def start(number: str):
        account = current_account(ctx)
        require_full_account(account)
        order = orders.get_for(account, number)
        data = read_json()
        return orders.start_payment(ctx, setup.context(), order, data.get("method"),
                                    client=data.get("client", "pc"), client_ip=client_address(config),
                                    now=config.clock())

    app.route("/api/orders/<number>/payments", method="POST", callback=start, apply=plugin)

    def waiting_page(number: str | None) -> bottle.HTTPResponse:
        target = f"{config.public_url}/checkout/return/" + (f"?order={quote(number)}" if number else "")
        return bottle.HTTPResponse("", 303, {"Location": target, "Cache-Control": "no-store"})

    def back(provider: str):
        if provider not in PROVIDERS:
            raise bottle.HTTPError(404)
        query = bottle.request.query.decode()
        number = None
        try:
            adapters = setup.adapters()
            if provider == "paypal" and query.get("token"):
                order = orders.capture_paypal_return(ctx, adapters["paypal"], query["token"], now=config.clock())
                number = order.number if order else None
            elif provider == "alipay":
                number = adapters["alipay"].verify_return(dict(query.items()))
            else:
                number = query.get("order")
        except PaymentError as exc:
            # The notification (or the next return) settles it; the page shows "processing".
            log.warning("%s return: %s", provider, exc)
        except CheckoutError as exc:
            log.warning("%s return: %s", provider, exc.message)
        return waiting_page(number)

    def cancelled(provider: str):
        number = bottle.request.query.decode().get("order")
        target = f"{config.public_url}/account/orders/" + (f"?order={quote(number)}" if number else "")
        return bottle.HTTPResponse("", 303, {"Location": target})

    def notify(provider: str):
        if provider not in PROVIDERS:
            raise bottle.HTTPError(404)
        adapter = setup.adapters().get(provider)
        if adapter is None:
            raise bottle.HTTPError(404)
        body = bottle.request.body.read(1024 * 1024)
        headers = dict(bottle.request.headers.items())
        try:
            event = adapter.verify_notification(body, headers)
            outcome = orders.apply_payment_event(ctx, event, now=config.clock(), adapter=adapter)
            log.info("%s notification %s for %s: %s", provider, event.event_id, event.order_number, outcome)
            ack = adapter.acknowledge(True)
        except PaymentVerificationError as exc:
            log.warning("%s notification rejected: %s", provider, exc.message)
            ack = adapter.acknowledge(False, exc.reason)
        except (ProviderError, CheckoutError) as exc:
            log.error("%s notification not applied (the provider will retry): %s", provider, exc.message)
            ack = adapter.acknowledge(False, "retry later")  # every provider retries a failure answer
        except Exception:  # never a stack trace to the provider; it retries and the log keeps it
            log.exception("%s notification failed", provider)
            ack = adapter.acknowledge(False, "internal error")
        return bottle.HTTPResponse(ack.body, ack.status, {"Content-Type": ack.content_type})

    app.route("/pay/<provider>/return", method="GET", callback=back)
    app.route("/pay/<provider>/cancel", method="GET", callback=cancelled)
    app.route("/pay/<provider>/notify", method="POST", callback=notify)

    if config.payments == "sandbox" and not config.production:
        for name in PROVIDERS:
            app.mount(f"/sandbox/{name}/", _LazySandbox(setup, name))
    return setup


class _LazySandbox:
    """A WSGI app that builds the sandbox provider on its first request."""

    def __init__(self, setup: PaymentSetup, name: str):
        self.setup, self.name = setup, name

    def __call__(self, environ, start_response):
        return self.setup.sandbox_app(self.name)(environ, start_response)
