"""Placing orders over HTTP: server prices, catalog version, encrypted address, stock, validation,
the Markdown stock rule, catalog reloads, shopper cancellation, expiry and account deletion."""

from __future__ import annotations

import re

from checkout import accounts, orders
from checkout.models import Order, OrderEvent, OrderLine, Outbox, StockLevel

from .conftest import ADDRESS, PRODUCTS, write_catalog


def test_order_is_priced_by_the_server_and_reserves_stock(service):
    buyer = service.shopper()
    order = buyer.order([{"sku": "UM-1001", "qty": 2}, {"sku": "UM-2000", "qty": 1}, {"sku": "UM-1001", "qty": 1}])
    assert re.fullmatch(r"UM\d{6}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", order["number"])
    assert order["status"] == "pending_payment"
    assert order["total_minor"] == 3 * 19900 + 4550 and order["currency"] == "CNY"
    assert {(l["sku"], l["qty"], l["unit_price_minor"]) for l in order["lines"]} == {("UM-1001", 3, 19900),
                                                                                     ("UM-2000", 1, 4550)}
    assert order["catalog_version"] == "v1" and order["expires_at"]
    assert service.on_hand("UM-1001") == 2
    assert service.on_hand("UM-2000") is None  # not tracked: no row
    row = service.order_row(order["number"])
    assert row.shipping_enc and "张三" not in row.shipping_enc  # encrypted at rest
    assert buyer.get(f"/api/orders/{order['number']}").json["shipping_address"]["name"] == "张三"
    with service.db.connection_context():
        assert [e.to_status for e in OrderEvent.select().where(OrderEvent.order == row)] == ["pending_payment"]
        assert Outbox.select().where(Outbox.kind == "order_placed").count() == 1


def test_client_prices_and_unknown_fields_are_refused(service):
    buyer = service.shopper()
    bad = buyer.post("/api/orders", {"lines": [{"sku": "UM-1001", "qty": 1, "price_minor": 1}],
                                     "shipping_address": ADDRESS})
    assert bad.status == 400 and bad.json["error"]["field"] == "lines[0]"
    unknown = buyer.post("/api/orders", {"lines": [{"sku": "NOPE-1", "qty": 1}], "shipping_address": ADDRESS})
    assert unknown.status == 400 and unknown.json["error"]["code"] == "unknown_sku"
    parent = buyer.post("/api/orders", {"lines": [{"sku": "UM-3000", "qty": 1}], "shipping_address": ADDRESS})
    assert parent.status == 400, "a product with variants is sold by its variants' SKUs only"
    no_address = buyer.post("/api/orders", {"lines": [{"sku": "UM-1001", "qty": 1}]})
    assert no_address.status == 400 and no_address.json["error"]["field"] == "shipping_address"
    zero = buyer.post("/api/orders", {"lines": [{"sku": "UM-1001", "qty": 0}], "shipping_address": ADDRESS})
    assert zero.status == 400 and zero.json["error"]["field"] == "lines[0].qty"
    assert service.on_hand("UM-1001") == 5


def test_short_stock_is_409_and_reserves_nothing(service):
    buyer = service.shopper()
    short = buyer.post("/api/orders", {"lines": [{"sku": "UM-2000", "qty": 1}, {"sku": "UM-3000-BLK", "qty": 4}],
                                       "shipping_address": ADDRESS})
    assert short.status == 409 and short.json["error"]["code"] == "out_of_stock"
    assert short.json["error"]["sku"] == "UM-3000-BLK" and short.json["error"]["available"] == 3
    sold_out = buyer.post("/api/orders", {"lines": [{"sku": "UM-3000-WHT", "qty": 1}], "shipping_address": ADDRESS})
    assert sold_out.status == 409
    assert service.on_hand("UM-3000-BLK") == 3
    with service.db.connection_context():
        assert Order.select().count() == 0 and OrderLine.select().count() == 0


def test_login_consent_guardian_and_origin_are_enforced(service):
    from .conftest import Client

    anonymous = Client(service.base, None)
    assert anonymous.post("/api/orders", {"lines": [{"sku": "UM-1001", "qty": 1}],
                                          "shipping_address": ADDRESS}).status == 401
    minor = service.shopper(status="pending_guardian_consent")
    refused = minor.post("/api/orders", {"lines": [{"sku": "UM-1001", "qty": 1}], "shipping_address": ADDRESS})
    assert refused.status == 403 and refused.json["error"]["code"] == "guardian_consent_required"
    buyer = service.shopper()
    foreign = Client(service.base, buyer.token)
    foreign.base_origin = "https://evil.example"
    from .conftest import http
    import json
    answer = http("POST", service.base + "/api/orders", json.dumps({"lines": []}).encode(),
                  {"Origin": "https://evil.example", "Cookie": f"sf_session={buyer.token}",
                   "Content-Type": "application/json"})
    assert answer.status == 403 and answer.json["error"]["code"] == "forbidden_origin"


def test_someone_elses_order_is_not_found(service):
    alice, bob = service.shopper(), service.shopper()
    order = alice.order()
    assert bob.get(f"/api/orders/{order['number']}").status == 404
    assert bob.post(f"/api/orders/{order['number']}/cancel").status == 404
    assert [o["number"] for o in alice.get("/api/orders").json["orders"]] == [order["number"]]
    assert bob.get("/api/orders").json["orders"] == []


