"""The priced catalog the service sells from: ``<site dir>/catalog.json`` written by the build.

Stage: runtime of the checkout service. Prices never come from the client: an order line is priced
from the ``Catalog`` loaded here, and the order records ``Catalog.version``. ``CatalogStore``
re-reads the file when its modification time or size changes (the build replaces it atomically),
so a rebuild takes effect without restarting the service. Only published products are in the file
(drafts and products before ``publish_at`` are left out by the build), so an unknown SKU is one
that cannot be ordered.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from .errors import CheckoutError


class CatalogUnavailable(CheckoutError):
    """catalog.json is missing or unreadable: nothing can be priced, so nothing can be ordered."""

    code = "catalog_unavailable"
    status = 503


@dataclass(frozen=True)
class CatalogItem:
    """One orderable SKU: a product without variants, or one variant of a product."""

    sku: str
    product_sku: str
    title: str
    """Product title, followed by the variant's options (``颜色: 黑色``) for a variant."""
    price_minor: int
    currency: str
    stock: int | None
    """The Markdown ``stock`` (seed value); None when the SKU's stock is not tracked."""
    url: str
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalog:
    version: str
    """sha256 of the priced catalog, recorded on each order."""
    currency: str
    items: Mapping[str, CatalogItem]
    """Orderable SKU -> item. A product with variants is sold only by its variants' SKUs."""

    def get(self, sku: str) -> CatalogItem | None:
        return self.items.get(sku)


def _int(value, where: str, *, minimum: int = 0, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: {value!r} is not an integer >= {minimum}")
    return value


def parse_catalog(data: Mapping, where: str = "catalog.json") -> Catalog:
    """Build a ``Catalog`` from the parsed file; ValueError names the product at fault."""
    if not isinstance(data, Mapping) or data.get("schema") != 1:
        raise ValueError(f"{where}: not a schema 1 catalog")
    version, currency = data.get("version"), data.get("currency")
    if not isinstance(version, str) or not version or not isinstance(currency, str):
        raise ValueError(f"{where}: version and currency are required")
    items: dict[str, CatalogItem] = {}
    for i, product in enumerate(data.get("products") or []):
        at = f"{where}: products[{i}]"
        sku = product.get("sku")
        if not isinstance(sku, str) or not sku:
            raise ValueError(f"{at}: sku missing")
        at = f"{where}: product {sku}"
        title, url = str(product.get("title", sku)), str(product.get("url", ""))
        product_currency = product.get("currency") or currency
        variants = product.get("variants") or []
        if not variants:
            items[sku] = CatalogItem(sku, sku, title, _int(product.get("price_minor"), f"{at} price_minor", minimum=1),
                                     product_currency, _int(product.get("stock"), f"{at} stock", nullable=True), url)
            continue
        for variant in variants:
            vsku = variant.get("sku")
            if not isinstance(vsku, str) or not vsku:
                raise ValueError(f"{at}: a variant has no sku")
            options = {str(k): str(v) for k, v in (variant.get("options") or {}).items()}
            label = " ".join(f"{k}: {v}" for k, v in options.items())
            items[vsku] = CatalogItem(vsku, sku, f"{title}（{label}）" if label else title,
                                      _int(variant.get("price_minor"), f"{at} variant {vsku} price_minor", minimum=1),
                                      product_currency, _int(variant.get("stock"), f"{at} variant {vsku} stock",
                                                             nullable=True), url, options)
    return Catalog(version, currency, items)


class CatalogStore:
    """The current catalog of ``path``, re-read when the file changes (checked on every call: one
    ``stat``). ``on_change`` runs once per new file (the service seeds stock from it)."""

    def __init__(self, path: Path, on_change=None):
        self.path = Path(path)
        self.on_change = on_change
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._catalog: Catalog | None = None
        self._synced: str | None = None

    def current(self) -> Catalog:
        try:
            st = os.stat(self.path)
        except OSError:
            if self._catalog is not None:
                return self._catalog  # keep selling from the last good one while the file is swapped
            raise CatalogUnavailable(f"{self.path} is missing: the service cannot price orders. "
                                     "Fix: run `python build.py` (or point CHECKOUT_SITE_DIR at the output).") from None
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp or self._catalog is None:
                try:
                    catalog = parse_catalog(json.loads(self.path.read_text(encoding="utf-8")), str(self.path))
                except (OSError, ValueError) as exc:
                    if self._catalog is not None:
                        return self._catalog
                    raise CatalogUnavailable(f"{exc}. Fix: rebuild the site so that catalog.json is complete.") from None
                self._catalog, self._stamp = catalog, stamp
            catalog, stamp = self._catalog, self._stamp
            # By file, not by version: the version covers prices, and a stock edit must sync too.
            needs_sync = self.on_change is not None and self._synced != stamp
        if needs_sync:
            self.on_change(catalog)
            self._synced = stamp
        return catalog

    def loaded(self) -> bool:
        try:
            self.current()
        except CheckoutError:
            return False
        return True
