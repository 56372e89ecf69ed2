"""Fixtures of the search tests: a small store with products, help, policy and pages whose right
answers are known, indexed into tmp directories."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from storefront.search import SearchDoc, open_index, update_index

BRANDS = [("声驰", "Soundrive"), ("极光", "Aurora"), ("青木", "Aoki"), ("雷霆", "Thunder")]
FILLER_TYPES = [("充电线", "charging cable", "power", "电源"), ("手机壳", "phone case", "phone", "手机配件"),
                ("保温杯", "vacuum flask", "home", "家居")]


def product(sku, title, text, category, category_title, tags, price, variants=(), slug=None):
    # Shops name products in English in the URL (the file name is the default slug).
    return SearchDoc(id=f"product:{sku}", kind="product", url=f"/products/{slug or sku.lower()}/", title=title,
                     text=text, sku=sku, variant_skus=tuple(variants), category=category,
                     category_title=category_title, tags=tuple(tags), price_minor=price, currency="CNY")


def store_docs() -> list[SearchDoc]:
    docs = [
        product("UM-1001", "声驰蓝牙耳机 X12", "Soundrive X12 真无线蓝牙耳机，主动降噪，续航30小时。True wireless Bluetooth earbuds.",
                "audio", "音频", ["声驰", "Soundrive", "蓝牙", "降噪"], 19900, ["UM-1001-BLK", "UM-1001-WHT"],
                slug="soundrive-wireless-earbuds-x12"),
        product("UM-1002", "声驰头戴式耳机 H7", "Soundrive H7 over-ear headphones，舒适佩戴。",
                "audio", "音频", ["声驰", "Soundrive", "头戴"], 39900, slug="soundrive-headphones-h7"),
        product("UM-1003", "极光蓝牙音箱 S3", "Aurora S3 portable Bluetooth speaker，防水。",
                "audio", "音频", ["极光", "Aurora", "音箱"], 29900, slug="aurora-bluetooth-speaker-s3"),
        product("UM-1004", "极光充电宝 20000mAh", "Aurora power bank，双向快充。",
                "power", "电源", ["极光", "Aurora", "快充"], 15900, slug="aurora-power-bank-20000"),
        product("UM-1005", "青木机械键盘 K8", "Aoki K8 mechanical keyboard，热插拔轴体。",
                "pc", "电脑外设", ["青木", "Aoki", "键盘"], 45900, slug="aoki-mechanical-keyboard-k8"),
        product("UM-1006", "雷霆运动鞋 R1", "Thunder R1 running shoes，轻量缓震。",
                "shoes", "鞋靴", ["雷霆", "Thunder", "跑步"], 59900, slug="thunder-running-shoes-r1"),
        product("UM-1007", "青木无线鼠标 M2", "Aoki M2 wireless mouse，静音按键。",
                "pc", "电脑外设", ["青木", "Aoki", "鼠标"], 9900, slug="aoki-wireless-mouse-m2"),
        product("UM-1008", "声驰有线耳机 W3", "Soundrive W3 wired earphones，入耳式。",
                "audio", "音频", ["声驰", "Soundrive"], 4900, slug="soundrive-wired-earphones-w3"),
        SearchDoc(id="help:payment/paypal", kind="help", url="/help/payment/paypal/", title="如何使用 PayPal 付款",
                  text="在结算页选择 PayPal，登录后确认付款。PayPal 账户的收货地址必须与订单地址一致。",
                  category="payment", category_title="支付", tags=("付款", "PayPal")),
        product("UM-1010", "极光智能手表 Pro 7", "Aurora Pro 7 智能手表，心率监测。", "wear", "穿戴",
                ["极光", "Aurora"], 129900, slug="aurora-smart-watch-pro-7"),
        product("UM-1011", "极光智能手表 Pro 8", "Aurora 智能手表，续航7天，Pro 8 旗舰款。", "wear", "穿戴",
                ["极光", "Aurora"], 159900, slug="aurora-smart-watch-pro-8"),
        # Chinese title and description: only its URL names it in English.
        product("UM-1012", "青木护眼台灯 L1", "三档调光，无频闪。", "home", "家居", ["青木"], 19900,
                slug="aoki-desk-lamp-l1"),
        SearchDoc(id="help:guide/search-tips", kind="help", url="/help/guide/search-tips/", title="搜索技巧",
                  text="输入商品页上的货号（如 UM-1005 或 UM-1001-BLK），可以直接找到对应商品。",
                  category="guide", category_title="购物指南", tags=("搜索", "货号")),
        SearchDoc(id="help:shipping/time", kind="help", url="/help/shipping/time/", title="配送需要多长时间",
                  text="国内订单一般三到五个工作日送达，海外订单七到十五个工作日。", category="shipping",
                  category_title="配送", tags=("配送", "物流")),
        SearchDoc(id="policy:2025-10-01", kind="policy", url="/privacy/2025-10-01/", title="隐私政策",
                  text="我们如何收集、使用和保护您的个人信息。您可以随时导出或删除您的数据。"),
        SearchDoc(id="page:about", kind="page", url="/about/", title="关于我们",
                  text="umegou 是一家跨境电商，为海外华人提供正品好物。"),
    ]
    rnd = random.Random(7)
    for i in range(40):  # background products so document frequencies look like a real shop
        b, t = rnd.choice(BRANDS), rnd.choice(FILLER_TYPES)
        docs.append(product(f"UM-2{i:03d}", f"{b[0]}{t[0]} {b[1]} {t[1]} {i}", f"{b[1]} {t[1]}，日常好物。",
                            t[2], t[3], [b[0], b[1]], 1000 + i * 100))
    return docs


@pytest.fixture(scope="session")
def docs() -> list[SearchDoc]:
    return store_docs()


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory, docs) -> Path:
    path = tmp_path_factory.mktemp("search") / "search_index"
    update_index(path, docs, full=True)
    return path


@pytest.fixture()
def oi(index_dir):
    opened = open_index(index_dir)
    yield opened
    opened.close()
