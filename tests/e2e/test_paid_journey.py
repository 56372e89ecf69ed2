"""The shopper's journey to a paid order in Chromium against `build.py serve` (static pages, the
checkout service and the payment sandboxes on one origin).

Home -> category -> product -> add to cart -> cart -> register -> activation mail -> activate ->
log in -> checkout (a new shipping address, a payment method) -> the Alipay sandbox (form
#sandbox-pay) -> /checkout/return/ waits for the signed notification -> /account/orders/ shows the
order paid; the whole of it once more on a 390x844 phone (the page asks for Alipay's wap cashier).
From checkout on, the logged-in desktop shopper then pays with WeChat Pay's QR code (Native: the
"phone" opens the sandbox payer page the QR code stands for, and the checkout page notices the
payment by itself), with WeChat Pay H5 on a phone, with PayPal, and by bank transfer (instructions,
awaiting_confirmation, a transfer reference, then confirmed with the admin CLI).

Every shop page passes the accessibility smoke checks (conftest.AUDIT_JS), no page logs a console
error (the sandbox pages included: they open in the test's own tab), and the key pages are saved
as screenshots under test-artifacts/e2e/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from checkout.payments.sandbox import sandbox_page_for_code_url

from .conftest import ROOT, Server, Shop
from .test_journey import CART_KEY, follow, register_and_log_in

PASSWORD = "Lan-ya 2026 耳机"
ADDRESS = {"name": "张小梅", "phone": "13800138000", "country": "CN", "province": "上海市", "city": "上海市",
           "line1": "浦东新区世纪大道 100 号 8 楼", "postal_code": "200120"}
PAID_TEXT = "付款成功"


@dataclass
class Shopper:
    """An activated account, and the cookies of its logged-in browser (to reuse in another tab)."""

    email: str
    nickname: str
    cookies: list[dict[str, Any]]


# The desktop shopper of the Alipay journey, reused by the other payment methods (one registration
# for the module, as a household would pay several orders from one account).
_SHOPPERS: dict[str, Shopper] = {}


# ---- steps -------------------------------------------------------------------------------------

def browse_to_cart(shop: Shop) -> tuple[str, str]:
    """Home -> first category -> first product in stock -> add 1 to the cart -> /cart/. Returns (sku, title)."""
    page = shop.page
    shop.visit("/")
    shop.screenshot("01-home")
    follow(shop, page.locator(".category-tiles a").first)
    assert "/categories/" in page.url
    card = page.locator("article.card:not(.is-sold-out) a.card-link").first
    title = card.locator(".card-title").inner_text().strip()
    follow(shop, card)
    assert "/products/" in page.url
    expect(page.locator("h1")).to_have_text(title)
    shop.screenshot("02-product")
    button = page.locator("[data-add-to-cart]")
    expect(button).to_be_enabled()
    sku = button.get_attribute("data-sku") or ""
    button.click()
    expect(page.locator("[data-cart-count]")).to_have_text("1")
    follow(shop, page.locator("a[data-cart-link]"))
    assert urlsplit(page.url).path == "/cart/"
    expect(page.locator("[data-cart-lines] .cart-line [data-field=sku]").first).to_have_text(sku)
    shop.screenshot("03-cart")
    return sku, title


def sign_up(shop: Shop, server: Server) -> Shopper:
    """Register -> activation mail -> activate -> log in (the way a shopper does it, in the page)."""
    address = f"paid-{uuid.uuid4().hex[:10]}@example.com"
    nickname = "阿梅" + uuid.uuid4().hex[:4]
    register_and_log_in(shop, server, address, nickname, PASSWORD)
    return Shopper(address, nickname, shop.page.context.cookies())


def go_to_checkout(shop: Shop) -> None:
    """From the cart page to /checkout/, logged in: the form and its address book are shown."""
    page = shop.page
    if urlsplit(page.url).path != "/cart/":
        shop.visit("/cart/")
    follow(shop, page.locator(".btn-checkout"))
    assert urlsplit(page.url).path == "/checkout/"
    expect(page.locator("[data-checkout-form]")).to_be_visible()
    expect(page.locator("[data-checkout-login]")).to_be_hidden()
    expect(page.locator("[data-cart-filled]")).to_be_visible()


def fill_address_and_choose(shop: Shop, method: str) -> None:
    """Enter a new shipping address (orders do not add to the address book) and pick ``method``."""
    page = shop.page
    form = page.locator("[data-checkout-form]")
    new_choice = form.locator("[data-new-address-choice]")
    if not new_choice.is_checked():
        new_choice.check()
    expect(form.locator("[data-new-address]")).to_be_visible()
    for name, value in ADDRESS.items():
        form.locator(f"input[name={name}]").fill(value)
    form.locator(f"input[name=method][value={method}]").check()
    shop.audit()  # the fields that appeared are labelled too


def place_order(shop: Shop) -> dict[str, Any]:
    """Submit the checkout form; returns the order the service answered (its prices, not the cart's)."""
    page = shop.page
    with page.expect_response(lambda r: r.url.endswith("/api/orders") and r.request.method == "POST") as placed:
        page.click("[data-place-order]")
    assert placed.value.status in (200, 201), placed.value.text()
    order = placed.value.json()
    assert order["status"] == "pending_payment" and order["total_minor"] > 0, order
    return order


def pay_at_sandbox(shop: Shop, provider: str, label: str) -> None:
    """On the provider's (sandbox) page: submit form#sandbox-pay, land on the return page."""
    page = shop.page
    page.wait_for_url(re.compile(rf"/sandbox/{provider}/"), wait_until="load")
    expect(page.locator("form#sandbox-pay")).to_be_visible()
    shop.screenshot(f"{label}-sandbox")
    with page.expect_navigation(url=re.compile(r"/checkout/return/\?order="), wait_until="load"):
        page.locator("form#sandbox-pay button[type=submit]").click()
    shop.audit()


def wait_on_return_page(shop: Shop, number: str, label: str, expected: str = PAID_TEXT) -> None:
    page = shop.page
    assert page.url.endswith(f"/checkout/return/?order={number}"), page.url
    status = page.locator("[data-pay-status]")
    expect(status).to_contain_text(expected, timeout=20_000)
    expect(status).to_contain_text(number)
    shop.screenshot(f"{label}-return")


def order_shows_as(shop: Shop, number: str, status_text: str, label: str) -> None:
    """/account/orders/ lists the order with its status, and its detail page says the same."""
    page = shop.page
    shop.visit("/account/orders/")
    row = page.locator("[data-order-list] li", has_text=number)
    expect(row).to_contain_text(status_text)
    shop.screenshot(f"{label}-orders")
    follow(shop, row.locator("a"))
    expect(page.locator("[data-detail-status]")).to_have_text(status_text)
    expect(page.locator("[data-detail-address]")).to_contain_text(ADDRESS["line1"])
    shop.screenshot(f"{label}-order-detail")


def mail_about(server: Server, to: str, subject_part: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(to in str(m["To"]) and subject_part in str(m["Subject"]) for m in server.mails()):
            return
        time.sleep(0.2)
    subjects = [(str(m["To"]), str(m["Subject"])) for m in server.mails() if to in str(m["To"])]
    raise AssertionError(f"no mail to {to} with {subject_part!r} in its subject within {timeout} s: {subjects}")


def cart_lines(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(f"(JSON.parse(localStorage.getItem('{CART_KEY}')) || {{lines: []}}).lines")


def alipay_journey(shop: Shop, server: Server, label: str, cashier: str) -> Shopper:
    """The whole path from the home page to an order paid with Alipay and shown in /account/orders/;
    ``cashier`` is the Alipay API the page must send the shopper to (PC page pay or mobile wap pay)."""
    page = shop.page
    gateway: list[str] = []
    page.on("request", lambda r: gateway.append(r.url) if "/sandbox/alipay/gateway.do" in r.url else None)
    sku, _title = browse_to_cart(shop)
    shopper = sign_up(shop, server)
    assert [(x["sku"], x["qty"]) for x in cart_lines(page)] == [(sku, 1)]  # the cart survived signing up
    go_to_checkout(shop)
    fill_address_and_choose(shop, "alipay")
    shop.screenshot(f"{label}-checkout")
    order = place_order(shop)
    number = order["number"]
    assert [line["sku"] for line in order["lines"]] == [sku]
    pay_at_sandbox(shop, "alipay", label)
    assert gateway and all(f"method={cashier}&" in u for u in gateway), gateway
    wait_on_return_page(shop, number, label)
    assert cart_lines(page) == []  # the cart is emptied once the order is placed
    order_shows_as(shop, number, "已付款", label)
    mail_about(server, shopper.email, f"订单 {number} 的付款")
    return shopper


def signed_in(shop: Shop, server: Server) -> Shopper:
    """The desktop Alipay journey's shopper in this tab (cookies copied: logged in), or, when that
    test did not run first, a new shopper signed up here."""
    shopper = _SHOPPERS.get("desktop")
    if shopper is None:
        shopper = _SHOPPERS["desktop"] = sign_up(shop, server)
    else:
        shop.page.context.add_cookies(shopper.cookies)  # type: ignore[arg-type]
    return shopper


def stocked_product_url(server: Server) -> str:
    """A product without variants and with plenty of stock, other than the one live reload edits."""
    catalog = json.loads((server.output / "catalog.json").read_text(encoding="utf-8"))
    for p in catalog["products"]:
        if not p["variants"] and (p["stock"] is None or p["stock"] >= 20) and "santoku" not in p["url"]:
            return urlsplit(p["url"]).path
    raise AssertionError("no product with stock >= 20 and no variants in the demo catalog")


def add_to_cart_and_check_out(shop: Shop, server: Server, method: str, label: str) -> None:
    page = shop.page
    shop.visit(stocked_product_url(server))
    page.locator("[data-add-to-cart]").click()
    expect(page.locator("[data-cart-count]")).not_to_have_text(re.compile(r"^0?$"))
    follow(shop, page.locator("a[data-cart-link]"))
    go_to_checkout(shop)
    fill_address_and_choose(shop, method)
    shop.screenshot(f"{label}-checkout")


# ---- tests ---------------------------------------------------------------------------------------

def test_alipay_journey_desktop_ends_with_a_paid_order(shop: Shop, server: Server) -> None:
    _SHOPPERS["desktop"] = alipay_journey(shop, server, "alipay", cashier="alipay.trade.page.pay")


def test_alipay_journey_on_a_phone(phone_shop: Shop, server: Server) -> None:
    page = phone_shop.page
    assert page.viewport_size == {"width": 390, "height": 844}
    # every page audited at 390 px (no sideways scrolling); a phone-sized checkout asks for Alipay's
    # mobile cashier (wap pay), not the PC one
    alipay_journey(phone_shop, server, "phone-alipay", cashier="alipay.trade.wap.pay")
    assert page.evaluate("window.innerWidth") == 390


def test_wechat_h5_on_a_phone(phone_shop: Shop, server: Server) -> None:
    """In a phone browser WeChat Pay is H5: a redirect to WeChat's cashier, which sends the shopper
    back to /pay/wechat/return and so to the page that waits for the notification."""
    page = phone_shop.page
    signed_in(phone_shop, server)
    add_to_cart_and_check_out(phone_shop, server, "wechat", "phone-wechat")
    number = place_order(phone_shop)["number"]
    page.wait_for_url(re.compile(r"/sandbox/wechat/h5pay\?prepay_id=.+&redirect_url="), wait_until="load")
    pay_at_sandbox(phone_shop, "wechat", "phone-wechat")
    wait_on_return_page(phone_shop, number, "phone-wechat")
    order_shows_as(phone_shop, number, "已付款", "phone-wechat")


def test_wechat_native_qr_code_paid_from_the_phone(shop: Shop, server: Server) -> None:
    page = shop.page
    signed_in(shop, server)
    add_to_cart_and_check_out(shop, server, "wechat", "wechat")
    with page.expect_response(lambda r: "/payments" in r.url and r.request.method == "POST") as started:
        order = place_order(shop)
    start = started.value.json()
    number = order["number"]
    assert start["qr_code_url"].startswith("weixin://wxpay/bizpayurl?pr="), start
    # The desktop stays on /checkout/ with the QR code (our own SVG) and the order number.
    assert urlsplit(page.url).path == "/checkout/"
    qr = page.locator("[data-qr]")
    expect(qr).to_be_visible()
    expect(qr.locator("svg")).to_be_visible()
    expect(page.locator("[data-order-number]")).to_contain_text(number)
    shop.screenshot("wechat-qr")

    # The "phone" scans it: the sandbox page the code stands for, then WeChat's payer page.
    phone = page.context.new_page()
    shop.listen(phone)
    phone.goto(sandbox_page_for_code_url(start["qr_code_url"], server.url("/sandbox/wechat")), wait_until="load")
    expect(phone.locator("#qr svg")).to_be_visible()
    shop.screenshot("wechat-sandbox-qr", phone)
    phone.click("#sandbox-open")
    expect(phone.locator("form#sandbox-pay")).to_be_visible()
    shop.screenshot("wechat-sandbox", phone)
    phone.locator("form#sandbox-pay button[type=submit]").click()
    expect(phone.locator("body")).to_contain_text("支付成功")
    phone.close()

    # The desktop page notices the notification by itself.
    message = page.locator("[data-checkout-message]")
    expect(message).to_contain_text(PAID_TEXT, timeout=20_000)
    expect(message).to_contain_text(number)
    expect(qr).to_be_hidden()
    shop.screenshot("wechat-paid")
    order_shows_as(shop, number, "已付款", "wechat")


def test_paypal_approval_captures_and_the_order_is_paid(shop: Shop, server: Server) -> None:
    shopper = signed_in(shop, server)
    add_to_cart_and_check_out(shop, server, "paypal", "paypal")
    number = place_order(shop)["number"]
    pay_at_sandbox(shop, "paypal", "paypal")
    # PayPal's ship-to is the address entered at checkout, so the paid order is not put on hold
    wait_on_return_page(shop, number, "paypal")
    order_shows_as(shop, number, "已付款", "paypal")
    mail_about(server, shopper.email, f"订单 {number} 的付款")


def test_bank_transfer_shows_instructions_and_awaits_confirmation(shop: Shop, server: Server) -> None:
    page = shop.page
    shopper = signed_in(shop, server)
    add_to_cart_and_check_out(shop, server, "bank_transfer", "bank")
    order = place_order(shop)
    number = order["number"]
    assert urlsplit(page.url).path == "/checkout/"
    bank = page.locator("[data-bank]")
    expect(bank).to_be_visible()
    for term in ("收款户名", "开户银行", "账号", "金额", "转账附言(必填)", "保留时间"):
        expect(bank.locator("dt", has_text=term)).to_have_count(1)
    expect(bank).to_contain_text(number)  # the remark the shopper must write is the order number
    expect(page.locator("[data-checkout-message]")).to_contain_text("请按以下信息转账")
    expect(page.locator("[data-checkout-form]")).to_be_hidden()
    shop.screenshot("bank-instructions")
    mail_about(server, shopper.email, f"订单 {number} 的银行转账信息")

    order_shows_as(shop, number, "等待确认转账", "bank")
    expect(page.locator("[data-detail-bank]")).to_contain_text(number)
    expect(page.locator("[data-transfer-form]")).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith("/transfer-reference")) as sent:
        page.fill("#transfer-ref", "TX20261125001")
        page.click("[data-transfer-form] button[type=submit]")
    assert sent.value.ok, sent.value.text()
    expect(page.locator("[data-orders-message]")).to_contain_text("已提交流水号")

    # Customer service confirms the transfer with the admin CLI; the order page then says paid.
    env = dict(os.environ, CHECKOUT_DATA_DIR=str(server.data_dir), CHECKOUT_SITE_DIR=str(server.output),
               CHECKOUT_INDEX_DIR=str(server.root / "search_index"))
    for name in ("DATABASE_URL", "CHECKOUT_ENV"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "checkout", "admin", "confirm-transfer", number],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    page.reload(wait_until="load")
    shop.audit()
    expect(page.locator("[data-detail-status]")).to_have_text("已付款")
    expect(page.locator("[data-transfer-form]")).to_be_hidden()
    mail_about(server, shopper.email, f"订单 {number} 的付款")
