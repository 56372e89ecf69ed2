"""Fixtures of the theme tests: the demo theme rendered with sample records, without the build.

The records follow the contract of docs/templates.md (not storefront.model), so these tests catch a
theme that drifts from the documented context, and keep working while the renderer changes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import jinja2
import pytest
from babel.numbers import format_currency, get_currency_precision
from markupsafe import Markup

ROOT = Path(__file__).resolve().parents[2]
THEME = ROOT / "templates"
BASE_URL = "https://www.umegou.com"


def money(minor: int | None, currency: str | None = None) -> str:
    """The renderer's `money` filter: integer minor units -> ``¥199.00`` for zh_CN."""
    if minor is None:
        return ""
    currency = currency or "CNY"
    return format_currency(Decimal(minor).scaleb(-get_currency_precision(currency)), currency, locale="zh_CN")


def make_env() -> jinja2.Environment:
    # StrictUndefined: a variable the contract does not provide fails the test instead of rendering "".
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(THEME), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    site = SimpleNamespace(
        name="umegou", base_url=BASE_URL, language="zh-CN", currency="CNY", timezone="Asia/Shanghai",
        api_url="/api",
        contact={"service": "service@umegou.com", "complaints": "tousu@umegou.com",
                 "cooperation": "cooperation@umegou.com", "wechat": "umegou", "reply_within_hours": 24},
        payment_methods=("paypal", "wechat", "alipay", "bank_transfer"))
    env.globals.update(site=site, asset=lambda path: f"/static/{path}", money=money,
                       absolute=lambda path: BASE_URL + path)
    env.filters.update(money=money)
    return env


# ---- sample records (docs/templates.md "Records") -------------------------------------------------

