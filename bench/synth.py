"""Synthetic store generator for the benchmarks: a complete, valid content/ tree of any size.

Not part of the build: ``bench/build.py`` and ``bench/search.py`` use it to make a realistic
catalog (mixed Chinese/English product names such as "Soundrive 声驰 蓝牙耳机 X12", brands,
series, tags, variants, prices, stock, Markdown bodies with a list and a table) in the DESIGN
"Content format (contract)". The same seed always gives the same bytes, so figures measured on
different days describe the same store.

    python bench/synth.py OUT_DIR --products 10000 [--seed 1] [--categories 50] [--force]

writes ``OUT_DIR/content/`` and prints a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

# Top-level categories: slug, Chinese title, English word, and the leaves under each one with the
# product nouns (Chinese, English) sold there. Products live in leaves, as in a real shop.
_TREE: tuple[tuple[str, str, str, tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]], ...] = (
    ("audio", "数码影音", "Audio", (
        ("earbuds", "蓝牙耳机", (("蓝牙耳机", "Bluetooth Earbuds"), ("降噪耳机", "Noise Cancelling Earbuds"))),
        ("headphones", "头戴耳机", (("头戴式耳机", "Over-ear Headphones"), ("监听耳机", "Studio Headphones"))),
        ("speakers", "音箱", (("蓝牙音箱", "Bluetooth Speaker"), ("智能音箱", "Smart Speaker"))),
        ("cameras", "相机", (("微单相机", "Mirrorless Camera"), ("运动相机", "Action Camera"))),
    )),
    ("phone", "手机配件", "Phone", (
        ("chargers", "充电器", (("快充充电器", "Fast Charger"), ("无线充电器", "Wireless Charger"))),
        ("cases", "手机壳", (("手机壳", "Phone Case"), ("防摔保护壳", "Rugged Case"))),
        ("cables", "数据线", (("数据线", "Charging Cable"), ("编织数据线", "Braided Cable"))),
        ("powerbanks", "充电宝", (("充电宝", "Power Bank"), ("磁吸充电宝", "Magnetic Power Bank"))),
    )),
    ("beauty", "美妆护肤", "Beauty", (
        ("skincare", "护肤", (("保湿面霜", "Moisturizing Cream"), ("精华液", "Serum"))),
        ("sunscreen", "防晒", (("防晒霜", "Sunscreen"), ("防晒喷雾", "Sunscreen Spray"))),
        ("makeup", "彩妆", (("口红", "Lipstick"), ("粉底液", "Foundation"))),
        ("masks", "面膜", (("补水面膜", "Hydrating Mask"), ("清洁泥膜", "Clay Mask"))),
    )),
    ("baby", "母婴用品", "Baby", (
        ("formula", "奶粉", (("婴儿奶粉", "Infant Formula"), ("成长奶粉", "Growing-up Milk"))),
        ("diapers", "纸尿裤", (("纸尿裤", "Diapers"), ("拉拉裤", "Pull-ups"))),
        ("feeding", "喂养用品", (("奶瓶", "Baby Bottle"), ("吸管杯", "Sippy Cup"))),
        ("toys", "玩具", (("积木", "Building Blocks"), ("早教玩具", "Learning Toy"))),
    )),
    ("health", "食品保健", "Health", (
        ("vitamins", "维生素", (("复合维生素", "Multivitamin"), ("维生素C", "Vitamin C"))),
        ("fish-oil", "鱼油", (("深海鱼油", "Fish Oil"), ("磷虾油", "Krill Oil"))),
        ("snacks", "零食", (("抹茶饼干", "Matcha Cookies"), ("坚果礼盒", "Nut Gift Box"))),
        ("tea", "茶饮", (("绿茶", "Green Tea"), ("乌龙茶", "Oolong Tea"))),
    )),
    ("kitchen", "家居厨房", "Home", (
        ("cookware", "锅具", (("不粘锅", "Non-stick Pan"), ("铸铁锅", "Cast Iron Pot"))),
        ("knives", "刀具", (("厨师刀", "Chef Knife"), ("水果刀", "Paring Knife"))),
        ("storage", "收纳", (("保鲜盒", "Food Container"), ("收纳箱", "Storage Box"))),
        ("appliances", "小家电", (("电饭煲", "Rice Cooker"), ("电热水壶", "Electric Kettle"))),
    )),
    ("fashion", "服饰箱包", "Fashion", (
        ("bags", "箱包", (("双肩包", "Backpack"), ("托特包", "Tote Bag"))),
        ("luggage", "行李箱", (("登机箱", "Carry-on Suitcase"), ("拉杆箱", "Trolley Case"))),
        ("shoes", "鞋靴", (("运动鞋", "Sneakers"), ("帆布鞋", "Canvas Shoes"))),
        ("watches", "手表", (("机械表", "Automatic Watch"), ("智能手表", "Smart Watch"))),
    )),
    ("outdoor", "运动户外", "Outdoor", (
        ("camping", "露营", (("露营帐篷", "Camping Tent"), ("折叠椅", "Folding Chair"))),
        ("fitness", "健身", (("瑜伽垫", "Yoga Mat"), ("哑铃", "Dumbbell"))),
        ("cycling", "骑行", (("骑行头盔", "Cycling Helmet"), ("车灯", "Bike Light"))),
        ("bottles", "水杯", (("保温杯", "Vacuum Bottle"), ("运动水壶", "Sports Bottle"))),
    )),
    ("pets", "宠物用品", "Pets", (
        ("cat-food", "猫粮", (("全价猫粮", "Cat Food"), ("冻干猫零食", "Freeze-dried Cat Treats"))),
        ("dog-food", "狗粮", (("全价狗粮", "Dog Food"), ("洁齿骨", "Dental Chews"))),
        ("litter", "猫砂", (("豆腐猫砂", "Tofu Litter"), ("膨润土猫砂", "Clay Litter"))),
        ("pet-toys", "宠物玩具", (("逗猫棒", "Cat Teaser"), ("磨牙玩具", "Chew Toy"))),
    )),
    ("stationery", "文具办公", "Stationery", (
        ("pens", "笔类", (("中性笔", "Gel Pen"), ("钢笔", "Fountain Pen"))),
        ("notebooks", "本册", (("笔记本", "Notebook"), ("手账本", "Planner"))),
        ("desk", "桌面收纳", (("文件架", "File Rack"), ("桌面收纳盒", "Desk Organizer"))),
        ("art", "画材", (("水彩颜料", "Watercolor Set"), ("彩色铅笔", "Colored Pencils"))),
    )),
)

_TOPS = [t[0] for t in _TREE]

# Brands (English, Chinese) per top-level category, typical of a daigou shop: invented names.
_BRANDS: dict[str, tuple[tuple[str, str], ...]] = {
    "audio": (("Soundrive", "声驰"), ("Aurelo", "奥瑞"), ("Kotone", "琴音"), ("Lumix Pro", "光影"), ("Bassline", "贝斯")),
    "phone": (("Voltera", "伏特"), ("Ankora", "安科"), ("Chargo", "快充宝"), ("Shieldy", "盾护"), ("Magnet", "磁力")),
    "beauty": (("Aquamist", "水雾"), ("Shiseira", "诗瑟"), ("Hadalabo", "肌研"), ("Sulwha", "雪花"), ("Rosenne", "玫妍")),
    "baby": (("Meiji Kids", "明治宝贝"), ("Merisa", "美丽莎"), ("Pigeonne", "贝亲"), ("Kidsy", "童趣"), ("Tomika", "多美")),
    "health": (("Swisse Life", "斯维诗"), ("Nature Way", "佳思敏"), ("Blackmore", "澳佳宝"), ("Ito Tea", "伊藤"), ("Glico", "格力高")),
    "kitchen": (("Zojiro", "象印"), ("Tigera", "虎牌"), ("Iwaki", "怡万家"), ("Kaiju", "贝印"), ("Lekue", "乐扣")),
    "fashion": (("Anello", "阿耐洛"), ("Samsonite Go", "新秀"), ("Onitsuka", "鬼冢"), ("Seikon", "精工"), ("Porter", "波特")),
    "outdoor": (("Snowpeak", "雪峰"), ("Coleman", "科勒曼"), ("Thermo", "膳魔师"), ("Giantry", "捷安"), ("Yogaflow", "瑜流")),
    "pets": (("Purina One", "普瑞纳"), ("Orijen", "渴望"), ("Unicharm", "尤妮佳"), ("Petkit", "小佩"), ("Kitcat", "凯凯")),
    "stationery": (("Pilot", "百乐"), ("Zebra", "斑马"), ("Kokuyo", "国誉"), ("Muji Style", "无印"), ("Sakura", "樱花")),
}
_SERIES = ("X", "Pro", "Air", "Lite", "Max", "Mini", "Nova", "Luna", "Sora", "Kumo", "Hana", "Zen")
_COLOURS = (("黑色", "BLK"), ("白色", "WHT"), ("樱花粉", "PNK"), ("雾蓝", "BLU"), ("墨绿", "GRN"), ("银灰", "GRY"))
_SIZES = (("S", "S"), ("M", "M"), ("L", "L"), ("XL", "XL"))
_CAPACITIES = (("50ml", "50ML"), ("100ml", "100ML"), ("200ml", "200ML"), ("500ml", "500ML"))
_TAGS = ("新品", "热卖", "包邮", "日本直邮", "韩国直邮", "美国直邮", "正品保证", "限时特价", "礼盒装", "爆款",
         "轻薄", "便携", "无线", "降噪", "保湿", "敏感肌", "有机", "无添加", "大容量", "静音")
_ORIGINS = ("日本", "韩国", "美国", "德国", "澳大利亚", "新西兰", "法国", "瑞士")
_FEATURES = (
    "采用{en}专利技术，性能稳定，日常使用更省心",
    "轻巧机身，单手即可握持，出行随身携带无负担",
    "通过{origin}官方质量认证，正品直邮，支持验货",
    "精选原材料，经过多道工序检测，安心可靠",
    "续航持久，一次充满可连续使用一整天",
    "人体工学设计，长时间使用依然舒适",
    "多种颜色可选，满足不同风格搭配",
    "Designed in {origin_en}, built for everyday use",
    "{brand_en} signature quality with a two-year warranty",
    "简约外观，细节做工精致，送礼自用两相宜",
    "低噪音运行，夜间使用也不打扰家人",
    "环保包装，可回收材料，减少浪费",
)
_SENTENCES = (
    "这款{noun}是{brand}今年的主打型号，在{origin}本土销量长期位居前列。",
    "我们直接从{origin}品牌授权渠道采购，每一件都可以追溯批次。",
    "很多顾客回购，评价集中在做工扎实和细节用心两个方面。",
    "与上一代相比，{model}在材质和手感上都有明显提升。",
    "适合家庭日常使用，也适合作为节日礼物送给亲友。",
    "如果您第一次购买{brand}的产品，推荐从这一款开始体验。",
    "The {model} is one of the best-selling {noun_en} in {origin_en} this year.",
    "商品由海外仓发货，正常情况下7至15个工作日送达。",
    "收到商品后请先检查外包装是否完好，如有破损请拍照联系客服。",
    "本店所有商品均为正品，假一赔十，请放心选购。",
)
_USAGE = (
    "首次使用前请仔细阅读说明书，并按照说明进行操作。",
    "请存放于阴凉干燥处，避免阳光直射和高温环境。",
    "如有任何疑问，请联系客服 service@umegou.com，我们会在24小时内回复。",
    "儿童使用时需在成人监护下进行。",
    "清洁时请使用柔软的干布擦拭，不要直接用水冲洗。",
)
_ORIGIN_EN = {"日本": "Japan", "韩国": "Korea", "美国": "the USA", "德国": "Germany", "澳大利亚": "Australia",
              "新西兰": "New Zealand", "法国": "France", "瑞士": "Switzerland"}


def _q(text: str) -> str:
    """A YAML double-quoted scalar; JSON strings are valid YAML and are fast to make."""
    return json.dumps(text, ensure_ascii=False)


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _categories(n: int) -> list[dict[str, Any]]:
    """``n`` categories: the top levels first, then leaves round-robin; numbered extras beyond the table."""
    tops = [{"slug": slug, "title": title, "parent": None, "order": i + 1, "nouns": (), "top": slug}
            for i, (slug, title, _en, _leaves) in enumerate(_TREE)]
    leaves: list[dict[str, Any]] = []
    width = max(len(t[3]) for t in _TREE)
    for j in range(width):
        for top_slug, _title, _en, children in _TREE:
            if j < len(children):
                leaf, title, nouns = children[j]
                leaves.append({"slug": f"{top_slug}-{leaf}", "title": title, "parent": top_slug,
                               "order": j + 1, "nouns": nouns, "top": top_slug})
    cats = (tops + leaves)[:n]
    k = 0
    while len(cats) < n:  # beyond the table: numbered copies of leaves, still under real parents
        base = leaves[k % len(leaves)]
        extra = dict(base, slug=f"{base['slug']}-{k // len(leaves) + 2}",
                     title=f"{base['title']}{k // len(leaves) + 2}", order=100 + k)
        cats.append(extra)
        k += 1
    present = {c["slug"] for c in cats}
    for c in cats:
        if c["parent"] not in present:
            c["parent"] = None
    return cats


def _leaves(cats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    parents = {c["parent"] for c in cats if c["parent"]}
    out = [c for c in cats if c["slug"] not in parents]
    for c in out:
        if not c["nouns"]:  # a top level without children sells the first nouns of its first leaf
            tree = next(t for t in _TREE if t[0] == c["top"])
            c["nouns"] = tree[3][0][2]
    return out


def _price(rng: random.Random, low: int, high: int) -> Decimal:
    yuan = rng.randint(low, high)
    cents = rng.choice(("00", "00", "90", "99", "50"))
    return Decimal(f"{yuan}.{cents}")


def _body(rng: random.Random, ctx: dict[str, str]) -> str:
    target = rng.randint(300, 800)
    intro = [rng.choice(_SENTENCES).format(**ctx) for _ in range(2)]
    features = rng.sample(_FEATURES, 4)
    parts = [
        "".join(intro), "",
        "## 产品特点", "",
        *(f"- {f.format(**ctx)}" for f in features), "",
        "## 规格参数", "",
        "| 项目 | 参数 |", "| --- | --- |",
        f"| 品牌 | {ctx['brand']} {ctx['brand_en']} |",
        f"| 型号 | {ctx['model']} |",
        f"| 产地 | {ctx['origin']} |",
        f"| 重量 | {rng.randint(20, 2500)} g |",
        f"| 保修 | {rng.choice(('一年', '两年', '六个月', '不适用'))} |", "",
        "## 使用说明", "",
    ]
    text = "\n".join(parts) + "\n"
    usage: list[str] = []
    pool = list(_USAGE) + list(_SENTENCES)
    while len(text) + sum(len(u) for u in usage) < target:
        sentence = rng.choice(pool).format(**ctx)
        usage.append(sentence + " " if sentence.isascii() else sentence)
    return text + "".join(usage or [_USAGE[0]]).rstrip() + "\n"


def _product(i: int, rng: random.Random, leaf: dict[str, Any], media: list[str]) -> tuple[str, dict[str, Any]]:
    """One product file's text and its metadata."""
    brand_en, brand_zh = rng.choice(_BRANDS[leaf["top"]])
    noun_zh, noun_en = rng.choice(leaf["nouns"])
    series = rng.choice(_SERIES)
    model = f"{series}{rng.randint(1, 99)}" if series == "X" else f"{series} {rng.randint(1, 9)}"
    style = rng.random()
    if style < 0.5:
        title = f"{brand_en} {brand_zh} {noun_zh} {model}"
    elif style < 0.8:
        title = f"{brand_zh}{noun_zh} {model}"
    elif style < 0.9:
        title = f"{brand_en} {noun_en} {model}"
    else:
        title = f"【{rng.choice(_ORIGINS)}直邮】{brand_zh} {noun_zh} {model} {brand_en}"
    sku = f"UM-{100001 + i}"
    slug = f"{_slugify(brand_en)}-{_slugify(noun_en)}-{_slugify(model)}-{i + 1}"
    price = _price(rng, 9, 2999)
    lines = ["---", f"sku: {sku}", f"title: {_q(title)}", f'price: "{price}"', f"category: {leaf['slug']}",
             f"slug: {slug}"]
    variant_lines: list[str] = []
    variant_skus: list[str] = []
    top_price = price
    if rng.random() < 0.2:
        kind = rng.choice(("颜色", "尺码", "容量"))
        pool = {"颜色": _COLOURS, "尺码": _SIZES, "容量": _CAPACITIES}[kind]
        chosen = rng.sample(pool, rng.randint(2, 4))
        variant_lines.append("variants:")
        for k, (label, code) in enumerate(chosen):
            vprice = price + Decimal(10 * k) if kind != "颜色" else price
            top_price = max(top_price, vprice)
            vsku = f"{sku}-{code}"
            variant_skus.append(vsku)
            variant_lines.append(f'  - {{sku: {vsku}, options: {{{kind}: {label}}}, price: "{vprice}", '
                                 f"stock: {rng.choice((0, 5, 20, 60, 120))}}}")
    compare_at = None
    if rng.random() < 0.25:
        # Above every variant's price too: variants inherit the product's compare_at_price.
        compare_at = (top_price * Decimal(rng.choice(("1.2", "1.3", "1.5")))).quantize(Decimal("1"))
        lines.append(f'compare_at_price: "{compare_at:.2f}"')
    tags = rng.sample(_TAGS, rng.randint(2, 4))
    lines.append("tags: [" + ", ".join(tags) + "]")
    if media and rng.random() < 0.5:
        lines.append(f"images: [{media[_TOPS.index(leaf['top']) % len(media)]}]")
    if variant_lines:
        lines += variant_lines
    else:
        roll = rng.random()
        if roll < 0.1:
            lines.append("stock: 0")
        elif roll < 0.9:
            lines.append(f"stock: {rng.randint(1, 500)}")
        # else: stock not tracked
    origin = rng.choice(_ORIGINS)
    lines.append(f"extra: {{brand: {_q(brand_en)}, brand_zh: {_q(brand_zh)}, series: {_q(series)}, "
                 f"origin: {_q(origin)}}}")
    lines.append("---")
    ctx = {"brand": brand_zh, "brand_en": brand_en, "noun": noun_zh, "noun_en": noun_en, "model": model,
           "origin": origin, "origin_en": _ORIGIN_EN[origin], "en": brand_en}
    text = "\n".join(lines) + "\n" + _body(rng, ctx)
    meta = {"index": i, "path": f"products/{leaf['slug']}/{slug}.md", "sku": sku, "skus": [sku] + variant_skus,
            "slug": slug, "url": f"/products/{slug}/", "title": title, "brand": brand_en, "brand_zh": brand_zh,
            "series": series, "model": model, "noun_zh": noun_zh, "noun_en": noun_en,
            "category": leaf["slug"], "category_title": leaf["title"], "top_category": leaf["top"],
            "tags": tags, "price": f"{price}", "compare_at_price": None if compare_at is None else f"{compare_at:.2f}"}
    return text, meta


