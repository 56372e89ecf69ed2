"""Payment providers of the checkout service: PayPal (Orders v2), Alipay (page/wap pay), WeChat Pay
(API v3 Native/H5) and bank transfer, behind one small interface (``start``, ``verify_notification``,
``acknowledge``, ``query``, ``close``, ``refund``), plus the configuration read from ``CHECKOUT_*``.

Stage: runtime of the checkout service. ``payment_config_from_env`` is called once at start-up;
``make_adapters`` turns the result into the objects the routes call. See docs/payments.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .alipay import AlipayAdapter, AlipayConfig
from .bank import BankTransferConfig
from .common import (Acknowledgement, PaymentConfigError, PaymentError, PaymentEvent, PaymentRequest,
                     PaymentStart, PaymentStatus, PaymentVerificationError, ProviderError, RefundRequest,
                     RefundResult, check_event_matches)
from .paypal import LIVE_API as PAYPAL_LIVE_API, LIVE_CERT_ORIGINS, PayPalAdapter, PayPalConfig, paypal_hold_reasons
from .wechat import LIVE_API as WECHAT_LIVE_API, WeChatAdapter, WeChatConfig

__all__ = ["PaymentsConfig", "payment_config_from_env", "make_adapters", "PaymentRequest", "PaymentStart",
           "PaymentEvent", "PaymentStatus", "Acknowledgement", "RefundRequest", "RefundResult", "PaymentError",
           "PaymentConfigError", "PaymentVerificationError", "ProviderError", "check_event_matches",
           "paypal_hold_reasons"]


@dataclass(frozen=True)
class PaymentsConfig:
    mode: str
    """``sandbox`` (development, tests) or ``live``. Production refuses ``sandbox``."""
    paypal: PayPalConfig | None
    alipay: AlipayConfig | None
    wechat: WeChatConfig | None
    bank: BankTransferConfig | None
    sandbox: "object | None" = None
    """``sandbox.SandboxSetup`` in sandbox mode: what to mount at ``/sandbox/<provider>/``."""

    @property
    def methods(self) -> tuple[str, ...]:
        """Payment methods that are configured, in the order of site.toml's default list."""
        return tuple(name for name, conf in (("paypal", self.paypal), ("wechat", self.wechat),
                                             ("alipay", self.alipay), ("bank_transfer", self.bank)) if conf)


def make_adapters(config: PaymentsConfig) -> dict[str, PayPalAdapter | AlipayAdapter | WeChatAdapter]:
    adapters: dict[str, PayPalAdapter | AlipayAdapter | WeChatAdapter] = {}
    if config.paypal:
        adapters["paypal"] = PayPalAdapter(config.paypal)
    if config.alipay:
        adapters["alipay"] = AlipayAdapter(config.alipay)
    if config.wechat:
        adapters["wechat"] = WeChatAdapter(config.wechat)
    return adapters


