"""The checkout pages in a real browser (Chromium via Playwright) against the real service, on one
origin as `make run` serves them: the cart revalidates prices against /api/stock, /checkout/ uses the
address book and places the order, the shopper pays at the Alipay sandbox, comes back to
/checkout/return/ which waits for the notification, and /account/orders/ shows the order.

The shells are rendered from the demo theme with a minimal context (no build needed). SQLite only:
the database side is covered on both databases by the API tests."""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest

from checkout.models import Account

from .conftest import ADDRESS

ROOT = Path(__file__).resolve().parents[2]
THEME = ROOT / "templates"
SHELLS = {"/cart/": "shells/cart.html", "/checkout/": "shells/checkout.html",
          "/checkout/return/": "shells/checkout/return.html", "/account/orders/": "shells/account/orders.html"}
CART_KEY = "storefront.cart.v1"


def render_shells() -> dict[str, bytes]:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(THEME), autoescape=True, undefined=jinja2.StrictUndefined)
    site = SimpleNamespace(name="umegou", language="zh-CN", api_url="/api", currency="CNY",
                           payment_methods=("paypal", "wechat", "alipay", "bank_transfer"))
    env.globals.update(site=site, asset=lambda path: f"/static/{path}", canonical_url="https://www.umegou.com/",
                       notice="", nav="", footer="", breadcrumbs=[])
    return {url: env.get_template(name).render().encode("utf-8") for url, name in SHELLS.items()}


