"""Fake WeChat Pay API v3 as a Bottle app, mounted at ``/sandbox/wechat/``: checks the merchant's
``WECHATPAY2-SHA256-RSA2048`` request signatures, answers signed with its platform key, shows the
Native QR code (segno SVG) and the payer page, and posts notifications whose resource is encrypted
with the merchant's APIv3 key.

Error codes of the real service that were not confirmed from a primary source are marked (?).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping
from urllib.parse import quote, urlencode, urlsplit

import bottle
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..common import load_private_key, load_public_key, rsa_sign, rsa_verify
from ..wechat import qr_svg
from .base import NO_FAVICON, Outbox, add_test_routes, cashier_page, message_page, redirect

CHINA = timezone(timedelta(hours=8))
_AUTH = re.compile(r'(\w+)="([^"]*)"')
_OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")


@dataclass(frozen=True)
class WeChatSandboxConfig:
    base_url: str
    """Absolute URL where this app is mounted, e.g. ``http://127.0.0.1:8000/sandbox/wechat``."""
    mchid: str
    appid: str
    merchant_public_keys: Mapping[str, str]
    """Merchant API certificate serial -> PEM public key (what WeChat knows of the merchant)."""
    platform_private_key: str
    platform_serial: str
    apiv3_key: str
    require_https_notify: bool = False
    """The real service insists on https; a local sandbox has only http."""
    timestamp_window: int = 300


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, CHINA).isoformat(timespec="seconds")


