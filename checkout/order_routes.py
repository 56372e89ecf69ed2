"""Routes of orders, stock and store credit: thin wrappers that parse the request and call
``orders``, ``stock`` and ``credit``.

Stage: runtime of the checkout service. Shopper routes go through ``current_account`` (which
answers ``consent_required`` while a major policy awaits consent) and ``require_full_account``
(a minor without guardian consent cannot order). Expired orders are swept inside the service: at
most once per ``CHECKOUT_EXPIRY_INTERVAL`` seconds (default 60, 0: only ``admin expire``) a
request starts a background pass, so no shopper waits for it.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import bottle

from . import credit, orders, stock
from .account_routes import current_account
from .accounts import Context, require_full_account
from .catalog import CatalogStore
from .errors import ValidationError
from .web import api, read_json

log = logging.getLogger("checkout.orders")
MAX_STOCK_SKUS = 100


def catalog_store_for(ctx: Context) -> CatalogStore:
    """The catalog of the site dir; each new file seeds/adjusts stock (the Markdown ``stock`` rule)."""
    return CatalogStore(ctx.config.site_dir / "catalog.json",
                        on_change=lambda catalog: stock.sync_from_catalog(catalog, ctx.config.clock()))


class ExpirySweeper:
    """Runs ``orders.expire_due`` in the background, at most once per interval per process."""

    def __init__(self, ctx: Context, app: bottle.Bottle, interval: float):
        self.ctx, self.app, self.interval = ctx, app, interval
        self._next = 0.0
        self._lock = threading.Lock()

    def poke(self) -> None:
        if self.interval <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                return
            self._next = now + self.interval
        threading.Thread(target=self.run, daemon=True, name="order-expiry").start()

    def run(self) -> None:
        db = self.app.config["checkout.database"]
        try:
            with db.connection_context():
                setup = self.app.config["checkout.payments"]
                result = orders.expire_due(self.ctx, setup.adapters(), now=self.ctx.config.clock())
            if result["expired"] or result["postponed"]:
                log.info("expiry: %s", result)
        except Exception:  # the next pass retries; a sweeper error must not reach a shopper
            log.exception("order expiry pass failed")


def _interval() -> float:
    text = os.environ.get("CHECKOUT_EXPIRY_INTERVAL", "60").strip()
    try:
        return float(text)
    except ValueError:
        log.warning("CHECKOUT_EXPIRY_INTERVAL=%r is not a number; using 60", text)
        return 60.0


def add_order_routes(app: bottle.Bottle, ctx: Context) -> CatalogStore:
    config = ctx.config
    plugin = [api(config)]
    store = catalog_store_for(ctx)
    app.config["checkout.catalog"] = store
    sweeper = ExpirySweeper(ctx, app, _interval())

    def route(method: str, path: str):
        return lambda fn: app.route(path, method=method, callback=fn, apply=plugin)

    def shopper():
        account = current_account(ctx)
        require_full_account(account)
        return account

    def bank():
        setup = app.config.get("checkout.payments")
        return setup.payments.bank if setup is not None else None

    @route("POST", "/api/orders")
    def place():
        account = shopper()
        sweeper.poke()
        catalog = store.current()
        order = orders.place_order(ctx, catalog, account, read_json(), now=config.clock(),
                                   settings=orders.OrderSettings.from_env())
        return 201, orders.order_view(ctx, order)

    @route("GET", "/api/orders")
    def mine():
        account = current_account(ctx, consent=False)
        sweeper.poke()
        return {"orders": orders.list_orders(ctx, account)}

    @route("GET", "/api/orders/<number>")
    def one(number: str):
        account = current_account(ctx, consent=False)
        return orders.order_view(ctx, orders.get_for(account, number), bank=bank())

    @route("POST", "/api/orders/<number>/cancel")
    def cancel(number: str):
        account = current_account(ctx)
        order = orders.get_for(account, number)
        setup = app.config.get("checkout.payments")
        orders.cancel_order(ctx, order, actor="shopper", reason="cancelled by the shopper", now=config.clock(),
                            adapters=setup.adapters() if setup is not None and order.payment_method else {})
        return orders.order_view(ctx, order, bank=bank())

    @route("POST", "/api/orders/<number>/transfer-reference")
    def transfer_reference(number: str):
        account = shopper()
        order = orders.get_for(account, number)
        orders.set_transfer_reference(order, read_json().get("reference"), config.clock())
        return orders.order_view(ctx, order, bank=bank())

    @route("GET", "/api/stock")
    def availability():
        skus = [s.strip() for s in bottle.request.query.getall("sku") for s in s.split(",") if s.strip()]
        if not skus or len(skus) > MAX_STOCK_SKUS:
            raise ValidationError(f"give 1-{MAX_STOCK_SKUS} sku parameters (?sku=A&sku=B).", field="sku")
        catalog = store.current()
        return {"catalog_version": catalog.version, "stock": stock.availability(catalog, skus)}

    @route("GET", "/api/me/credit")
    def my_credit():
        account = current_account(ctx, consent=False)
        currency = store.current().currency
        return {"currency": currency, "balance_minor": credit.balance(account, currency),
                "entries": credit.statement(account)}

    return store
