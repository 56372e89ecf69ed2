"""Convert a synthetic store (bench/synth.py) into equivalent Pelican and Hugo sites.

Part of the build benchmark (``bench/build.py``): the same catalog is built by our generator, by
Pelican and by Hugo, with minimal themes that make the same pages: one page per product (price,
variants, body, tags, breadcrumbs, 4 related products), every category paginated 24 products a
page with its descendants' products (as ours does), the home page (8 featured products and the
category tree), the help, policy and plain pages, and on every page a navigation of all the
categories. The themes are ``bench/pelican/`` and ``bench/hugo/``.

Work that is not the generators' own (related products, the category tree) is computed here once
and handed to both as data, so neither pays for something the other gets for free.

Conversion writes a file only when its bytes change, so that after ``synth.edit_one_product`` a
re-conversion touches exactly the files a real editor would have touched.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
PER_PAGE = 24
RELATED = 4
FEATURED = 8
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Doc:
    """One content file of the store: its path relative to content/, front matter and body."""

    rel: str
    meta: dict[str, Any]
    body: str


@dataclass(frozen=True)
class Store:
    """The store read back from disk, as plain data both converters share."""

    site: dict[str, Any]
    categories: dict[str, dict[str, Any]]
    """slug -> front matter, in file-name order."""
    products: list[Doc]
    """In sku order, as our build lists them."""
    help: list[Doc]
    pages: list[Doc]
    policies: list[Doc]
    media: list[Path]


def _read(path: Path, rel: str) -> Doc:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise ValueError(f"{path}:1: no front matter. Fix: regenerate the store with bench/synth.py")
    head, body = text[4:].split("\n---\n", 1)
    meta = yaml.load(head, Loader=_Loader)
    return Doc(rel, meta, body)


def read_store(content: Path) -> Store:
    """Read a content tree written by ``synth.generate_store``."""
    import tomllib

    site = tomllib.loads((content / "site.toml").read_text(encoding="utf-8"))
    categories = {p.stem: _read(p, f"categories/{p.name}").meta for p in sorted((content / "categories").glob("*.md"))}
    products = [_read(p, p.relative_to(content).as_posix()) for p in (content / "products").rglob("*.md")]
    products.sort(key=lambda d: d.meta["sku"])
    help_docs = [_read(p, p.relative_to(content).as_posix()) for p in sorted((content / "help").rglob("*.md"))]
    pages = [_read(p, p.relative_to(content).as_posix()) for p in sorted((content / "pages").glob("*.md"))]
    policies = [_read(p, p.relative_to(content).as_posix()) for p in sorted((content / "privacy").glob("*.md"))]
    media = sorted((content / "media").iterdir()) if (content / "media").is_dir() else []
    return Store(site, categories, products, help_docs, pages, policies, media)


# ---------------------------------------------------------------------------------------------
# shared data: the category tree, each product's categories, related products


def category_tree(store: Store) -> list[dict[str, Any]]:
    """Top-level categories with their children: the navigation both themes render on every page."""
    def node(slug: str) -> dict[str, Any]:
        c = store.categories[slug]
        kids = [s for s, k in store.categories.items() if k.get("parent") == slug]
        kids.sort(key=lambda s: (store.categories[s].get("order", 0), s))
        return {"slug": slug, "title": c["title"], "url": f"/categories/{slug}/", "children": [node(k) for k in kids]}
    tops = [s for s, c in store.categories.items() if not c.get("parent")]
    tops.sort(key=lambda s: (store.categories[s].get("order", 0), s))
    return [node(s) for s in tops]


def ancestors(store: Store, slug: str) -> list[str]:
    """``slug`` and its parents, nearest first."""
    out = []
    while slug and slug in store.categories and slug not in out:
        out.append(slug)
        slug = store.categories[slug].get("parent")
    return out


def _card(doc: Doc) -> dict[str, Any]:
    m = doc.meta
    return {"title": m["title"], "url": f"/products/{m['slug']}/", "price": m["price"],
            "image": f"/media/{m['images'][0]}" if m.get("images") else ""}


def related_cards(store: Store) -> dict[str, list[dict[str, Any]]]:
    """sku -> the next 4 products of the same category (cyclic), as our build picks them."""
    by_cat: dict[str, list[Doc]] = {}
    for d in store.products:
        by_cat.setdefault(d.meta["category"], []).append(d)
    out = {}
    for sibs in by_cat.values():
        n = min(RELATED, len(sibs) - 1)
        for i, d in enumerate(sibs):
            out[d.meta["sku"]] = [_card(sibs[(i + k) % len(sibs)]) for k in range(1, n + 1)]
    return out


def featured_products(store: Store) -> list[Doc]:
    def sold_out(m: dict[str, Any]) -> bool:
        if m.get("variants"):
            return all(v.get("stock") == 0 for v in m["variants"])
        return m.get("stock") == 0
    on_sale = [d for d in store.products if d.meta.get("compare_at_price") and not sold_out(d.meta)]
    rest = [d for d in store.products if not d.meta.get("compare_at_price") and not sold_out(d.meta)]
    return (on_sale + rest)[:FEATURED]


def _put(path: Path, text: str) -> bool:
    """Write ``text`` unless the file already holds it; True when written."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def _variants(m: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"sku": v["sku"], "label": " / ".join(str(x) for x in v["options"].values()),
             "price": v.get("price", m["price"]), "stock": v.get("stock")} for v in m.get("variants", [])]


