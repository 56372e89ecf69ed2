"""Each provider end to end through its sandbox over real HTTP: place the order, start paying,
follow the redirect, submit form#sandbox-pay, the signed notification reaches /pay/<provider>/notify,
the real adapter verifies it and the order is paid. Plus what must change nothing: forged, wrong
amount, wrong merchant, replayed and stale notifications, and the return before the notification."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from checkout import orders
from checkout.models import OrderEvent, Outbox, PaymentNotice
from checkout.payments.alipay import signing_string
from checkout.payments.common import load_private_key, rsa_sign
from checkout.payments.sandbox import sandbox_page_for_code_url
from checkout.payments.sandbox.keys import new_rsa_key

from .conftest import http, submit, wechat_notification


def start(buyer, number: str, method: str, **extra) -> dict:
    answer = buyer.post(f"/api/orders/{number}/payments", {"method": method, **extra})
    assert answer.status == 200, answer.body
    return answer.json


def set_options(service, provider: str, reference: str, options: dict) -> None:
    answer = http("PUT", f"{service.base}/sandbox/{provider}/_test/options/{reference}", json.dumps(options).encode(),
                  {"Content-Type": "application/json"})
    assert answer.status == 200, answer.body


def statuses(service, number: str) -> list[str]:
    with service.db.connection_context():
        row = service.order_row(number)
        return [e.to_status for e in OrderEvent.select().where(OrderEvent.order == row).order_by(OrderEvent.id)]


def notices(service, number: str) -> list[tuple[str, str]]:
    with service.db.connection_context():
        return [(n.kind, n.outcome) for n in PaymentNotice.select().where(PaymentNotice.order_number == number)
                .order_by(PaymentNotice.id)]


def mails(service, kind: str) -> int:
    with service.db.connection_context():
        return Outbox.select().where(Outbox.kind == kind).count()


def wait_for_status(buyer, number: str, wanted: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        order = buyer.get(f"/api/orders/{number}").json
        if order["status"] == wanted or time.monotonic() > deadline:
            return order
        time.sleep(0.05)


# --- PayPal ------------------------------------------------------------------------------------

def paypal_pay(service, buyer, options: dict | None = None) -> tuple[str, str]:
    number = buyer.order()["number"]
    started = start(buyer, number, "paypal")
    assert started["redirect_url"].startswith(f"{service.base}/sandbox/paypal/checkoutnow?token=")
    token = started["redirect_url"].split("token=", 1)[1]
    if options:
        set_options(service, "paypal", token, options)
    back = submit(started["redirect_url"])
    assert back.status == 303 and back.location.startswith(f"{service.base}/pay/paypal/return?token={token}")
    landed = http("GET", back.location)
    assert landed.status == 303 and landed.location == f"{service.base}/checkout/return/?order={number}"
    service.wait_notifications()
    return number, token


def test_paypal_end_to_end(service):
    buyer = service.shopper()
    number, token = paypal_pay(service, buyer)
    order = buyer.get(f"/api/orders/{number}").json
    assert order["status"] == "paid" and order["payment_method"] == "paypal"
    assert statuses(service, number) == ["pending_payment", "paid"]
    row = service.order_row(number)
    assert row.provider_reference == token and row.transaction_id
    # The approval, the capture answer and the capture webhook are each recorded once; only one paid.
    kinds = notices(service, number)
    assert sorted(k for k, _ in kinds) == ["approved", "paid", "paid"]
    assert sorted(o for _, o in kinds).count("paid") == 1
    assert mails(service, "order_paid") == 1
    again = http("GET", f"{service.base}/pay/paypal/return?token={token}&PayerID=X")  # a second return: no change
    assert again.status == 303 and statuses(service, number) == ["pending_payment", "paid"]


def test_paypal_ship_to_mismatch_puts_the_paid_order_on_hold(service):
    buyer = service.shopper()
    elsewhere = {"name": "李四", "line1": "朝阳区建国路 1 号", "city": "北京市", "province": "北京",
                 "postal_code": "100000", "country_code": "CN"}
    number, _ = paypal_pay(service, buyer, {"ship_to": elsewhere})
    order = buyer.get(f"/api/orders/{number}").json
    assert order["status"] == "on_hold"
    assert statuses(service, number) == ["pending_payment", "paid", "on_hold"]
    assert "address_mismatch" in service.order_row(number).hold_reason
    assert mails(service, "order_on_hold") == 1


def test_paypal_same_address_written_differently_is_not_held(service):
    buyer = service.shopper()
    same = {"name": "张三", "line1": "浦东新区世纪大道 １００ 号，2 号楼 501 室", "line2": "", "city": "上海市",
            "province": "上海", "postal_code": "200120", "country_code": "cn"}
    number, _ = paypal_pay(service, buyer, {"ship_to": same})
    assert buyer.get(f"/api/orders/{number}").json["status"] == "paid"


def test_paypal_unverified_payer_is_held(service):
    buyer = service.shopper()
    number, _ = paypal_pay(service, buyer, {"payer_verified": False})
    assert buyer.get(f"/api/orders/{number}").json["status"] == "on_hold"
    assert "payer_unverified" in service.order_row(number).hold_reason


def test_paypal_refund_from_admin_goes_through_the_provider(service):
    buyer = service.shopper()
    number, _ = paypal_pay(service, buyer)
    with service.db.connection_context():
        result = orders.refund_order(service.ctx, service.setup.adapters(), service.order_row(number), who="cs1",
                                     now=service.clock())
    assert result["status"] == "completed"
    service.wait_notifications()  # PAYMENT.CAPTURE.REFUNDED races the API answer: whichever is first wins
    assert statuses(service, number) == ["pending_payment", "paid", "refunded"]
    assert [o for k, o in notices(service, number) if k == "refunded"] in (["refunded"], ["no_change:refunded"])
    assert service.on_hand("UM-1001") == 5


# --- Alipay ------------------------------------------------------------------------------------

def test_alipay_end_to_end_with_return_before_notification(service):
    buyer = service.shopper()
    number = buyer.order()["number"]
    started = start(buyer, number, "alipay")
    assert started["redirect_url"].startswith(f"{service.base}/sandbox/alipay/gateway.do?")
    set_options(service, "alipay", number, {"delay_seconds": 1.0})
    back = submit(started["redirect_url"])
    assert back.status == 303 and back.location.startswith(f"{service.base}/pay/alipay/return?")
    landed = http("GET", back.location)
    assert landed.location == f"{service.base}/checkout/return/?order={number}"
    assert buyer.get(f"/api/orders/{number}").json["status"] == "pending_payment", "a return is not a payment"
    assert wait_for_status(buyer, number, "paid")["status"] == "paid"
    service.wait_notifications()
    finish = http("POST", f"{service.base}/sandbox/alipay/_test/trades/{number}/finish", b"{}",
                  {"Content-Type": "application/json"})
    assert finish.status == 200
    service.wait_notifications()
    assert notices(service, number) == [("paid", "paid"), ("paid", "no_change:paid")]
    assert statuses(service, number) == ["pending_payment", "paid"]


def test_alipay_mobile_wap_pay(service):
    buyer = service.shopper()
    number = buyer.order()["number"]
    started = start(buyer, number, "alipay", client="mobile")
    assert "alipay.trade.wap.pay" in started["redirect_url"]
    submit(started["redirect_url"])
    service.wait_notifications()
    assert buyer.get(f"/api/orders/{number}").json["status"] == "paid"


def alipay_notification(service, number: str, key_pem: str, **changes) -> bytes:
    params = {"notify_time": "2026-11-25 20:00:00", "notify_type": "trade_status_sync", "notify_id": "n" * 16,
              "charset": "utf-8", "version": "1.0", "sign_type": "RSA2", "app_id": service.setup.payments.alipay.app_id,
              "trade_no": "2026112522001400000000000001", "out_trade_no": number,
              "seller_id": service.setup.payments.alipay.seller_id, "trade_status": "TRADE_SUCCESS",
              "total_amount": "199.00", "gmt_payment": "2026-11-25 20:00:00"}
    params.update(changes)
    params["sign"] = rsa_sign(load_private_key(key_pem), signing_string(params, ("sign", "sign_type")).encode())
    return urlencode(params).encode()


def test_alipay_forged_wrong_amount_and_wrong_merchant_change_nothing(service, sandbox_keys):
    buyer = service.shopper()
    number = buyer.order()["number"]
    start(buyer, number, "alipay")
    url = f"{service.base}/pay/alipay/notify"
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    from checkout.payments.common import private_pem
    forged = alipay_notification(service, number, private_pem(new_rsa_key()))
    wrong_amount = alipay_notification(service, number, sandbox_keys.alipay_platform, total_amount="1.99")
    wrong_seller = alipay_notification(service, number, sandbox_keys.alipay_platform, seller_id="2088999999999999")
    wrong_app = alipay_notification(service, number, sandbox_keys.alipay_platform, app_id="2021999999999999")
    tampered = alipay_notification(service, number, sandbox_keys.alipay_platform).replace(b"199.00", b"1.00")
    for body in (forged, wrong_amount, wrong_seller, wrong_app, tampered):
        answer = http("POST", url, body, form)
        assert (answer.status, answer.body) == (200, b"failure")
    assert buyer.get(f"/api/orders/{number}").json["status"] == "pending_payment"
    assert notices(service, number) == []
    genuine = http("POST", url, alipay_notification(service, number, sandbox_keys.alipay_platform), form)
    assert genuine.body == b"success" and buyer.get(f"/api/orders/{number}").json["status"] == "paid"


def test_late_payment_after_expiry_goes_on_hold(service):
    buyer = service.shopper()
    number = buyer.order([{"sku": "UM-1001", "qty": 2}])["number"]
    started = start(buyer, number, "alipay")
    set_options(service, "alipay", number, {"delay_seconds": 1.5})
    submit(started["redirect_url"])  # paid at the cashier; the notification is on its way
    service.clock.advance(minutes=31)
    with service.db.connection_context():
        # The provider could not be asked to close (no adapters given): the hold ends anyway.
        assert orders.expire_due(service.ctx, {}, now=service.clock())["expired"] == [number]
    assert service.on_hand("UM-1001") == 5
    order = wait_for_status(buyer, number, "on_hold")
    assert order["status"] == "on_hold"
    assert statuses(service, number) == ["pending_payment", "expired", "on_hold"]
    assert service.order_row(number).hold_reason.startswith("payment arrived after")
    assert service.on_hand("UM-1001") == 5, "stock is not taken twice; customer service decides"


def test_expiry_closes_the_provider_trade_first(service):
    buyer = service.shopper()
    number = buyer.order()["number"]
    started = start(buyer, number, "alipay")
    page = http("GET", started["redirect_url"])  # the shopper opened the cashier but did not pay
    assert page.status == 200
    service.clock.advance(minutes=31)
    with service.db.connection_context():
        assert orders.expire_due(service.ctx, service.setup.adapters(), now=service.clock())["expired"] == [number]
    assert service.sandbox("alipay").trades[number]["status"] == "TRADE_CLOSED"
    assert http("GET", started["redirect_url"]).status == 400, "a closed trade can no longer be paid"


# --- WeChat Pay ---------------------------------------------------------------------------------

def test_wechat_native_end_to_end_and_replay(service):
    buyer = service.shopper()
    number = buyer.order()["number"]
    started = start(buyer, number, "wechat")
    assert started["qr_code_url"].startswith("weixin://wxpay/bizpayurl?pr=") and "<svg" in started["qr_svg"]
    page = sandbox_page_for_code_url(started["qr_code_url"], f"{service.base}/sandbox/wechat",
                                     f"{service.base}/pay/wechat/return?order={number}")
    back = submit(page)
    assert back.status == 303
    assert http("GET", back.location).location == f"{service.base}/checkout/return/?order={number}"
    service.wait_notifications()
    assert buyer.get(f"/api/orders/{number}").json["status"] == "paid"
    before = (statuses(service, number), notices(service, number))
    replay = http("POST", f"{service.base}/sandbox/wechat/_test/notifications/0/replay", b"{}",
                  {"Content-Type": "application/json"})
    assert replay.status == 200
    service.wait_notifications()
    sandbox = service.sandbox("wechat")
    assert sandbox.outbox.deliveries[0].statuses == [204, 204], "the replay is acknowledged"
    assert (statuses(service, number), notices(service, number)) == before, "and changes nothing"
    stale = http("POST", f"{service.base}/sandbox/wechat/_test/notifications/0/resend",
                 json.dumps({"signed_at": time.time() - 3600}).encode(), {"Content-Type": "application/json"})
    assert stale.status == 200
    service.wait_notifications()
    assert sandbox.outbox.deliveries[-1].statuses == [400], "a stale signature is refused"
    assert (statuses(service, number), notices(service, number)) == before


def test_wechat_h5_end_to_end_with_duplicate_delivery(service):
    buyer = service.shopper()
    number = buyer.order()["number"]
    started = start(buyer, number, "wechat", client="mobile")
    assert started["redirect_url"].startswith(f"{service.base}/sandbox/wechat/h5pay")
    set_options(service, "wechat", number, {"copies": 2})
    submit(started["redirect_url"])
    service.wait_notifications()
    assert buyer.get(f"/api/orders/{number}").json["status"] == "paid"
    assert notices(service, number) == [("paid", "paid")]
    assert service.sandbox("wechat").outbox.deliveries[0].statuses == [204, 204]


def test_wechat_notification_with_a_foreign_platform_key_is_refused(service):
    buyer = service.shopper()
    number = buyer.order()["number"]
    start(buyer, number, "wechat")
    body = json.dumps({"id": "x", "event_type": "TRANSACTION.SUCCESS", "resource": {}}).encode()
    ts = str(int(time.time()))
    signature = rsa_sign(new_rsa_key(), f"{ts}\nabc\n".encode() + body + b"\n")
    answer = http("POST", f"{service.base}/pay/wechat/notify", body,
                  {"Content-Type": "application/json", "Wechatpay-Timestamp": ts, "Wechatpay-Nonce": "abc",
                   "Wechatpay-Signature": signature, "Wechatpay-Serial": "PUB_KEY_ID_0000SANDBOX"})
    assert answer.status == 400 and answer.json["code"] == "FAIL"
    assert buyer.get(f"/api/orders/{number}").json["status"] == "pending_payment"


# --- bank transfer ------------------------------------------------------------------------------

def test_bank_transfer_awaits_confirmation_by_customer_service(service):
    buyer = service.shopper()
    number = buyer.order()["number"]
    started = start(buyer, number, "bank_transfer")
    assert started["status"] == "awaiting_confirmation"
    instructions = started["bank_instructions"]
    assert instructions["reference"] == number and instructions["amount"] == "199.00"
    assert instructions["reservation_hours"] == 72
    assert mails(service, "order_bank_instructions") == 1
    ref = buyer.post(f"/api/orders/{number}/transfer-reference", {"reference": "ＴＸ２０２６１１２５"})
    assert ref.status == 200 and ref.json["transfer_reference"] == "TX20261125"
    detail = buyer.get(f"/api/orders/{number}").json
    assert detail["bank_instructions"]["account_number"] and detail["status"] == "awaiting_confirmation"
    service.clock.advance(hours=2)  # beyond the online hold, well within the 72 h of a transfer
    with service.db.connection_context():
        assert orders.expire_due(service.ctx, {}, now=service.clock())["expired"] == []
        orders.confirm_transfer(service.ctx, service.order_row(number), who="cs-wang", now=service.clock())
        events = list(OrderEvent.select().where(OrderEvent.order == service.order_row(number)).order_by(OrderEvent.id))
    assert [e.to_status for e in events] == ["pending_payment", "awaiting_confirmation", "paid"]
    assert events[-1].actor == "admin:cs-wang" and "cs-wang" in events[-1].reason
    assert events[-1].created_at == service.clock()


def test_unknown_method_and_foreign_currency_are_refused(service):
    buyer = service.shopper()
    number = buyer.order()["number"]
    answer = buyer.post(f"/api/orders/{number}/payments", {"method": "bitcoin"})
    assert answer.status == 400 and answer.json["error"]["field"] == "method"


@pytest.mark.parametrize("provider", ["paypal", "alipay", "wechat"])
def test_notify_answers_in_the_providers_form_without_a_traceback(service, provider):
    answer = http("POST", f"{service.base}/pay/{provider}/notify", b"garbage", {"Content-Type": "text/plain"})
    assert answer.status in (200, 400) and b"Traceback" not in answer.body
    if provider == "alipay":
        assert answer.body == b"failure"


def test_paying_again_with_another_provider_closes_the_first(service):
    buyer = service.shopper()
    number = buyer.order()["number"]
    first = start(buyer, number, "alipay")
    assert http("GET", first["redirect_url"]).status == 200  # the cashier is open
    second = start(buyer, number, "wechat")
    assert service.sandbox("alipay").trades[number]["status"] == "TRADE_CLOSED"
    assert http("GET", first["redirect_url"]).status == 400, "the first cashier can no longer take money"
    page = sandbox_page_for_code_url(second["qr_code_url"], f"{service.base}/sandbox/wechat")
    submit(page)
    service.wait_notifications()
    assert buyer.get(f"/api/orders/{number}").json["status"] == "paid"
    again = buyer.post(f"/api/orders/{number}/payments", {"method": "alipay"})
    assert again.status == 409, "a paid order is not paid again"


def test_a_second_payment_from_another_provider_puts_the_order_on_hold(service, sandbox_keys):
    buyer = service.shopper()
    number = buyer.order()["number"]
    submit(start(buyer, number, "alipay")["redirect_url"])
    service.wait_notifications()
    assert buyer.get(f"/api/orders/{number}").json["status"] == "paid"
    # The same order paid through WeChat as well (a genuine, signed notification): customer service must refund one.
    body, headers = wechat_notification(sandbox_keys, number, 19900)
    answer = http("POST", f"{service.base}/pay/wechat/notify", body, headers)
    assert answer.status == 204
    order = buyer.get(f"/api/orders/{number}").json
    assert order["status"] == "on_hold" and "paid twice" in service.order_row(number).hold_reason


def test_wechat_wrong_merchant_and_wrong_amount_change_nothing(service, sandbox_keys):
    buyer = service.shopper()
    number = buyer.order()["number"]
    start(buyer, number, "wechat")
    for body, headers in (wechat_notification(sandbox_keys, number, 19900, mchid="1900009999"),
                          wechat_notification(sandbox_keys, number, 100)):
        answer = http("POST", f"{service.base}/pay/wechat/notify", body, headers)
        assert answer.status == 400 and answer.json["code"] == "FAIL"
    assert buyer.get(f"/api/orders/{number}").json["status"] == "pending_payment"
    assert notices(service, number) == []
