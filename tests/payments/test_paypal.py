"""PayPal Orders v2 adapter against the PayPal sandbox over real HTTP."""

from __future__ import annotations

import json
import zlib
from dataclasses import replace

import pytest

from checkout.payments import PaymentVerificationError, ProviderError, RefundRequest, paypal_hold_reasons
from checkout.payments.common import rsa_sign
from checkout.payments.paypal import PayPalAdapter
from checkout.payments.sandbox.keys import new_rsa_key


def _pay(stack, browser, make_request, options=None):
    """start -> payer page -> sandbox-pay -> back at our return URL; returns (request, start, token)."""
    adapter = stack.adapters["paypal"]
    req = make_request("paypal", amount_minor=12345, currency="USD")
    start = adapter.start(req)
    assert start.redirect_url.startswith(stack.base_url + "/sandbox/paypal/checkoutnow?token=")
    if options:
        stack.sandbox("paypal").options[start.provider_reference] = options
    page = browser.open(start.redirect_url)
    assert page.status == 200 and {"sandbox-pay", "sandbox-cancel"} <= set(page.forms().forms)
    back = browser.submit(page, "sandbox-pay")
    assert back.status == 303
    assert back.location.startswith(req.return_url + "?token=" + start.provider_reference)
    stack.wait()
    return req, start


def _deliveries(stack, reference, kind=None):
    return [d for d in stack.sandbox("paypal").outbox.deliveries
            if d.reference == reference and (kind is None or d.kind == kind)]


def test_pay_capture_and_webhooks_verified(stack, browser, make_request):
    req, start = _pay(stack, browser, make_request)
    approved = stack.receiver.events(req.order_number)
    assert [e.kind for e in approved] == ["approved"]
    assert approved[0].provider_reference == start.provider_reference
    assert approved[0].amount_minor == 12345 and approved[0].currency == "USD"

    event = stack.adapters["paypal"].capture(start.provider_reference)
    assert (event.kind, event.order_number, event.amount_minor, event.currency) == ("paid", req.order_number, 12345, "USD")
    assert event.merchant_id == stack.setup.paypal.merchant_id
    assert event.payer_verified is True
    assert event.payer_address["postal_code"] == "200120"
    assert paypal_hold_reasons(event, req.shipping_address) == ()

    stack.wait()
    completed = [e for e in stack.receiver.events(req.order_number) if e.kind == "paid"]
    assert len(completed) == 1 and completed[0].transaction_id == event.transaction_id
    assert completed[0].event_id.startswith("WH-")


def test_repeated_return_captures_once(stack, browser, make_request):
    req, start = _pay(stack, browser, make_request)
    first = stack.adapters["paypal"].capture(start.provider_reference)
    again = stack.adapters["paypal"].capture(start.provider_reference)
    assert first.event_id == again.event_id and first.transaction_id == again.transaction_id
    stack.wait()
    assert len(_deliveries(stack, start.provider_reference, "PAYMENT.CAPTURE.COMPLETED")) == 1


def test_address_mismatch_puts_order_on_hold(stack, browser, make_request):
    other = {"name": "李四", "line1": "朝阳区建国路 1 号", "line2": "", "city": "北京市", "province": "北京",
             "postal_code": "100022", "country_code": "CN"}
    req, start = _pay(stack, browser, make_request, {"ship_to": other})
    event = stack.adapters["paypal"].capture(start.provider_reference)
    reasons = paypal_hold_reasons(event, req.shipping_address)
    assert reasons and reasons[0].startswith("address_mismatch:")
    assert "street" in reasons[0] and "city" in reasons[0]


def test_unverified_payer_puts_order_on_hold(stack, browser, make_request):
    req, start = _pay(stack, browser, make_request, {"payer_verified": False})
    event = stack.adapters["paypal"].capture(start.provider_reference)
    assert event.payer_verified is False
    assert paypal_hold_reasons(event, req.shipping_address) == ("payer_unverified",)


def test_pending_capture_is_not_paid(stack, browser, make_request):
    req, start = _pay(stack, browser, make_request, {"capture_status": "PENDING"})
    assert stack.adapters["paypal"].capture(start.provider_reference).kind == "pending"


def test_forged_signature_rejected(stack, browser, make_request):
    req, start = _pay(stack, browser, make_request)
    delivery = _deliveries(stack, start.provider_reference)[0]
    h = dict(delivery.headers)
    message = f"{h['PAYPAL-TRANSMISSION-ID']}|{h['PAYPAL-TRANSMISSION-TIME']}|{stack.setup.paypal.webhook_id}|" \
              f"{zlib.crc32(delivery.body) & 0xFFFFFFFF}"
    h["PAYPAL-TRANSMISSION-SIG"] = rsa_sign(new_rsa_key(), message.encode())
    with pytest.raises(PaymentVerificationError) as err:
        stack.adapters["paypal"].verify_notification(delivery.body, h)
    assert err.value.reason == "bad_signature"


def test_tampered_amount_rejected(stack, browser, make_request):
    req, start = _pay(stack, browser, make_request)
    delivery = _deliveries(stack, start.provider_reference)[0]
    body = delivery.body.replace(b'"value": "123.45"', b'"value": "1.23"')
    assert body != delivery.body
    with pytest.raises(PaymentVerificationError) as err:
        stack.adapters["paypal"].verify_notification(body, delivery.headers)
    assert err.value.reason == "bad_signature"