def _page_docs(store: Store) -> list[tuple[str, str, str]]:
    """(url, title, body) of help articles and sections, plain pages and policy versions."""
    out = []
    for d in store.help:
        parts = d.rel.split("/")
        url = f"/help/{parts[1]}/" if parts[2] == "_section.md" else f"/help/{parts[1]}/{parts[2][:-3]}/"
        out.append((url, d.meta["title"], d.body))
    for d in store.pages:
        out.append((f"/{Path(d.rel).stem}/", d.meta["title"], d.body))
    for d in store.policies:
        out.append((f"/privacy/{Path(d.rel).stem}/", d.meta["title"], d.body))
    return out


# ---------------------------------------------------------------------------------------------
# Pelican


def to_pelican(content: Path, site_dir: Path) -> int:
    """Write a Pelican project (``pelicanconf.py`` + ``content/``) for the store; returns files written.

    Products are articles; category membership is expressed with Pelican tags (an article has one
    Pelican category but may have many tags, and a parent category lists its children's products),
    saved at ``/categories/<slug>/`` and paginated 24 a page.
    """
    store = read_store(content)
    tree = category_tree(store)
    related = related_cards(store)
    featured = [_card(d) for d in featured_products(store)]
    written = 0
    out = site_dir / "content"
    expected: set[Path] = set()
    base_date = dt.datetime(2024, 1, 1)
    for i, d in enumerate(store.products):
        m = d.meta
        cats = ancestors(store, m["category"])
        crumbs = [{"title": store.categories[c]["title"], "url": f"/categories/{c}/"} for c in reversed(cats)]
        header = [
            f"Title: {m['title']}",
            f"Date: {(base_date + dt.timedelta(minutes=i)).strftime('%Y-%m-%d %H:%M')}",
            f"Slug: {m['slug']}",
            f"Tags: {', '.join(cats)}",
            f"Sku: {m['sku']}",
            f"Price: {m['price']}",
            f"Compare_at: {m.get('compare_at_price', '')}",
            f"Stock: {'' if m.get('stock') is None else m['stock']}",
            f"Image: {('/media/' + m['images'][0]) if m.get('images') else ''}",
            f"Labels: {', '.join(m.get('tags', []))}",
            f"Variants: {json.dumps(_variants(m), ensure_ascii=False)}",
            f"Related: {json.dumps(related.get(m['sku'], []), ensure_ascii=False)}",
            f"Crumbs: {json.dumps(crumbs, ensure_ascii=False)}",
        ]
        path = out / "products" / f"{m['slug']}.md"
        expected.add(path)
        written += _put(path, "\n".join(header) + "\n\n" + d.body)
    for k, (url, title, body) in enumerate(_page_docs(store)):
        path = out / "pages" / f"p{k:03d}.md"
        expected.add(path)
        written += _put(path, f"Title: {title}\nSlug: p{k:03d}\nUrl: {url.lstrip('/')}\n"
                              f"Save_as: {url.lstrip('/')}index.html\n\n{body}")
    for f in store.media:
        written += _copy(f, out / "media" / f.name)
        expected.add(out / "media" / f.name)
    _prune(out, expected)
    titles = {s: c["title"] for s, c in store.categories.items()}
    conf = PELICAN_CONF.format(
        theme=json.dumps(str(BENCH / "pelican")), per_page=PER_PAGE,
        tree=json.dumps(tree, ensure_ascii=False), titles=json.dumps(titles, ensure_ascii=False),
        featured=json.dumps(featured, ensure_ascii=False), site=json.dumps(store.site, ensure_ascii=False))
    written += _put(site_dir / "pelicanconf.py", conf)
    return written


