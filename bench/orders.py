"""Orders benchmark: place-order and payment-notification throughput and latency of the checkout
service behind gunicorn (2 workers), on SQLite and PostgreSQL, driven over loopback by a Node load
generator (keep-alive, N concurrent requests); and the same for a bare Bottle+peewee endpoint doing
one INSERT, as the floor. Also checks zero oversell: a hot SKU with little stock, hammered.

    .venv/bin/python bench/orders.py [--db sqlite,postgresql] [--orders 2000] [--concurrency 16]
                                     [--workers 2] [--threads 4] [--out bench/out/orders.json]

PostgreSQL: set STOREFRONT_TEST_DATABASE_URL (``source .ci/postgres.sh``); its public schema is
dropped and recreated. Target (issue 5): >= 300 orders/s on PostgreSQL with p99 < 100 ms, zero
oversell. Not run by CI; the tests never time anything.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LOADGEN = r"""
const http = require('http');
const fs = require('fs');
const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const agent = new http.Agent({ keepAlive: true, maxSockets: spec.concurrency });
const lat = []; const codes = {}; let next = 0; let done = 0;
const t0 = process.hrtime.bigint();
function one() {
  if (next >= spec.requests.length) return;
  const r = spec.requests[next++];
  const body = Buffer.from(r.body, r.base64 ? 'base64' : 'utf8');
  const start = process.hrtime.bigint();
  const req = http.request(spec.url + r.path, { method: 'POST', agent,
    headers: Object.assign({ 'Content-Length': body.length }, r.headers) }, (res) => {
    res.resume();
    res.on('end', () => {
      lat.push(Number(process.hrtime.bigint() - start) / 1e6);
      codes[res.statusCode] = (codes[res.statusCode] || 0) + 1;
      if (++done === spec.requests.length) finish(); else one();
    });
  });
  req.on('error', (e) => { codes.error = (codes.error || 0) + 1; if (++done === spec.requests.length) finish(); else one(); });
  req.end(body);
}
function finish() {
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  console.log(JSON.stringify({ requests: done, seconds: secs, per_second: done / secs, codes,
    p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99), max_ms: lat[lat.length - 1] }));
  process.exit(0);
}
for (let i = 0; i < spec.concurrency; i++) one();
"""

FLOOR_APP = '''
"""Bare Bottle + peewee: one INSERT per request (the floor the checkout is compared with)."""
import os
import bottle
import peewee as pw
from playhouse.db_url import connect

url = os.environ["DATABASE_URL"]
db = connect(url, pragmas={"journal_mode": "wal", "busy_timeout": 5000, "synchronous": "normal"}) \
    if url.startswith("sqlite") else connect(url)


class Hit(pw.Model):
    body = pw.TextField()
    at = pw.FloatField()

    class Meta:
        database = db
        table_name = "bench_floor_hit"


app = bottle.Bottle()
app.add_hook("before_request", lambda: db.connect(reuse_if_open=True))
app.add_hook("after_request", lambda: db.close())


@app.post("/insert")
def insert():
    import time
    with db.atomic():
        Hit.create(body=bottle.request.body.read().decode(), at=time.time())
    bottle.response.content_type = "application/json"
    return '{"ok": true}'
'''

ADDRESS = {"name": "张三", "phone": "13800000000", "country": "CN", "province": "上海", "city": "上海市",
           "line1": "浦东新区世纪大道 100 号", "line2": "2 号楼 501 室", "postal_code": "200120"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("+pool", ""), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def wait_up(url: str, timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            if time.monotonic() > deadline:
                raise RuntimeError(f"server at {url} did not come up")
            time.sleep(0.2)


def gunicorn(app: str, env: dict, port: int, args) -> subprocess.Popen:
    cmd = [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", str(args.workers), "-k", "gthread", "--threads",
           str(args.threads), "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--backlog", "512", app]
    return subprocess.Popen(cmd, env=env, cwd=env.get("BENCH_CWD", str(ROOT)))


def load(url: str, requests: list[dict], concurrency: int, work: Path) -> dict:
    spec = work / f"spec-{secrets.token_hex(4)}.json"
    spec.write_text(json.dumps({"url": url, "concurrency": concurrency, "requests": requests}))
    script = work / "loadgen.js"
    script.write_text(LOADGEN)
    out = subprocess.run(["node", str(script), str(spec)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def catalog(n_skus: int, hot_stock: int) -> dict:
    products = [{"sku": f"B-{i:05d}", "slug": f"p{i}", "url": f"/products/p{i}/", "title": f"商品 {i}",
                 "category": "c", "price_minor": 1000 + i, "currency": "CNY", "compare_at_minor": None,
                 "stock": 1_000_000, "variants": []} for i in range(n_skus)]
    products.append({"sku": "HOT-1", "slug": "hot", "url": "/products/hot/", "title": "限量", "category": "c",
                     "price_minor": 9900, "currency": "CNY", "compare_at_minor": None, "stock": hot_stock,
                     "variants": []})
    return {"schema": 1, "version": "bench-1", "currency": "CNY", "products": products}


def run_db(kind: str, url: str, args, work: Path) -> dict:
    from checkout import migrations
    from checkout.config import Config
    from checkout.crypto import email_index, new_token, token_digest
    from checkout.db import open_database
    from checkout.models import Account, Order, OrderLine, StockLevel
    from checkout.payments.sandbox import load_or_create_sandbox_keys

    if kind == "postgresql":
        reset_postgres(url)
    root = work / kind
    site, data = root / "site", root / "var"
    site.mkdir(parents=True)
    (site / "catalog.json").write_text(json.dumps(catalog(1000, args.hot_stock)), encoding="utf-8")
    (site / "policies.json").write_text(json.dumps({"schema": 1, "timezone": "Asia/Shanghai", "in_force": "2024-03-01",
                                                    "upcoming": None, "versions": [
        {"id": "2024-03-01", "title": "p", "effective": "2024-03-01", "major": False, "summary": "",
         "sha256": "a" * 64, "url": "/privacy/2024-03-01/"}]}), encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CHECKOUT_DATA_DIR": str(data), "CHECKOUT_SITE_DIR": str(site),
           "CHECKOUT_INDEX_DIR": str(root / "index"), "DATABASE_URL": url, "CHECKOUT_SITE_ORIGIN": base,
           "CHECKOUT_PUBLIC_URL": base, "CHECKOUT_EXPIRY_INTERVAL": "0", "CHECKOUT_MAIL_URL": f"file://{data / 'mail'}",
           "CHECKOUT_ARGON2_TIME_COST": "1", "CHECKOUT_ARGON2_MEMORY_COST": "8", "CHECKOUT_ARGON2_PARALLELISM": "1",
           "PYTHONPATH": str(ROOT)}
    config = Config.from_env(env)  # creates the dev secrets once, before the workers race for them
    keys = load_or_create_sandbox_keys(data / "payments-sandbox")
    db = open_database(url)
    db.connect()
    migrations.migrate(db)
    from checkout.accounts import Context
    ctx = Context.from_config(config)
    now = config.clock()
    tokens = []
    with db.atomic():
        for i in range(args.buyers):
            email = f"bench{i}@example.com"
            account = Account.create(email_index=email_index(config.email_index_key, email),
                                     email_enc=ctx.cipher.encrypt(email, "account.email"), nickname=f"b{i}",
                                     password_hash="x", status="active", created_at=now, activated_at=now)
            token = new_token()
            from checkout.models import Session
            Session.create(token_hash=token_digest(token), account=account, created_at=now, last_seen_at=now,
                           expires_at=now + timedelta(days=1))
            tokens.append(token)
    db.close()

    result: dict = {"database": kind}
    server = gunicorn("checkout:create_app()", env, port, args)
    try:
        wait_up(base + "/api/health")
        warm = [order_request(base, tokens[i % len(tokens)], f"B-{i % 1000:05d}") for i in range(100)]
        load(base, warm, args.concurrency, work)
        requests = [order_request(base, tokens[i % len(tokens)], f"B-{secrets.randbelow(1000):05d}")
                    for i in range(args.orders)]
        result["place_order"] = load(base, requests, args.concurrency, work)
        hot = [order_request(base, tokens[i % len(tokens)], "HOT-1") for i in range(args.hot_orders)]
        result["hot_sku"] = load(base, hot, args.concurrency, work)
        db.connect()
        sold = sum(l.qty for l in OrderLine.select().where(OrderLine.sku == "HOT-1"))
        on_hand = StockLevel.get_by_id("HOT-1").on_hand
        mismatched = 0
        for level in StockLevel.select().where(StockLevel.sku != "HOT-1"):
            taken = sum(l.qty for l in OrderLine.select().where(OrderLine.sku == level.sku))
            mismatched += (level.seeded - level.on_hand) != taken
        result["oversell"] = {"hot_stock": args.hot_stock, "hot_sold": sold, "hot_on_hand": on_hand,
                              "ok_201": result["hot_sku"]["codes"].get("201", 0),
                              "skus_with_mismatch": mismatched,
                              "zero_oversell": sold == args.hot_stock and on_hand == 0 and mismatched == 0}
        numbers = [(o.number, o.total_minor) for o in Order.select().where(Order.status == "pending_payment")
                   .limit(args.notifications)]
        db.close()
        notes = [wechat_notification(keys, number, total) for number, total in numbers]
        result["notification"] = load(base, notes, args.concurrency, work)
        db.connect()
        result["notification"]["orders_paid"] = Order.select().where(Order.status == "paid").count()
        db.close()
    finally:
        server.terminate()
        server.wait(15)

    floor_dir = root / "floor"
    floor_dir.mkdir()
    (floor_dir / "bench_floor.py").write_text(FLOOR_APP)
    if kind == "postgresql":
        reset_postgres(url)
    from playhouse.db_url import connect
    floor_url = url if kind == "postgresql" else f"sqlite:///{root / 'floor.db'}"
    fdb = connect(floor_url)
    fdb.execute_sql("CREATE TABLE bench_floor_hit (id SERIAL PRIMARY KEY, body TEXT NOT NULL, at DOUBLE PRECISION)"
                    if kind == "postgresql" else
                    "CREATE TABLE bench_floor_hit (id INTEGER PRIMARY KEY, body TEXT NOT NULL, at REAL)")
    if kind == "sqlite":
        fdb.execute_sql("PRAGMA journal_mode=wal")
    fdb.close()
    fport = free_port()
    fenv = {**env, "DATABASE_URL": floor_url, "PYTHONPATH": f"{floor_dir}:{ROOT}", "BENCH_CWD": str(floor_dir)}
    server = gunicorn("bench_floor:app", fenv, fport, args)
    try:
        fbase = f"http://127.0.0.1:{fport}"
        time.sleep(1.5)
        body = [{"path": "/insert", "headers": {"Content-Type": "application/json"}, "body": '{"x": 1}'}]
        load(fbase, body * 100, args.concurrency, work)
        result["floor_insert"] = load(fbase, body * args.orders, args.concurrency, work)
    finally:
        server.terminate()
        server.wait(15)
    return result


def order_request(base: str, token: str, sku: str) -> dict:
    return {"path": "/api/orders", "headers": {"Content-Type": "application/json", "Origin": base,
                                               "Cookie": f"sf_session={token}"},
            "body": json.dumps({"lines": [{"sku": sku, "qty": 1}], "shipping_address": ADDRESS}, ensure_ascii=False)}


def wechat_notification(keys, number: str, total: int) -> dict:
    """A TRANSACTION.SUCCESS notification exactly as WeChat Pay (the sandbox) signs and encrypts it."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from checkout.payments.common import load_private_key, rsa_sign
    from checkout.payments.sandbox import WECHAT_APPID, WECHAT_MCHID, WECHAT_PLATFORM_SERIAL

    plain = {"appid": WECHAT_APPID, "mchid": WECHAT_MCHID, "out_trade_no": number,
             "transaction_id": "4200" + str(secrets.randbelow(10 ** 24)).zfill(24), "trade_state": "SUCCESS",
             "amount": {"total": total, "currency": "CNY", "payer_total": total}, "success_time": "2026-11-25T20:00:00+08:00"}
    nonce = secrets.token_hex(6)
    cipher = AESGCM(keys.wechat_apiv3_key.encode()).encrypt(nonce.encode(), json.dumps(plain).encode(), b"transaction")
    body = json.dumps({"id": secrets.token_hex(16), "event_type": "TRANSACTION.SUCCESS", "resource_type": "encrypt-resource",
                       "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(cipher).decode(),
                                    "associated_data": "transaction", "nonce": nonce, "original_type": "transaction"}})
    ts, hnonce = str(int(time.time())), secrets.token_hex(8)
    signature = rsa_sign(load_private_key(keys.wechat_platform), f"{ts}\n{hnonce}\n{body}\n".encode())
    return {"path": "/pay/wechat/notify", "body": body,
            "headers": {"Content-Type": "application/json", "Wechatpay-Timestamp": ts, "Wechatpay-Nonce": hnonce,
                        "Wechatpay-Signature": signature, "Wechatpay-Serial": WECHAT_PLATFORM_SERIAL}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--hot-orders", type=int, default=600)
    parser.add_argument("--hot-stock", type=int, default=150)
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--buyers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--no-pool", action="store_true",
                        help="PostgreSQL: a new connection per request instead of postgresql+pool://")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "orders.json"))
    args = parser.parse_args(argv)
    results = []
    work = Path(tempfile.mkdtemp(prefix="bench-orders-"))
    try:
        for kind in [k.strip() for k in args.db.split(",") if k.strip()]:
            if kind == "postgresql":
                url = os.environ.get("STOREFRONT_TEST_DATABASE_URL")
                if not url:
                    print("postgresql: skipped (set STOREFRONT_TEST_DATABASE_URL; source .ci/postgres.sh)")
                    continue
            else:
                url = f"sqlite:///{work / 'sqlite.db'}"
            if kind == "postgresql" and not args.no_pool:
                url = url.replace("postgresql://", "postgresql+pool://", 1).replace("postgres://", "postgres+pool://", 1)
            result = run_db(kind, url, args, work)
            results.append(result)
            for name in ("place_order", "hot_sku", "notification", "floor_insert"):
                r = result[name]
                print(f"{kind:10s} {name:13s} {r['per_second']:7.1f}/s  p50 {r['p50_ms']:6.1f} ms  "
                      f"p99 {r['p99_ms']:6.1f} ms  codes {r['codes']}")
            print(f"{kind:10s} oversell      {result['oversell']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
