"""Alipay adapter (page pay, wap pay, notifications, query, close, refund) against the Alipay sandbox."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from checkout.payments import PaymentVerificationError, ProviderError, RefundRequest
from checkout.payments.alipay import AlipayAdapter, signing_string
from checkout.payments.common import private_pem, rsa_sign
from checkout.payments.sandbox.keys import new_rsa_key


def _pay(stack, browser, req, options=None):
    adapter = stack.adapters["alipay"]
    start = adapter.start(req)
    if options:
        stack.sandbox("alipay").options[req.order_number] = options
    page = browser.open(start.redirect_url)
    assert page.status == 200, page.text
    back = browser.submit(page, "sandbox-pay")
    stack.wait()
    return start, back


def _notification(stack, order_number, index=0):
    return [d for d in stack.sandbox("alipay").outbox.deliveries if d.reference == order_number][index]


def test_page_pay_flow(stack, browser, make_request):
    req = make_request("alipay", amount_minor=19900)
    start, back = _pay(stack, browser, req)
    params = dict(parse_qsl(urlsplit(start.redirect_url).query))
    assert params["method"] == "alipay.trade.page.pay" and params["sign_type"] == "RSA2"
    assert '"total_amount":"199.00"' in params["biz_content"] and "FAST_INSTANT_TRADE_PAY" in params["biz_content"]
    assert "张三" not in params["biz_content"]  # the address is not Alipay's business

    assert back.status == 303 and back.location.startswith(req.return_url + "?")
    returned = dict(parse_qsl(urlsplit(back.location).query))
    assert stack.adapters["alipay"].verify_return(returned) == req.order_number
    returned["total_amount"] = "0.01"
    with pytest.raises(PaymentVerificationError):
        stack.adapters["alipay"].verify_return(returned)

    [event] = stack.receiver.events(req.order_number)
    assert (event.kind, event.amount_minor, event.currency) == ("paid", 19900, "CNY")
    assert event.merchant_id == stack.setup.alipay.seller_id
    assert event.event_id == f"{event.transaction_id}:TRADE_SUCCESS"
    status = stack.adapters["alipay"].query(req.order_number)
    assert (status.kind, status.amount_minor, status.transaction_id) == ("paid", 19900, event.transaction_id)


def test_wap_pay_and_quit(stack, browser, make_request):
    req = make_request("alipay", amount_minor=100, client="mobile")
    start = stack.adapters["alipay"].start(req)
    params = dict(parse_qsl(urlsplit(start.redirect_url).query))
    assert params["method"] == "alipay.trade.wap.pay" and "QUICK_WAP_WAY" in params["biz_content"]
    page = browser.open(start.redirect_url)
    back = browser.submit(page, "sandbox-cancel")
    assert back.status == 303 and back.location == req.cancel_url


def test_request_signed_with_wrong_key_is_refused(stack, browser, make_request):
    bad = AlipayAdapter(replace(stack.setup.alipay, app_private_key=private_pem(new_rsa_key())))
    page = browser.open(bad.start(make_request("alipay")).redirect_url)
    assert page.status == 400 and "isv.invalid-signature" in page.text
    with pytest.raises(ProviderError) as err:
        bad.query("UM-NOSUCH-1")
    assert err.value.provider_code == "isv.invalid-signature"


def test_forged_notification_rejected(stack, browser, make_request):
    req = make_request("alipay")
    _pay(stack, browser, req)
    params = dict(parse_qsl(_notification(stack, req.order_number).body.decode()))
    params["sign"] = rsa_sign(new_rsa_key(), signing_string(params, ("sign", "sign_type")).encode())
    with pytest.raises(PaymentVerificationError) as err:
        stack.adapters["alipay"].verify_notification(urlencode(params).encode())
    assert err.value.reason == "bad_signature"


def test_tampered_amount_rejected(stack, browser, make_request):
    req = make_request("alipay", amount_minor=19900)
    _pay(stack, browser, req)
    body = _notification(stack, req.order_number).body.replace(b"total_amount=199.00", b"total_amount=1.00")
    with pytest.raises(PaymentVerificationError) as err:
        stack.adapters["alipay"].verify_notification(body)
    assert err.value.reason == "bad_signature"


def test_wrong_merchant_detected(stack, browser, make_request):
    req = make_request("alipay")
    _pay(stack, browser, req)
    body = _notification(stack, req.order_number).body
    for other in (replace(stack.setup.alipay, app_id="2021999999999999"),
                  replace(stack.setup.alipay, seller_id="2088999999999999")):
        with pytest.raises(PaymentVerificationError) as err:
            AlipayAdapter(other).verify_notification(body)
        assert err.value.reason == "merchant_mismatch"


def test_replay_same_event_and_finished_is_new(stack, browser, make_request):
    req = make_request("alipay")
    _pay(stack, browser, req, {"copies": 2})
    sandbox = stack.sandbox("alipay")
    sandbox.outbox.replay(_notification(stack, req.order_number).index)
    sandbox.outbox.resend(_notification(stack, req.order_number).index)  # a later retry, new notify_time
    stack.wait()
    events = stack.receiver.events(req.order_number)
    assert len(events) == 4 and len({e.event_id for e in events}) == 1

    assert browser.open(f"{stack.base_url}/sandbox/alipay/_test/trades/{req.order_number}/finish",
                        b"").status == 200
    stack.wait()
    finished = stack.receiver.events(req.order_number)[-1]
    assert finished.kind == "paid" and finished.raw["trade_status"] == "TRADE_FINISHED"
    assert finished.event_id not in {e.event_id for e in events}


def test_refund_with_stable_request_number(stack, browser, make_request):
    req = make_request("alipay", amount_minor=19900)
    _pay(stack, browser, req)
    adapter = stack.adapters["alipay"]
    paid = stack.receiver.events(req.order_number)[0]
    refund = RefundRequest(req.order_number, paid.transaction_id, f"{req.order_number}-R1", 5000, 19900, "CNY", "退货")
    assert adapter.refund(refund).raw["fund_change"] == "Y"
    assert adapter.refund(refund).raw["fund_change"] == "N"  # retried: not refunded twice
    assert stack.sandbox("alipay").trades[req.order_number]["refunds"] == {refund.refund_key: 5000}
    with pytest.raises(ProviderError) as err:
        adapter.refund(replace(refund, refund_key=f"{req.order_number}-R2", amount_minor=14901))
    assert err.value.provider_code.startswith("ACQ.")
    stack.wait()
    refunded = [e for e in stack.receiver.events(req.order_number) if e.kind == "refunded"]
    assert len(refunded) == 1 and refunded[0].refund_key == refund.refund_key


def test_close_before_payment(stack, browser, make_request):
    req = make_request("alipay")
    adapter = stack.adapters["alipay"]
    assert adapter.query(req.order_number).kind == "unknown"
    start = adapter.start(req)
    page = browser.open(start.redirect_url)
    adapter.close(req.order_number)
    assert adapter.query(req.order_number).kind == "closed"
    assert browser.submit(page, "sandbox-pay").status == 404
    adapter.close("UM-NEVER-OPENED")  # nothing at Alipay: not an error


def test_non_cny_refused_before_redirect(stack, make_request):
    with pytest.raises(ProviderError) as err:
        stack.adapters["alipay"].start(make_request("alipay", currency="USD"))
    assert "Fix:" in str(err.value)


def test_acknowledgement_is_bare_success(stack):
    ack = stack.adapters["alipay"].acknowledge(True)
    assert (ack.status, ack.body) == (200, b"success")
    assert stack.adapters["alipay"].acknowledge(False).body != b"success"


def test_return_url_with_query_refused(stack, make_request):
    req = make_request("alipay")
    with pytest.raises(ProviderError) as err:
        stack.adapters["alipay"].start(replace(req, return_url=req.return_url + "?order=1"))
    assert err.value.provider_code == "return_url" and "Fix:" in str(err.value)
