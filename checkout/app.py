"""The application factory: configuration -> database -> routes, in one readable list."""

from __future__ import annotations

import logging

import bottle

from . import migrations
from .account_routes import add_account_routes
from .accounts import Context
from .config import Config
from .db import open_database
from .errors import CheckoutError
from .openapi import ORDER_PATHS, ORDER_SCHEMAS, SEARCH_PATHS, SEARCH_SCHEMAS, add_openapi_route
from .order_routes import add_order_routes
from .payment_routes import add_payment_routes
from .search_routes import add_search_routes
from .web import install_hooks, json_response

log = logging.getLogger("checkout")


def create_app(config: Config | None = None, *, payments=None) -> bottle.Bottle:
    """A fresh Bottle app for ``config`` (default: from the environment). ``payments``: a
    ``payments.PaymentsConfig`` (default: read from ``CHECKOUT_*`` on first use)."""
    config = config or Config.from_env()
    db = open_database(config.database_url)
    with db.connection_context():
        # Development applies pending migrations itself; production waits for `migrate`.
        migrations.ensure_current(db, apply=not config.production)
    ctx = Context.from_config(config)

    app = bottle.Bottle()
    app.config["checkout.config"] = config
    app.config["checkout.context"] = ctx
    app.config["checkout.database"] = db
    install_hooks(app, config, db)
    add_health_route(app, ctx, db)
    add_account_routes(app, ctx)
    add_search_routes(app, config.index_dir)
    add_payment_routes(app, ctx, payments)
    add_order_routes(app, ctx)
    add_openapi_route(app, SEARCH_PATHS, ORDER_PATHS, schemas={**SEARCH_SCHEMAS, **ORDER_SCHEMAS})
    return app


def add_health_route(app: bottle.Bottle, ctx: Context, db) -> None:
    def health():
        try:
            db.execute_sql("SELECT 1")
            database_ok = True
        except Exception:  # readiness must answer, whatever the driver raises
            log.exception("health: database unreachable")
            database_ok = False
        try:
            ctx.policies.current()
            policies_ok = True
        except CheckoutError:
            policies_ok = False
        store = app.config.get("checkout.catalog")
        catalog_ok = store is not None and store.loaded()
        # Ready means able to take orders: the database answers and catalog.json prices them.
        ok = database_ok and catalog_ok
        return json_response(200 if ok else 503, {"status": "ok" if ok else "degraded", "database": database_ok,
                                                  "catalog": catalog_ok, "policies": policies_ok})

    app.route("/api/health", method="GET", callback=health)