def variant(sku: str, label: str, price: int, stock: int | None = 10, compare: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(sku=sku, options={"颜色": label}, label=label, price_minor=price,
                           compare_at_minor=compare, stock=stock, sold_out=stock == 0)


def product(slug: str = "x12", title: str = "无线蓝牙耳机 X12", price: int = 19900, *, compare: int | None = None,
            stock: int | None = 5, images: tuple[str, ...] = ("/media/x12-front.jpg",),
            variants: tuple[SimpleNamespace, ...] = (), tags: tuple[str, ...] = ("蓝牙", "降噪")) -> SimpleNamespace:
    prices = [v.price_minor for v in variants] or [price]
    sold_out = all(v.sold_out for v in variants) if variants else stock == 0
    return SimpleNamespace(
        sku=f"UM-{slug.upper()}", title=title, slug=slug, url=f"/products/{slug}/", category="audio",
        price_minor=price, currency="CNY", compare_at_minor=compare, stock=stock, sold_out=sold_out, tags=tags,
        images=images, variants=variants, body_html=Markup("<p>主动降噪,续航 30 小时。</p>"),
        description="主动降噪,续航 30 小时。", extra={}, price_range=(min(prices), max(prices)))


def category(slug: str = "audio", title: str = "耳机音响", parent: str | None = "digital") -> SimpleNamespace:
    return SimpleNamespace(slug=slug, title=title, order=1, parent=parent, description=f"{title}的描述",
                           body_html=Markup(f"<p>{title}介绍</p>"), url=f"/categories/{slug}/")


def node(cat: SimpleNamespace, count: int, children: tuple = ()) -> SimpleNamespace:
    return SimpleNamespace(category=cat, children=children, count=count)


def policy(vid: str, effective: dt.date, status: str, major: bool = False) -> SimpleNamespace:
    return SimpleNamespace(id=vid, title="umegou用户隐私政策", effective=effective, major=major,
                           summary=f"{vid} 的变更摘要", body_html=Markup("<p>我们重视您的隐私。</p>"),
                           sha256="0" * 64, url=f"/privacy/{vid}/", status=status)


def help_tree() -> list[SimpleNamespace]:
    def article(section: str, slug: str, title: str) -> SimpleNamespace:
        return SimpleNamespace(section=section, slug=slug, title=title, order=1, tags=("支付",),
                               body_html=Markup(f"<p>{title}的内容</p>"), url=f"/help/{section}/{slug}/")
    pay = SimpleNamespace(slug="payment", title="支付方式", order=1, body_html=Markup(""), url="/help/payment/",
                          articles=[article("payment", "paypal", "PayPal 付款"),
                                    article("payment", "alipay", "支付宝付款"),
                                    article("payment", "bank", "银行转账")])
    ship = SimpleNamespace(slug="shipping", title="配送说明", order=2, body_html=Markup(""), url="/help/shipping/",
                           articles=[article("shipping", "time", "配送时效")])
    return [pay, ship]


@pytest.fixture
def render() -> Callable[..., str]:
    """render(template, page_url, major_upcoming=None, **page_vars) -> the page HTML, with the once-per-build
    fragments (nav, footer, notice) rendered first, as the build does."""
    env = make_env()
    help_sections = help_tree()
    digital = category("digital", "数码影音", None)
    tree = [node(digital, 3, (node(category(), 2),)), node(category("beauty", "美妆护肤", None), 1)]
    pages = [SimpleNamespace(slug="about", title="关于我们", url="/about/", body_html=Markup("<p>关于</p>"))]

    def _render(template: str, page_url: str = "/", major_upcoming: Any = None, **page: Any) -> str:
        fragments = {
            "nav": Markup(env.get_template("partials/nav.html").render(
                category_tree=tree, help_sections=help_sections, pages=pages)),
            "footer": Markup(env.get_template("partials/footer.html").render(
                help_sections=help_sections, pages=pages)),
            "notice": Markup(env.get_template("partials/notice.html").render(major_upcoming=major_upcoming)),
        }
        ctx = {"breadcrumbs": [], **fragments, "page_url": page_url, "canonical_url": BASE_URL + page_url, **page}
        return env.get_template(template).render(ctx)

    return _render


def sample_pages() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Every page template of the theme with a plausible context: name -> (template, url, context)."""
    v_black = variant("UM-X12-BLK", "黑色", 19900, 5, compare=25900)
    v_white = variant("UM-X12-WHT", "白色", 21900, 0)
    with_variants = product(variants=(v_white, v_black))
    plain = product("case", "耳机保护套", 2900, compare=3900, images=())
    sold_out = product("gone", "已下架耳机", 9900, stock=0)
    audio = category()
    sections = help_tree()
    v1 = policy("2019-01-01", dt.date(2019, 1, 1), "superseded")
    v2 = policy("2024-03-01", dt.date(2024, 3, 1), "in_force")
    v3 = policy("2026-05-01", dt.date(2026, 5, 1), "upcoming", major=True)
    versions = [v3, v2, v1]
    diffs = {"2026-05-01": Markup('<div class="policy-diff"><p class="diff-change"><ins>新增</ins><del>删除</del></p></div>'),
             "2024-03-01": Markup('<div class="policy-diff"><p class="diff-none">正文无变化。</p></div>')}
    crumbs = [("首页", "/"), ("耳机音响", "/categories/audio/"), ("无线蓝牙耳机 X12", None)]
    pagination = SimpleNamespace(page=2, pages=3, prev_url="/categories/audio/", next_url="/categories/audio/page/3/",
                                 links=[(1, "/categories/audio/"), (2, "/categories/audio/page/2/"),
                                        (3, "/categories/audio/page/3/")])
    return {
        "index": ("index.html", "/", dict(featured=[with_variants, plain, sold_out],
                                          top_categories=[node(audio, 3)])),
        "product": ("product.html", "/products/x12/", dict(
            product=with_variants, category=audio, related=[plain, sold_out], breadcrumbs=crumbs,
            product_jsonld={"@context": "https://schema.org", "@type": "Product", "name": "无线蓝牙耳机 X12 </script>"})),
        "product_plain": ("product.html", "/products/case/", dict(
            product=plain, category=audio, related=[], breadcrumbs=crumbs, product_jsonld={"@type": "Product"})),
        "product_sold_out": ("product.html", "/products/gone/", dict(
            product=sold_out, category=audio, related=[], breadcrumbs=crumbs, product_jsonld={"@type": "Product"})),
        "category": ("category.html", "/categories/audio/page/2/", dict(
            category=audio, products=[with_variants, plain, sold_out], subcategories=[category("earbuds", "真无线耳机")],
            pagination=pagination, breadcrumbs=[("首页", "/"), ("耳机音响", "/categories/audio/"), ("第 2 页", None)])),
        "help_index": ("help/index.html", "/help/", dict(sections=sections)),
        "help_section": ("help/section.html", "/help/payment/", dict(section=sections[0], sections=sections)),
        "help_article": ("help/article.html", "/help/payment/alipay/", dict(
            section=sections[0], article=sections[0].articles[1], sections=sections,
            prev_article=sections[0].articles[0], next_article=sections[0].articles[2])),
        "privacy_current": ("privacy/current.html", "/privacy/", dict(policy=v2, upcoming=v3, versions=versions)),
        "privacy_version": ("privacy/version.html", "/privacy/2019-01-01/", dict(policy=v1, versions=versions)),
        "privacy_history": ("privacy/history.html", "/privacy/history/", dict(versions=versions, diffs=diffs)),
        "page": ("page.html", "/about/", dict(page=SimpleNamespace(slug="about", title="关于我们", url="/about/",
                                                                  description="关于 umegou",
                                                                  body_html=Markup("<p>关于</p>")))),
        "404": ("404.html", "/404.html", {}),
        "cart": ("shells/cart.html", "/cart/", {}),
        "checkout": ("shells/checkout.html", "/checkout/", {}),
    }


@pytest.fixture
def pages() -> dict[str, tuple[str, str, dict[str, Any]]]:
    return sample_pages()


@pytest.fixture
def theme_env() -> jinja2.Environment:
    return make_env()


@pytest.fixture
def samples() -> SimpleNamespace:
    """The record factories, for tests that need a variation."""
    return SimpleNamespace(product=product, variant=variant, category=category, policy=policy, node=node)