class WeChatSandbox:
    def __init__(self, config: WeChatSandboxConfig, clock=time.time):
        self.config = config
        self.clock = clock
        self.key = load_private_key(config.platform_private_key)
        self.merchant_keys = {s: load_public_key(p) for s, p in config.merchant_public_keys.items()}
        self.outbox = Outbox(clock)
        self.lock = threading.Lock()
        self.trades: dict[str, dict[str, Any]] = {}
        self.prepay: dict[str, str] = {}
        """prepay id or QR token -> out_trade_no"""
        self.options: dict[str, dict[str, Any]] = {}

    # -- signatures

    def signed_headers(self, body: bytes, signed_at: float | None = None) -> dict[str, str]:
        ts = str(int(self.clock() if signed_at is None else signed_at))
        nonce = secrets.token_hex(16)
        return {"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": self.config.platform_serial,
                "Wechatpay-Signature": rsa_sign(self.key, f"{ts}\n{nonce}\n".encode() + body + b"\n"),
                "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048", "Request-ID": str(uuid.uuid4())}

    def answer(self, status: int, data: dict[str, Any] | None = None):
        body = b"" if data is None else json.dumps(data, ensure_ascii=False).encode("utf-8")
        headers = self.signed_headers(body)
        if data is not None:
            headers["Content-Type"] = "application/json"
        return bottle.HTTPResponse(body, status, headers)

    def error(self, status: int, code: str, message: str):
        return self.answer(status, {"code": code, "message": message})

    def check_signature(self, body: bytes):
        auth = bottle.request.get_header("Authorization", "")
        scheme, _, rest = auth.partition(" ")
        if scheme != "WECHATPAY2-SHA256-RSA2048":
            return self.error(401, "SIGN_ERROR", "Authorization 认证类型错误")
        fields = dict(_AUTH.findall(rest))
        if fields.get("mchid") != self.config.mchid:
            return self.error(401, "SIGN_ERROR", "商户号与签名不匹配")
        key = self.merchant_keys.get(fields.get("serial_no", ""))
        if key is None:
            return self.error(401, "SIGN_ERROR", "商户证书序列号有误")
        try:
            ts = int(fields.get("timestamp", ""))
        except ValueError:
            return self.error(401, "SIGN_ERROR", "timestamp 格式错误")
        if abs(self.clock() - ts) > self.config.timestamp_window:
            return self.error(401, "SIGN_ERROR", "请求时间戳已过期")
        path = bottle.request.fullpath + (f"?{bottle.request.query_string}" if bottle.request.query_string else "")
        message = f"{bottle.request.method}\n{path}\n{ts}\n{fields.get('nonce_str', '')}\n".encode() + body + b"\n"
        if not rsa_verify(key, message, fields.get("signature", "")):
            return self.error(401, "SIGN_ERROR", "签名错误")
        return None

    def signed(self, handler):
        """Wrap an API route: verify the merchant's signature on the raw request first."""
        def route(*args, **kwargs):
            body = bottle.request.body.read()
            problem = self.check_signature(body)
            if problem is not None:
                return problem
            try:
                data = json.loads(body) if body else {}
            except ValueError:
                return self.error(400, "PARAM_ERROR", "请求体不是合法的JSON")
            return handler(data, *args, **kwargs)
        return route

    # -- API

    def create(self, data: dict[str, Any], kind: str):
        if data.get("mchid") != self.config.mchid or data.get("appid") != self.config.appid:
            return self.error(400, "PARAM_ERROR", "appid和mch_id不匹配")
        out_trade_no = str(data.get("out_trade_no", ""))
        if not _OUT_TRADE_NO.match(out_trade_no):
            return self.error(400, "PARAM_ERROR", "输入源“/body/out_trade_no”映射到字段“商户订单号”长度不符合要求")
        if not data.get("description"):
            return self.error(400, "PARAM_ERROR", "description 不能为空")
        notify = urlsplit(str(data.get("notify_url", "")))
        if notify.query or notify.scheme not in (("https",) if self.config.require_https_notify else ("https", "http")):
            return self.error(400, "PARAM_ERROR", "notify_url 须为不带参数的https地址")
        amount = data.get("amount") or {}
        total = amount.get("total")
        if not isinstance(total, int) or isinstance(total, bool) or total <= 0 or amount.get("currency", "CNY") != "CNY":
            return self.error(400, "PARAM_ERROR", "amount.total 须为正整数(分), currency 为 CNY")
        try:
            expire = datetime.fromisoformat(data["time_expire"]).timestamp() if data.get("time_expire") else None
        except (ValueError, TypeError):
            return self.error(400, "PARAM_ERROR", "time_expire 格式错误, 须为 RFC 3339")
        if kind == "h5":
            scene = data.get("scene_info") or {}
            if not scene.get("payer_client_ip") or (scene.get("h5_info") or {}).get("type") not in ("Wap", "iOS", "Android"):
                return self.error(400, "PARAM_ERROR", "H5 下单须提供 scene_info.payer_client_ip 和 h5_info.type")
        with self.lock:
            trade = self.trades.get(out_trade_no)
            if trade:
                if trade["status"] == "SUCCESS":
                    return self.error(400, "ORDERPAID", "该订单已支付")  # (?)
                if trade["status"] == "CLOSED":
                    return self.error(400, "ORDER_CLOSED", "订单已关闭")  # (?)
                if trade["total"] != total or trade["kind"] != kind:
                    return self.error(400, "INVALID_REQUEST", "201 商户订单号重复")
            else:
                trade = {"out_trade_no": out_trade_no, "kind": kind, "total": total, "status": "NOTPAY",
                         "description": data["description"], "notify_url": data["notify_url"], "expire": expire,
                         "prepay_id": "wx" + datetime.fromtimestamp(self.clock(), CHINA).strftime("%d%H%M%S")
                         + secrets.token_hex(12), "pr": secrets.token_urlsafe(9), "transaction_id": None,
                         "success_time": None, "refunds": {}}
                self.trades[out_trade_no] = trade
                self.prepay[trade["prepay_id"]] = out_trade_no
                self.prepay[trade["pr"]] = out_trade_no
        if kind == "h5":
            return self.answer(200, {"h5_url": f"{self.config.base_url}/h5pay?prepay_id={trade['prepay_id']}"
                                                f"&package={secrets.randbelow(10 ** 10)}"})
        return self.answer(200, {"code_url": f"weixin://wxpay/bizpayurl?pr={trade['pr']}"})

    def transaction(self, trade: dict[str, Any]) -> dict[str, Any]:
        data = {"appid": self.config.appid, "mchid": self.config.mchid, "out_trade_no": trade["out_trade_no"],
                "trade_state": trade["status"], "trade_state_desc": {"SUCCESS": "支付成功", "NOTPAY": "未支付",
                                                                    "CLOSED": "已关闭", "REFUND": "转入退款"}[trade["status"]],
                "amount": {"total": trade["total"], "currency": "CNY"}}
        if trade["transaction_id"]:
            data.update(transaction_id=trade["transaction_id"], success_time=trade["success_time"],
                        trade_type="MWEB" if trade["kind"] == "h5" else "NATIVE", bank_type="OTHERS",
                        payer={"openid": "o-sandbox-" + trade["transaction_id"][-8:]})
            data["amount"].update(payer_total=trade["total"], payer_currency="CNY")
        return data

    def query(self, data: dict[str, Any], out_trade_no: str):
        if bottle.request.query.get("mchid") != self.config.mchid:
            return self.error(400, "PARAM_ERROR", "mchid 与请求不匹配")
        trade = self.trades.get(out_trade_no)
        if trade is None:
            return self.error(404, "ORDER_NOT_EXIST", "订单不存在")
        return self.answer(200, self.transaction(trade))

    def close(self, data: dict[str, Any], out_trade_no: str):
        if data.get("mchid") != self.config.mchid:
            return self.error(400, "PARAM_ERROR", "mchid 与请求不匹配")
        with self.lock:
            trade = self.trades.get(out_trade_no)
            if trade is None:
                return self.error(404, "ORDER_NOT_EXIST", "订单不存在")
            if trade["status"] in ("SUCCESS", "REFUND"):
                return self.error(400, "ORDERPAID", "订单已支付")  # (?)
            trade["status"] = "CLOSED"
        return self.answer(204)

    def refund(self, data: dict[str, Any]):
        amount = data.get("amount") or {}
        out_refund_no = str(data.get("out_refund_no", ""))
        if not out_refund_no or not isinstance(amount.get("refund"), int) or not isinstance(amount.get("total"), int):
            return self.error(400, "PARAM_ERROR", "out_refund_no, amount.refund, amount.total 为必填")
        with self.lock:
            trade = self.trades.get(str(data.get("out_trade_no", ""))) or next(
                (t for t in self.trades.values() if t["transaction_id"] and t["transaction_id"] == data.get("transaction_id")),
                None)
            if trade is None:
                return self.error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            existing = trade["refunds"].get(out_refund_no)
            if existing:  # same out_refund_no: the same refund, never a second one
                if existing["amount"]["refund"] != amount["refund"]:
                    return self.error(400, "INVALID_REQUEST", "订单金额或退款金额与之前请求不一致，请核实后再试")
                return self.answer(200, existing)
            if trade["status"] not in ("SUCCESS", "REFUND"):
                return self.error(400, "INVALID_REQUEST", "订单未支付，无法退款")  # (?)
            done = sum(r["amount"]["refund"] for r in trade["refunds"].values())
            if amount["total"] != trade["total"]:
                return self.error(400, "INVALID_REQUEST", "订单金额或退款金额与之前请求不一致，请核实后再试")
            if amount["refund"] <= 0 or done + amount["refund"] > trade["total"]:
                return self.error(403, "NOT_ENOUGH", "申请退款金额超过订单可退金额")  # (?)
            refund = {"refund_id": "5030" + str(secrets.randbelow(10 ** 24)).zfill(24), "out_refund_no": out_refund_no,
                      "transaction_id": trade["transaction_id"], "out_trade_no": trade["out_trade_no"],
                      "channel": "ORIGINAL", "user_received_account": "支付用户零钱", "create_time": _rfc3339(self.clock()),
                      "status": "PROCESSING", "funds_account": "AVAILABLE",
                      "amount": {"total": trade["total"], "refund": amount["refund"], "payer_total": trade["total"],
                                 "payer_refund": amount["refund"], "currency": "CNY"}}
            trade["refunds"][out_refund_no] = refund
            if done + amount["refund"] == trade["total"]:
                trade["status"] = "REFUND"
        if data.get("notify_url"):
            plain = {"mchid": self.config.mchid, "out_trade_no": trade["out_trade_no"],
                     "transaction_id": trade["transaction_id"], "out_refund_no": out_refund_no,
                     "refund_id": refund["refund_id"], "refund_status": "SUCCESS",
                     "success_time": _rfc3339(self.clock()), "user_received_account": refund["user_received_account"],
                     "amount": {k: refund["amount"][k] for k in ("total", "refund", "payer_total", "payer_refund")}}
            self.notify(data["notify_url"], trade["out_trade_no"], "REFUND.SUCCESS", "退款成功", "refund", plain)
        return self.answer(200, refund)

    # -- notifications

    def notify(self, url: str, reference: str, event_type: str, summary: str, original: str,
               plain: dict[str, Any]) -> None:
        nonce = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))
        ciphertext = AESGCM(self.config.apiv3_key.encode()).encrypt(
            nonce.encode(), json.dumps(plain, ensure_ascii=False).encode("utf-8"), original.encode())
        envelope = {"id": str(uuid.uuid4()), "create_time": _rfc3339(self.clock()), "resource_type": "encrypt-resource",
                    "event_type": event_type, "summary": summary,
                    "resource": {"original_type": original, "algorithm": "AEAD_AES_256_GCM",
                                 "ciphertext": base64.b64encode(ciphertext).decode(), "associated_data": original,
                                 "nonce": nonce}}
        body = json.dumps(envelope, ensure_ascii=False).encode("utf-8")

        def build(signed_at: float) -> tuple[bytes, dict[str, str]]:
            return body, {"Content-Type": "application/json", **self.signed_headers(body, signed_at)}

        self.outbox.post(url, reference, event_type, build, self.options.get(reference))

    # -- payer pages

    def qr_page(self, pr: str):
        trade = self.trades.get(self.prepay.get(pr, ""))
        if trade is None:
            return message_page("微信支付", "二维码已失效", 404)
        code_url = f"weixin://wxpay/bizpayurl?pr={pr}"
        back = bottle.request.query.getunicode("return", "") or ""
        link = f"{self.config.base_url}/pay/{trade['prepay_id']}" + (f"?return={quote(back, safe='')}" if back else "")
        body = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">{NO_FAVICON}<title>微信支付 沙箱</title></head>'
                f'<body><h1>微信扫码支付 (沙箱)</h1><div id="qr">{qr_svg(code_url)}</div>'
                f'<p><a id="sandbox-open" href="{link}">在"手机"上打开付款页 / open the payer page</a></p></body></html>')
        return bottle.HTTPResponse(body, 200, {"Content-Type": "text/html; charset=utf-8"})

    def payer_page(self, prepay_id: str, back: str):
        trade = self.trades.get(self.prepay.get(prepay_id, ""))
        if trade is None or trade["status"] != "NOTPAY":
            return message_page("微信支付", "订单不存在或已关闭", 404)
        rows = [("商户号", self.config.mchid), ("商品", trade["description"]),
                ("金额 (元)", f"{trade['total'] // 100}.{trade['total'] % 100:02d}")]
        base = f"{self.config.base_url}/pay/{prepay_id}"
        return cashier_page("微信支付 沙箱", rows, f"{base}/pay", f"{base}/cancel", hidden={"return": back})

    def h5_page(self):
        return self.payer_page(bottle.request.query.get("prepay_id", ""),
                               bottle.request.query.getunicode("redirect_url", "") or "")

    def pay(self, prepay_id: str):
        back = bottle.request.forms.getunicode("return", "") or ""
        with self.lock:
            trade = self.trades.get(self.prepay.get(prepay_id, ""))
            if trade is None or trade["status"] != "NOTPAY":
                return message_page("微信支付", "订单不存在或已关闭", 404)
            if trade["expire"] and self.clock() > trade["expire"]:
                return message_page("微信支付", "订单已过期", 400)
            trade["status"] = "SUCCESS"
            trade["transaction_id"] = "4200" + str(secrets.randbelow(10 ** 24)).zfill(24)
            trade["success_time"] = _rfc3339(self.clock())
            plain = self.transaction(trade)
        self.notify(trade["notify_url"], trade["out_trade_no"], "TRANSACTION.SUCCESS", "支付成功", "transaction", plain)
        return redirect(back) if back else message_page("微信支付", "支付成功 / paid")

    def cancel(self, prepay_id: str):
        back = bottle.request.forms.getunicode("return", "") or ""
        return redirect(back) if back else message_page("微信支付", "已取消支付 / cancelled")


