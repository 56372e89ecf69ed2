"""Sandbox payment providers for development and tests: fake PayPal, Alipay and WeChat Pay that
speak the real protocols with their own keys, mounted by the service at ``/sandbox/<provider>/``.

``sandbox_setup`` pairs each adapter configuration with the matching sandbox configuration, so the
adapter code that runs in production is exactly the code exercised against the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass

import bottle

from ..alipay import AlipayConfig
from ..common import public_pem, load_private_key
from ..paypal import PayPalConfig
from ..wechat import WeChatConfig
from .alipay import AlipaySandboxConfig, make_alipay_sandbox
from .keys import SandboxKeys, generate_sandbox_keys, load_or_create_sandbox_keys
from .paypal import PayPalSandboxConfig, make_paypal_sandbox
from .wechat import WeChatSandboxConfig, make_wechat_sandbox, sandbox_page_for_code_url

__all__ = ["SandboxSetup", "SandboxKeys", "sandbox_setup", "make_sandbox_apps", "generate_sandbox_keys",
           "load_or_create_sandbox_keys", "sandbox_page_for_code_url"]

# Fixed sandbox identities: they mean nothing outside this process.
PAYPAL_CLIENT_ID = "sandbox-client-id"
PAYPAL_MERCHANT_ID = "SANDBOXMERCHANT1"
PAYPAL_WEBHOOK_ID = "WH-SANDBOX-0001"
ALIPAY_APP_ID = "2021000000000001"
ALIPAY_SELLER_ID = "2088000000000002"
WECHAT_MCHID = "1900000001"
WECHAT_APPID = "wx00000000sandbox"
WECHAT_MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A72SANDBOX"
WECHAT_PLATFORM_SERIAL = "PUB_KEY_ID_0000SANDBOX"


@dataclass(frozen=True)
class SandboxSetup:
    paypal: PayPalConfig
    alipay: AlipayConfig
    wechat: WeChatConfig
    paypal_sandbox: PayPalSandboxConfig
    alipay_sandbox: AlipaySandboxConfig
    wechat_sandbox: WeChatSandboxConfig
    sandbox_url: str


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def sandbox_setup(keys: SandboxKeys, *, sandbox_url: str, service_url: str) -> SandboxSetup:
    """``sandbox_url``: where the sandboxes are mounted (``http://127.0.0.1:8000/sandbox``);
    ``service_url``: the service origin, for the PayPal webhook registration (``/pay/paypal/notify``)."""
    sandbox_url, service_url = sandbox_url.rstrip("/"), service_url.rstrip("/")
    pp_url, ali_url, wx_url = f"{sandbox_url}/paypal", f"{sandbox_url}/alipay", f"{sandbox_url}/wechat"
    return SandboxSetup(
        paypal=PayPalConfig(PAYPAL_CLIENT_ID, keys.paypal_client_secret, PAYPAL_WEBHOOK_ID, api_url=pp_url,
                            cert_origins=(_origin(pp_url),), merchant_id=PAYPAL_MERCHANT_ID),
        alipay=AlipayConfig(ALIPAY_APP_ID, keys.alipay_app, public_pem(load_private_key(keys.alipay_platform)),
                            gateway_url=f"{ali_url}/gateway.do", seller_id=ALIPAY_SELLER_ID),
        wechat=WeChatConfig(WECHAT_MCHID, WECHAT_APPID, keys.wechat_merchant, WECHAT_MERCHANT_SERIAL, keys.wechat_apiv3_key,
                            {WECHAT_PLATFORM_SERIAL: public_pem(load_private_key(keys.wechat_platform))}, api_url=wx_url),
        paypal_sandbox=PayPalSandboxConfig(pp_url, PAYPAL_CLIENT_ID, keys.paypal_client_secret, PAYPAL_WEBHOOK_ID,
                                           f"{service_url}/pay/paypal/notify", PAYPAL_MERCHANT_ID, keys.paypal_webhook,
                                           keys.paypal_webhook_cert),
        alipay_sandbox=AlipaySandboxConfig(ali_url, ALIPAY_APP_ID, public_pem(load_private_key(keys.alipay_app)),
                                           keys.alipay_platform, ALIPAY_SELLER_ID),
        wechat_sandbox=WeChatSandboxConfig(wx_url, WECHAT_MCHID, WECHAT_APPID,
                                           {WECHAT_MERCHANT_SERIAL: public_pem(load_private_key(keys.wechat_merchant))},
                                           keys.wechat_platform, WECHAT_PLATFORM_SERIAL, keys.wechat_apiv3_key),
        sandbox_url=sandbox_url)


def make_sandbox_apps(setup: SandboxSetup) -> dict[str, bottle.Bottle]:
    """One Bottle app per provider; mount each at ``/sandbox/<provider>/`` of the service:
    ``for name, sub in make_sandbox_apps(setup).items(): app.mount(f"/sandbox/{name}/", sub)``."""
    return {"paypal": make_paypal_sandbox(setup.paypal_sandbox),
            "alipay": make_alipay_sandbox(setup.alipay_sandbox),
            "wechat": make_wechat_sandbox(setup.wechat_sandbox)}
