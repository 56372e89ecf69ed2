"""Storefront checkout service: accounts, orders and payments beside the static shop.

``create_app(config=None)`` builds a fresh Bottle WSGI app (``gunicorn "checkout:create_app()"``);
``python -m checkout serve|migrate|admin`` is the command line.
"""

from __future__ import annotations

from .app import create_app
from .config import Config
from .errors import CheckoutError

__all__ = ["create_app", "Config", "CheckoutError"]