def sandbox_page_for_code_url(code_url: str, sandbox_url: str, return_url: str = "") -> str:
    """Development only: the sandbox page that shows a Native ``code_url`` as a QR code (with a link
    that plays the phone), to send a desktop browser to instead of our own QR page."""
    pr = code_url.split("pr=", 1)[-1]
    return f"{sandbox_url.rstrip('/')}/native/{pr}" + (f"?{urlencode({'return': return_url})}" if return_url else "")


def make_wechat_sandbox(config: WeChatSandboxConfig, clock=time.time) -> bottle.Bottle:
    sandbox = WeChatSandbox(config, clock)
    app = bottle.Bottle()
    app.sandbox = sandbox  # tests reach the state (outbox, trades) through the app they mounted
    app.post("/v3/pay/transactions/native", callback=sandbox.signed(lambda d: sandbox.create(d, "native")))
    app.post("/v3/pay/transactions/h5", callback=sandbox.signed(lambda d: sandbox.create(d, "h5")))
    app.get("/v3/pay/transactions/out-trade-no/<out_trade_no>", callback=sandbox.signed(sandbox.query))
    app.post("/v3/pay/transactions/out-trade-no/<out_trade_no>/close", callback=sandbox.signed(sandbox.close))
    app.post("/v3/refund/domestic/refunds", callback=sandbox.signed(sandbox.refund))
    app.get("/native/<pr>", callback=sandbox.qr_page)
    app.get("/h5pay", callback=sandbox.h5_page)
    app.get("/pay/<prepay_id>", callback=lambda prepay_id: sandbox.payer_page(
        prepay_id, bottle.request.query.getunicode("return", "") or ""))
    app.post("/pay/<prepay_id>/pay", callback=sandbox.pay)
    app.post("/pay/<prepay_id>/cancel", callback=sandbox.cancel)
    add_test_routes(app, sandbox.outbox, sandbox.options, sandbox.lock)
    return app
