"""WeChat Pay v3 adapter (Native, H5, notifications, query, close, refund) against the WeChat sandbox."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace

import pytest

from checkout.payments import PaymentVerificationError, ProviderError, RefundRequest
from checkout.payments.common import private_pem, public_pem, rsa_sign
from checkout.payments.sandbox import sandbox_page_for_code_url
from checkout.payments.sandbox.keys import new_rsa_key
from checkout.payments.wechat import WeChatAdapter


def _native_pay(stack, browser, req, options=None):
    start = stack.adapters["wechat"].start(req)
    assert start.qr_code_url.startswith("weixin://wxpay/bizpayurl?pr=") and start.redirect_url is None
    if options:
        stack.sandbox("wechat").options[req.order_number] = options
    qr = browser.open(sandbox_page_for_code_url(start.qr_code_url, stack.setup.sandbox_url + "/wechat", req.return_url))
    assert qr.status == 200 and "<svg" in qr.text
    page = browser.open(qr.forms().links["sandbox-open"])
    assert {"sandbox-pay", "sandbox-cancel"} <= set(page.forms().forms)
    back = browser.submit(page, "sandbox-pay")
    stack.wait()
    return start, back


def _notification(stack, order_number, index=0):
    return [d for d in stack.sandbox("wechat").outbox.deliveries if d.reference == order_number][index]


def test_native_flow(stack, browser, make_request):
    req = make_request("wechat", amount_minor=19900)
    start, back = _native_pay(stack, browser, req)
    assert back.status == 303 and back.location == req.return_url
    [event] = stack.receiver.events(req.order_number)
    assert (event.kind, event.amount_minor, event.currency, event.merchant_id) == ("paid", 19900, "CNY", "1900000001")
    assert event.transaction_id and event.transaction_id.startswith("4200")
    status = stack.adapters["wechat"].query(req.order_number)
    assert (status.kind, status.amount_minor, status.transaction_id) == ("paid", 19900, event.transaction_id)


def test_h5_flow_returns_to_redirect_url(stack, browser, make_request):
    req = make_request("wechat", amount_minor=3000, client="mobile")
    start = stack.adapters["wechat"].start(req)
    assert start.h5_url and "redirect_url=" in start.h5_url
    back = browser.submit(browser.open(start.h5_url), "sandbox-pay")
    assert back.status == 303 and back.location == req.return_url
    stack.wait()
    assert [e.amount_minor for e in stack.receiver.events(req.order_number)] == [3000]


def test_stale_timestamp_rejected(stack, browser, make_request):
    req = make_request("wechat")
    _native_pay(stack, browser, req, {"signed_offset": -301})
    assert not stack.receiver.events(req.order_number)
    # the body is encrypted, so the receiver cannot tell the order: look at the raw deliveries
    d = _notification(stack, req.order_number)
    assert d.statuses == [400]
    with pytest.raises(PaymentVerificationError) as err:
        stack.adapters["wechat"].verify_notification(d.body, d.headers)
    assert err.value.reason == "stale"
    fresh = stack.sandbox("wechat").outbox.resend(d.index)  # WeChat's retry, signed now
    stack.wait()
    assert fresh.statuses == [204]
    assert [e.kind for e in stack.receiver.events(req.order_number)] == ["paid"]


def test_forged_signature_and_tampered_body_rejected(stack, browser, make_request):
    req = make_request("wechat")
    _native_pay(stack, browser, req)
    d = _notification(stack, req.order_number)
    h = dict(d.headers)
    h["Wechatpay-Signature"] = rsa_sign(new_rsa_key(), f"{h['Wechatpay-Timestamp']}\n{h['Wechatpay-Nonce']}\n".encode()
                                        + d.body + b"\n")
    with pytest.raises(PaymentVerificationError) as err:
        stack.adapters["wechat"].verify_notification(d.body, h)
    assert err.value.reason == "bad_signature"
    env = json.loads(d.body)
    env["summary"] = "tampered"
    with pytest.raises(PaymentVerificationError) as err:
        stack.adapters["wechat"].verify_notification(json.dumps(env).encode(), d.headers)
    assert err.value.reason == "bad_signature"
    with pytest.raises(PaymentVerificationError) as err:
        stack.adapters["wechat"].verify_notification(d.body, {**d.headers, "Wechatpay-Serial": "UNKNOWN"})
    assert err.value.reason == "unknown_serial"


def test_tampered_amount_rejected(stack, browser, make_request, sandbox_keys):
    """Re-encrypting a changed amount needs the APIv3 key; even with it, the signature fails."""
    from checkout.payments.wechat import decrypt_resource
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    import base64

    req = make_request("wechat", amount_minor=19900)
    _native_pay(stack, browser, req)
    d = _notification(stack, req.order_number)
    env = json.loads(d.body)
    plain = json.loads(decrypt_resource(sandbox_keys.wechat_apiv3_key, env["resource"]))
    plain["amount"]["total"] = 1
    env["resource"]["ciphertext"] = base64.b64encode(AESGCM(sandbox_keys.wechat_apiv3_key.encode()).encrypt(
        env["resource"]["nonce"].encode(), json.dumps(plain).encode(), b"transaction")).decode()
    with pytest.raises(PaymentVerificationError) as err:
        stack.adapters["wechat"].verify_notification(json.dumps(env).encode(), d.headers)
    assert err.value.reason == "bad_signature"


def test_wrong_merchant_and_wrong_key(stack, browser, make_request):
    req = make_request("wechat")
    _native_pay(stack, browser, req)
    d = _notification(stack, req.order_number)
    with pytest.raises(PaymentVerificationError) as err:
        WeChatAdapter(replace(stack.setup.wechat, mchid="1900000999")).verify_notification(d.body, d.headers)
    assert err.value.reason == "merchant_mismatch"
    with pytest.raises(PaymentVerificationError) as err:
        WeChatAdapter(replace(stack.setup.wechat, apiv3_key=secrets.token_hex(16))).verify_notification(d.body, d.headers)
    assert err.value.reason == "decrypt_failed"


def test_replay_gives_same_event_id(stack, browser, make_request):
    req = make_request("wechat")
    _native_pay(stack, browser, req, {"copies": 2})
    stack.sandbox("wechat").outbox.replay(_notification(stack, req.order_number).index)
    stack.wait()
    events = stack.receiver.events(req.order_number)
    assert len(events) == 3 and len({e.event_id for e in events}) == 1


def test_late_notification_is_delivered_later(stack, browser, make_request):
    req = make_request("wechat")
    _native_pay(stack, browser, req, {"delay_seconds": 0.3})
    assert [e.kind for e in stack.receiver.events(req.order_number)] == ["paid"]


def test_close_before_releasing_stock(stack, browser, make_request):
    adapter = stack.adapters["wechat"]
    req = make_request("wechat")
    start = adapter.start(req)
    assert adapter.query(req.order_number).kind == "pending"
    adapter.close(req.order_number)
    assert adapter.query(req.order_number).kind == "closed"
    page = browser.open(sandbox_page_for_code_url(start.qr_code_url, stack.setup.sandbox_url + "/wechat"))
    assert page.status == 200  # the QR page still renders, the payer page refuses
    assert browser.open(page.forms().links["sandbox-open"]).status == 404
    assert adapter.query("UM-NEVER-SEEN-1").kind == "unknown"


def test_close_after_payment_is_refused(stack, browser, make_request):
    req = make_request("wechat")
    _native_pay(stack, browser, req)
    with pytest.raises(ProviderError) as err:
        stack.adapters["wechat"].close(req.order_number)
    assert err.value.http_status == 400


def test_refund_idempotent_with_notification(stack, browser, make_request):
    req = make_request("wechat", amount_minor=19900)
    _native_pay(stack, browser, req)
    adapter = stack.adapters["wechat"]
    paid = stack.receiver.events(req.order_number)[0]
    refund = RefundRequest(req.order_number, paid.transaction_id, f"{req.order_number}R1", 19900, 19900, "CNY",
                           "退货", notify_url=req.notify_url)
    first, again = adapter.refund(refund), adapter.refund(refund)
    assert first.refund_id == again.refund_id and first.status == "pending"
    with pytest.raises(ProviderError):
        adapter.refund(replace(refund, refund_key=f"{req.order_number}R2", amount_minor=1))
    stack.wait()
    refunded = [e for e in stack.receiver.events(req.order_number) if e.kind == "refunded"]
    assert len(refunded) == 1 and refunded[0].refund_key == refund.refund_key
    assert adapter.query(req.order_number).kind == "refunded"


def test_requests_signed_with_wrong_merchant_key_refused(stack, make_request):
    bad = WeChatAdapter(replace(stack.setup.wechat, merchant_private_key=private_pem(new_rsa_key())))
    with pytest.raises(ProviderError) as err:
        bad.start(make_request("wechat"))
    assert (err.value.http_status, err.value.provider_code) == (401, "SIGN_ERROR")


def test_answers_not_signed_by_platform_key_rejected(stack, make_request):
    serial = next(iter(stack.setup.wechat.platform_public_keys))
    bad = WeChatAdapter(replace(stack.setup.wechat, platform_public_keys={serial: public_pem(new_rsa_key())}))
    with pytest.raises(PaymentVerificationError) as err:
        bad.start(make_request("wechat"))
    assert err.value.reason == "bad_signature"


def test_bad_requests_refused_before_sending(stack, make_request):
    adapter = stack.adapters["wechat"]
    with pytest.raises(ProviderError):
        adapter.start(make_request("wechat", number="UM1"))  # out_trade_no needs 6-32 characters
    with pytest.raises(ProviderError):
        adapter.start(make_request("wechat", currency="USD"))


def test_acknowledgement(stack):
    assert stack.adapters["wechat"].acknowledge(True).status in (200, 204)
    fail = stack.adapters["wechat"].acknowledge(False, "bad_signature")
    assert fail.status >= 400 and json.loads(fail.body)["code"] == "FAIL"