@pytest.fixture
def site(service, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("browser journey runs once, on SQLite")
    pages = render_shells()
    app = service.dispatch.app

    def front(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path in pages:
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [pages[path]]
        if path.startswith("/static/"):
            file = THEME / "static" / path[len("/static/"):]
            if file.is_file():
                start_response("200 OK", [("Content-Type", mimetypes.guess_type(str(file))[0] or "text/plain")])
                return [file.read_bytes()]
        return app(environ, start_response)

    service.dispatch.app = front
    return service


def test_checkout_revalidates_the_cart_pays_and_waits_for_the_notification(site, browser):
    from playwright.sync_api import expect

    buyer = site.shopper()
    with site.db.connection_context():
        Account.update(addresses_enc=site.ctx.cipher.encrypt(json.dumps([ADDRESS], ensure_ascii=False),
                                                             "account.addresses")).where(
            Account.id == buyer.account_id).execute()
    context = browser.new_context(base_url=site.base)
    context.add_cookies([{"name": "sf_session", "value": buyer.token, "url": site.base},
                         {"name": "sf_signed_in", "value": "1", "url": site.base}])  # as a login sets them
    page = context.new_page()
    page.goto("/cart/")
    stale = {"lines": [{"sku": "UM-1001", "qty": 1, "title": "无线蓝牙耳机 X12", "price_minor": 25900,
                        "currency": "CNY", "url": "/products/earbuds/"},
                       {"sku": "UM-3000-BLK", "qty": 5, "title": "T 恤 黑色", "price_minor": 9900, "currency": "CNY",
                        "url": "/products/shirt/"},
                       {"sku": "UM-3000-WHT", "qty": 1, "title": "T 恤 白色", "price_minor": 10900, "currency": "CNY",
                        "url": "/products/shirt/"}]}
    page.evaluate(f"localStorage.setItem('{CART_KEY}', JSON.stringify({json.dumps(stale)}))")
    page.reload()
    notice = page.locator("[data-cart-notice]")  # the cart page revalidates on arrival
    expect(notice).to_contain_text("价格已从 ¥259.00 变为 ¥199.00")
    expect(notice).to_contain_text("T 恤 黑色 仅剩 3 件")
    expect(notice).to_contain_text("T 恤 白色 已售罄")
    page.click(".btn-checkout")
    page.wait_for_url("**/checkout/")
    expect(page.locator("[data-checkout] [data-cart-subtotal]")).to_have_text("¥496.00")
    # the price moves again while the shopper is at checkout: checked again there
    page.evaluate(f"""(() => {{ const c = JSON.parse(localStorage.getItem('{CART_KEY}'));
        c.lines[0].price_minor = 18000; localStorage.setItem('{CART_KEY}', JSON.stringify(c)); }})()""")
    page.reload()
    expect(page.locator("[data-cart-notice]")).to_contain_text("价格已从 ¥180.00 变为 ¥199.00")
    lines = page.evaluate(f"JSON.parse(localStorage.getItem('{CART_KEY}')).lines")
    assert [(l["sku"], l["qty"], l["price_minor"]) for l in lines] == [("UM-1001", 1, 19900), ("UM-3000-BLK", 3, 9900)]
    expect(page.locator("[data-checkout-form]")).to_be_visible()
    expect(page.locator("[data-checkout-login]")).to_be_hidden()
    expect(page.locator("[data-saved-addresses]")).to_contain_text("张三")
    page.check("input[name=method][value=alipay]")
    page.click("[data-place-order]")
    page.wait_for_url("**/sandbox/alipay/gateway.do?**")
    page.click("#sandbox-pay button")
    page.wait_for_url("**/checkout/return/?order=*")
    expect(page.locator("[data-pay-status]")).to_contain_text("付款成功", timeout=15000)
    number = page.url.split("order=", 1)[1]
    order = buyer.get(f"/api/orders/{number}").json
    assert order["status"] == "paid" and order["total_minor"] == 19900 + 3 * 9900
    assert page.evaluate(f"JSON.parse(localStorage.getItem('{CART_KEY}')).lines.length") == 0

    page.goto(f"/account/orders/?order={number}")
    expect(page.locator("[data-detail-status]")).to_have_text("已付款")
    expect(page.locator("[data-detail-address]")).to_contain_text("浦东新区")
    page.goto("/account/orders/")
    expect(page.locator("[data-order-list]")).to_contain_text(number)
    context.close()


def test_unpaid_order_can_be_cancelled_from_the_orders_page(site, browser):
    from playwright.sync_api import expect

    buyer = site.shopper()
    number = buyer.order([{"sku": "UM-1001", "qty": 2}])["number"]
    context = browser.new_context(base_url=site.base)
    context.add_cookies([{"name": "sf_session", "value": buyer.token, "url": site.base},
                         {"name": "sf_signed_in", "value": "1", "url": site.base}])  # as a login sets them
    page = context.new_page()
    page.goto(f"/account/orders/?order={number}")
    expect(page.locator("[data-detail-status]")).to_have_text("待付款")
    expect(page.locator("[data-detail-pay]")).to_be_visible()
    page.click("[data-action=cancel]")
    expect(page.locator("[data-detail-status]")).to_have_text("已取消")
    assert site.on_hand("UM-1001") == 5
    context.close()


def test_cart_page_revalidates_prices_and_stock_on_arrival(site, browser):
    """The cart page itself shows today's prices and stock, before the shopper goes to checkout."""
    from playwright.sync_api import expect

    page = browser.new_context(base_url=site.base).new_page()
    page.goto("/cart/")
    stale = {"lines": [{"sku": "UM-1001", "qty": 2, "title": "无线蓝牙耳机 X12", "price_minor": 25900,
                        "currency": "CNY", "url": "/products/earbuds/"}]}
    page.evaluate(f"localStorage.setItem('{CART_KEY}', JSON.stringify({json.dumps(stale)}))")
    page.reload()
    expect(page.locator("[data-cart-notice]")).to_contain_text("价格已从 ¥259.00 变为 ¥199.00")
    expect(page.locator("[data-cart-subtotal]")).to_have_text("¥398.00")
    lines = page.evaluate(f"JSON.parse(localStorage.getItem('{CART_KEY}')).lines")
    assert [(l["sku"], l["qty"], l["price_minor"]) for l in lines] == [("UM-1001", 2, 19900)]
    page.context.close()
