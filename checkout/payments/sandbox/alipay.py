"""Fake Alipay open platform gateway as a Bottle app, mounted at ``/sandbox/alipay/``: the
``gateway.do`` endpoint checks the RSA2 signature with the merchant's public key, shows the cashier
for page/wap pay, answers trade.query / trade.close / trade.refund in Alipay's signed JSON form, and
posts signed ``trade_status_sync`` notifications.

Test hooks: ``POST /_test/trades/<out_trade_no>/finish`` sends TRADE_FINISHED; the outbox options
(``PUT /_test/options/<out_trade_no>``) work as for every sandbox.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import bottle

from ..alipay import BEIJING, signing_string
from ..common import from_decimal_string, load_private_key, load_public_key, rsa_sign, rsa_verify, to_decimal_string
from .base import Outbox, add_test_routes, cashier_page, json_answer, message_page, redirect


@dataclass(frozen=True)
class AlipaySandboxConfig:
    base_url: str
    """Absolute URL where this app is mounted, e.g. ``http://127.0.0.1:8000/sandbox/alipay``."""
    app_id: str
    app_public_key: str
    """The merchant's application public key, as uploaded to Alipay."""
    alipay_private_key: str
    """The sandbox's own key; the merchant knows its public half as "Alipay public key"."""
    seller_id: str


PAGE_METHODS = {"alipay.trade.page.pay": "FAST_INSTANT_TRADE_PAY", "alipay.trade.wap.pay": "QUICK_WAP_WAY"}
API_METHODS = ("alipay.trade.query", "alipay.trade.close", "alipay.trade.refund")


def _beijing(ts: float) -> str:
    return datetime.fromtimestamp(ts, BEIJING).strftime("%Y-%m-%d %H:%M:%S")