PELICAN_CONF = '''\
# Generated by bench/convert.py: a Pelican site equivalent to our build of the same store.
import json

AUTHOR = "umegou"
SITENAME = "umegou"
SITEURL = "https://www.umegou.com"
TIMEZONE = "Asia/Shanghai"
DEFAULT_LANG = "zh"
PATH = "content"
THEME = {theme}
ARTICLE_PATHS = ["products"]
PAGE_PATHS = ["pages"]
STATIC_PATHS = ["media"]
ARTICLE_URL = "products/{{slug}}/"
ARTICLE_SAVE_AS = "products/{{slug}}/index.html"
PAGE_URL = "{{slug}}/"
PAGE_SAVE_AS = "{{slug}}/index.html"
TAG_URL = "categories/{{slug}}/"
TAG_SAVE_AS = "categories/{{slug}}/index.html"
CATEGORY_SAVE_AS = ""
AUTHOR_SAVE_AS = ""
ARCHIVES_SAVE_AS = ""
YEAR_ARCHIVE_SAVE_AS = ""
MONTH_ARCHIVE_SAVE_AS = ""
DAY_ARCHIVE_SAVE_AS = ""
DRAFT_SAVE_AS = ""
DIRECT_TEMPLATES = ["index"]
PAGINATED_TEMPLATES = {{"tag": None}}
DEFAULT_PAGINATION = {per_page}
PAGINATION_PATTERNS = (
    (1, "{{url}}", "{{save_as}}"),
    (2, "{{base_name}}/page/{{number}}/", "{{base_name}}/page/{{number}}/index.html"),
)
FEED_ALL_ATOM = None
FEED_ALL_RSS = None
CATEGORY_FEED_ATOM = None
TAG_FEED_ATOM = None
TRANSLATION_FEED_ATOM = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
RELATIVE_URLS = False
# The same Markdown extensions as storefront/markup.py.
MARKDOWN = {{
    "extension_configs": {{
        "markdown.extensions.tables": {{}},
        "markdown.extensions.fenced_code": {{}},
        "markdown.extensions.sane_lists": {{}},
        "markdown.extensions.attr_list": {{}},
        "markdown.extensions.def_list": {{}},
        "markdown.extensions.meta": {{}},
    }},
    "output_format": "html5",
}}
JINJA_FILTERS = {{"fromjson": json.loads}}
NAV_TREE = json.loads({tree!r})
CATEGORY_TITLES = json.loads({titles!r})
FEATURED = json.loads({featured!r})
STORE = json.loads({site!r})
'''


# ---------------------------------------------------------------------------------------------
# Hugo


