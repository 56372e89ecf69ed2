"""The static export derived after a few documents changed equals one made from scratch."""

from __future__ import annotations

import random

import pytest

from storefront.search_static import BLOCK, SKU_CHUNK, Export, entry

WORDS = ["蓝牙", "音箱", "耳机", "保温杯", "Aurora", "Nova", "pro", "max", "S3", "X200", "充电", "无线", "户外"]


def _fields(n: int, rng: random.Random, **over) -> dict:
    f = {"id": f"product:UM-{n}", "kind": "product", "url": f"/products/p-{n}/",
         "title": " ".join(rng.sample(WORDS, 3)) + f" {n % 7}", "category": f"cat-{n % 5}",
         "category_title": f"分类{n % 5}", "meta": f"cat-{n % 5} {rng.choice(WORDS)}",
         "price_minor": 100 * n, "currency": "CNY", "sku": f"UM-{n} UM-{n}-B" if n % 3 else f"UM-{n}"}
    f.update(over)
    return f


def _store(rng: random.Random, size: int) -> dict[str, tuple]:
    entries = {}
    for n in range(size):
        f = _fields(n, rng)
        entries[f["id"]] = entry(f)
    help_doc = {"id": "help:pay/paypal", "kind": "help", "url": "/help/pay/paypal/", "title": "PayPal 付款",
                "body": "PayPal 账户 地址 必须 一致", "category": "pay", "category_title": "支付"}
    entries[help_doc["id"]] = entry(help_doc)
    return entries


def _change(entries: dict[str, tuple], rng: random.Random, how: str) -> tuple[dict[str, tuple], set[str]]:
    new = dict(entries)
    ids = sorted(i for i in entries if i.startswith("product:"))
    touched: set[str] = set()
    for _ in range(rng.choice([1, 1, 2, 5])):
        pick = rng.choice(ids)
        n = int(pick.rsplit("-", 1)[1])
        touched.add(pick)
        if how == "title":  # stays in place: the title keeps its first words
            old = entries[pick][3]
            new[pick] = entry(_fields(n, rng, title=old + " 新款"))
        elif how == "move":
            new[pick] = entry(_fields(n, rng, title=rng.choice(WORDS) + " 移动"))
        elif how == "category":
            new[pick] = entry(_fields(n, rng, category="cat-9", category_title="新分类"))
        elif how == "price":
            new[pick] = entry(_fields(n, rng, title=entries[pick][3], price_minor=7))
        elif how == "sku":
            new[pick] = entry(_fields(n, rng, title=entries[pick][3], sku=f"ZZ-{n}"))
        elif how == "currency":
            new[pick] = entry(_fields(n, rng, title=entries[pick][3], currency="USD"))
        elif how == "delete":
            del new[pick]
        elif how == "add":
            fresh = _fields(10_000 + rng.randrange(1000), rng)
            touched.add(fresh["id"])
            new[fresh["id"]] = entry(fresh)
    return new, touched


@pytest.mark.parametrize("how", ["title", "move", "category", "price", "sku", "currency", "delete", "add"])
def test_derived_export_equals_a_fresh_one(how: str) -> None:
    rng = random.Random(how)
    size = 3 * SKU_CHUNK + 17  # several SKU chunks and document blocks
    assert size > 3 * BLOCK
    entries = _store(rng, size)
    current = Export(entries)
    for _ in range(8):  # a chain of builds, each derived from the one before
        entries, touched = _change(entries, rng, how)
        derived = current.derive(entries, touched)
        fresh = Export(entries)
        assert derived.files == fresh.files
        assert derived.codes == fresh.codes and derived.skus == fresh.skus
        current = derived


def test_an_export_read_back_derives_like_the_one_it_was_made_from() -> None:
    rng = random.Random(7)
    entries = _store(rng, 450)
    made = Export(entries)
    read_back = Export(dict(entries), files=dict(made.files))
    new, touched = _change(entries, rng, "move")
    assert read_back.derive(new, touched).files == made.derive(new, touched).files == Export(new).files


def test_when_every_currency_changes_every_block_is_made_again() -> None:
    rng = random.Random(3)
    entries = _store(rng, 250)
    current = Export(entries)
    moved = {i: entry(_fields(int(i.rsplit("-", 1)[1]), rng, title=e[3], currency="USD"))
             for i, e in entries.items() if i.startswith("product:")}
    new = {**entries, **moved}
    assert current.derive(new, set(moved)).files == Export(new).files