def test_certificate_url_outside_allow_list_is_not_fetched(stack, browser, make_request):
    req, start = _pay(stack, browser, make_request)
    delivery = _deliveries(stack, start.provider_reference)[0]
    fetched = []

    def transport(*args):
        fetched.append(args)
        raise AssertionError("must not fetch")

    adapter = PayPalAdapter(stack.setup.paypal, transport=transport)
    headers = {**delivery.headers, "PAYPAL-CERT-URL": "https://evil.example/cert.pem"}
    with pytest.raises(PaymentVerificationError) as err:
        adapter.verify_notification(delivery.body, headers)
    assert err.value.reason == "untrusted_certificate" and not fetched


def test_stale_transmission_rejected(stack, browser, make_request):
    req, start = _pay(stack, browser, make_request, {"signed_offset": -3600})
    errors = stack.receiver.errors(req.order_number)
    assert errors and errors[0].reason == "stale"
    assert not stack.receiver.events(req.order_number)


def test_replayed_and_doubled_webhooks_have_one_event_id(stack, browser, make_request):
    req, start = _pay(stack, browser, make_request, {"copies": 2})
    outbox = stack.sandbox("paypal").outbox
    outbox.replay(_deliveries(stack, start.provider_reference)[0].index)
    stack.wait()
    events = stack.receiver.events(req.order_number)
    assert len(events) == 3 and len({e.event_id for e in events}) == 1


def test_wrong_merchant_detected(stack, browser, make_request):
    req, start = _pay(stack, browser, make_request)
    delivery = _deliveries(stack, start.provider_reference)[0]
    other = PayPalAdapter(replace(stack.setup.paypal, merchant_id="SOMEONEELSE01"))
    with pytest.raises(PaymentVerificationError) as err:
        other.verify_notification(delivery.body, delivery.headers)
    assert err.value.reason == "merchant_mismatch"


def test_other_webhook_id_does_not_verify(stack, browser, make_request):
    req, start = _pay(stack, browser, make_request)
    delivery = _deliveries(stack, start.provider_reference)[0]
    other = PayPalAdapter(replace(stack.setup.paypal, webhook_id="WH-SOMEONE-ELSE"))
    with pytest.raises(PaymentVerificationError) as err:
        other.verify_notification(delivery.body, delivery.headers)
    assert err.value.reason == "bad_signature"


def test_refund_is_idempotent_and_bounded(stack, browser, make_request):
    req, start = _pay(stack, browser, make_request)
    adapter = stack.adapters["paypal"]
    paid = adapter.capture(start.provider_reference)
    refund = RefundRequest(req.order_number, paid.transaction_id, f"R-{req.order_number}-1", 2345, 12345, "USD",
                           "缺货")
    first = adapter.refund(refund)
    again = adapter.refund(refund)
    assert first.status == "completed" and first.refund_id == again.refund_id
    with pytest.raises(ProviderError) as err:
        adapter.refund(replace(refund, refund_key=f"R-{req.order_number}-2", amount_minor=10001))
    assert err.value.http_status == 422 and "REFUND_AMOUNT_EXCEEDED" in err.value.detail
    stack.wait()
    refunded = [e for e in stack.receiver.events(req.order_number) if e.kind == "refunded"]
    assert len(refunded) == 1 and refunded[0].amount_minor == 2345
    assert refunded[0].transaction_id == paid.transaction_id
    assert adapter.query(start.provider_reference).kind == "paid"  # partially refunded: still paid


def test_query_and_cancel(stack, browser, make_request):
    adapter = stack.adapters["paypal"]
    req = make_request("paypal", amount_minor=500, currency="USD")
    start = adapter.start(req)
    assert adapter.query(start.provider_reference).kind == "pending"
    page = browser.open(start.redirect_url)
    back = browser.submit(page, "sandbox-cancel")
    assert back.status == 303 and back.location.startswith(req.cancel_url)
    with pytest.raises(ProviderError) as err:
        adapter.capture(start.provider_reference)
    assert "ORDER_NOT_APPROVED" in err.value.detail


def test_bad_client_secret_is_a_provider_error(stack, make_request):
    adapter = PayPalAdapter(replace(stack.setup.paypal, client_secret="wrong"))
    with pytest.raises(ProviderError) as err:
        adapter.start(make_request("paypal", currency="USD"))
    assert err.value.http_status == 401 and err.value.provider_code == "invalid_client"


def test_acknowledgement(stack):
    ok = stack.adapters["paypal"].acknowledge(True)
    assert 200 <= ok.status < 300
    assert stack.adapters["paypal"].acknowledge(False, "bad_signature").status >= 400
    json.loads(ok.body)


def test_http_test_hooks_set_options_and_replay(stack, browser, make_request):
    """The hooks browser tests use: PUT /_test/options/<ref>, POST /_test/notifications/<i>/replay."""
    import urllib.request

    adapter = stack.adapters["paypal"]
    req = make_request("paypal", amount_minor=700, currency="USD")
    start = adapter.start(req)
    hooks = f"{stack.base_url}/sandbox/paypal/_test"
    put = urllib.request.Request(f"{hooks}/options/{start.provider_reference}", method="PUT",
                                 data=json.dumps({"payer_verified": False}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(put, timeout=10) as resp:
        assert json.loads(resp.read()) == {"payer_verified": False}
    browser.submit(browser.open(start.redirect_url), "sandbox-pay")
    stack.wait()
    index = _deliveries(stack, start.provider_reference)[0].index
    assert browser.open(f"{hooks}/notifications/{index}/replay", b"").status == 200
    stack.wait()
    events = stack.receiver.events(req.order_number)
    assert len(events) == 2 and events[0].event_id == events[1].event_id
    assert events[0].payer_verified is False