def to_hugo(content: Path, site_dir: Path) -> int:
    """Write a Hugo site (``hugo.toml``, ``content/``, ``data/``, ``static/``; layouts from
    ``bench/hugo/``) for the store; returns files written.

    Categories are a Hugo taxonomy whose term pages live at ``/categories/<slug>/`` (paginated 24
    a page); each product lists its category and the parents, so parents list their children's
    products, as ours does.
    """
    store = read_store(content)
    tree = category_tree(store)
    related = related_cards(store)
    out = site_dir / "content"
    expected: set[Path] = set()
    written = 0
    written += _put(site_dir / "hugo.toml", HUGO_CONF.format(per_page=PER_PAGE))
    written += _put(site_dir / "data" / "nav.json", json.dumps(tree, ensure_ascii=False))
    written += _put(site_dir / "data" / "store.json", json.dumps(
        {"site": store.site, "featured": [_card(d) for d in featured_products(store)]}, ensure_ascii=False))
    # Ours has no /products/ or /pages/ list: those sections are not rendered.
    for section in ("products", "pages"):
        written += _put(out / section / "_index.md", f"---\ntitle: {section}\nbuild: {{render: never}}\n---\n")
        expected.add(out / section / "_index.md")
    for i, d in enumerate(store.products):
        m = d.meta
        cats = ancestors(store, m["category"])
        fm = {
            "title": m["title"], "weight": i + 1, "categories": cats,
            "params": {
                "sku": m["sku"], "price": m["price"], "compare_at": m.get("compare_at_price", ""),
                "stock": m.get("stock"), "image": f"/media/{m['images'][0]}" if m.get("images") else "",
                "labels": m.get("tags", []), "variants": _variants(m), "related": related.get(m["sku"], []),
                "crumbs": [{"title": store.categories[c]["title"], "url": f"/categories/{c}/"}
                           for c in reversed(cats)],
            },
        }
        path = out / "products" / f"{m['slug']}.md"
        expected.add(path)
        written += _put(path, "---\n" + json.dumps(fm, ensure_ascii=False) + "\n---\n" + d.body)
    for slug, c in store.categories.items():
        path = out / "categories" / slug / "_index.md"
        expected.add(path)
        written += _put(path, "---\n" + json.dumps({"title": c["title"], "weight": c.get("order", 0),
                                                    "params": {"parent": c.get("parent") or ""}},
                                                   ensure_ascii=False) + "\n---\n")
    for k, (url, title, body) in enumerate(_page_docs(store)):
        path = out / "pages" / f"p{k:03d}.md"
        expected.add(path)
        written += _put(path, "---\n" + json.dumps({"title": title, "url": url}, ensure_ascii=False) + "\n---\n" + body)
    for f in store.media:
        written += _copy(f, site_dir / "static" / "media" / f.name)
    _prune(out, expected)
    return written


HUGO_CONF = """\
# Generated by bench/convert.py: a Hugo site equivalent to our build of the same store.
baseURL = "https://www.umegou.com/"
locale = "zh-CN"
defaultContentLanguage = "zh"
hasCJKLanguage = true
title = "umegou"
disableKinds = ["taxonomy", "rss"]
enableRobotsTXT = true

[taxonomies]
category = "categories"

[pagination]
pagerSize = {per_page}
path = "page"

[markup.goldmark.renderer]
unsafe = false
"""


def _copy(src: Path, dst: Path) -> int:
    data = src.read_bytes()
    if dst.exists() and dst.read_bytes() == data:
        return 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data)
    return 1


def _prune(root: Path, keep: set[Path]) -> None:
    """Delete content files that the store no longer has (a converted site mirrors the store)."""
    for path in list(root.rglob("*")):
        if path.is_file() and path not in keep:
            path.unlink()


HUGO_THEME = ("--themesDir", str(BENCH), "--theme", "hugo")
"""Arguments that make Hugo use bench/hugo/ (layouts and static) as the theme."""
