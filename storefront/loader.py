"""The load stage: read every file under content/, parse it, validate every field, link the records.

``scan`` lists the content files; ``parse_file`` turns one file into a record (or problems) and is
pure, so its result can be cached by file hash and computed in worker processes; ``assemble`` checks
what spans files (unknown categories, duplicate SKUs and slugs) and returns the ``Library``. Every
problem is collected and reported together as ``PATH:LINE: message``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from markupsafe import Markup

from . import frontmatter
from .errors import Problem, Problems
from .frontmatter import BadDate, Document, DocumentError
from .markup import excerpt, plain_text, render_markdown
from .sources import display
from .model import (Category, HelpArticle, HelpSection, Library, Page, PolicyVersion, Product, Site,
                    Variant)
from .datafiles import catalog_entry
from .money import is_currency, parse_price

PRODUCT_KEYS = ("sku", "title", "price", "category", "slug", "currency", "compare_at_price", "stock",
                "tags", "images", "variants", "draft", "publish_at", "extra")
VARIANT_KEYS = ("sku", "options", "price", "compare_at_price", "stock", "extra")
CATEGORY_KEYS = ("title", "order", "parent", "description", "extra")
SECTION_KEYS = ("title", "order", "extra")
ARTICLE_KEYS = ("title", "order", "tags", "extra")
POLICY_KEYS = ("title", "effective", "major", "summary", "extra")
PAGE_KEYS = ("title", "description", "extra")
SKU_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Top-level URL segments the build itself uses; a page of content/pages/ cannot take them.
RESERVED_PAGE_SLUGS = frozenset({"products", "categories", "help", "privacy", "search", "cart", "checkout",
                                 "account", "static", "media", "api", "pay", "sandbox", "sitemap.xml",
                                 "robots.txt", "404.html", "catalog.json", "policies.json", "index.html"})
PAYMENT_METHODS = ("paypal", "wechat", "alipay", "bank_transfer")


@dataclass
class Parsed:
    """What one file yields: a record, or problems, plus the key lines cross-file checks need."""

    kind: str
    rel: str
    record: Any = None
    problems: list[Problem] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)
    body_md: str = ""
    catalog: tuple[bytes, bytes] | None = None
    """Products: the catalog.json entry and its priced part (see datafiles.catalog_entry)."""
    text: str | None = None
    """Products: the description as plain text, for the search index (made here, in the parse
    workers, rather than again by the search stage; not kept in the cache)."""


# --------------------------------------------------------------------------------------------
# site.toml

def load_site_config(content_dir: Path, problems: Problems) -> tuple[Site | None, str]:
    """Parse and check site.toml; returns the Site (None when unusable) and the file's hash."""
    path = content_dir / "site.toml"
    shown = display(content_dir, "site.toml")
    if not path.exists():
        problems.add(shown, None, "missing. Fix: create content/site.toml with a [site] table "
                                  "(name, base_url, language, currency, timezone)")
        return None, ""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = frontmatter.decode(data)
        conf = tomllib.loads(text)
    except DocumentError as exc:
        problems.add(shown, exc.line, exc.message)
        return None, digest
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        problems.add(shown, int(m.group(1)) if m else None, f"TOML syntax error: {exc}")
        return None, digest

    def line_of(key: str) -> int | None:
        m = re.search(rf"^\s*\[?{re.escape(key)}\b", text, re.M)
        return text.count("\n", 0, m.start()) + 1 if m else None

    for table in conf:
        if table not in ("site", "contact", "payments", "extra"):
            problems.add(shown, line_of(table), f"unknown table [{table}]{_did_you_mean(table, ('site', 'contact', 'payments'))}. "
                                                "Fix: use [site], [contact], [payments] or [extra]")
    s = conf.get("site")
    if not isinstance(s, dict):
        problems.add(shown, None, "missing [site] table. Fix: add [site] with name and base_url")
        return None, digest
    allowed = ("name", "base_url", "language", "currency", "timezone", "api_url")
    for key in s:
        if key not in allowed:
            problems.add(shown, line_of(key), f"unknown key '{key}' in [site]{_did_you_mean(key, allowed)}")
    for key in ("name", "base_url"):
        if not isinstance(s.get(key), str) or not s.get(key, "").strip():
            problems.add(shown, line_of(key) or line_of("site"), f"[site] {key} is required (a string)")
    base_url = str(s.get("base_url", "")).rstrip("/")
    if base_url and not re.match(r"^https?://[^/\s]+(/\S*)?$", base_url):
        problems.add(shown, line_of("base_url"), f"base_url '{base_url}' must be absolute. "
                                                 "Fix: e.g. base_url = \"https://www.umegou.com\"")
    language = s.get("language", "zh-CN")
    if not isinstance(language, str) or not re.match(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", language):
        problems.add(shown, line_of("language"), f"language '{language}' is not a BCP 47 tag. Fix: e.g. \"zh-CN\"")
        language = "zh-CN"
    else:
        try:
            import babel
            babel.Locale.parse(language.replace("-", "_"))
        except Exception:
            problems.add(shown, line_of("language"), f"language '{language}' is not a locale Babel knows. Fix: e.g. \"zh-CN\"")
            language = "zh-CN"
    currency = s.get("currency", "CNY")
    if not is_currency(currency):
        problems.add(shown, line_of("currency"), f"currency '{currency}' is not an ISO 4217 code. Fix: e.g. \"CNY\"")
        currency = "CNY"
    timezone = s.get("timezone", "Asia/Shanghai")
    try:
        zoneinfo.ZoneInfo(str(timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.add(shown, line_of("timezone"), f"timezone '{timezone}' is unknown. Fix: e.g. \"Asia/Shanghai\"")
        timezone = "Asia/Shanghai"
    api_url = s.get("api_url", "/api")
    if not isinstance(api_url, str) or not re.match(r"^(/|https?://)\S*$", api_url):
        problems.add(shown, line_of("api_url"), "api_url must be a path such as \"/api\" or an absolute URL")
        api_url = "/api"

    contact = conf.get("contact", {})
    contact_keys = ("service", "complaints", "cooperation", "wechat", "phone", "reply_within_hours")
    if not isinstance(contact, dict):
        problems.add(shown, line_of("contact"), "[contact] must be a table")
        contact = {}
    for key, value in contact.items():
        if key not in contact_keys:
            problems.add(shown, line_of(key), f"unknown key '{key}' in [contact]{_did_you_mean(key, contact_keys)}")
        elif key == "reply_within_hours":
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                problems.add(shown, line_of(key), "reply_within_hours must be a whole number of hours, e.g. 24")
        elif not isinstance(value, str):
            problems.add(shown, line_of(key), f"[contact] {key} must be a string")
        elif key in ("service", "complaints", "cooperation") and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
            problems.add(shown, line_of(key), f"[contact] {key} '{value}' is not an e-mail address")
    payments = conf.get("payments", {})
    methods = payments.get("methods", list(PAYMENT_METHODS)) if isinstance(payments, dict) else []
    if not isinstance(methods, list) or any(m not in PAYMENT_METHODS for m in methods):
        problems.add(shown, line_of("methods"), f"[payments] methods must be a list drawn from {list(PAYMENT_METHODS)}")
        methods = [m for m in methods if m in PAYMENT_METHODS] if isinstance(methods, list) else []
    site = Site(name=str(s.get("name", "")), base_url=base_url, language=language, currency=currency,
                timezone=str(timezone), api_url=api_url, contact=dict(contact),
                payment_methods=tuple(methods), source=shown)
    return site, digest


def today_in(site: Site) -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo(site.timezone)).date()


# --------------------------------------------------------------------------------------------
# one file

class _Fields:
    """Typed access to a document's front matter that records a problem for every bad field."""

    def __init__(self, shown: str, doc: Document, allowed: Iterable[str], problems: list[Problem]):
        self.shown, self.doc, self.problems = shown, doc, problems
        allowed = tuple(allowed)
        for key, line in doc.duplicates:
            self.error(key, f"key '{key}' is given twice (line {line} repeats it). Fix: keep one", line=line)
        for key in doc.meta:
            if key not in allowed:
                self.error(key, f"unknown key '{key}'{_did_you_mean(str(key), allowed)}. "
                                "Fix: correct the spelling, or move custom data under 'extra:'")

    def line(self, key: str) -> int:
        return self.doc.lines.get(key, 1)

    def error(self, key: str, message: str, line: int | None = None) -> None:
        self.problems.append(Problem(self.shown, line or self.line(key), message))

    def get(self, key: str, default: Any = None) -> Any:
        return self.doc.meta.get(key, default)

    def text(self, key: str, *, required: bool = False, default: str = "", meta: dict | None = None,
             prefix: str = "") -> str:
        meta = self.doc.meta if meta is None else meta
        value = meta.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.error(prefix + key, f"'{key}' is required. Fix: add a line '{key}: ...' to the front matter",
                           line=self.line(prefix.rstrip(".")) if prefix else 1)
            return default
        if isinstance(value, bool) or isinstance(value, (dict, list)):
            self.error(prefix + key, f"'{key}' must be text, not {type(value).__name__}")
            return default
        return str(value).strip()

    def integer(self, key: str, *, default: int | None = None, minimum: int | None = None,
                meta: dict | None = None, prefix: str = "") -> int | None:
        meta = self.doc.meta if meta is None else meta
        value = meta.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(prefix + key, f"'{key}' must be a whole number, not '{value}'. Fix: e.g. {key}: 10")
            return default
        if minimum is not None and value < minimum:
            self.error(prefix + key, f"'{key}' must be {minimum} or more, not {value}")
            return default
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(key, f"'{key}' must be true or false, not '{value}'")
            return default
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or any(isinstance(v, (dict, list, bool)) or v is None for v in value):
            self.error(key, f"'{key}' must be a list of words, e.g. {key}: [蓝牙, 降噪]")
            return ()
        return tuple(str(v).strip() for v in value if str(v).strip())

    def date(self, key: str, *, required: bool = False) -> dt.date | None:
        value = frontmatter.to_date(self.get(key))
        if value is None:
            if required:
                self.error(key, f"'{key}' is required. Fix: add '{key}: YYYY-MM-DD'")
            return None
        if isinstance(value, BadDate):
            self.error(key, f"'{value.text}' is not a real date ({value.reason}). Fix: write an existing "
                            "date as YYYY-MM-DD")
            return None
        return value

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(key, f"'{key}' must be a mapping of keys to values")
            return {}
        return _plain(value)

    def price(self, key: str, currency: str, *, required: bool = False, meta: dict | None = None,
              prefix: str = "") -> int | None:
        meta = self.doc.meta if meta is None else meta
        value = meta.get(key)
        if value is None:
            if required:
                self.error(prefix + key, f"'{key}' is required. Fix: add e.g. {key}: \"199.00\"",
                           line=self.line(prefix.rstrip(".")) if prefix else 1)
            return None
        try:
            return parse_price(value, currency)
        except ValueError as exc:
            self.error(prefix + key, f"{key} {exc}")
            return None


def _plain(value: Any) -> Any:
    """Front-matter values made safe for JSON and pickling (dates as ISO strings, Decimals as text)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.date, Decimal, BadDate)):
        return value.text if isinstance(value, BadDate) else str(value)
    return value


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def parse_file(content_dir: Path, kind: str, rel: str, data: bytes, site: Site, fp: str | None = None,
               cwd: str | None = None) -> Parsed:
    """Parse and check one document. Pure: the same bytes and site give the same result.
    ``fp``: ``fingerprint(data)`` when the caller has it; ``cwd``: the working directory (paths in
    messages are relative to it), when the caller has it."""
    shown = display(content_dir, rel, cwd)
    result = Parsed(kind, rel)
    fp = fp or fingerprint(data)
    try:
        text = frontmatter.decode(data)
        doc = frontmatter.parse(text, require_front_matter=True)
    except DocumentError as exc:
        result.problems.append(Problem(shown, exc.line, exc.message))
        return result
    stem = rel.rsplit("/", 1)[-1][:-3]
    parser = _PARSERS[kind]
    parser(result, shown, doc, stem, rel, fp, site)
    if result.problems:
        result.record = None
    return result


def _body(doc: Document) -> tuple[Markup, str]:
    html = render_markdown(doc.body)
    return html, plain_text(html)


def _parse_product(result: Parsed, shown: str, doc: Document, stem: str, rel: str, fp: str,
                   site: Site) -> None:
    f = _Fields(shown, doc, PRODUCT_KEYS, result.problems)
    sku = f.text("sku", required=True)
    if sku and not SKU_RE.fullmatch(sku):
        f.error("sku", f"sku '{sku}' may only use letters, digits, '-' and '_' (1-64). Fix: e.g. sku: UM-1001")
    title = f.text("title", required=True)
    currency = f.text("currency", default=site.currency)
    if not is_currency(currency):
        f.error("currency", f"currency '{currency}' is not an ISO 4217 code. Fix: e.g. currency: CNY")
        currency = site.currency
    price = f.price("price", currency, required=True)
    compare_at = f.price("compare_at_price", currency)
    if price is not None and compare_at is not None and compare_at <= price:
        f.error("compare_at_price", "compare_at_price must be higher than price (it is the old, struck-through "
                                    "price). Fix: raise it or remove it")
        compare_at = None
    category = f.text("category", required=True)
    slug = f.text("slug", default=stem)
    _check_slug(f, "slug", slug)
    stock = f.integer("stock", minimum=0)
    tags = f.strings("tags")
    images = []
    for i, name in enumerate(f.strings("images")):
        if name.startswith("/") or ".." in name.split("/"):
            f.error("images", f"image '{name}' must be a path inside content/media/, e.g. x12-front.jpg")
        result.lines[f"image:{name}"] = f.line(f"images.{i}") if f"images.{i}" in doc.lines else f.line("images")
        images.append(name)
    variants = []
    raw_variants = f.get("variants")
    if raw_variants is not None and not isinstance(raw_variants, list):
        f.error("variants", "variants must be a list, e.g.\n  - {sku: UM-1001-BLK, options: {颜色: 黑色}}")
        raw_variants = []
    for i, raw in enumerate(raw_variants or []):
        prefix = f"variants.{i}."
        if not isinstance(raw, dict):
            f.error(f"variants.{i}", "each variant must be a mapping with sku and options")
            continue
        for key in raw:
            if key not in VARIANT_KEYS:
                f.error(prefix + str(key), f"unknown variant key '{key}'{_did_you_mean(str(key), VARIANT_KEYS)}")
        vsku = f.text("sku", required=True, meta=raw, prefix=prefix)
        if vsku and not SKU_RE.fullmatch(vsku):
            f.error(prefix + "sku", f"sku '{vsku}' may only use letters, digits, '-' and '_' (1-64)")
        options = raw.get("options", {})
        if not isinstance(options, dict) or not options or any(isinstance(v, (dict, list)) for v in options.values()):
            f.error(prefix + "options", "options must be a mapping such as {颜色: 黑色, 尺码: M}",
                    line=f.line(prefix + "options") if prefix + "options" in doc.lines else f.line(f"variants.{i}"))
            options = {}
        vprice = f.price("price", currency, meta=raw, prefix=prefix)
        vcompare = f.price("compare_at_price", currency, meta=raw, prefix=prefix)
        effective_price = vprice if vprice is not None else price
        if vcompare is not None and effective_price is not None and vcompare <= effective_price:
            f.error(prefix + "compare_at_price", "compare_at_price must be higher than the variant's price")
            vcompare = None
        vstock = f.integer("stock", minimum=0, meta=raw, prefix=prefix)
        result.lines[f"variant:{vsku}"] = f.line(prefix + "sku") if prefix + "sku" in doc.lines else f.line(f"variants.{i}")
        variants.append(Variant(vsku, {str(k): str(v) for k, v in options.items()},
                                effective_price or 0, vcompare if vcompare is not None else compare_at,
                                vstock))
    draft = f.boolean("draft")
    publish_at = f.date("publish_at")
    extra = f.mapping("extra")
    for key in ("sku", "category", "slug"):
        result.lines[key] = f.line(key)
    if result.problems:
        return
    body_html, text = _body(doc)
    product = Product(
        sku=sku, title=title, slug=slug, category=category, price_minor=price or 0, currency=currency,
        compare_at_minor=compare_at, stock=stock, tags=tags, images=tuple(f"/media/{quote(n)}" for n in images),
        variants=tuple(variants), draft=draft, publish_at=publish_at, body_html=body_html,
        description=excerpt(text), extra=extra, source=shown, fingerprint=fp, body_key=rel)
    result.record = product
    result.catalog = catalog_entry(product)
    result.text = text


def _check_slug(f: _Fields, key: str, slug: str) -> None:
    if not slug or "/" in slug or "\\" in slug or slug.startswith(".") or re.search(r"\s", slug) \
            or any(c in slug for c in "?#%<>\"'"):
        f.error(key, f"slug '{slug}' cannot be used in a URL. Fix: use letters, digits, '-' (Chinese is "
                     "allowed), no spaces, '/', '?', '#' or '%'")


def _parse_category(result: Parsed, shown: str, doc: Document, stem: str, rel: str, fp: str,
                    site: Site) -> None:
    f = _Fields(shown, doc, CATEGORY_KEYS, result.problems)
    title = f.text("title", required=True)
    order = f.integer("order", default=0)
    parent = f.text("parent") or None
    description = f.text("description")
    f.mapping("extra")
    _check_slug(f, "title", stem)
    result.lines["parent"] = f.line("parent")
    if result.problems:
        return
    body_html, _ = _body(doc)
    result.record = Category(stem, title, order or 0, parent, description, body_html, shown, fp)


def _parse_help_section(result: Parsed, shown: str, doc: Document, stem: str, rel: str, fp: str,
                        site: Site) -> None:
    f = _Fields(shown, doc, SECTION_KEYS, result.problems)
    title = f.text("title", required=True)
    order = f.integer("order", default=0)
    f.mapping("extra")
    if result.problems:
        return
    body_html, _ = _body(doc)
    result.record = HelpSection(rel.split("/")[1], title, order or 0, body_html, shown, fp)


def _parse_help_article(result: Parsed, shown: str, doc: Document, stem: str, rel: str, fp: str,
                        site: Site) -> None:
    f = _Fields(shown, doc, ARTICLE_KEYS, result.problems)
    title = f.text("title", required=True)
    order = f.integer("order", default=0)
    tags = f.strings("tags")
    f.mapping("extra")
    _check_slug(f, "title", stem)
    if result.problems:
        return
    body_html, text = _body(doc)
    result.record = HelpArticle(rel.split("/")[1], stem, title, order or 0, tags, body_html, text, shown, fp)


def policy_text_hash(title: str, effective: dt.date, body: str) -> tuple[str, str]:
    """The normalised legal text of a policy version and its sha256: what versions.lock protects."""
    lines = [line.rstrip() for line in body.strip("\n").split("\n")]
    normal = f"{title}\n{effective.isoformat()}\n\n" + "\n".join(lines).strip() + "\n"
    return normal, hashlib.sha256(normal.encode("utf-8")).hexdigest()


def _parse_policy(result: Parsed, shown: str, doc: Document, stem: str, rel: str, fp: str,
                  site: Site) -> None:
    f = _Fields(shown, doc, POLICY_KEYS, result.problems)
    title = f.text("title", default="隐私政策")
    effective = f.date("effective", required=True)
    major = f.boolean("major")
    summary = f.text("summary")
    f.mapping("extra")
    _check_slug(f, "title", stem)
    if result.problems or effective is None:
        return
    body_html, text = _body(doc)
    normal, digest = policy_text_hash(title, effective, doc.body)
    result.body_md = doc.body
    result.record = PolicyVersion(stem, title, effective, major, summary, normal, body_html, text, digest,
                                  shown, fp)


def _parse_page(result: Parsed, shown: str, doc: Document, stem: str, rel: str, fp: str,
                site: Site) -> None:
    f = _Fields(shown, doc, PAGE_KEYS, result.problems)
    title = f.text("title", required=True)
    description = f.text("description")
    f.mapping("extra")
    _check_slug(f, "title", stem)
    if stem in RESERVED_PAGE_SLUGS:
        f.error("title", f"the page name '{stem}' is used by the build itself (/{stem}/). Fix: rename the file")
    if result.problems:
        return
    body_html, text = _body(doc)
    result.record = Page(stem, title, description or excerpt(text), body_html, text, shown, fp)


_PARSERS = {
    "product": _parse_product,
    "category": _parse_category,
    "help_section": _parse_help_section,
    "help_article": _parse_help_article,
    "policy": _parse_policy,
    "page": _parse_page,
}
DOCUMENT_KINDS = frozenset(_PARSERS)


# --------------------------------------------------------------------------------------------
# across files

def assemble(site: Site, parsed: list[Parsed], media: dict[str, str], *, now: dt.date, drafts: bool,
             problems: Problems, site_fingerprint: str = "") -> Library:
    """Check what spans files and link the records into a Library."""
    by_kind: dict[str, list[Parsed]] = {}
    for p in parsed:
        problems.items.extend(p.problems)
        if p.record is not None:
            by_kind.setdefault(p.kind, []).append(p)

    categories: dict[str, Category] = {}
    for p in by_kind.get("category", []):
        categories[p.record.slug] = p.record
    for p in by_kind.get("category", []):
        c = p.record
        if c.parent is not None and c.parent not in categories:
            problems.add(c.source, p.lines.get("parent"), f"unknown parent category '{c.parent}'"
                         f"{_did_you_mean(c.parent, categories)}. Fix: use the file name of a file in categories/")
    for slug in categories:  # cycles
        seen, cur = [slug], categories[slug].parent
        while cur is not None and cur in categories:
            if cur in seen:
                problems.add(categories[slug].source, None, f"categories form a loop: {' -> '.join(seen + [cur])}. "
                             "Fix: one of them must not name the other as parent")
                break
            seen.append(cur)
            cur = categories[cur].parent

    skus: dict[str, tuple[str, int | None]] = {}
    slugs: dict[str, tuple[str, int | None]] = {}
    products: list[Product] = []
    for p in sorted(by_kind.get("product", []), key=lambda p: p.rel):
        prod: Product = p.record
        for name, line in p.lines.items():
            if name.startswith("image:") and name[6:] not in media:
                problems.add(prod.source, line, f"image '{name[6:]}' is not in content/media/. "
                                                "Fix: add the file there or correct the name")
        if prod.category not in categories:
            problems.add(prod.source, p.lines.get("category"), f"unknown category '{prod.category}'"
                         f"{_did_you_mean(prod.category, categories)}. Fix: use the file name of a file in categories/")
        for sku, line in [(prod.sku, p.lines.get("sku"))] + [(v.sku, p.lines.get(f"variant:{v.sku}")) for v in prod.variants]:
            if sku in skus:
                first = skus[sku]
                problems.add(prod.source, line, f"duplicate sku '{sku}' (also at {first[0]}:{first[1]}). "
                                                "Fix: every product and variant needs its own sku")
            else:
                skus[sku] = (prod.source, line)
        if prod.slug in slugs:
            first = slugs[prod.slug]
            problems.add(prod.source, p.lines.get("slug") if "slug" in p.lines else 1,
                         f"duplicate slug '{prod.slug}': /products/{prod.slug}/ is also made by {first[0]}. "
                         "Fix: set a different 'slug:' or rename the file")
        else:
            slugs[prod.slug] = (prod.source, p.lines.get("slug"))
        if prod.draft and not drafts:
            continue
        if prod.publish_at is not None and prod.publish_at > now:
            continue
        products.append(prod)
    products.sort(key=lambda p: p.sku)

    sections: dict[str, HelpSection] = {p.record.slug: p.record for p in by_kind.get("help_section", [])}
    articles: dict[str, list[HelpArticle]] = {}
    for p in by_kind.get("help_article", []):
        a: HelpArticle = p.record
        if a.section not in sections:
            problems.add(a.source, None, f"help section '{a.section}' has no _section.md. "
                                         f"Fix: create help/{a.section}/_section.md with a title")
            continue
        articles.setdefault(a.section, []).append(a)
    help_sections = tuple(
        replace(s, articles=tuple(sorted(articles.get(s.slug, []), key=lambda a: (a.order, a.slug))))
        for s in sorted(sections.values(), key=lambda s: (s.order, s.slug)))

    policies = [p.record for p in by_kind.get("policy", [])]
    dates: dict[dt.date, str] = {}
    for pol in sorted(policies, key=lambda p: p.id):
        if pol.effective in dates:
            problems.add(pol.source, None, f"two versions take effect on {pol.effective} (also {dates[pol.effective]}). "
                                           "Fix: give each version its own effective date")
        dates[pol.effective] = pol.source
    policies = with_status(policies, now)

    pages = tuple(sorted((p.record for p in by_kind.get("page", [])), key=lambda p: p.slug))
    return Library(site=site, categories=dict(sorted(categories.items())), products=tuple(products),
                   help_sections=help_sections, policies=tuple(policies), pages=pages, media=media,
                   site_fingerprint=site_fingerprint)


def with_status(policies: list[PolicyVersion], now: dt.date) -> list[PolicyVersion]:
    """Oldest first; the latest version effective on or before ``now`` is in force."""
    ordered = sorted(policies, key=lambda p: (p.effective, p.id))
    past = [p for p in ordered if p.effective <= now]
    in_force = past[-1].id if past else None
    out = []
    for p in ordered:
        status = "in_force" if p.id == in_force else ("upcoming" if p.effective > now else "superseded")
        out.append(replace(p, status=status))
    return out
