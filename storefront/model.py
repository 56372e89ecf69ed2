"""Records of the content model: immutable nouns that flow from loading to rendering.

Each record keeps ``source`` (the file it came from, as shown to the user) and ``fingerprint`` (a hash
of everything in it that can change a page), which the incremental build uses as a dependency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup


@dataclass(frozen=True)
class Site:
    """`content/site.toml`."""

    name: str
    base_url: str
    """Absolute, without a trailing slash."""
    language: str
    currency: str
    timezone: str
    api_url: str
    contact: dict[str, Any]
    payment_methods: tuple[str, ...]
    source: str = "site.toml"

    @property
    def locale(self) -> str:
        """The Babel locale name (``zh_CN`` for ``zh-CN``)."""
        return self.language.replace("-", "_")


@dataclass(frozen=True)
class Category:
    slug: str
    title: str
    order: int
    parent: str | None
    description: str
    body_html: Markup
    source: str
    fingerprint: str

    @property
    def url(self) -> str:
        return f"/categories/{self.slug}/"


@dataclass(frozen=True)
class Variant:
    sku: str
    options: dict[str, str]
    price_minor: int
    compare_at_minor: int | None
    stock: int | None
    """None means stock is not tracked for this SKU."""

    @property
    def label(self) -> str:
        return " / ".join(str(v) for v in self.options.values())

    @property
    def sold_out(self) -> bool:
        return self.stock == 0


@dataclass(frozen=True)
class Product:
    sku: str
    title: str
    slug: str
    category: str
    price_minor: int
    currency: str
    compare_at_minor: int | None
    stock: int | None
    tags: tuple[str, ...]
    images: tuple[str, ...]
    """URLs under /media/."""
    variants: tuple[Variant, ...]
    draft: bool
    publish_at: dt.date | None
    body_html: Markup | None
    """The rendered description. None in records read back from the build cache: at 10,000
    products the bodies stay on disk until a page that shows one is rendered."""
    description: str | None
    """Plain text, at most 160 characters, for meta tags; None with body_html."""
    extra: dict[str, Any]
    source: str
    fingerprint: str
    body_key: str = ""
    """The file's path relative to the content directory: where the build cache keeps the body."""

    @property
    def url(self) -> str:
        return f"/products/{self.slug}/"

    @property
    def sold_out(self) -> bool:
        if self.variants:
            return all(v.sold_out for v in self.variants)
        return self.stock == 0

    @property
    def price_range(self) -> tuple[int, int]:
        if not self.variants:
            return (self.price_minor, self.price_minor)
        prices = [v.price_minor for v in self.variants]
        return (min(prices), max(prices))


@dataclass(frozen=True)
class HelpArticle:
    section: str
    slug: str
    title: str
    order: int
    tags: tuple[str, ...]
    body_html: Markup
    text: str
    source: str
    fingerprint: str

    @property
    def url(self) -> str:
        return f"/help/{self.section}/{self.slug}/"


@dataclass(frozen=True)
class HelpSection:
    slug: str
    title: str
    order: int
    body_html: Markup
    source: str
    fingerprint: str
    articles: tuple[HelpArticle, ...] = ()

    @property
    def url(self) -> str:
        return f"/help/{self.slug}/"


@dataclass(frozen=True)
class PolicyVersion:
    id: str
    title: str
    effective: dt.date
    major: bool
    summary: str
    body_md: str
    """The normalised Markdown text: what the lock and the sha256 cover, with the title and date."""
    body_html: Markup
    text: str
    sha256: str
    source: str
    fingerprint: str
    status: str = "superseded"
    """``in_force``, ``upcoming`` or ``superseded`` at build time."""

    @property
    def url(self) -> str:
        return f"/privacy/{self.id}/"


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    description: str
    body_html: Markup
    text: str
    source: str
    fingerprint: str

    @property
    def url(self) -> str:
        return f"/{self.slug}/"


@dataclass(frozen=True)
class CategoryNode:
    """A category with its children, for navigation."""

    category: Category
    children: tuple["CategoryNode", ...]
    count: int


@dataclass(frozen=True)
class Library:
    """Everything loaded and checked: the input of planning and rendering."""

    site: Site
    categories: dict[str, Category]
    products: tuple[Product, ...]
    """Published products only (drafts with --drafts), in catalog order."""
    help_sections: tuple[HelpSection, ...]
    policies: tuple[PolicyVersion, ...]
    """Oldest first, with their status as of the build date."""
    pages: tuple[Page, ...]
    media: dict[str, str] = field(default_factory=dict)
    """media path relative to content/media -> content fingerprint."""
    site_fingerprint: str = ""