class _Reader:
    """Reads variables and collects every problem, so that an owner fixes them all in one go."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ
        self.problems: list[str] = []

    def get(self, name: str, default: str = "") -> str:
        return self.environ.get(name, default).strip()

    def secret(self, name: str) -> str:
        """``NAME`` or the contents of the file named by ``NAME_FILE`` (keeps secrets out of ``ps``)."""
        path = self.get(f"{name}_FILE")
        if path:
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as err:
                self.problems.append(f"{name}_FILE: cannot read {path}: {err.strerror}. Fix: check the path and "
                                     "that the service user may read it")
                return ""
        return self.get(name)

    def require(self, group: str, names: list[str], values: dict[str, str]) -> bool:
        missing = [n for n in names if not values.get(n)]
        for name in missing:
            self.problems.append(f"{name}: required for {group} (other {group} settings are set). Fix: set it, "
                                 f"or unset every {group} variable to turn {group} off")
        return not missing

    def integer(self, name: str, default: int) -> int:
        text = self.get(name)
        if not text:
            return default
        try:
            value = int(text)
            if value <= 0:
                raise ValueError
            return value
        except ValueError:
            self.problems.append(f"{name}: {text!r} is not a positive whole number. Fix: e.g. {name}={default}")
            return default


def _bank(r: _Reader, demo: bool) -> BankTransferConfig | None:
    values = {n: r.get(n) for n in ("CHECKOUT_BANK_ACCOUNT_NAME", "CHECKOUT_BANK_NAME", "CHECKOUT_BANK_ACCOUNT_NUMBER")}
    hours = r.integer("CHECKOUT_BANK_RESERVATION_HOURS", 72)
    if not any(values.values()):
        if demo:
            return BankTransferConfig("umegou (sandbox)", "Sandbox Bank", "6222 0000 0000 0000", "SANDCNXX", "",
                                      hours)
        return None
    if not r.require("bank transfer", list(values), values):
        return None
    return BankTransferConfig(values["CHECKOUT_BANK_ACCOUNT_NAME"], values["CHECKOUT_BANK_NAME"],
                              values["CHECKOUT_BANK_ACCOUNT_NUMBER"], r.get("CHECKOUT_BANK_SWIFT"),
                              r.get("CHECKOUT_BANK_BRANCH"), hours)


def _paypal(r: _Reader) -> PayPalConfig | None:
    values = {"CHECKOUT_PAYPAL_CLIENT_ID": r.get("CHECKOUT_PAYPAL_CLIENT_ID"),
              "CHECKOUT_PAYPAL_CLIENT_SECRET": r.secret("CHECKOUT_PAYPAL_CLIENT_SECRET"),
              "CHECKOUT_PAYPAL_WEBHOOK_ID": r.get("CHECKOUT_PAYPAL_WEBHOOK_ID")}
    if not any(values.values()) or not r.require("PayPal", list(values), values):
        return None
    origins = tuple(o.strip().rstrip("/") for o in r.get("CHECKOUT_PAYPAL_CERT_ORIGINS").split(",") if o.strip())
    for origin in origins:
        if not origin.startswith("https://"):
            r.problems.append(f"CHECKOUT_PAYPAL_CERT_ORIGINS: {origin!r} is not https. Fix: list origins such as "
                              "https://api.paypal.com")
    return PayPalConfig(values["CHECKOUT_PAYPAL_CLIENT_ID"], values["CHECKOUT_PAYPAL_CLIENT_SECRET"],
                        values["CHECKOUT_PAYPAL_WEBHOOK_ID"], api_url=r.get("CHECKOUT_PAYPAL_API_URL", PAYPAL_LIVE_API),
                        cert_origins=origins or LIVE_CERT_ORIGINS,
                        merchant_id=r.get("CHECKOUT_PAYPAL_MERCHANT_ID") or None,
                        max_transmission_age=r.integer("CHECKOUT_PAYPAL_MAX_WEBHOOK_AGE", 600),
                        brand_name=r.get("CHECKOUT_PAYPAL_BRAND_NAME") or None)


def _alipay(r: _Reader) -> AlipayConfig | None:
    values = {"CHECKOUT_ALIPAY_APP_ID": r.get("CHECKOUT_ALIPAY_APP_ID"),
              "CHECKOUT_ALIPAY_PRIVATE_KEY_FILE": r.get("CHECKOUT_ALIPAY_PRIVATE_KEY_FILE"),
              "CHECKOUT_ALIPAY_PUBLIC_KEY_FILE": r.get("CHECKOUT_ALIPAY_PUBLIC_KEY_FILE")}
    if not any(values.values()) or not r.require("Alipay", list(values), values):
        return None
    private = _key_file(r, "CHECKOUT_ALIPAY_PRIVATE_KEY_FILE", private=True)
    public = _key_file(r, "CHECKOUT_ALIPAY_PUBLIC_KEY_FILE", private=False)
    if not (private and public):
        return None
    return AlipayConfig(values["CHECKOUT_ALIPAY_APP_ID"], private, public,
                        gateway_url=r.get("CHECKOUT_ALIPAY_GATEWAY", "https://openapi.alipay.com/gateway.do"),
                        seller_id=r.get("CHECKOUT_ALIPAY_SELLER_ID") or None)


def _wechat(r: _Reader) -> WeChatConfig | None:
    values = {"CHECKOUT_WECHAT_MCHID": r.get("CHECKOUT_WECHAT_MCHID"),
              "CHECKOUT_WECHAT_APPID": r.get("CHECKOUT_WECHAT_APPID"),
              "CHECKOUT_WECHAT_PRIVATE_KEY_FILE": r.get("CHECKOUT_WECHAT_PRIVATE_KEY_FILE"),
              "CHECKOUT_WECHAT_CERT_SERIAL": r.get("CHECKOUT_WECHAT_CERT_SERIAL"),
              "CHECKOUT_WECHAT_APIV3_KEY": r.secret("CHECKOUT_WECHAT_APIV3_KEY"),
              "CHECKOUT_WECHAT_PLATFORM_KEYS": r.get("CHECKOUT_WECHAT_PLATFORM_KEYS")}
    if not any(values.values()) or not r.require("WeChat Pay", list(values), values):
        return None
    if len(values["CHECKOUT_WECHAT_APIV3_KEY"].encode()) != 32:
        r.problems.append("CHECKOUT_WECHAT_APIV3_KEY: must be exactly 32 characters. Fix: copy the APIv3 key set "
                          "under 账户中心 > API安全 in the merchant platform")
    platform: dict[str, str] = {}
    for item in values["CHECKOUT_WECHAT_PLATFORM_KEYS"].split(","):
        serial, sep, path = item.strip().partition("=")
        if not sep or not serial or not path:
            r.problems.append(f"CHECKOUT_WECHAT_PLATFORM_KEYS: {item.strip()!r} is not SERIAL=/path/to/key.pem. "
                              "Fix: list each platform certificate serial (or PUB_KEY_ID_...) with its PEM file")
            continue
        pem = _read(r, "CHECKOUT_WECHAT_PLATFORM_KEYS", path.strip())
        if pem:
            platform[serial.strip()] = pem
    private = _key_file(r, "CHECKOUT_WECHAT_PRIVATE_KEY_FILE", private=True)
    if not private or not platform:
        return None
    return WeChatConfig(values["CHECKOUT_WECHAT_MCHID"], values["CHECKOUT_WECHAT_APPID"], private,
                        values["CHECKOUT_WECHAT_CERT_SERIAL"], values["CHECKOUT_WECHAT_APIV3_KEY"], platform,
                        api_url=r.get("CHECKOUT_WECHAT_API_URL", WECHAT_LIVE_API),
                        h5_app_name=r.get("CHECKOUT_WECHAT_H5_APP_NAME", "umegou"),
                        h5_app_url=r.get("CHECKOUT_WECHAT_H5_APP_URL"))


def _read(r: _Reader, variable: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        r.problems.append(f"{variable}: cannot read {path}: {err.strerror}. Fix: check the path and permissions")
        return ""


def _key_file(r: _Reader, variable: str, private: bool) -> str:
    from .common import load_private_key, load_public_key

    pem = _read(r, variable, r.get(variable))
    if not pem:
        return ""
    try:
        (load_private_key if private else load_public_key)(pem, variable)
    except ValueError as err:
        r.problems.append(f"{variable}: {r.get(variable)} is not a usable RSA {'private' if private else 'public'} "
                          f"key ({err}). Fix: point it at the PEM file the provider's key tool produced")
        return ""
    return pem


def payment_config_from_env(environ: Mapping[str, str] | None = None) -> PaymentsConfig:
    """Read the ``CHECKOUT_*`` payment settings (see docs/payments.md). Raises PaymentConfigError
    naming every wrong variable at once."""
    environ = os.environ if environ is None else environ
    r = _Reader(environ)
    mode = r.get("CHECKOUT_PAYMENTS", "sandbox")
    if mode not in ("sandbox", "live"):
        raise PaymentConfigError("CHECKOUT_PAYMENTS", f"{mode!r} is not a mode. Fix: use 'sandbox' or 'live'")
    if mode == "sandbox":
        from .sandbox import load_or_create_sandbox_keys, sandbox_setup

        data_dir = Path(r.get("CHECKOUT_DATA_DIR", "var"))
        # Same default chain as checkout.config: the service's public URL, else the site origin.
        service_url = (r.get("CHECKOUT_PUBLIC_URL") or r.get("CHECKOUT_SITE_ORIGIN")
                       or "http://127.0.0.1:8000").rstrip("/")
        setup = sandbox_setup(load_or_create_sandbox_keys(data_dir / "payments-sandbox"),
                              sandbox_url=f"{service_url}/sandbox", service_url=service_url)
        config = PaymentsConfig("sandbox", setup.paypal, setup.alipay, setup.wechat, _bank(r, demo=True), setup)
    else:
        config = PaymentsConfig("live", _paypal(r), _alipay(r), _wechat(r), _bank(r, demo=False))
        if not r.problems and not config.methods:
            r.problems.append("CHECKOUT_PAYMENTS=live but no provider is configured. Fix: set the variables of at "
                              "least one provider (docs/payments.md)")
    if r.problems:
        raise PaymentConfigError(r.problems[0].split(":", 1)[0],
                                 f"{len(r.problems)} payment setting problem(s):\n  " + "\n  ".join(r.problems))
    return config
