"""Coupons and store credit at order time, and the admin commands as an operator runs them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from checkout import cli, coupons, credit
from checkout.models import Account, CreditEntry, Order, database

from .conftest import ADDRESS


@pytest.fixture
def admin(service, monkeypatch, capsys):
    """Run ``python -m checkout admin ...`` in-process against the test service's database."""
    for key, value in service.env.items():
        monkeypatch.setenv(key, value)
    for name, value in (("MEMORY_COST", "8"), ("TIME_COST", "1"), ("PARALLELISM", "1")):
        monkeypatch.setenv(f"CHECKOUT_ARGON2_{name}", value)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli.main(["admin", *argv])
        finally:
            used = database.obj
            if used is not service.db:
                used.close()
                database.initialize(service.db)  # the CLI bound the models to its own connection
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


def make_coupon(service, code, **kw):
    with service.db.connection_context():
        return coupons.create_coupon(code, now=service.clock(), **kw)


def test_percentage_and_fixed_coupons_with_minimum_spend_and_dates(service):
    buyer = service.shopper()
    make_coupon(service, "TENOFF", kind="percent", value=10)
    make_coupon(service, "MINUS30", kind="fixed", value=3000, currency="CNY", min_spend_minor=30000)
    make_coupon(service, "LATER", kind="percent", value=50, valid_from=service.clock() + timedelta(days=1))
    make_coupon(service, "OVER", kind="percent", value=50, valid_until=service.clock() - timedelta(seconds=1))
    ten = buyer.order([{"sku": "UM-2000", "qty": 3}], coupon="tenoff")
    assert (ten["subtotal_minor"], ten["discount_minor"], ten["total_minor"]) == (13650, 1365, 12285)
    short = buyer.post("/api/orders", {"lines": [{"sku": "UM-1001", "qty": 1}], "shipping_address": ADDRESS,
                                       "coupon": "MINUS30"})
    assert short.status == 409 and short.json["error"]["code"] == "coupon_invalid"
    assert service.on_hand("UM-1001") == 5, "a refused coupon reserves nothing"
    big = buyer.order([{"sku": "UM-1001", "qty": 2}], coupon="MINUS30")
    assert big["total_minor"] == 2 * 19900 - 3000
    for code in ("LATER", "OVER", "NOSUCH"):
        refused = buyer.post("/api/orders", {"lines": [{"sku": "UM-2000", "qty": 1}], "shipping_address": ADDRESS,
                                             "coupon": code})
        assert refused.status == 409 and refused.json["error"]["field"] == "coupon", code


def test_usage_limits_and_release_on_cancel(service):
    alice, bob = service.shopper(), service.shopper()
    make_coupon(service, "ONCE", kind="percent", value=20, usage_limit=1)
    make_coupon(service, "EACH", kind="percent", value=5, per_account_limit=1)
    first = alice.order([{"sku": "UM-2000", "qty": 1}], coupon="ONCE")
    used_up = bob.post("/api/orders", {"lines": [{"sku": "UM-2000", "qty": 1}], "shipping_address": ADDRESS,
                                       "coupon": "ONCE"})
    assert used_up.status == 409
    alice.post(f"/api/orders/{first['number']}/cancel")
    assert bob.order([{"sku": "UM-2000", "qty": 1}], coupon="ONCE")["discount_minor"] == 910, "the use came back"
    alice.order([{"sku": "UM-2000", "qty": 1}], coupon="EACH")
    again = alice.post("/api/orders", {"lines": [{"sku": "UM-2000", "qty": 1}], "shipping_address": ADDRESS,
                                       "coupon": "EACH"})
    assert again.status == 409
    bob.order([{"sku": "UM-2000", "qty": 1}], coupon="EACH")


def test_store_credit_is_a_ledger_spent_and_restored(service):
    buyer = service.shopper()
    with service.db.connection_context():
        account = Account.get_by_id(buyer.account_id)
        credit.grant(account, 5000, "CNY", "售后补偿", "admin:cs1", service.clock())
    partial = buyer.order([{"sku": "UM-2000", "qty": 1}], use_credit=True)
    assert (partial["credit_minor"], partial["total_minor"]) == (4550, 0)
    assert partial["status"] == "paid", "an order paid in full by credit needs no provider"
    second = buyer.order([{"sku": "UM-1001", "qty": 1}], use_credit=True)
    assert (second["credit_minor"], second["total_minor"]) == (450, 19450)
    assert buyer.get("/api/me/credit").json["balance_minor"] == 0
    buyer.post(f"/api/orders/{second['number']}/cancel")
    statement = buyer.get("/api/me/credit").json
    assert statement["balance_minor"] == 450
    assert [e["amount_minor"] for e in statement["entries"]] == [5000, -4550, -450, 450]
    with service.db.connection_context():
        assert CreditEntry.select().count() == 4  # no balance column anywhere: the sum is the balance


