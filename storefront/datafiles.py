"""Data files of the output, read by the checkout service and by crawlers (contract in DESIGN.md).

``catalog.json`` and ``policies.json`` are the only way the build talks to the service; keep their
shape stable (``schema`` is bumped on an incompatible change).
"""

from __future__ import annotations

import hashlib
import json
import re
from operator import attrgetter
from typing import Any, Callable
from urllib.parse import quote

from .model import Library, Product


def _dumps(data: Any) -> bytes:
    # Compact on purpose: without indent, json uses its C encoder (10x faster on a 10k catalog).
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def catalog_entry(p: Product) -> tuple[bytes, bytes]:
    """A product's catalog.json entry and the part of it the catalog version covers, as UTF-8 JSON."""
    entry = {
        "sku": p.sku, "slug": p.slug, "url": p.url, "title": p.title, "category": p.category,
        "price_minor": p.price_minor, "currency": p.currency,
        "compare_at_minor": p.compare_at_minor, "stock": p.stock,
        "variants": [{"sku": v.sku, "options": v.options, "price_minor": v.price_minor,
                      "compare_at_minor": v.compare_at_minor, "stock": v.stock} for v in p.variants],
    }
    priced = [p.sku, p.price_minor, p.currency, p.title, [[v.sku, v.price_minor, v.options] for v in p.variants]]
    return (json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
            json.dumps(priced, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8"))


def catalog_json(lib: Library, entry_of: Callable[[Product], tuple[bytes, bytes]] = catalog_entry) -> bytes:
    """``{"schema": 1, "version": sha256 of the priced catalog, "currency", "products": [...]}``.

    ``entry_of`` may hand back entries computed when each product file was parsed (the build cache
    keeps them), so a rebuild after one edit does not serialise 10,000 products again.
    """
    pairs = [entry_of(p) for p in sorted(lib.products, key=attrgetter("sku"))]
    entries, priced = zip(*pairs) if pairs else ((), ())
    version = hashlib.sha256(b"[" + b",".join(priced) + b"]").hexdigest()
    head = json.dumps({"schema": 1, "version": version, "currency": lib.site.currency},
                      ensure_ascii=False, separators=(",", ":"))[:-1].encode("utf-8")
    return head + b',"products":[' + b",".join(entries) + b"]}\n"


def policies_json(lib: Library) -> bytes:
    in_force = next((p.id for p in lib.policies if p.status == "in_force"), None)
    upcoming = [p for p in lib.policies if p.status == "upcoming"]
    return _dumps({
        "schema": 1,
        "timezone": lib.site.timezone,
        "in_force": in_force,
        "upcoming": upcoming[0].id if upcoming else None,
        "versions": [{"id": p.id, "title": p.title, "effective": p.effective.isoformat(), "major": p.major,
                      "summary": p.summary, "sha256": p.sha256, "url": p.url, "status": p.status}
                     for p in lib.policies],
    })


_URL_SAFE = re.compile(r"[A-Za-z0-9_.~/-]*")
"""What quote(url, safe="/") leaves as it is."""


def sitemap_xml(lib: Library, urls: list[str]) -> bytes:
    base = lib.site.base_url
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    for url in urls:
        # Most URLs need no escaping at all: quote() only for the others (it was 60% of the time).
        loc = base + (url if _URL_SAFE.fullmatch(url) else quote(url, safe="/"))
        lines.append(f"  <url><loc>{_xml(loc)}</loc></url>")
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def robots_txt(lib: Library) -> bytes:
    return (
        "User-agent: *\n"
        "Disallow: /account/\n"
        "Disallow: /cart/\n"
        "Disallow: /checkout/\n"
        "Disallow: /search/\n"
        f"Sitemap: {lib.site.base_url}/sitemap.xml\n"
    ).encode("utf-8")


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