class AlipaySandbox:
    def __init__(self, config: AlipaySandboxConfig, clock=time.time):
        self.config = config
        self.clock = clock
        self.key = load_private_key(config.alipay_private_key)
        self.app_key = load_public_key(config.app_public_key)
        self.outbox = Outbox(clock)
        self.lock = threading.Lock()
        self.trades: dict[str, dict[str, Any]] = {}
        self.cashiers: dict[str, str] = {}
        self.options: dict[str, dict[str, Any]] = {}

    # -- signing

    def signed_answer(self, method: str, data: dict[str, Any]):
        key = method.replace(".", "_") + "_response"
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        sign = rsa_sign(self.key, text.encode("utf-8"))
        body = f'{{"{key}":{text},"sign":"{sign}"}}'
        return bottle.HTTPResponse(body, 200, {"Content-Type": "application/json;charset=utf-8"})

    def sign_params(self, params: dict[str, str]) -> dict[str, str]:
        params = {k: v for k, v in params.items() if v not in ("", None)}
        params["sign"] = rsa_sign(self.key, signing_string(params, exclude=("sign", "sign_type")).encode("utf-8"))
        return params

    def check_request(self, params: dict[str, str]) -> tuple[str, str, str] | None:
        """None when the common parameters and the signature are right; else (code, sub_code, sub_msg)."""
        for name in ("app_id", "method", "charset", "sign_type", "timestamp", "version", "sign"):
            if not params.get(name):
                return ("40001", f"isv.missing-{name.replace('_', '-')}", f"缺少{name}参数")
        if params["app_id"] != self.config.app_id:
            return ("40002", "isv.invalid-app-id", "无效的AppID参数")
        if params["sign_type"] != "RSA2":
            return ("40002", "isv.invalid-signature-type", "无效的签名类型")
        if params["charset"].lower() != "utf-8":
            return ("40002", "isv.invalid-charset", "字符集错误")
        try:
            datetime.strptime(params["timestamp"], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return ("40002", "isv.invalid-timestamp", "非法的时间戳参数")
        if not rsa_verify(self.app_key, signing_string(params).encode("utf-8"), params["sign"]):
            return ("40002", "isv.invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配")
        return None

    # -- the gateway

    def gateway(self):
        params = {k: bottle.request.params.getunicode(k, encoding="utf-8") for k in bottle.request.params.keys()}
        method = params.get("method", "")
        problem = self.check_request(params)
        if method in PAGE_METHODS:
            if problem:
                return message_page("支付宝 - 错误", f"错误代码 {problem[1]}: {problem[2]}", 400)
            return self.page_pay(method, params)
        if method not in API_METHODS:
            return self.signed_answer(method or "error", {"code": "40004" if not problem else problem[0],
                                                          "msg": "Business Failed",
                                                          "sub_code": problem[1] if problem else "isv.invalid-method",
                                                          "sub_msg": problem[2] if problem else "不存在的方法名"})
        if problem:
            return self.signed_answer(method, {"code": problem[0], "msg": "Invalid Arguments",
                                               "sub_code": problem[1], "sub_msg": problem[2]})
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            return self.signed_answer(method, {"code": "40002", "msg": "Invalid Arguments",
                                               "sub_code": "isv.invalid-biz-content", "sub_msg": "biz_content格式错误"})
        handler = {"alipay.trade.query": self.query, "alipay.trade.close": self.close,
                   "alipay.trade.refund": self.refund}[method]
        return self.signed_answer(method, handler(biz))

    def page_pay(self, method: str, params: dict[str, str]):
        try:
            biz = json.loads(params.get("biz_content") or "")
            out_trade_no, subject = str(biz["out_trade_no"]), str(biz["subject"])
            amount = from_decimal_string(biz["total_amount"], "CNY")
        except (ValueError, KeyError, TypeError):
            return message_page("支付宝 - 错误", "错误代码 isv.invalid-biz-content: out_trade_no, subject, total_amount", 400)
        if biz.get("product_code") != PAGE_METHODS[method] or not 0 < len(out_trade_no) <= 64 or amount <= 0:
            return message_page("支付宝 - 错误", "错误代码 INVALID_PARAMETER: product_code/out_trade_no/total_amount", 400)
        with self.lock:
            trade = self.trades.get(out_trade_no)
            if trade and trade["status"] in ("TRADE_SUCCESS", "TRADE_FINISHED"):
                return message_page("支付宝 - 错误", "错误代码 ACQ.TRADE_HAS_SUCCESS: 交易已被支付", 400)
            if trade and trade["status"] == "TRADE_CLOSED":
                return message_page("支付宝 - 错误", "错误代码 ACQ.TRADE_HAS_CLOSE: 交易已经关闭", 400)
            if trade and trade["amount"] != amount:
                return message_page("支付宝 - 错误", "错误代码 ACQ.CONTEXT_INCONSISTENT: 交易信息被篡改", 400)
            if trade is None:
                trade = {"out_trade_no": out_trade_no, "trade_no": None, "amount": amount, "subject": subject,
                         "status": "WAIT_BUYER_PAY", "cashier": secrets.token_urlsafe(12), "refunds": {},
                         "gmt_create": _beijing(self.clock()), "gmt_payment": None}
                self.trades[out_trade_no] = trade
                self.cashiers[trade["cashier"]] = out_trade_no
            trade.update(method=method, notify_url=params.get("notify_url", ""), return_url=params.get("return_url", ""),
                         quit_url=biz.get("quit_url", ""))
        rows = [("商户订单号", out_trade_no), ("商品", subject), ("金额 (元)", to_decimal_string(amount, "CNY"))]
        base = f"{self.config.base_url}/cashier/{trade['cashier']}"
        return cashier_page("支付宝 沙箱收银台", rows, f"{base}/pay", f"{base}/cancel")

    def notify(self, trade: dict[str, Any], status: str, refund: dict[str, Any] | None = None) -> None:
        if not trade.get("notify_url"):
            return
        snapshot = dict(trade)

        def build(signed_at: float) -> tuple[bytes, dict[str, str]]:
            params = {"notify_time": _beijing(signed_at), "notify_type": "trade_status_sync",
                      "notify_id": secrets.token_hex(16), "charset": "utf-8", "version": "1.0", "sign_type": "RSA2",
                      "app_id": self.config.app_id, "auth_app_id": self.config.app_id,
                      "trade_no": snapshot["trade_no"], "out_trade_no": snapshot["out_trade_no"],
                      "seller_id": self.config.seller_id, "buyer_id": "2088000000000001", "trade_status": status,
                      "total_amount": to_decimal_string(snapshot["amount"], "CNY"),
                      "receipt_amount": to_decimal_string(snapshot["amount"], "CNY"), "subject": snapshot["subject"],
                      "gmt_create": snapshot["gmt_create"], "gmt_payment": snapshot["gmt_payment"]}
            if refund:
                params.update(out_biz_no=refund["out_request_no"], gmt_refund=_beijing(signed_at),
                              refund_fee=to_decimal_string(refund["refunded_total"], "CNY"))
            return (urlencode(self.sign_params(params)).encode("utf-8"),
                    {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})

        self.outbox.post(trade["notify_url"], trade["out_trade_no"], status, build, self.options.get(trade["out_trade_no"]))

    def pay(self, cashier: str):
        with self.lock:
            trade = self.trades.get(self.cashiers.get(cashier, ""))
            if trade is None or trade["status"] != "WAIT_BUYER_PAY":
                return message_page("支付宝", "交易不存在或已关闭", 404)
            trade["status"] = "TRADE_SUCCESS"
            trade["trade_no"] = datetime.fromtimestamp(self.clock(), BEIJING).strftime("%Y%m%d") + \
                "22001" + str(secrets.randbelow(10 ** 13)).zfill(13)
            trade["gmt_payment"] = _beijing(self.clock())
        self.notify(trade, "TRADE_SUCCESS")
        if not trade.get("return_url"):
            return message_page("支付宝", "付款成功 / paid")
        back = self.sign_params({"charset": "utf-8", "out_trade_no": trade["out_trade_no"],
                                 "method": trade["method"] + ".return", "total_amount": to_decimal_string(trade["amount"], "CNY"),
                                 "trade_no": trade["trade_no"], "auth_app_id": self.config.app_id, "version": "1.0",
                                 "app_id": self.config.app_id, "sign_type": "RSA2", "seller_id": self.config.seller_id,
                                 "timestamp": _beijing(self.clock())})
        url = trade["return_url"]
        return redirect(f"{url}{'&' if '?' in url else '?'}{urlencode(back)}")

    def cancel(self, cashier: str):
        trade = self.trades.get(self.cashiers.get(cashier, ""))
        if trade is None:
            return message_page("支付宝", "交易不存在", 404)
        if trade.get("quit_url"):  # wap pay: Alipay's "back to merchant" goes to quit_url
            return redirect(trade["quit_url"])
        return message_page("支付宝", "您已放弃付款，可关闭此页面 / payment abandoned")

    # -- API methods (answers before signing)

    def _trade(self, biz: dict[str, Any]) -> dict[str, Any] | None:
        if biz.get("out_trade_no"):
            return self.trades.get(str(biz["out_trade_no"]))
        return next((t for t in self.trades.values() if t["trade_no"] and t["trade_no"] == biz.get("trade_no")), None)

    @staticmethod
    def _failed(sub_code: str, sub_msg: str) -> dict[str, Any]:
        return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}

    def query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._trade(biz)
        if trade is None:
            return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
        return {"code": "10000", "msg": "Success", "trade_no": trade["trade_no"], "out_trade_no": trade["out_trade_no"],
                "trade_status": trade["status"], "total_amount": to_decimal_string(trade["amount"], "CNY"),
                "send_pay_date": trade["gmt_payment"], "buyer_logon_id": "san***@example.com"}

    def close(self, biz: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            trade = self._trade(biz)
            if trade is None:
                return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
            if trade["status"] != "WAIT_BUYER_PAY":
                return self._failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            trade["status"] = "TRADE_CLOSED"
        return {"code": "10000", "msg": "Success", "out_trade_no": trade["out_trade_no"]}

    def refund(self, biz: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            trade = self._trade(biz)
            if trade is None:
                return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
            try:
                amount = from_decimal_string(biz.get("refund_amount"), "CNY")
            except ValueError:
                return {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-parameter",
                        "sub_msg": "refund_amount格式错误"}
            request_no = str(biz.get("out_request_no") or trade["out_trade_no"])
            done = sum(trade["refunds"].values())
            answer = {"code": "10000", "msg": "Success", "trade_no": trade["trade_no"],
                      "out_trade_no": trade["out_trade_no"], "buyer_logon_id": "san***@example.com"}
            if request_no in trade["refunds"]:  # a retry: same answer, no second refund
                if trade["refunds"][request_no] != amount:
                    return self._failed("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额与之前请求不一致")
                return {**answer, "fund_change": "N", "refund_fee": to_decimal_string(done, "CNY")}
            if trade["status"] not in ("TRADE_SUCCESS",):
                return self._failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            if amount <= 0 or done + amount > trade["amount"]:
                return self._failed("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
            trade["refunds"][request_no] = amount
            total = done + amount
            if total == trade["amount"]:
                trade["status"] = "TRADE_CLOSED"
        self.notify(trade, trade["status"], {"out_request_no": request_no, "refunded_total": total})
        return {**answer, "fund_change": "Y", "refund_fee": to_decimal_string(total, "CNY")}

    def finish(self, out_trade_no: str):
        with self.lock:
            trade = self.trades.get(out_trade_no)
            if trade is None or trade["status"] != "TRADE_SUCCESS":
                return json_answer(409, {"error": "trade is not TRADE_SUCCESS"})
            trade["status"] = "TRADE_FINISHED"
        self.notify(trade, "TRADE_FINISHED")
        return json_answer(200, {"status": "TRADE_FINISHED"})


def make_alipay_sandbox(config: AlipaySandboxConfig, clock=time.time) -> bottle.Bottle:
    sandbox = AlipaySandbox(config, clock)
    app = bottle.Bottle()
    app.sandbox = sandbox  # tests reach the state (outbox, trades) through the app they mounted
    app.route("/gateway.do", ["GET", "POST"], sandbox.gateway)
    app.post("/cashier/<cashier>/pay", callback=sandbox.pay)
    app.post("/cashier/<cashier>/cancel", callback=sandbox.cancel)
    app.post("/_test/trades/<out_trade_no>/finish", callback=sandbox.finish)
    add_test_routes(app, sandbox.outbox, sandbox.options, sandbox.lock)
    return app
