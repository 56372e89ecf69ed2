"""The render stage: Jinja2 with autoescape, a recording environment, shared fragments, page contexts.

``RecordingEnvironment`` notes every template a page loads (extends, include, import), which is what
makes template edits rebuild exactly the pages that use them. Navigation, footer and the site-wide
notice are rendered once per build and handed to every page as Markup: at 10,000 pages that is the
biggest single saving.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import traceback
from collections import ChainMap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple
from urllib.parse import quote

import jinja2
from babel.dates import format_date
from markupsafe import Markup

from .errors import Problem, Problems
from .model import Category, CategoryNode, Library, Product
from .money import format_money, wire_amount

PER_PAGE = 24
CARD_TEMPLATE, CARD_MACRO = "partials/product_card.html", "product_card"
RELATED = 4
FEATURED = 8


class _Template(jinja2.Template):
    """Jinja's Template, with its check for new globals on ``{% from ... import %}`` done in C.

    On every import Jinja computes ``ctx.globals_keys - self.globals.keys()``, where
    ``self.globals`` is a ChainMap: the set difference then asks ChainMap's Python-level
    ``__contains__`` for each key, a sixth of rendering a product page (three imports). The
    difference of the same sets over the ChainMap's dicts decides the same way.
    """

    def _get_default_module(self, ctx: Any = None) -> Any:
        if ctx is not None and not self.environment.is_async:
            g = self.globals
            if not ctx.globals_keys.difference(*(g.maps if isinstance(g, ChainMap) else (g,))):
                ctx = None  # no new globals: Jinja's cached module, as it would decide itself
        return super()._get_default_module(ctx)


class RecordingEnvironment(jinja2.Environment):
    """An Environment that records the name of every template loaded while ``recording`` is a set."""

    template_class = _Template
    recording: set[str] | None = None

    def _load_template(self, name: str, globals: Any) -> jinja2.Template:  # noqa: A002 - Jinja's name
        if self.recording is not None:
            self.recording.add(name)
        return super()._load_template(name, globals)


def make_environment(templates_dir: Path, bytecode_dir: Path | None = None) -> RecordingEnvironment:
    """The theme's environment; with ``bytecode_dir``, compiled templates are kept there between builds."""
    env = RecordingEnvironment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=True,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.do"],
        # A plain dict for the compiled templates (a theme has a few dozen): Jinja's default LRU
        # cache takes a lock and moves the key to the end of a deque (a linear search) on every
        # lookup, five per page including the imports (3% of rendering a product page).
        cache_size=-1,
        bytecode_cache=jinja2.FileSystemBytecodeCache(str(bytecode_dir)) if bytecode_dir else None,
    )
    # Chinese stays readable in JSON-LD; Jinja still escapes <, >, & and ' for the HTML context.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
    return env


def template_names(templates_dir: Path) -> list[str]:
    """Every template of a theme (HTML, XML, text), not its static assets."""
    names = []
    for root, dirs, files in os.walk(templates_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (root == str(templates_dir) and d == "static"))
        for f in sorted(files):
            if f.endswith((".html", ".xml", ".txt", ".j2", ".eml")) and not f.startswith("."):
                names.append(os.path.relpath(os.path.join(root, f), templates_dir).replace(os.sep, "/"))
    return names


def check_templates(env: jinja2.Environment, templates_dir: Path, problems: Problems,
                    skip: dict[str, str] | None = None) -> dict[str, str]:
    """Compile every template; returns name -> hash of its source. Syntax errors become problems.

    Templates whose hash is in ``skip`` (they compiled in the last successful build) are not parsed again.
    """
    hashes = {}
    for name in template_names(templates_dir):
        path = templates_dir / name
        data = path.read_bytes()
        hashes[name] = hashlib.sha256(data).hexdigest()[:16]
        if skip and skip.get(name) == hashes[name]:
            continue
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.add(_shown(path), data.count(b"\n", 0, exc.start) + 1, "template is not valid UTF-8")
            continue
        try:
            env.parse(source, name, str(path))
        except jinja2.TemplateSyntaxError as exc:
            problems.add(_shown(path), exc.lineno, f"template syntax error in '{name}': {exc.message}")
    return hashes


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------
# assets

@dataclass(frozen=True)
class Asset:
    source: Path
    url: str
    """The fingerprinted URL, /static/css/site.3f2a91c0.css."""
    digest: str


