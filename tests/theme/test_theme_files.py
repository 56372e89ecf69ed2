"""Static invariants of the demo theme (templates/), checked without the build: templates parse and
render against the documented context, pages keep their accessibility and SEO landmarks, and the
assets stay within their size budgets."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

ROOT = Path(__file__).resolve().parents[2]
THEME = ROOT / "templates"
STATIC = THEME / "static"

CSS_BUDGET = 20_000
JS_BUDGET = 10_000


class Outline(HTMLParser):
    """Collects what the assertions need: tags with attributes, ids, and the text of some elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: list[str] = []
        self.texts: dict[str, list[str]] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if a.get("id"):
            self.ids.append(a["id"])  # type: ignore[arg-type]
        if tag in ("h1", "title", "script", "button", "label"):
            self._open.append(tag)
            self.texts.setdefault(tag, []).append("")

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for tag in self._open:
            self.texts[tag][-1] += data

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        # class_ -> class, data_cart_count -> data-cart-count; True means "present with any value".
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [a for t, a in self.tags
                if t == tag and all((k in a) if v is True else a.get(k) == v for k, v in wanted.items())]


def outline(html: str) -> Outline:
    o = Outline()
    o.feed(html)
    return o


def own_templates() -> list[str]:
    return sorted(p.relative_to(THEME).as_posix() for p in THEME.rglob("*.html") if "static" not in p.parts)


# ---- every template -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", own_templates())
def test_every_template_parses(name: str) -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(THEME), autoescape=True)
    source = (THEME / name).read_text(encoding="utf-8")
    env.parse(source, name=name)  # raises TemplateSyntaxError naming the line


def test_every_page_template_renders_with_the_documented_context(render, pages) -> None:
    for key, (template, url, ctx) in pages.items():
        html = render(template, url, **ctx)
        o = outline(html)
        assert html.lstrip().lower().startswith("<!doctype html>"), key
        assert o.find("html", lang="zh-CN", data_api="/api"), key
        assert len(o.texts.get("h1", [])) == 1, f"{key}: exactly one h1, got {o.texts.get('h1')}"
        assert o.texts["title"][0].strip(), f"{key}: empty <title>"
        desc = o.find("meta", name="description")
        assert desc and desc[0]["content"], f"{key}: meta description"
        assert o.find("link", rel="canonical", href="https://www.umegou.com" + url), key
        for landmark in ("header", "nav", "main", "footer"):
            assert o.find(landmark), f"{key}: no <{landmark}>"
        assert o.find("a", href="#main") and "main" in o.ids, f"{key}: skip link target"
        dupes = {i for i in o.ids if o.ids.count(i) > 1}
        assert not dupes, f"{key}: duplicate ids {dupes}"
        for img in o.find("img"):
            assert img.get("alt"), f"{key}: image without alt: {img}"
        # Every form control has a label (for=id) or an aria-label.
        labelled = {a.get("for") for a in o.find("label")}
        for tag in ("input", "select", "textarea"):
            for a in o.find(tag):
                if a.get("type") in ("hidden", "submit"):
                    continue
                assert a.get("id") in labelled or a.get("aria-label"), f"{key}: unlabelled {tag} {a}"
        # The header search form of the contract, once.
        assert len(o.find("form", role="search", action="/search/")) >= 1, key
        assert len(o.find("input", type="search", name="q", id="site-search", autocomplete="off")) == 1, key
        scripts = [a.get("src") for a in o.find("script") if a.get("src")]
        assert {"/static/js/site.js", "/static/js/cart.js", "/static/js/search.js"} <= set(scripts), key
        assert all("defer" in a for a in o.find("script") if a.get("src")), f"{key}: scripts must defer"
        assert o.find("link", rel="stylesheet", href="/static/css/site.css"), key
        assert o.find("span", data_cart_count=True), f"{key}: cart badge"
        assert "客服24小时内回复" in html and "umegou" in html and "tousu@umegou.com" in html, key


def test_asset_references_exist() -> None:
    referenced = set()
    for name in own_templates():
        referenced |= set(re.findall(r"asset\(\s*['\"]([^'\"]+)['\"]\s*\)", (THEME / name).read_text(encoding="utf-8")))
    assert referenced, "no asset() references found"
    missing = sorted(p for p in referenced if not (STATIC / p).is_file())
    assert not missing, f"asset() points to files missing from templates/static/: {missing}"


def test_no_hard_coded_static_links() -> None:
    # Fingerprinted names change on every edit, so a literal /static/ link would break on the next build.
    for name in own_templates():
        text = (THEME / name).read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']/static/""", text), f"{name}: link assets through asset()"