_SITE_TOML = """\
[site]
name = "umegou"
base_url = "https://www.umegou.com"
language = "zh-CN"
currency = "CNY"
timezone = "Asia/Shanghai"
api_url = "/api"

[contact]
service = "service@umegou.com"
complaints = "tousu@umegou.com"
cooperation = "cooperation@umegou.com"
wechat = "umegou"
reply_within_hours = 24

[payments]
methods = ["paypal", "wechat", "alipay", "bank_transfer"]
"""

_HELP = (
    ("shopping", "购物指南", (
        ("how-to-order", "如何下单", ["下单", "购物车"]),
        ("search-tips", "搜索技巧", ["搜索"]),
        ("shipping", "配送时效", ["物流", "配送"]),
    )),
    ("payment", "支付方式", (
        ("paypal", "PayPal 支付", ["PayPal", "信用卡"]),
        ("wechat-alipay", "微信支付与支付宝", ["微信支付", "支付宝"]),
        ("bank-transfer", "银行电汇", ["电汇"]),
    )),
    ("after-sales", "售后服务", (
        ("returns", "退换货政策", ["退货", "换货"]),
        ("refunds", "退款说明", ["退款"]),
        ("coupons", "优惠券与余额", ["优惠券", "余额"]),
    )),
)

_POLICIES = (
    ("2023-06-01", "umegou用户隐私政策", False, "首次发布"),
    ("2024-09-01", "umegou用户隐私政策", False, "明确微信支付与支付宝的数据共享范围；补充数据导出与删除权利"),
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def _svg(label: str, hue: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 120" width="120" height="120">'
            f'<rect width="120" height="120" fill="hsl({hue},60%,88%)"/>'
            f'<text x="60" y="66" font-size="16" text-anchor="middle" fill="#333">{label}</text></svg>\n')


def generate_store(root: Path, n_products: int, seed: int = 1, n_categories: int = 50,
                   *, overwrite: bool = False) -> dict[str, Any]:
    """Write ``root/content/`` with ``n_products`` products and return metadata about it.

    The metadata (JSON-serialisable) has ``content_dir``, ``seed``, ``categories`` (slug, title,
    parent), ``products`` (index, path relative to content/, sku, skus incl. variants, slug, url,
    title, brand, brand_zh, series, model, category, tags, price ...), ``help``, ``pages`` and
    ``policies``. Same arguments, same bytes.
    """
    if n_products < 0 or n_categories < 1:
        raise ValueError("n_products must be >= 0 and n_categories >= 1. Fix: e.g. --products 1000")
    root = Path(root)
    content = root / "content"
    if content.exists() and any(content.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{content} is not empty. Fix: choose another directory or pass "
                                  "overwrite=True (--force) to replace it")
        shutil.rmtree(content)
    rng = random.Random(seed)
    _write(content / "site.toml", _SITE_TOML)

    cats = _categories(n_categories)
    for c in cats:
        lines = ["---", f"title: {_q(c['title'])}", f"order: {c['order']}"]
        if c["parent"]:
            lines.append(f"parent: {c['parent']}")
        lines += [f"description: {_q(c['title'] + '：海外正品直邮，品类齐全')}", "---",
                  f"精选{c['title']}商品，均由海外授权渠道直接采购。", ""]
        _write(content / "categories" / f"{c['slug']}.md", "\n".join(lines))

    media = []
    for k, top in enumerate(_TOPS):
        name = f"{top}.svg"
        _write(content / "media" / name, _svg(top, k * 36))
        media.append(name)

    leaves = _leaves(cats)
    products = []
    for i in range(n_products):
        # Uneven but deterministic spread: some categories are much bigger than others.
        leaf = leaves[min(int(rng.paretovariate(1.2)) - 1, len(leaves) - 1) if rng.random() < 0.3
                      else rng.randrange(len(leaves))]
        text, meta = _product(i, rng, leaf, media)
        _write(content / meta["path"], text)
        products.append(meta)

    help_meta = []
    for order, (section, title, articles) in enumerate(_HELP, start=1):
        _write(content / "help" / section / "_section.md",
               f"---\ntitle: {_q(title)}\norder: {order}\n---\n{title}相关的常见问题。\n")
        for a_order, (slug, a_title, tags) in enumerate(articles, start=1):
            body = (f"## {a_title}\n\n{a_title}的详细说明。如有疑问请联系 service@umegou.com，"
                    "客服会在24小时内回复。\n\n- 第一步：登录账户\n- 第二步：查看订单\n- 第三步：联系客服\n")
            _write(content / "help" / section / f"{slug}.md",
                   f"---\ntitle: {_q(a_title)}\norder: {a_order}\ntags: [{', '.join(tags)}]\n---\n{body}")
            help_meta.append({"section": section, "slug": slug, "title": a_title, "url": f"/help/{section}/{slug}/"})

    pages = {"about": ("关于我们", "umegou 是一家跨境电商，为中国顾客提供日本、韩国、美国等地的正品商品。\n"),
             "contact": ("联系我们", "- 客服：service@umegou.com\n- 投诉：tousu@umegou.com\n"
                                     "- 合作：cooperation@umegou.com\n- 微信：umegou\n\n客服会在24小时内回复。\n")}
    for slug, (title, body) in pages.items():
        _write(content / "pages" / f"{slug}.md", f"---\ntitle: {_q(title)}\n---\n{body}")

    base = ("## 一、我们如何收集和使用您的个人信息\n\n我们仅收集提供服务所必需的信息：昵称、电子邮箱、收货地址。\n\n"
            "## 二、我们如何共享您的个人信息\n\n仅在完成支付和配送时与支付机构及物流公司共享必要信息。\n\n"
            "## 三、如何联系我们\n\n请发送邮件至 service@umegou.com，我们会在24小时内回复。\n")
    for k, (vid, title, major, summary) in enumerate(_POLICIES):
        body = base if k == 0 else base.replace("支付机构", "支付机构（PayPal、微信支付、支付宝）") + \
            "\n## 四、您的权利\n\n您可以随时导出或删除您的账户数据。\n"
        _write(content / "privacy" / f"{vid}.md",
               f"---\ntitle: {_q(title)}\neffective: {vid}\nmajor: {'true' if major else 'false'}\n"
               f"summary: {_q(summary)}\n---\n{body}")

    return {
        "content_dir": str(content), "seed": seed, "n_products": n_products,
        "categories": [{"slug": c["slug"], "title": c["title"], "parent": c["parent"],
                        "leaf": c in leaves} for c in cats],
        "products": products, "help": help_meta,
        "pages": [{"slug": s, "title": t, "url": f"/{s}/"} for s, (t, _b) in pages.items()],
        "policies": [{"id": v, "effective": v, "major": m, "summary": s} for v, _t, m, s in _POLICIES],
    }


_PRICE_LINE = re.compile(r'^price: "(\d+)\.(\d{2})"$', re.M)
_TITLE_LINE = re.compile(r"^title: (.*)$", re.M)
_EDIT_MARK = " 新款"


def product_files(root: Path) -> list[Path]:
    """The product files of a generated store, in sorted path order."""
    return sorted((Path(root) / "content" / "products").rglob("*.md"))


def edit_one_product(root: Path, index: int = 0) -> dict[str, Any]:
    """Change the price and title of the ``index``-th product file (sorted path order) in place.

    Alternates between two states so that repeated edits never drift: the first call marks the
    title with " 新款" and lowers the price by 1.00, the next call undoes that. Returns the path
    and the old and new title and price.
    """
    files = product_files(root)
    if not files:
        raise FileNotFoundError(f"no product files under {Path(root) / 'content' / 'products'}. "
                                "Fix: run generate_store(root, n) first")
    path = files[index % len(files)]
    text = path.read_text(encoding="utf-8")
    fm_end = text.index("\n---\n", 4)
    head, rest = text[:fm_end], text[fm_end:]
    m_title = _TITLE_LINE.search(head)
    m_price = _PRICE_LINE.search(head)
    if not m_title or not m_price:
        raise ValueError(f"{path}: no 'title:' or 'price: \"N.NN\"' line to edit. Fix: edit a generated file")
    old_title = json.loads(m_title.group(1))
    old_minor = int(m_price.group(1)) * 100 + int(m_price.group(2))
    if old_title.endswith(_EDIT_MARK):
        new_title, new_minor = old_title[: -len(_EDIT_MARK)], old_minor + 100
    else:
        new_title, new_minor = old_title + _EDIT_MARK, old_minor - 100
    new_price = f"{new_minor // 100}.{new_minor % 100:02d}"
    head = head[:m_title.start()] + f"title: {_q(new_title)}" + head[m_title.end():]
    m_price = _PRICE_LINE.search(head)
    assert m_price is not None
    head = head[:m_price.start()] + f'price: "{new_price}"' + head[m_price.end():]
    path.write_bytes((head + rest).encode("utf-8"))
    return {"path": str(path), "old_title": old_title, "new_title": new_title,
            "old_price": f"{old_minor // 100}.{old_minor % 100:02d}", "new_price": new_price}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic umegou-like store to OUT_DIR/content/.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--categories", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--force", action="store_true", help="replace OUT_DIR/content if it exists")
    parser.add_argument("--metadata", type=Path, help="also write the metadata as JSON to this file")
    args = parser.parse_args(argv)
    try:
        meta = generate_store(args.out_dir, args.products, args.seed, args.categories, overwrite=args.force)
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.metadata:
        args.metadata.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {meta['content_dir']}: {len(meta['products'])} products, {len(meta['categories'])} categories "
          f"(seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
