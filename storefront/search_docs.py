"""Search documents made from the Library: what the index stage feeds to ``storefront.search``.

Each document comes with a fingerprint of everything it holds, so that the build re-indexes only the
documents whose fingerprint changed since the last build.
"""

from __future__ import annotations

import hashlib

from .model import Library
from .search import SearchDoc


def documents(lib: Library) -> list[tuple[SearchDoc, str]]:
    out: list[tuple[SearchDoc, str]] = []
    cats = lib.categories
    for p in lib.products:
        cat = cats.get(p.category)
        doc = SearchDoc(id=f"product:{p.sku}", kind="product", url=p.url, title=p.title, text=p.text,
                        sku=p.sku, variant_skus=tuple(v.sku for v in p.variants), category=p.category,
                        category_title=cat.title if cat else "", tags=p.tags, price_minor=p.price_minor,
                        currency=p.currency, image=p.images[0] if p.images else "")
        out.append((doc, _fp(p.fingerprint, doc.category_title, doc.url)))
    for s in lib.help_sections:
        for a in s.articles:
            doc = SearchDoc(id=f"help:{a.section}/{a.slug}", kind="help", url=a.url, title=a.title, text=a.text,
                            category=s.slug, category_title=s.title, tags=a.tags)
            out.append((doc, _fp(a.fingerprint, s.title)))
    for pol in lib.policies:
        doc = SearchDoc(id=f"policy:{pol.id}", kind="policy", url=pol.url, title=f"{pol.title}（{pol.id}）",
                        text=pol.text, category="privacy", category_title="隐私政策")
        out.append((doc, _fp(pol.fingerprint, pol.status)))
    for pg in lib.pages:
        doc = SearchDoc(id=f"page:{pg.slug}", kind="page", url=pg.url, title=pg.title, text=pg.text)
        out.append((doc, _fp(pg.fingerprint)))
    return out


def _fp(*parts: str) -> str:
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=12).hexdigest()
