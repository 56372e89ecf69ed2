"""The editing loop in a real browser: `build.py serve` reloads the open page after a save, shows
every error in an overlay while a file is broken (also on pages opened while it is broken, with
the last good page underneath), and recovers on the next good save without a restart.

The files are edited in the server's copy of the store and put back at the end, so the other
end-to-end tests see the demo store as it was.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import Server, Shop

PRODUCT = "products/home-kitchen/santoku-knife-165.md"
URL = "/products/santoku-knife-165/"
TITLE = "Sekimaru 关丸 三德刀 165mm"


def save_atomically(path: Path, text: str) -> None:
    """Save the way many editors do: write a temporary file beside it, then rename over it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@pytest.fixture
def product_file(server: Server):
    path = server.content / PRODUCT
    original = path.read_text(encoding="utf-8")
    assert f"title: {TITLE}\n" in original
    yield path, original
    if path.read_text(encoding="utf-8") != original:
        mark = len(server.log)
        path.write_text(original, encoding="utf-8")
        server.wait_for_log(r"built \d+ pages", after=mark)


def test_live_reload_after_editing_a_product(shop: Shop, server: Server, product_file) -> None:
    path, original = product_file
    page = shop.page
    shop.visit(URL)
    expect(page.locator("h1")).to_have_text(TITLE)
    page.evaluate("window.__notReloaded = true")

    new_title = TITLE + " 新款"
    save_atomically(path, original.replace(f"title: {TITLE}\n", f"title: {new_title}\n"))
    expect(page.locator("h1")).to_have_text(new_title, timeout=20_000)
    assert page.evaluate("window.__notReloaded === undefined"), "the page changed without a reload?"
    shop.audit()
    expect(page).to_have_title(re.compile("新款"))
    shop.screenshot("reloaded")


def test_error_overlay_while_broken_then_recovery(shop: Shop, server: Server, product_file) -> None:
    path, original = product_file
    page = shop.page
    shop.visit(URL)
    mark = len(server.log)

    # Two errors in one save: a price with a unit and an unknown key. Both must be listed.
    broken = original.replace('price: "328.00"', 'price: "328元"').replace("stock: 26", "stock: 26\nprcie: 1")
    path.write_text(broken, encoding="utf-8")
    price_line = broken.splitlines().index('price: "328元"') + 1
    where = f"santoku-knife-165.md:{price_line}:"
    overlay = page.locator("#sf-build-errors")
    expect(overlay).to_be_visible(timeout=20_000)
    expect(overlay).to_contain_text(re.compile(re.escape(where) + ".*328元"))
    expect(overlay).to_contain_text("prcie")
    server.wait_for_log(r"build failed", after=mark)
    shop.screenshot("overlay")
    # The last good page is still what is served underneath.
    assert page.evaluate("document.querySelector('h1').textContent") == TITLE

    # A page opened while the build is broken shows the overlay too (it has not been rebuilt).
    other = shop.page.context.new_page()
    shop.listen(other)
    other.goto(server.url("/"), wait_until="load")
    expect(other.locator("#sf-build-errors")).to_be_visible(timeout=10_000)
    expect(other.locator("#sf-build-errors")).to_contain_text(where)

    # Fixing the file recovers without a restart: both pages reload, the overlay is gone.
    fixed = original.replace(f"title: {TITLE}\n", f"title: {TITLE} 修好了\n")
    save_atomically(path, fixed)
    expect(page.locator("h1")).to_have_text(TITLE + " 修好了", timeout=20_000)
    expect(page.locator("#sf-build-errors")).to_have_count(0)
    expect(other.locator("#sf-build-errors")).to_have_count(0, timeout=10_000)
    shop.audit()
    other.close()