def test_size_budgets() -> None:
    css = sorted((STATIC / "css").glob("*.css"))
    # search.js belongs to the search feature, which sets its own budget.
    js = [STATIC / "js" / name for name in ("site.js", "cart.js")]
    assert css and all(p.is_file() for p in js)
    total_css = sum(p.stat().st_size for p in css)
    assert total_css < CSS_BUDGET, f"CSS is {total_css} bytes, budget {CSS_BUDGET}"
    for p in js:
        assert p.stat().st_size < JS_BUDGET, f"{p.name} is {p.stat().st_size} bytes, budget {JS_BUDGET}"


def test_css_uses_the_cjk_font_stack_and_readable_line_height() -> None:
    css = (STATIC / "css" / "site.css").read_text(encoding="utf-8")
    stack = ['"PingFang SC"', '"Hiragino Sans GB"', '"Microsoft YaHei"', '"Noto Sans CJK SC"', "sans-serif"]
    positions = [css.find(f) for f in stack]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), "CJK font stack in order"
    assert re.search(r"font:\s*16px/1\.75", css), "body line-height 1.75"
    assert ":focus-visible" in css, "visible focus"
    assert re.search(r"\bins\s*\{[^}]*underline", css) and re.search(r"\bdel\s*\{[^}]*line-through", css)


def test_scripts_are_plain_and_use_the_contract_keys() -> None:
    cart = (STATIC / "js" / "cart.js").read_text(encoding="utf-8")
    site = (STATIC / "js" / "site.js").read_text(encoding="utf-8")
    assert "'storefront.cart.v1'" in cart
    assert "Intl.NumberFormat('zh-CN'" in cart
    assert "'storage'" in cart, "badge kept in sync across tabs"
    for text in (cart, site):
        assert not re.search(r"^\s*(import|export)\s", text, re.M), "no modules: plain deferred scripts"
        assert "innerHTML" not in text, "build DOM with textContent: cart titles come from storage"


# ---- product page -----------------------------------------------------------------------------

def test_product_page_buy_box_and_metadata(render, pages) -> None:
    template, url, ctx = pages["product"]
    html = render(template, url, **ctx)
    o = outline(html)
    # The first variant in stock is preselected; its data are on the add-to-cart button.
    button = o.find("button", data_add_to_cart=True)[0]
    assert button["data-sku"] == "UM-X12-BLK"
    assert button["data-price-minor"] == "19900" and button["data-currency"] == "CNY"
    assert button["data-url"] == "/products/x12/" and button["data-title"] == "无线蓝牙耳机 X12 - 黑色"
    assert "disabled" not in button
    options = o.find("option")
    white = next(a for a in options if a["value"] == "UM-X12-WHT")
    black = next(a for a in options if a["value"] == "UM-X12-BLK")
    assert "disabled" in white and "disabled" not in black and "selected" in black
    assert black["data-price-minor"] == "19900" and black["data-save-text"] == "省¥60.00"
    assert "(已售罄)" in html
    # Price, compare-at and savings of the shown variant, all through the money filter.
    assert "¥199.00" in html and "<s data-compare-text>¥259.00</s>" in html and "省¥60.00" in html
    assert o.find("input", type="number", id="qty", min="1", max="99")
    # Metadata.
    assert o.find("meta", property="og:type", content="product")
    assert o.find("meta", property="og:url", content="https://www.umegou.com/products/x12/")
    assert o.find("meta", property="og:image", content="https://www.umegou.com/media/x12-front.jpg")
    assert o.find("meta", property="og:title", content="无线蓝牙耳机 X12")
    assert o.find("meta", property="og:description")
    ld = [t for t, a in zip(o.texts["script"], o.find("script")) if a.get("type") == "application/ld+json"]
    assert len(ld) == 1 and json.loads(ld[0])["name"] == "无线蓝牙耳机 X12 </script>"
    assert "</script>\"" not in html, "JSON-LD must not close its script element"
    # Breadcrumbs, tags, related, image alt.
    assert o.find("nav", aria_label="面包屑导航") and o.find("span", aria_current="page")
    assert o.find("a", href="/search/?q=%E8%93%9D%E7%89%99")
    assert o.find("a", href="/products/case/") and o.find("img", alt="无线蓝牙耳机 X12")


