"""Search documents made from the Library: what the index stage feeds to ``storefront.search``.

Each document comes with a fingerprint of everything it holds, and is made only when asked for:
the build re-indexes just the documents whose fingerprint changed since the last build, and only
those need their product description read back from the cache.
"""

from __future__ import annotations

import hashlib
from typing import Callable

from .model import Library, Product
from .search_base import SearchDoc


def documents(lib: Library, text_of: Callable[[Product], str]) -> tuple[dict[str, str], Callable[[str], SearchDoc]]:
    """Every document's id and fingerprint, and a function that makes the document of an id.

    A product's fingerprint is its record's (which covers its URL) and its category's title, as
    they are: hashing them again would cost more than comparing them (10,000 per build).
    """
    fps: dict[str, str] = {}
    products: dict[str, Product] = {}
    others: dict[str, SearchDoc] = {}
    cat_titles = {slug: c.title for slug, c in lib.categories.items()}
    for p in lib.products:
        doc_id = "product:" + p.sku
        fps[doc_id] = p.fingerprint + "\0" + cat_titles.get(p.category, "")
        products[doc_id] = p
    for s in lib.help_sections:
        for a in s.articles:
            doc = SearchDoc(id=f"help:{a.section}/{a.slug}", kind="help", url=a.url, title=a.title, text=a.text,
                            category=s.slug, category_title=s.title, tags=a.tags)
            others[doc.id], fps[doc.id] = doc, _fp(a.fingerprint, s.title)
    for pol in lib.policies:
        doc = SearchDoc(id=f"policy:{pol.id}", kind="policy", url=pol.url, title=f"{pol.title}（{pol.id}）",
                        text=pol.text, category="privacy", category_title="隐私政策")
        others[doc.id], fps[doc.id] = doc, _fp(pol.fingerprint, pol.status)
    for pg in lib.pages:
        doc = SearchDoc(id=f"page:{pg.slug}", kind="page", url=pg.url, title=pg.title, text=pg.text)
        others[doc.id], fps[doc.id] = doc, _fp(pg.fingerprint)

    def make(doc_id: str) -> SearchDoc:
        if doc_id in others:
            return others[doc_id]
        p = products[doc_id]
        return SearchDoc(id=doc_id, kind="product", url=p.url, title=p.title, text=text_of(p),
                         sku=p.sku, variant_skus=tuple(v.sku for v in p.variants), category=p.category,
                         category_title=cat_titles.get(p.category, ""), tags=p.tags, price_minor=p.price_minor,
                         currency=p.currency, image=p.images[0] if p.images else "")
    return fps, make


def _fp(*parts: str) -> str:
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=12).hexdigest()
