"""Search documents made from the Library: what the index stage feeds to ``storefront.search``.

Each document comes with a fingerprint of everything it holds, and is made only when asked for:
the build re-indexes just the documents whose fingerprint changed since the last build, and only
those need their product description read back from the cache.
"""

from __future__ import annotations

import hashlib
from typing import Callable

from markupsafe import Markup

from .markup import plain_text
from .model import Library, Product
from .search_base import SearchDoc

Pending = tuple[str, str, Callable[[], SearchDoc]]
"""(document id, fingerprint, a function that makes the document)."""


def documents(lib: Library, body_of: Callable[[Product], Markup]) -> list[Pending]:
    out: list[Pending] = []
    cats = lib.categories
    for p in lib.products:
        cat = cats.get(p.category)
        cat_title = cat.title if cat else ""

        def product_doc(p: Product = p, cat_title: str = cat_title) -> SearchDoc:
            return SearchDoc(id=f"product:{p.sku}", kind="product", url=p.url, title=p.title,
                             text=plain_text(body_of(p)), sku=p.sku, variant_skus=tuple(v.sku for v in p.variants),
                             category=p.category, category_title=cat_title, tags=p.tags, price_minor=p.price_minor,
                             currency=p.currency, image=p.images[0] if p.images else "")
        out.append((f"product:{p.sku}", _fp(p.fingerprint, cat_title, p.url), product_doc))
    for s in lib.help_sections:
        for a in s.articles:
            doc = SearchDoc(id=f"help:{a.section}/{a.slug}", kind="help", url=a.url, title=a.title, text=a.text,
                            category=s.slug, category_title=s.title, tags=a.tags)
            out.append((doc.id, _fp(a.fingerprint, s.title), lambda doc=doc: doc))
    for pol in lib.policies:
        doc = SearchDoc(id=f"policy:{pol.id}", kind="policy", url=pol.url, title=f"{pol.title}（{pol.id}）",
                        text=pol.text, category="privacy", category_title="隐私政策")
        out.append((doc.id, _fp(pol.fingerprint, pol.status), lambda doc=doc: doc))
    for pg in lib.pages:
        doc = SearchDoc(id=f"page:{pg.slug}", kind="page", url=pg.url, title=pg.title, text=pg.text)
        out.append((doc.id, _fp(pg.fingerprint), lambda doc=doc: doc))
    return out


def _fp(*parts: str) -> str:
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=12).hexdigest()