def test_admin_lists_shows_ships_and_refuses_illegal_steps(service, admin):
    buyer = service.shopper()
    unpaid = buyer.order()["number"]
    buyer.post(f"/api/orders/{unpaid}/payments", {"method": "bank_transfer"})
    code, out, _ = admin("orders", "list", "--status", "awaiting_confirmation")
    assert code == 0 and unpaid in out and "199.00 CNY" in out and "1 order(s)" in out
    code, _, err = admin("ship", unpaid, "--tracking", "SF1234567890")
    assert code == 1 and "awaiting_confirmation" in err and "cannot become shipped" in err
    code, out, _ = admin("confirm-transfer", unpaid, "--by", "cs-li", "--note", "招商银行 流水 8812")
    assert code == 0 and "-> paid" in out
    code, _, err = admin("confirm-transfer", unpaid)
    assert code == 1 and "is paid" in err
    code, out, _ = admin("ship", unpaid, "--tracking", "SF1234567890", "--by", "cs-li")
    assert code == 0 and "-> shipped" in out
    code, out, _ = admin("orders", "show", unpaid)
    assert code == 0 and "admin:cs-li" in out and "招商银行 流水 8812" in out and "张三" in out
    assert "awaiting_confirmation" in out and "SF1234567890" in out
    code, _, err = admin("cancel", unpaid)
    assert code == 1 and "refunded, not cancelled" in err
    code, _, err = admin("refund", unpaid, "--yes")
    assert code == 1 and "shipped" in err
    code, _, err = admin("orders", "show", "UM000000-XXXX-XXXX")
    assert code == 1 and "No order" in err


def test_admin_stock_expire_cancel_coupon_and_credit(service, admin):
    buyer = service.shopper()
    code, out, _ = admin("set-stock", "UM-1001", "2")
    assert code == 0 and service.on_hand("UM-1001") == 2
    code, _, err = admin("set-stock", "UM-2000", "5")
    assert code == 1 and "not a tracked SKU" in err
    number = buyer.order([{"sku": "UM-1001", "qty": 2}])["number"]
    assert buyer.post("/api/orders", {"lines": [{"sku": "UM-1001", "qty": 1}],
                                      "shipping_address": ADDRESS}).status == 409
    with service.db.connection_context():  # the CLI runs on the real clock: end the hold in the past
        row = Order.get(Order.number == number)
        Order.update(expires_at=row.created_at - timedelta(days=1)).where(Order.id == row.id).execute()
    code, out, _ = admin("expire")
    assert code == 0 and number in out
    assert service.on_hand("UM-1001") == 2
    other = buyer.order([{"sku": "UM-1001", "qty": 1}])["number"]
    code, out, _ = admin("cancel", other, "--reason", "shopper phoned")
    assert code == 0 and service.on_hand("UM-1001") == 2
    code, out, _ = admin("stock", "UM-1001")
    assert code == 0 and "UM-1001" in out
    code, out, _ = admin("coupon-add", "SPRING", "--fixed", "20.00", "--min-spend", "100.00", "--limit", "10")
    assert code == 0 and "20.00 CNY" in out
    assert buyer.order([{"sku": "UM-1001", "qty": 1}], coupon="spring")["discount_minor"] == 2000
    code, out, _ = admin("credit-add", buyer.email, "12.50", "--reason", "运费补偿")
    assert code == 0 and "12.50 CNY" in out
    assert buyer.get("/api/me/credit").json["balance_minor"] == 1250
    code, _, err = admin("credit-add", buyer.email, "-20.00", "--reason", "oops")
    assert code == 1 and "below zero" in err
    code, out, _ = admin("orders", "list", "--email", buyer.email, "--status", "cancelled,expired")
    assert code == 0 and number in out and other in out


def test_admin_refund_goes_back_through_alipay(service, admin):
    from .test_payments_e2e import start
    from .conftest import submit

    buyer = service.shopper()
    number = buyer.order([{"sku": "UM-1001", "qty": 1}])["number"]
    submit(start(buyer, number, "alipay")["redirect_url"])
    service.wait_notifications()
    assert buyer.get(f"/api/orders/{number}").json["status"] == "paid"
    code, out, _ = admin("refund", number, "--yes", "--reason", "缺货")
    assert code == 0 and f"{number}-R1" in out and "completed" in out
    service.wait_notifications()
    assert buyer.get(f"/api/orders/{number}").json["status"] == "refunded"
    assert service.sandbox("alipay").trades[number]["refunds"], "the sandbox recorded the refund"
    assert service.on_hand("UM-1001") == 5