def collect_assets(templates_dir: Path) -> dict[str, Asset]:
    """Theme static files, each with a content hash in its name."""
    static = templates_dir / "static"
    assets: dict[str, Asset] = {}
    if not static.is_dir():
        return assets
    for root, dirs, files in os.walk(static):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if f.startswith(".") or f.endswith("~"):
                continue
            path = Path(root, f)
            rel = path.relative_to(static).as_posix()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            stem, dot, ext = rel.rpartition(".")
            name = f"{stem}.{digest[:10]}.{ext}" if dot and "/" not in ext else f"{rel}.{digest[:10]}"
            assets[rel] = Asset(path, f"/static/{name}", digest)
    return assets


# --------------------------------------------------------------------------------------------
# pages

class Artifact(NamedTuple):
    """One output file to render from a template: what it is, where it goes, what it depends on.
    (A named tuple: a plan makes one per page, and a frozen dataclass costs three times as much.)"""

    path: str
    """Relative output path: products/x12/index.html."""
    kind: str
    arg: Any
    inputs: str
    """The fingerprints of every record this page shows, joined (hashed once, into the page's key
    with the global key and its templates, which decides whether to render it again)."""


def _ring(siblings: list, i: int) -> list:
    """The RELATED items after the i-th of ``siblings``, wrapping around, never the i-th itself."""
    n = len(siblings)
    if n <= 1:
        return []
    ring = siblings[i + 1:i + 1 + RELATED]
    if len(ring) < RELATED:
        ring += siblings[:min(RELATED, n - 1) - len(ring)]
    return ring


def page_path(url: str) -> str:
    return url.strip("/") + "/index.html" if url != "/" else "index.html"