def test_image_less_product_shows_a_placeholder_and_sold_out_disables_buying(render, pages) -> None:
    template, url, ctx = pages["product_plain"]
    o = outline(render(template, url, **ctx))
    assert not o.find("img")
    assert o.find("div", class_="img-placeholder", role="img", aria_label="耳机保护套(暂无图片)")
    assert not o.find("meta", property="og:image")

    template, url, ctx = pages["product_sold_out"]
    html = render(template, url, **ctx)
    o = outline(html)
    button = o.find("button", data_add_to_cart=True)[0]
    assert "disabled" in button
    assert [t for t in o.texts["button"] if "已售罄" in t]


def test_titles_are_escaped(render, samples) -> None:
    evil = samples.product("evil", '<img src=x onerror="alert(1)">')
    html = render("product.html", "/products/evil/", product=evil, category=samples.category(), related=[],
                  product_jsonld={"name": evil.title})
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_variant_prices_show_from_price_on_cards(render, samples) -> None:
    p = samples.product(variants=(samples.variant("A-1", "小", 1000), samples.variant("A-2", "大", 2500)))
    html = render("index.html", "/", featured=[p], top_categories=[])
    assert "¥10.00" in html and "起" in html


# ---- listing pages ----------------------------------------------------------------------------

def test_category_page_cards_and_pagination(render, pages) -> None:
    template, url, ctx = pages["category"]
    html = render(template, url, **ctx)
    o = outline(html)
    assert o.find("a", href="/categories/earbuds/")  # subcategory
    assert o.find("a", href="/categories/audio/page/2/", aria_current="page")
    assert o.find("a", href="/categories/audio/", rel="prev") and o.find("link", rel="next")
    assert "已售罄" in html and "<s data-compare-text>¥39.00</s>" in html
    assert "第2页" in o.texts["title"][0]


def test_help_navigation_marks_the_current_article(render, pages) -> None:
    template, url, ctx = pages["help_article"]
    o = outline(render(template, url, **ctx))
    assert o.find("a", href="/help/payment/alipay/", aria_current="page")
    assert o.find("a", href="/help/payment/", aria_current="true")
    assert o.find("a", href="/help/payment/paypal/", rel="prev")
    assert o.find("a", href="/help/payment/bank/", rel="next")
    assert not o.find("a", href="/help/shipping/time/"), "only the current section's articles are listed"

    template, url, ctx = pages["help_section"]
    o = outline(render(template, url, **ctx))
    assert o.find("a", href="/help/payment/", aria_current="page")


# ---- privacy ----------------------------------------------------------------------------------

def test_privacy_current_announces_the_upcoming_version(render, pages, samples) -> None:
    template, url, ctx = pages["privacy_current"]
    html = render(template, url, **ctx)
    assert "新版隐私政策将于 2026年5月1日 生效" in html
    assert "重大变更" in html and "重新同意" in html
    assert 'href="/privacy/2026-05-01/"' in html and 'href="/privacy/history/#v-2026-05-01"' in html
    assert "生效日期" in html and "2024年3月1日" in html

    minor = samples.policy("2026-05-01", dt.date(2026, 5, 1), "upcoming", major=False)
    html = render(template, url, **{**ctx, "upcoming": minor})
    assert "新版隐私政策将于 2026年5月1日 生效" in html and "重新同意" not in html

    html = render(template, url, **{**ctx, "upcoming": None})
    assert "新版隐私政策将于" not in html


def test_privacy_version_status_and_history_diffs(render, pages) -> None:
    template, url, ctx = pages["privacy_version"]
    html = render(template, url, **ctx)
    assert "已失效" in html and 'href="/privacy/"' in html and 'href="/privacy/history/"' in html

    template, url, ctx = pages["privacy_history"]
    html = render(template, url, **ctx)
    o = outline(html)
    assert {"v-2026-05-01", "v-2024-03-01", "v-2019-01-01"} <= set(o.ids)
    assert "<ins>新增</ins><del>删除</del>" in html  # the diff Markup is not escaped
    assert "首个版本" in html  # the oldest has no diff
    assert "重大变更" in html and "2026年5月1日" in html and "2026-05-01 的变更摘要" in html


def test_major_upcoming_notice_on_every_page(render, pages, samples) -> None:
    major = samples.policy("2026-05-01", dt.date(2026, 5, 1), "upcoming", major=True)
    for key, (template, url, ctx) in pages.items():
        html = render(template, url, major_upcoming=major, **ctx)
        o = outline(html)
        assert o.find("aside", data_notice="2026-05-01"), key
        assert o.find("a", href="/privacy/2026-05-01/"), key
        assert o.find("button", data_notice_close=True, type="button"), key
    template, url, ctx = pages["index"]
    assert "data-notice" not in render(template, url, **ctx)
