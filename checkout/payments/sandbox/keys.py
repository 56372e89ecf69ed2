"""Sandbox keys: the merchant's and the fake providers' RSA key pairs, the WeChat APIv3 key and
the PayPal webhook certificate, generated once into the development data directory.

Stage: development and tests only.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ..common import load_private_key, private_pem

KEY_NAMES = ("alipay_app", "alipay_platform", "wechat_merchant", "wechat_platform", "paypal_webhook")


@dataclass(frozen=True)
class SandboxKeys:
    """PEM texts. ``*_app``/``*_merchant`` are ours; ``*_platform``/``paypal_webhook`` the provider's."""

    alipay_app: str
    alipay_platform: str
    wechat_merchant: str
    wechat_platform: str
    paypal_webhook: str
    paypal_webhook_cert: str
    wechat_apiv3_key: str
    paypal_client_secret: str


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed_certificate(key: rsa.RSAPrivateKey, common_name: str, days: int = 365) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def generate_sandbox_keys(pems: dict[str, str] | None = None) -> SandboxKeys:
    """Fresh keys (or the given PEMs) plus a fresh certificate for the PayPal webhook key."""
    pems = dict(pems or {})
    for name in KEY_NAMES:
        pems.setdefault(name, private_pem(new_rsa_key()))
    webhook_key = load_private_key(pems["paypal_webhook"])
    return SandboxKeys(pems["alipay_app"], pems["alipay_platform"], pems["wechat_merchant"], pems["wechat_platform"],
                       pems["paypal_webhook"], pems.get("paypal_webhook_cert") or
                       self_signed_certificate(webhook_key, "sandbox webhook signing"),
                       pems.get("wechat_apiv3_key") or secrets.token_hex(16),
                       pems.get("paypal_client_secret") or secrets.token_urlsafe(24))


def load_or_create_sandbox_keys(directory: Path) -> SandboxKeys:
    """Keys kept in ``<data dir>/payments-sandbox/`` so that restarts keep working sessions and
    pending sandbox payments; created on first use with owner-only permissions."""
    directory.mkdir(parents=True, exist_ok=True)
    names = KEY_NAMES + ("paypal_webhook_cert", "wechat_apiv3_key", "paypal_client_secret")
    existing = {n: (directory / f"{n}.pem").read_text() for n in names if (directory / f"{n}.pem").exists()}
    if len(existing) == len(names):
        cert = x509.load_pem_x509_certificate(existing["paypal_webhook_cert"].encode())
        if cert.not_valid_after_utc > datetime.now(timezone.utc) + timedelta(days=1):
            return SandboxKeys(**existing)
        del existing["paypal_webhook_cert"]
    keys = generate_sandbox_keys(existing)
    for name in names:
        path = directory / f"{name}.pem"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(getattr(keys, name))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return keys
