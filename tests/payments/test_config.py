"""payment_config_from_env: sandbox defaults with keys kept in the data dir, live settings checked."""

from __future__ import annotations

import secrets

import pytest

from checkout.payments import PaymentConfigError, make_adapters, payment_config_from_env
from checkout.payments.common import public_pem


def test_sandbox_by_default_keys_created_once(tmp_path):
    env = {"CHECKOUT_DATA_DIR": str(tmp_path)}
    first = payment_config_from_env(env)
    assert first.mode == "sandbox" and first.methods == ("paypal", "wechat", "alipay", "bank_transfer")
    assert first.paypal.api_url == "http://127.0.0.1:8000/sandbox/paypal"
    assert first.sandbox.paypal_sandbox.webhook_url == "http://127.0.0.1:8000/pay/paypal/notify"
    key_file = tmp_path / "payments-sandbox" / "alipay_app.pem"
    assert key_file.stat().st_mode & 0o077 == 0
    second = payment_config_from_env(env)
    assert second.alipay.app_private_key == first.alipay.app_private_key
    assert set(make_adapters(second)) == {"paypal", "alipay", "wechat"}


def test_unknown_mode_refused():
    with pytest.raises(PaymentConfigError) as err:
        payment_config_from_env({"CHECKOUT_PAYMENTS": "prod"})
    assert err.value.variable == "CHECKOUT_PAYMENTS" and "Fix:" in str(err.value)


def test_live_without_providers_refused():
    with pytest.raises(PaymentConfigError) as err:
        payment_config_from_env({"CHECKOUT_PAYMENTS": "live"})
    assert "no provider" in str(err.value)


def test_live_partial_settings_name_every_missing_variable(tmp_path):
    env = {"CHECKOUT_PAYMENTS": "live", "CHECKOUT_PAYPAL_CLIENT_ID": "abc", "CHECKOUT_WECHAT_MCHID": "1900000001",
           "CHECKOUT_ALIPAY_APP_ID": "2021", "CHECKOUT_ALIPAY_PRIVATE_KEY_FILE": str(tmp_path / "missing.pem"),
           "CHECKOUT_ALIPAY_PUBLIC_KEY_FILE": str(tmp_path / "missing2.pem")}
    with pytest.raises(PaymentConfigError) as err:
        payment_config_from_env(env)
    text = str(err.value)
    for name in ("CHECKOUT_PAYPAL_CLIENT_SECRET", "CHECKOUT_PAYPAL_WEBHOOK_ID", "CHECKOUT_WECHAT_APIV3_KEY",
                 "CHECKOUT_WECHAT_PLATFORM_KEYS", "missing.pem", "missing2.pem"):
        assert name in text


def test_live_full_settings(tmp_path, sandbox_keys):
    from checkout.payments.common import load_private_key

    (tmp_path / "app.pem").write_text(sandbox_keys.alipay_app)
    (tmp_path / "alipay_pub.pem").write_text(public_pem(load_private_key(sandbox_keys.alipay_platform)))
    (tmp_path / "wx.pem").write_text(sandbox_keys.wechat_merchant)
    (tmp_path / "wx_platform.pem").write_text(public_pem(load_private_key(sandbox_keys.wechat_platform)))
    (tmp_path / "secret").write_text("s3cret\n")
    (tmp_path / "bad.pem").write_text("not a key")
    env = {"CHECKOUT_PAYMENTS": "live",
           "CHECKOUT_PAYPAL_CLIENT_ID": "client", "CHECKOUT_PAYPAL_CLIENT_SECRET_FILE": str(tmp_path / "secret"),
           "CHECKOUT_PAYPAL_WEBHOOK_ID": "WH-1",
           "CHECKOUT_ALIPAY_APP_ID": "2021000000000009", "CHECKOUT_ALIPAY_PRIVATE_KEY_FILE": str(tmp_path / "app.pem"),
           "CHECKOUT_ALIPAY_PUBLIC_KEY_FILE": str(tmp_path / "alipay_pub.pem"),
           "CHECKOUT_WECHAT_MCHID": "1900000009", "CHECKOUT_WECHAT_APPID": "wx1",
           "CHECKOUT_WECHAT_PRIVATE_KEY_FILE": str(tmp_path / "wx.pem"), "CHECKOUT_WECHAT_CERT_SERIAL": "ABC",
           "CHECKOUT_WECHAT_APIV3_KEY": secrets.token_hex(16),
           "CHECKOUT_WECHAT_PLATFORM_KEYS": f"PUB_KEY_ID_1={tmp_path / 'wx_platform.pem'}"}
    config = payment_config_from_env(env)
    assert config.mode == "live" and config.sandbox is None
    assert config.methods == ("paypal", "wechat", "alipay")  # no bank account given: no bank transfer
    assert config.paypal.client_secret == "s3cret" and config.paypal.api_url == "https://api-m.paypal.com"
    assert config.paypal.cert_origins and all(o.startswith("https://") for o in config.paypal.cert_origins)
    assert set(make_adapters(config)) == {"paypal", "alipay", "wechat"}

    with pytest.raises(PaymentConfigError) as err:
        payment_config_from_env({**env, "CHECKOUT_ALIPAY_PRIVATE_KEY_FILE": str(tmp_path / "bad.pem"),
                                 "CHECKOUT_PAYPAL_CERT_ORIGINS": "http://api.paypal.com"})
    assert "CHECKOUT_ALIPAY_PRIVATE_KEY_FILE" in str(err.value) and "not https" in str(err.value)
