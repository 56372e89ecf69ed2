"""The shopper's journey in Chromium against `build.py serve` (static pages + checkout service).

Home -> category -> product -> add to cart -> cart -> register -> activation mail -> activate ->
log in -> /account/ shows the nickname, on a desktop and on a 390x844 phone; search suggestions
for a Chinese prefix; the static search fallback with the API unreachable; the privacy history
diff and the site-wide notice of the upcoming major policy version. Every visited page passes the
accessibility smoke checks (conftest.AUDIT_JS) and logs no console error; home and product pages
stay under 100 KB transferred before images. The paid-order part of the journey comes with orders.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from .conftest import Server, Shop

PAGE_BUDGET = 100 * 1024  # bytes transferred before images (issue 6, point 5)
CART_KEY = "storefront.cart.v1"


def follow(shop: Shop, locator) -> None:
    """Click a link and run the page checks on where it leads."""
    shop.responses.clear()
    with shop.page.expect_navigation(wait_until="load"):
        locator.click()
    shop.audit()


def assert_light(shop: Shop, what: str) -> int:
    total, rows = shop.bytes_before_images()
    detail = ", ".join(f"{url.rsplit('/', 2)[-2:]}={n}" for url, n in rows)
    assert total < PAGE_BUDGET, f"{what} transfers {total} bytes before images (budget {PAGE_BUDGET}): {detail}"
    assert total > 5000, f"{what}: implausibly few bytes measured ({total}): {detail}"
    return total


def activation_link(server: Server, address: str) -> str:
    mail = server.wait_for_mail(address)
    body = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    m = re.search(r"https?://\S+token=[\w\-.~%]+", body)
    assert m, f"no link with token= in the activation mail to {address}:\n{body}"
    link = m.group(0)
    assert link.startswith(server.base_url + "/account/activate/"), link
    assert parse_qs(urlsplit(link).query)["token"][0]
    return link


def register_and_log_in(shop: Shop, server: Server, address: str, nickname: str, password: str,
                        screenshots: bool = False) -> None:
    """Register -> activation mail -> activate -> log in, the way a shopper does it, in the page;
    ends on /account/ showing the nickname."""
    page = shop.page
    shop.visit("/account/register/")
    page.fill("#reg-nickname", nickname)
    page.fill("#reg-email", address)
    page.fill("#reg-password", password)
    page.check("input[name=accept]")
    with page.expect_response(lambda r: r.url.endswith("/api/accounts") and r.request.method == "POST") as resp:
        page.click("form[data-account-form=register] button[type=submit]")
    assert resp.value.status in (200, 201, 202), resp.value.text()
    expect(page.locator("[data-account-message]")).to_contain_text(address)
    if screenshots:
        shop.screenshot("05-registered")

    link = activation_link(server, address)
    shop.responses.clear()
    page.goto(link, wait_until="load")
    shop.audit()
    expect(page.locator("[data-account-message]")).to_contain_text("已激活")
    assert "token=" not in page.url  # the page drops the token from history once read
    if screenshots:
        shop.screenshot("06-activated")
    follow(shop, page.locator("[data-account-next] a"))
    assert urlsplit(page.url).path == "/account/login/"

    page.fill("#login-email", address)
    page.fill("#login-password", password)
    with page.expect_navigation(url=re.compile(r"/account/$"), wait_until="load"):
        page.click("form[data-account-form=login] button[type=submit]")
    shop.audit()
    expect(page.locator("#me-nickname")).to_have_value(nickname)


def journey(shop: Shop, server: Server) -> None:
    page = shop.page

    # Home: light, with the categories; then into the first top category.
    shop.visit("/")
    home_bytes = assert_light(shop, "home page")
    shop.screenshot("01-home")
    follow(shop, page.locator(".category-tiles a").first)
    assert "/categories/" in page.url
    expect(page.locator("h1")).not_to_have_text("")
    shop.screenshot("02-category")

    # A product in stock from the category's grid.
    card = page.locator("article.card:not(.is-sold-out) a.card-link").first
    title = card.locator(".card-title").inner_text().strip()
    follow(shop, card)
    assert "/products/" in page.url
    product_url = urlsplit(page.url).path
    expect(page.locator("h1")).to_have_text(title)
    product_bytes = assert_light(shop, f"product page {product_url}")
    shop.screenshot("03-product")

    # Add to cart: the badge counts it, the cart page lists it.
    button = page.locator("[data-add-to-cart]")
    expect(button).to_be_enabled()
    sku = button.get_attribute("data-sku")
    page.fill("#qty", "2")
    button.click()
    expect(page.locator("[data-cart-count]")).to_have_text("2")
    follow(shop, page.locator("a[data-cart-link]"))
    assert urlsplit(page.url).path == "/cart/"
    line = page.locator("[data-cart-lines] .cart-line").first
    expect(line.locator("[data-field=title]")).to_contain_text(title)
    expect(line.locator("[data-field=sku]")).to_have_text(sku or "")
    expect(line.locator("[data-field=qty]")).to_have_value("2")
    shop.screenshot("04-cart")

    # Register -> activation mail -> activate -> log in -> /account/ shows the nickname.
    address = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
    nickname = "小梅" + uuid.uuid4().hex[:4]
    register_and_log_in(shop, server, address, nickname, "Lan-ya 2026 耳机", screenshots=True)
    expect(page.locator("[data-logged-in]")).to_be_visible()
    expect(page.locator('[data-profile="email"]')).to_have_text(address)
    shop.screenshot("07-account")
    # the cart survived the account pages
    cart = page.evaluate(f"JSON.parse(localStorage.getItem('{CART_KEY}'))")
    assert [(x["sku"], x["qty"]) for x in cart["lines"]] == [(sku, 2)]
    print(f"{shop.name}: home {home_bytes} B, product {product_url} {product_bytes} B before images")


def test_journey_desktop(shop: Shop, server: Server) -> None:
    journey(shop, server)


def test_journey_phone(phone_shop: Shop, server: Server) -> None:
    assert phone_shop.page.viewport_size == {"width": 390, "height": 844}
    journey(phone_shop, server)  # every page audited, including "no sideways scrolling"
    # the pages set a device-width viewport, so "no sideways scrolling" was checked at 390 px
    assert phone_shop.page.evaluate("window.innerWidth") == 390


def test_search_suggestions_for_a_chinese_prefix(shop: Shop) -> None:
    page = shop.page
    shop.visit("/")
    box = page.locator("#site-search")
    with page.expect_response(lambda r: "/api/suggest?" in r.url) as resp:
        box.press_sequentially("蓝牙", delay=50)
    assert resp.value.status == 200
    api_titles = [s["title"] for s in resp.value.json()["suggestions"]]
    assert api_titles and all("蓝牙" in t or "耳机" in t or "音箱" in t for t in api_titles[:2]), api_titles
    options = page.locator("#site-search-suggestions [role=option]")
    expect(options.first).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    assert options.all_inner_texts() == api_titles
    shop.screenshot("suggestions")
    # keyboard: ArrowDown + Enter opens the first suggestion
    box.press("ArrowDown")
    with page.expect_navigation(wait_until="load"):
        box.press("Enter")
    shop.audit()
    expect(page.locator("h1")).to_have_text(api_titles[0])


def test_static_search_fallback_with_the_api_unreachable(shop: Shop) -> None:
    page = shop.page
    api_calls: list[str] = []

    def refuse(route) -> None:
        api_calls.append(route.request.url)
        route.abort("connectionrefused")

    page.route("**/api/**", refuse)
    # The refused calls are this test's own doing; Chromium logs each as a failed load.
    shop.allow_console(lambda msg: "/api/" in msg.location.get("url", "") or "ERR_CONNECTION_REFUSED" in msg.text)
    shop.visit("/search/?q=" + "蓝牙耳机")
    status = page.locator("[data-search-status]")
    expect(status).to_contain_text("离线索引")
    hits = page.locator("[data-search-hits] .search-hit-product a")
    expect(hits.first).to_be_visible()
    titles = hits.all_inner_texts()
    assert "Soundrive 声驰 蓝牙耳机 X12" in titles, titles
    assert any("/api/search?" in u for u in api_calls), "the page never tried the API first"
    shop.screenshot("search-offline")
    # by SKU too, exact
    shop.visit("/search/?q=UM-1604")
    expect(status).to_contain_text("离线索引")
    expect(hits.first).to_have_text(re.compile("三德刀"))
    # and the header box suggests from the static index
    box = page.locator("#site-search")
    box.fill("")
    box.press_sequentially("三德", delay=50)
    expect(page.locator("#site-search-suggestions [role=option]").first).to_contain_text("三德刀")


def test_privacy_history_diff_and_major_change_notice(shop: Shop) -> None:
    page = shop.page
    shop.visit("/privacy/history/")
    upcoming = page.locator("#v-2027-01-01")
    expect(upcoming).to_be_visible()
    expect(upcoming.locator("ins").first).to_be_visible()
    expect(upcoming.locator("ins").first).to_contain_text("安付盾")
    expect(page.locator("del").first).to_be_visible()
    # ins and del look different from plain text (the diff is readable without colour names)
    styles = page.evaluate("""() => ['ins', 'del'].map(t => {
        const s = getComputedStyle(document.querySelector(t));
        return [s.textDecorationLine, s.backgroundColor];
    })""")
    assert styles[0] != styles[1], styles
    shop.screenshot("privacy-history")

    # The major version (2027-01-01) is announced on every page, with links to it and its diff.
    for path in ("/", "/products/santoku-knife-165/", "/help/"):
        shop.visit(path)
        notice = page.locator("aside.site-notice")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("2027")
        expect(notice.locator("a[href='/privacy/history/#v-2027-01-01']")).to_be_visible()
    shop.screenshot("notice")
    follow(shop, page.locator("aside.site-notice a[href='/privacy/2027-01-01/']"))
    expect(page.locator("h1")).to_contain_text("隐私政策")
    # Dismissed once, it stays dismissed for this version.
    page.click("[data-notice-close]")
    expect(page.locator("aside.site-notice")).to_be_hidden()
    shop.visit("/")
    expect(page.locator("aside.site-notice")).to_be_hidden()
    # /privacy/ names the upcoming version
    shop.visit("/privacy/")
    expect(page.locator("main")).to_contain_text("2027")


def page_sample(server: Server, per_kind: int = 2) -> list[str]:
    """Pages of every kind the build wrote (a kind: the first path segment and the depth): all of
    a small kind (the shells, the policy pages), ``per_kind`` of a large one (products, help)."""
    kinds: dict[tuple[str, int], list[str]] = {}
    for index in sorted(server.output.rglob("index.html")):
        rel = index.parent.relative_to(server.output).as_posix()
        parts = [] if rel == "." else rel.split("/")
        if parts[:1] in (["static"], ["media"]):
            continue
        kinds.setdefault((parts[0] if parts else "", len(parts)), []).append("/" + "/".join(parts) + ("/" if parts else ""))
    return [url for urls in kinds.values() for url in (urls if len(urls) <= 6 else urls[:per_kind])]


def test_every_kind_of_page_passes_the_checks(shop: Shop, server: Server) -> None:
    urls = page_sample(server)
    assert {"/", "/help/", "/privacy/history/", "/search/", "/checkout/", "/account/register/"} <= set(urls), urls
    assert any(u.startswith("/products/") for u in urls) and any(u.startswith("/categories/") for u in urls)
    for url in urls:
        shop.visit(url)
    # the CDN's 404 page, at a missing address
    shop.allow_console(lambda msg: "404" in msg.text and msg.location.get("url", "").endswith("/no/such/page/"))
    response = shop.page.goto(server.url("/no/such/page/"))
    assert response is not None and response.status == 404
    shop.audit()


def test_shells_logged_out_log_no_console_error(shop: Shop, server: Server) -> None:
    for url in page_sample(server):
        if url.startswith(("/account/", "/checkout/", "/cart/")):
            shop.visit(url)
            shop.page.wait_for_timeout(300)  # let the API calls of the shell finish
    errors, shop.console_errors[:] = list(shop.console_errors), []  # reported here, not again at teardown
    assert not errors, "\n".join(errors)