def test_catalog_changes_are_picked_up_and_recorded(service):
    buyer = service.shopper()
    first = buyer.order()
    repriced = [dict(PRODUCTS[0], price_minor=17900)] + PRODUCTS[1:]
    write_catalog(service.site_dir, repriced, version="v2")
    second = buyer.order()
    assert (first["total_minor"], first["catalog_version"]) == (19900, "v1")
    assert (second["total_minor"], second["catalog_version"]) == (17900, "v2")
    stock = buyer.get("/api/stock?sku=UM-1001&sku=UM-2000,NOPE").json
    assert stock["catalog_version"] == "v2"
    assert stock["stock"]["UM-1001"] == {"orderable": True, "available": 3, "in_stock": True, "price_minor": 17900,
                                         "currency": "CNY", "title": "无线蓝牙耳机 X12"}
    assert stock["stock"]["UM-2000"]["available"] is None and stock["stock"]["UM-2000"]["in_stock"]
    assert stock["stock"]["NOPE"]["orderable"] is False
    unpublished = [p for p in PRODUCTS if p["sku"] != "UM-2000"]
    write_catalog(service.site_dir, unpublished, version="v3")
    gone = buyer.post("/api/orders", {"lines": [{"sku": "UM-2000", "qty": 1}], "shipping_address": ADDRESS})
    assert gone.status == 400 and gone.json["error"]["code"] == "unknown_sku"


def test_markdown_stock_seeds_once_then_adds_the_difference(service):
    buyer = service.shopper()
    buyer.order([{"sku": "UM-1001", "qty": 2}])
    assert service.on_hand("UM-1001") == 3
    write_catalog(service.site_dir, [dict(PRODUCTS[0], stock=8)] + PRODUCTS[1:], version="v1")  # owner adds 3
    assert buyer.get("/api/stock?sku=UM-1001").json["stock"]["UM-1001"]["available"] == 6
    write_catalog(service.site_dir, [dict(PRODUCTS[0], stock=8, title="x")] + PRODUCTS[1:], version="v1b")
    assert buyer.get("/api/stock?sku=UM-1001").json["stock"]["UM-1001"]["available"] == 6, "unchanged number"
    write_catalog(service.site_dir, [dict(PRODUCTS[0], stock=1)] + PRODUCTS[1:], version="v1c")  # removes 7
    assert buyer.get("/api/stock?sku=UM-1001").json["stock"]["UM-1001"]["available"] == 0
    with service.db.connection_context():
        assert StockLevel.get_by_id("UM-1001").seeded == 1


def test_shopper_cancel_releases_stock_once(service):
    buyer = service.shopper()
    order = buyer.order([{"sku": "UM-1001", "qty": 2}])
    answer = buyer.post(f"/api/orders/{order['number']}/cancel")
    assert answer.status == 200 and answer.json["status"] == "cancelled"
    assert service.on_hand("UM-1001") == 5
    again = buyer.post(f"/api/orders/{order['number']}/cancel")
    assert again.status == 409 and again.json["error"]["code"] == "illegal_transition"
    assert service.on_hand("UM-1001") == 5


def test_expiry_releases_stock_and_runs_once(service):
    buyer = service.shopper()
    order = buyer.order([{"sku": "UM-1001", "qty": 4}])
    ctx = service.ctx
    with service.db.connection_context():
        assert orders.expire_due(ctx, {}, now=service.clock())["expired"] == []
        service.clock.advance(minutes=31)
        assert orders.expire_due(ctx, {}, now=service.clock())["expired"] == [order["number"]]
        assert orders.expire_due(ctx, {}, now=service.clock())["expired"] == []
    assert service.on_hand("UM-1001") == 5
    detail = buyer.get(f"/api/orders/{order['number']}").json
    assert detail["status"] == "expired" and not detail["can_pay"]
    assert buyer.post(f"/api/orders/{order['number']}/payments", {"method": "alipay"}).status == 409


def test_transition_refuses_steps_outside_the_state_machine(service):
    buyer = service.shopper()
    number = buyer.order()["number"]
    with service.db.connection_context():
        row = Order.get(Order.number == number)
        try:
            orders.transition(row, "pending_payment", "shipped", actor="test", now=service.clock())
        except orders.IllegalTransition as exc:
            assert "cannot become shipped" in exc.message
        else:
            raise AssertionError("pending_payment -> shipped must be refused")
        stale = Order.get(Order.number == number)
        orders.transition(row, "pending_payment", "cancelled", actor="test", now=service.clock())
        try:  # a second writer holding the old state changes nothing
            orders.transition(stale, "pending_payment", "paid", actor="test", now=service.clock())
        except orders.IllegalTransition as exc:
            assert exc.current == "cancelled"
        assert Order.get(Order.number == number).status == "cancelled"
        assert OrderEvent.select().where(OrderEvent.order == row).count() == 2


def test_account_deletion_keeps_orders_but_erases_their_address(service):
    buyer = service.shopper()
    number = buyer.order()["number"]
    with service.db.connection_context():
        from checkout.models import Account
        accounts.erase(Account.get_by_id(buyer.account_id), service.clock())
        row = Order.get(Order.number == number)
        assert row.shipping_enc is None and row.anonymised_at is not None
        assert row.total_minor == 19900  # the bookkeeping stays


def test_data_export_includes_orders_and_their_address(service):
    """The privacy policy's right to see one's data covers transaction records too."""
    buyer = service.shopper()
    order = buyer.order([{"sku": "UM-1001", "qty": 1}])
    export = buyer.get("/api/me/export").json
    assert [o["number"] for o in export["orders"]] == [order["number"]]
    assert export["orders"][0]["shipping_address"]["name"] == "张三"
    assert export["orders"][0]["lines"][0]["sku"] == "UM-1001"
    assert export["store_credit"] == []