class Renderer:
    """Builds each page's context from the Library and renders it with the theme."""

    def __init__(self, library: Library, env: RecordingEnvironment, assets: dict[str, Asset], templates_dir: Path,
                 complete: Callable[[Product], Product] | None = None):
        self.lib = library
        self.complete = complete or (lambda p: p)
        """Fills in a product's description when the build cache left it out."""
        self.env = env
        self.assets = assets
        self.templates_dir = templates_dir
        site = library.site
        self.locale = site.locale
        self.by_category: dict[str, list[Product]] = {slug: [] for slug in library.categories}
        for p in library.products:
            self.by_category.setdefault(p.category, []).append(p)
        self.position = {p.sku: i for prods in self.by_category.values() for i, p in enumerate(prods)}
        self._featured: list[Product] | None = None
        self._listing: dict[str, list[Product]] = {}
        self.children: dict[str | None, list[Category]] = {}
        for c in sorted(library.categories.values(), key=lambda c: (c.order, c.slug)):
            self.children.setdefault(c.parent, []).append(c)
        self.tree = self._tree(None)
        self.node_by_slug: dict[str, CategoryNode] = {}
        stack = list(self.tree)
        while stack:
            n = stack.pop()
            self.node_by_slug[n.category.slug] = n
            stack.extend(n.children)
        self.policies_newest = tuple(reversed(library.policies))
        self.in_force = next((p for p in library.policies if p.status == "in_force"), None)
        upcoming = [p for p in library.policies if p.status == "upcoming"]
        self.upcoming = upcoming[0] if upcoming else None
        self.major_upcoming = next((p for p in upcoming if p.major), None)
        # asset() is a dict lookup in C (a page calls it five times): a missing asset goes to
        # __missing__, which raises the error a theme author needs.
        env.globals.update(site=site, asset=_AssetURLs(self).__getitem__, money=self.money, absolute=self.absolute)
        env.filters.update(money=self.money, date=self.date, absolute=self.absolute, urlquote=lambda s: quote(str(s)))
        self.fragments: dict[str, Markup] = {}

    # helpers exposed to templates
    def asset(self, path: str) -> str:
        try:
            return self.assets[path].url
        except KeyError:
            raise jinja2.TemplateRuntimeError(f"asset('{path}'): no file static/{path} in the theme") from None

    def money(self, minor: int | None, currency: str | None = None) -> str:
        if minor is None:
            return ""
        return format_money(int(minor), currency or self.lib.site.currency, self.locale)

    def date(self, value: dt.date, form: str = "long") -> str:
        return format_date(value, format=form, locale=self.locale)

    def absolute(self, path: str) -> str:
        return self.lib.site.base_url + quote(path, safe="/:@!$&'()*+,;=-._~%")

    def _tree(self, parent: str | None) -> tuple[CategoryNode, ...]:
        nodes = []
        for c in self.children.get(parent, []):
            kids = self._tree(c.slug)
            count = len(self.by_category.get(c.slug, [])) + sum(k.count for k in kids)
            nodes.append(CategoryNode(c, kids, count))
        return tuple(nodes)

    def descendants(self, slug: str) -> list[str]:
        out, stack = [], [slug]
        while stack:
            s = stack.pop()
            out.append(s)
            stack.extend(c.slug for c in self.children.get(s, []))
        return out

    def category_products(self, slug: str) -> list[Product]:
        """Products of a category and of all its subcategories, in catalog order."""
        if not self._listing:
            # One pass over the catalog fills every category's listing, parents included: a pass
            # per parent category was 40 ms at 10,000 products.
            listing: dict[str, list[Product]] = {s: [] for s in self.lib.categories}
            chains: dict[str, list[str]] = {}
            for p in self.lib.products:
                chain = chains.get(p.category)
                if chain is None:
                    chain = chains[p.category] = [c.slug for c in self.category_chain(p.category)]
                for s in chain:
                    listing[s].append(p)
            self._listing.update(listing)
        return self._listing.get(slug, [])

    def category_chain(self, slug: str | None) -> list[Category]:
        chain = []
        seen = set()
        while slug is not None and slug in self.lib.categories and slug not in seen:
            seen.add(slug)
            chain.append(self.lib.categories[slug])
            slug = self.lib.categories[slug].parent
        return list(reversed(chain))

    def related(self, product: Product) -> list[Product]:
        """The next products of the same category, wrapping around: stable and cheap to compute."""
        return _ring(self.by_category.get(product.category, []), self.position[product.sku])

    def featured(self) -> list[Product]:
        """Products on sale first, then the rest, never sold-out ones."""
        if self._featured is None:
            available = [p for p in self.lib.products if not p.sold_out]
            on_sale = [p for p in available if p.compare_at_minor]
            rest = [p for p in available if not p.compare_at_minor]
            self._featured = (on_sale + rest)[:FEATURED]
        return self._featured

    def share_cards(self) -> None:
        """Render each product's card once per build, however many pages show it.

        A product appears on its category pages, on four neighbours' pages and maybe the home page:
        at 10,000 products that is some 60,000 renderings of the same card. The theme's
        ``product_card`` macro (``partials/product_card.html``) must therefore depend only on its
        arguments; its template module is shared by every page that imports it (Jinja caches it), so
        wrapping the macro there is seen by all of them, and pages still record the template.
        """
        try:
            module = self.env.get_template(CARD_TEMPLATE).module
        except jinja2.TemplateNotFound:
            return
        macro = getattr(module, CARD_MACRO, None)
        if macro is None or getattr(macro, "shared", False):
            return
        cards: dict[tuple[str, str, str], Markup] = {}

        def card(product: Product, heading: str = "h3") -> Markup:
            key = (product.sku, product.fingerprint, heading)
            html = cards.get(key)
            if html is None:
                html = cards[key] = macro(product, heading)
            return html

        card.shared = True  # type: ignore[attr-defined]
        setattr(module, CARD_MACRO, card)

    # shared fragments
    def render_fragments(self) -> dict[str, Markup]:
        ctx = dict(category_tree=self.tree, help_sections=self.lib.help_sections, pages=self.lib.pages,
                   major_upcoming=self.major_upcoming)
        out = {}
        for key, name in (("nav", "partials/nav.html"), ("footer", "partials/footer.html"),
                          ("notice", "partials/notice.html")):
            try:
                out[key] = Markup(self.env.get_template(name).render(ctx))
            except jinja2.TemplateNotFound:
                out[key] = Markup("")
        self.fragments = out
        self.share_cards()
        return out

    def shells(self) -> list[str]:
        return [n for n in template_names(self.templates_dir) if n.startswith("shells/") and n.endswith(".html")]

    # planning
    def plan(self) -> list[Artifact]:
        lib = self.lib
        arts: list[Artifact] = []

        def add(url_or_path: str, kind: str, arg: Any, *inputs: str) -> None:
            path = url_or_path if not url_or_path.startswith("/") else page_path(url_or_path)
            arts.append(Artifact(path, kind, arg, "\0".join(inputs)))

        featured = self.featured()
        add("/", "index", None, *(p.fingerprint for p in featured),
            *(f"{n.category.fingerprint}:{n.count}" for n in self.tree))
        # The hot loop of an incremental build, kept lean: per category, the fingerprints of its
        # chain and of its products (for the related ones, as related() picks them) are made once.
        per_category: dict[str, tuple[tuple[str, ...], list[str]]] = {}
        position = self.position
        for i, p in enumerate(lib.products):
            found = per_category.get(p.category)
            if found is None:
                found = per_category[p.category] = (
                    tuple(c.fingerprint for c in self.category_chain(p.category)),
                    [s.fingerprint for s in self.by_category.get(p.category, [])])
            chain, siblings = found
            arts.append(Artifact(page_path(p.url), "product", i,
                                 "\0".join((p.fingerprint, *chain, *_ring(siblings, position[p.sku])))))
        for slug, c in lib.categories.items():
            prods = self.category_products(slug)
            pages = max(1, -(-len(prods) // PER_PAGE))
            chain = self.category_chain(slug)
            subs = self.children.get(slug, [])
            for n in range(1, pages + 1):
                url = c.url if n == 1 else f"{c.url}page/{n}/"
                shown = prods[(n - 1) * PER_PAGE: n * PER_PAGE]
                add(url, "category", (slug, n, pages), str(pages), *(x.fingerprint for x in chain),
                    *(f"{s.fingerprint}:{self.node_by_slug[s.slug].count}" for s in subs),
                    *(x.fingerprint for x in shown))
        help_fp = [s.fingerprint + "".join(a.fingerprint for a in s.articles) for s in lib.help_sections]
        add("/help/", "help_index", None, *help_fp)
        for si, s in enumerate(lib.help_sections):
            add(s.url, "help_section", si, *help_fp)
            for ai, a in enumerate(s.articles):
                add(a.url, "help_article", (si, ai), *help_fp)
        pol_fp = [f"{p.fingerprint}:{p.status}" for p in lib.policies]
        add("/privacy/", "privacy_current", None, *pol_fp)
        add("/privacy/history/", "privacy_history", None, *pol_fp)
        for i, p in enumerate(lib.policies):
            add(p.url, "privacy_version", i, *pol_fp)
        for i, pg in enumerate(lib.pages):
            add(pg.url, "page", i, pg.fingerprint)
        for name in self.shells():
            rel = name[len("shells/"):-len(".html")]
            url = "/" + (rel[: -len("index")] if rel == "index" or rel.endswith("/index") else rel + "/")
            add(url, "shell", name, name)
        add("404.html", "notfound", None)
        return arts

    # contexts
    def context(self, art: Artifact) -> tuple[str, dict[str, Any], str]:
        """(template name, context, page URL) for an artifact."""
        lib = self.lib
        kind, arg = art.kind, art.arg
        crumbs: list[tuple[str, str | None]] = []
        home = ("首页", "/")
        if kind == "index":
            return "index.html", dict(featured=self.featured(), top_categories=self.tree, breadcrumbs=[]), "/"
        if kind == "product":
            p = lib.products[arg]
            p = self.complete(p)
            chain = self.category_chain(p.category)
            crumbs = [home] + [(c.title, c.url) for c in chain] + [(p.title, None)]
            return "product.html", dict(product=p, category=lib.categories.get(p.category), related=self.related(p),
                                        product_jsonld=self.product_jsonld(p), breadcrumbs=crumbs), p.url
        if kind == "category":
            slug, n, pages = arg
            c = lib.categories[slug]
            prods = self.category_products(slug)[(n - 1) * PER_PAGE: n * PER_PAGE]
            url = c.url if n == 1 else f"{c.url}page/{n}/"

            def page_url(k: int) -> str:
                return c.url if k == 1 else f"{c.url}page/{k}/"
            pagination = dict(page=n, pages=pages, prev_url=page_url(n - 1) if n > 1 else None,
                              next_url=page_url(n + 1) if n < pages else None,
                              links=[(k, page_url(k)) for k in range(1, pages + 1)])
            chain = self.category_chain(slug)
            crumbs = [home] + [(x.title, x.url) for x in chain[:-1]] + [(c.title, None if n == 1 else c.url)]
            if n > 1:
                crumbs.append((f"第 {n} 页", None))
            return "category.html", dict(category=c, products=prods, subcategories=self.children.get(slug, []),
                                         pagination=pagination, breadcrumbs=crumbs,
                                         node=self.node_by_slug.get(slug)), url
        if kind == "help_index":
            return "help/index.html", dict(sections=lib.help_sections, breadcrumbs=[home, ("帮助中心", None)]), "/help/"
        if kind == "help_section":
            s = lib.help_sections[arg]
            return "help/section.html", dict(section=s, sections=lib.help_sections, breadcrumbs=[
                home, ("帮助中心", "/help/"), (s.title, None)]), s.url
        if kind == "help_article":
            si, ai = arg
            s = lib.help_sections[si]
            a = s.articles[ai]
            return "help/article.html", dict(
                section=s, article=a, sections=lib.help_sections,
                prev_article=s.articles[ai - 1] if ai > 0 else None,
                next_article=s.articles[ai + 1] if ai + 1 < len(s.articles) else None,
                breadcrumbs=[home, ("帮助中心", "/help/"), (s.title, s.url), (a.title, None)]), a.url
        if kind == "privacy_current":
            return "privacy/current.html", dict(policy=self.in_force, upcoming=self.upcoming,
                                                versions=self.policies_newest,
                                                breadcrumbs=[home, ("隐私政策", None)]), "/privacy/"
        if kind == "privacy_history":
            from .privacy import diff_html
            diffs = {}
            pols = lib.policies
            for older, newer in zip(pols, pols[1:]):
                diffs[newer.id] = diff_html(older, newer)
            return "privacy/history.html", dict(versions=self.policies_newest, diffs=diffs, breadcrumbs=[
                home, ("隐私政策", "/privacy/"), ("历史版本", None)]), "/privacy/history/"
        if kind == "privacy_version":
            p = lib.policies[arg]
            return "privacy/version.html", dict(policy=p, versions=self.policies_newest, breadcrumbs=[
                home, ("隐私政策", "/privacy/"), (f"{p.id} 版", None)]), p.url
        if kind == "page":
            pg = lib.pages[arg]
            return "page.html", dict(page=pg, breadcrumbs=[home, (pg.title, None)]), pg.url
        if kind == "shell":
            rel = arg[len("shells/"):-len(".html")]
            url = "/" + (rel[: -len("index")] if rel == "index" or rel.endswith("/index") else rel + "/")
            return arg, dict(breadcrumbs=[]), url
        if kind == "notfound":
            return "404.html", dict(breadcrumbs=[]), "/404.html"
        raise ValueError(kind)

    def product_jsonld(self, p: Product) -> dict[str, Any]:
        def offer(sku: str, minor: int, stock: int | None, sold_out: bool) -> dict[str, Any]:
            return {"@type": "Offer", "sku": sku, "price": wire_amount(minor, p.currency),
                    "priceCurrency": p.currency, "url": self.absolute(p.url),
                    "availability": "https://schema.org/OutOfStock" if sold_out else "https://schema.org/InStock"}
        data: dict[str, Any] = {"@context": "https://schema.org", "@type": "Product", "name": p.title,
                                "sku": p.sku, "url": self.absolute(p.url), "description": p.description}
        cat = self.lib.categories.get(p.category)
        if cat:
            data["category"] = cat.title
        if p.images:
            data["image"] = [self.absolute(i) for i in p.images]
        if p.variants:
            data["offers"] = [offer(v.sku, v.price_minor, v.stock, v.sold_out) for v in p.variants]
        else:
            data["offers"] = offer(p.sku, p.price_minor, p.stock, p.sold_out)
        return data

    def render(self, art: Artifact) -> tuple[bytes, list[str]]:
        """The page's bytes and the templates it loaded. Template errors raise RenderFailure."""
        name, ctx, url = self.context(art)
        ctx.update(self.fragments)
        ctx["page_url"] = url
        ctx["canonical_url"] = self.absolute(url)
        self.env.recording = used = set()
        try:
            html = self.env.get_template(name).render(ctx)
        except jinja2.TemplateNotFound as exc:
            raise RenderFailure(Problem(_shown(self.templates_dir / name), None,
                                        f"template '{exc.name}' not found (needed for {url}). Fix: add it to the theme")) from None
        except jinja2.TemplateSyntaxError as exc:
            raise RenderFailure(Problem(_shown(Path(exc.filename or self.templates_dir / name)), exc.lineno,
                                        f"template syntax error: {exc.message}")) from None
        except Exception as exc:  # a template bug: name the template line, not a Python traceback
            raise RenderFailure(_template_problem(exc, self.templates_dir, name, url)) from None
        finally:
            self.env.recording = None
        return html.encode("utf-8"), sorted(used)


class _AssetURLs(dict):
    """Asset path -> fingerprinted URL, filled as paths are asked for."""

    def __init__(self, renderer: "Renderer"):
        super().__init__()
        self.renderer = renderer

    def __missing__(self, path: str) -> str:
        url = self[path] = self.renderer.asset(path)
        return url


class RenderFailure(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def _template_problem(exc: BaseException, templates_dir: Path, name: str, url: str) -> Problem:
    where, line = _shown(templates_dir / name), None
    root = str(templates_dir.resolve())
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        fn = frame.f_code.co_filename
        if fn.startswith(root) or fn.endswith(".html"):
            where, line = _shown(Path(fn)), lineno
    return Problem(where, line, f"{type(exc).__name__}: {exc} (while rendering {url})")


def _hash(parts: tuple[str, ...] | list[str]) -> str:
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()

