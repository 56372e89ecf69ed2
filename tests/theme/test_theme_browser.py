"""The theme's scripts in a real browser (Chromium through Playwright): variant picker, add to cart,
cart page, badge sync across tabs, the policy notice and keyboard menus. Pages are the theme's
templates rendered with sample records (see conftest.py) and served over HTTP from tmp_path.

Needs a Chromium binary: `chromium` on PATH (.ci/run installs it) or CHROMIUM=/path/to/chrome.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import shutil
import threading
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

THEME = Path(__file__).resolve().parents[2] / "templates"
CART_KEY = "storefront.cart.v1"


@pytest.fixture
def site(tmp_path: Path, render, pages, samples) -> Iterator[str]:
    """The sample pages written as a static site; yields its base URL."""
    major = samples.policy("2026-05-01", dt.date(2026, 5, 1), "upcoming", major=True)
    for key, (template, url, ctx) in pages.items():
        target = tmp_path / url.lstrip("/")
        if url.endswith("/"):
            target = target / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        # The privacy page gets the site-wide notice, to test its dismissal.
        extra = {"major_upcoming": major} if key == "privacy_current" else {}
        target.write_text(render(template, url, **extra, **ctx), encoding="utf-8")
    shutil.copytree(THEME / "static", tmp_path / "static")
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def page(browser: Browser, site: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def cart_of(page: Page) -> dict:
    return page.evaluate(f"JSON.parse(localStorage.getItem('{CART_KEY}') || 'null')")


def test_variant_picker_updates_price_and_button(page: Page, site: str) -> None:
    page.goto(site + "/products/x12/")
    button = page.locator("[data-add-to-cart]")
    expect(button).to_have_attribute("data-sku", "UM-X12-BLK")
    assert page.locator("option[value=UM-X12-WHT]").is_disabled()
    # Picking an option by script (the sold-out one cannot be picked by the user) still updates the button.
    page.evaluate("""() => { const s = document.querySelector('[data-variant-select]');
                             s.value = 'UM-X12-WHT'; s.dispatchEvent(new Event('change')); }""")
    expect(button).to_have_attribute("data-sku", "UM-X12-WHT")
    expect(button).to_have_attribute("data-price-minor", "21900")
    expect(button).to_be_disabled()
    expect(page.locator(".product-info [data-price]")).to_have_text("¥219.00")
    expect(page.locator(".product-info [data-save]")).to_be_hidden()
    page.select_option("[data-variant-select]", "UM-X12-BLK")
    expect(page.locator(".product-info [data-price]")).to_have_text("¥199.00")
    expect(page.locator(".product-info [data-save]")).to_have_text("省¥60.00")
    expect(button).to_be_enabled()


def test_add_to_cart_merges_lines_and_caps_quantity(page: Page, site: str) -> None:
    page.goto(site + "/products/x12/")
    page.fill("#qty", "2")
    page.click("[data-add-to-cart]")
    expect(page.locator("[data-cart-count]")).to_have_text("2")
    expect(page.locator(".buy-form [data-cart-status]")).to_contain_text("已加入购物车")
    page.fill("#qty", "98")
    page.click("[data-add-to-cart]")
    cart = cart_of(page)
    assert cart == {"lines": [{"sku": "UM-X12-BLK", "qty": 99, "title": "无线蓝牙耳机 X12 - 黑色",
                               "price_minor": 19900, "currency": "CNY", "url": "/products/x12/"}]}
    expect(page.locator("[data-cart-count]")).to_have_text("99")


def test_cart_page_lists_steps_and_removes(page: Page, site: str) -> None:
    page.goto(site + "/cart/")
    expect(page.locator("[data-cart-empty]")).to_be_visible()
    page.evaluate(f"""localStorage.setItem('{CART_KEY}', JSON.stringify({{lines: [
        {{sku: 'UM-X12-BLK', qty: 2, title: '无线蓝牙耳机 X12 - 黑色', price_minor: 19900, currency: 'CNY', url: '/products/x12/'}},
        {{sku: 'UM-CASE', qty: 1, title: '<b>保护套</b>', price_minor: 2900, currency: 'CNY', url: 'javascript:alert(1)'}},
        {{sku: 'bad sku!', qty: 1, title: 'x', price_minor: 1, currency: 'CNY', url: '/'}}]}}))""")
    page.reload()
    lines = page.locator("[data-cart-lines] > li")
    expect(lines).to_have_count(2)
    expect(page.locator("[data-cart-subtotal]")).to_have_text("¥427.00")
    # Titles are text, never HTML; a stored javascript: URL never becomes a link.
    expect(lines.nth(1).locator(".cart-line-title")).to_have_text("<b>保护套</b>")
    assert lines.nth(1).locator(".cart-line-title").get_attribute("href") is None
    expect(lines.nth(0).locator(".cart-line-title")).to_have_attribute("href", "/products/x12/")
    page.get_by_role("button", name="增加 无线蓝牙耳机 X12 - 黑色 的数量").click()
    expect(lines.nth(0).locator("[data-field=qty]")).to_have_value("3")
    expect(page.locator("[data-cart-subtotal]")).to_have_text("¥626.00")
    expect(page.locator("[data-cart-count]")).to_have_text("4")
    qty = page.get_by_label("数量:<b>保护套</b>")
    qty.fill("500")
    qty.press("Tab")
    expect(qty).to_have_value("99")
    page.get_by_role("button", name="删除 <b>保护套</b>").click()
    page.get_by_role("button", name="删除 无线蓝牙耳机 X12 - 黑色").click()
    expect(page.locator("[data-cart-empty]")).to_be_visible()
    expect(page.locator("[data-cart-count]")).to_be_hidden()
    assert cart_of(page) == {"lines": []}
    expect(page.get_by_role("link", name="去首页逛逛")).to_be_visible()


def test_checkout_shell_summarises_the_cart_and_asks_for_login(page: Page, site: str) -> None:
    page.goto(site + "/checkout/")
    page.evaluate(f"""localStorage.setItem('{CART_KEY}', JSON.stringify({{lines: [
        {{sku: 'UM-CASE', qty: 3, title: '保护套', price_minor: 2900, currency: 'CNY', url: '/products/case/'}}]}}))""")
    page.reload()
    expect(page.locator("[data-summary-lines]")).to_contain_text("保护套 × 3")
    expect(page.locator("[data-checkout] [data-cart-subtotal]")).to_have_text("¥87.00")
    expect(page.locator('a[href="/account/login/?next=/checkout/"]')).to_be_visible()


def test_badge_follows_other_tabs(page: Page, site: str) -> None:
    page.goto(site + "/help/")
    other = page.context.new_page()
    other.goto(site + "/products/case/")
    other.click("[data-add-to-cart]")
    expect(page.locator("[data-cart-count]")).to_have_text("1")
    other.evaluate(f"localStorage.removeItem('{CART_KEY}')")
    expect(page.locator("[data-cart-count]")).to_be_hidden()


def test_corrupt_storage_is_an_empty_cart(page: Page, site: str) -> None:
    page.goto(site + "/cart/")
    page.evaluate(f"localStorage.setItem('{CART_KEY}', '{{not json')")
    page.reload()
    expect(page.locator("[data-cart-empty]")).to_be_visible()


def test_policy_notice_dismissal_is_remembered(page: Page, site: str) -> None:
    page.goto(site + "/privacy/")
    notice = page.locator("[data-notice]")
    expect(notice).to_be_visible()
    page.get_by_role("button", name="关闭通知(不再显示)").click()
    expect(notice).to_be_hidden()
    page.reload()
    expect(page.locator("[data-notice]")).to_be_hidden()
    # A different major version shows again.
    page.evaluate("localStorage.setItem('storefront.notice.dismissed', '2025-01-01')")
    page.reload()
    expect(page.locator("[data-notice]")).to_be_visible()


def test_category_menu_works_by_keyboard(page: Page, site: str) -> None:
    page.goto(site + "/")
    toggle = page.locator("details[data-menu] > summary")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".menu-panel")).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Tab")
    expect(page.locator(".menu-list a").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator(".menu-panel")).to_be_hidden()
    expect(toggle).to_be_focused()


def test_skip_link_and_current_nav_link(page: Page, site: str) -> None:
    page.goto(site + "/help/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="跳到主要内容")
    expect(skip).to_be_focused()
    expect(page.locator('.nav-links a[href="/help/"]')).to_have_attribute("aria-current", "page")
