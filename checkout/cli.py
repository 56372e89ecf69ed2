"""Command line: ``python -m checkout serve | migrate | admin <command>``.

Operator errors print one line (``error: ... Fix: ...``) and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from . import accounts, mail, migrations
from .accounts import Context
from .config import Config, new_key_material
from .db import open_database
from .errors import CheckoutError

log = logging.getLogger("checkout")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args) or 0
    except CheckoutError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m checkout", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API with a background mail sender (development)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8001)
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply pending database migrations").set_defaults(func=cmd_migrate)

    admin = sub.add_parser("admin", help="operator commands").add_subparsers(dest="admin", required=True)
    admin.add_parser("new-keys", help="print fresh CHECKOUT_DATA_KEYS / CHECKOUT_EMAIL_INDEX_KEY"
                     ).set_defaults(func=cmd_new_keys)
    admin.add_parser("rotate-keys", help="re-encrypt personal data under the newest key"
                     ).set_defaults(func=cmd_rotate_keys)
    admin.add_parser("purge", help="delete minors' accounts never consented to, expired sessions"
                     ).set_defaults(func=cmd_purge)
    admin.add_parser("notify-policy", help="mail every account about the upcoming policy, once"
                     ).set_defaults(func=cmd_notify_policy)
    admin.add_parser("send-mail", help="send due mail from the outbox").set_defaults(func=cmd_send_mail)
    export = admin.add_parser("export-user", help="print everything stored about one shopper (JSON)")
    export.add_argument("email")
    export.set_defaults(func=cmd_export_user)
    delete = admin.add_parser("delete-user", help="erase one shopper's personal data")
    delete.add_argument("email")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=cmd_delete_user)
    add_order_commands(admin)
    return parser


def _open(config: Config, *, require_current: bool = True):
    db = open_database(config.database_url)
    db.connect(reuse_if_open=True)
    if require_current:
        migrations.ensure_current(db, apply=not config.production)
    return db


def cmd_serve(args) -> int:
    from .app import create_app  # late: `admin` commands need no web stack

    config = Config.from_env()
    app = create_app(config)
    stop = threading.Event()
    if config.mail_sender_interval > 0:
        threading.Thread(target=_mail_loop, args=(config, stop), daemon=True, name="mail-sender").start()

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Handler(WSGIRequestHandler):
        def log_message(self, fmt, *a):  # keep client addresses out of stderr noise
            log.info("%s", fmt % a)

    httpd = make_server(args.host, args.port, app, server_class=Server, handler_class=Handler)
    print(f"checkout API on http://{args.host}:{args.port}/api/ (Ctrl-C to stop)", file=sys.stderr)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        httpd.server_close()
    return 0


def _mail_loop(config: Config, stop: threading.Event) -> None:
    ctx = Context.from_config(config)
    transport = mail.transport_for(config)
    db = open_database(config.database_url)
    while not stop.wait(config.mail_sender_interval):
        try:
            with db.connection_context():
                mail.send_pending(config, ctx.cipher, transport, now=config.clock())
        except Exception:  # the sender must outlive a bad pass; the row keeps its error
            log.exception("mail sender pass failed")


def cmd_migrate(args) -> int:
    config = Config.from_env()
    db = _open(config, require_current=False)
    before = migrations.current_version(db)
    applied = migrations.migrate(db)
    print(f"schema version {before} -> {migrations.current_version(db)}"
          f"{' (applied ' + ', '.join(map(str, applied)) + ')' if applied else ' (up to date)'}")
    return 0


def cmd_new_keys(args) -> int:
    for name, value in new_key_material().items():
        print(f"{name}={value}")
    return 0


def cmd_rotate_keys(args) -> int:
    config = Config.from_env()
    _open(config)
    ctx = Context.from_config(config)
    print(f"re-encrypted {accounts.rotate_keys(ctx)} values under key {ctx.cipher.current.id}")
    return 0


def cmd_purge(args) -> int:
    config = Config.from_env()
    _open(config)
    print(json.dumps(accounts.purge(Context.from_config(config), now=config.clock())))
    return 0


def cmd_notify_policy(args) -> int:
    config = Config.from_env()
    _open(config)
    print(json.dumps(accounts.notify_policy(Context.from_config(config), now=config.clock())))
    return 0


def cmd_send_mail(args) -> int:
    config = Config.from_env()
    _open(config)
    ctx = Context.from_config(config)
    sent, failed = mail.send_pending(config, ctx.cipher, mail.transport_for(config), now=config.clock())
    print(f"sent {sent}, failed {failed}")
    return 1 if failed else 0


def _user(config: Config, ctx: Context, email: str):
    account = accounts.find_by_email(ctx, email)
    if account is None:
        raise CheckoutError(f"no account with email {email!r}. Fix: check the address (it is matched "
                            "case-insensitively).", code="not_found")
    return account


def cmd_export_user(args) -> int:
    config = Config.from_env()
    _open(config)
    ctx = Context.from_config(config)
    data = accounts.export_data(ctx, _user(config, ctx, args.email), config.clock())
    print(json.dumps(data, ensure_ascii=False, indent=2))
    return 0


def cmd_delete_user(args) -> int:
    config = Config.from_env()
    db = _open(config)
    ctx = Context.from_config(config)
    account = _user(config, ctx, args.email)
    if not args.yes and input(f"erase account {account.id} ({account.nickname})? [y/N] ").lower() != "y":
        print("not deleted")
        return 1
    with db.atomic():
        accounts.erase(account, config.clock())
    print(f"account {account.id} erased")
    return 0


# --- orders, stock, coupons, store credit (issue 5) ----------------------------------------------

def add_order_commands(admin) -> None:
    orders_cmd = admin.add_parser("orders", help="list or show orders").add_subparsers(dest="orders", required=True)
    listing = orders_cmd.add_parser("list", help="orders as a table, newest first")
    listing.add_argument("--status", help="e.g. paid, on_hold, awaiting_confirmation (comma list)")
    listing.add_argument("--email", help="only this shopper's orders")
    listing.add_argument("--method", help="paypal, alipay, wechat, bank_transfer")
    listing.add_argument("--since", help="placed on or after YYYY-MM-DD (UTC)")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=cmd_orders_list)
    show = orders_cmd.add_parser("show", help="one order: lines, address, payments, audit log")
    show.add_argument("number")
    show.set_defaults(func=cmd_orders_show)

    def order_cmd(name: str, help_text: str, func, *extra):
        cmd = admin.add_parser(name, help=help_text)
        cmd.add_argument("number")
        cmd.add_argument("--by", help="who does this (recorded in the audit log; default: your login)")
        for args, kwargs in extra:
            cmd.add_argument(*args, **kwargs)
        cmd.set_defaults(func=func)

    order_cmd("confirm-transfer", "confirm a bank transfer arrived (awaiting_confirmation -> paid)",
              cmd_confirm_transfer, (("--note",), {"default": ""}))
    order_cmd("ship", "mark a paid order shipped", cmd_ship, (("--tracking",), {"required": True}))
    order_cmd("complete", "mark a shipped order delivered", cmd_complete)
    order_cmd("cancel", "cancel an unpaid order (closes it at the provider, releases stock)", cmd_cancel,
              (("--reason",), {"default": "cancelled by customer service"}))
    order_cmd("refund", "refund a paid or held order in full through its provider", cmd_refund,
              (("--reason",), {"default": ""}), (("--yes",), {"action": "store_true"}))
    order_cmd("release-hold", "customer service checked a held order: make it paid", cmd_release_hold,
              (("--note",), {"default": ""}))
    stock_cmd = admin.add_parser("set-stock", help="set a tracked SKU's units on hand (a stock count)")
    stock_cmd.add_argument("sku")
    stock_cmd.add_argument("units", type=int)
    stock_cmd.set_defaults(func=cmd_set_stock)
    show_stock = admin.add_parser("stock", help="units on hand of tracked SKUs")
    show_stock.add_argument("skus", nargs="*")
    show_stock.set_defaults(func=cmd_stock)
    admin.add_parser("expire", help="expire unpaid orders whose hold ended, releasing their stock"
                     ).set_defaults(func=cmd_expire)
    coupon = admin.add_parser("coupon-add", help="create a coupon code")
    coupon.add_argument("code")
    kind = coupon.add_mutually_exclusive_group(required=True)
    kind.add_argument("--percent", type=int, help="whole percent off, 1-100")
    kind.add_argument("--fixed", help="amount off, e.g. 20.00 (in --currency)")
    coupon.add_argument("--currency", default="CNY")
    coupon.add_argument("--min-spend", default="0", help="minimum subtotal, e.g. 199.00")
    coupon.add_argument("--from", dest="valid_from", help="YYYY-MM-DD (UTC)")
    coupon.add_argument("--until", dest="valid_until", help="YYYY-MM-DD (UTC), exclusive")
    coupon.add_argument("--limit", type=int, help="total uses")
    coupon.add_argument("--per-account", type=int, help="uses per shopper")
    coupon.set_defaults(func=cmd_coupon_add)
    grant = admin.add_parser("credit-add", help="add (or with a negative amount take back) store credit")
    grant.add_argument("email")
    grant.add_argument("amount", help="e.g. 50.00 or -10.00")
    grant.add_argument("--currency", default="CNY")
    grant.add_argument("--reason", required=True)
    grant.add_argument("--by")
    grant.set_defaults(func=cmd_credit_add)


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def print_table(headers: list[str], rows: list[list]) -> None:
    """Columns padded by display width (Chinese characters take two cells)."""
    cells = [[("" if v is None else str(v)) for v in row] for row in [headers, *rows]]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(v + " " * (widths[i] - _width(v)) for i, v in enumerate(row)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _operator(args) -> str:
    import getpass

    who = getattr(args, "by", None)
    if not who:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = "admin"
    return who


def _order_env(args):
    """(config, ctx, payment setup) for order commands; the catalog is synced so stock rows exist."""
    from .order_routes import catalog_store_for
    from .payment_routes import PaymentSetup

    config = Config.from_env()
    _open(config)
    ctx = Context.from_config(config)
    try:
        catalog_store_for(ctx).current()
    except CheckoutError:
        pass  # no catalog.json yet: stock rows are created by the first build
    return config, ctx, PaymentSetup(config)


def _money(minor: int, currency: str) -> str:
    from .payments.common import to_decimal_string

    return f"{to_decimal_string(minor, currency)} {currency}"


def _minor(text: str, currency: str, what: str) -> int:
    from .payments.common import from_decimal_string

    negative = text.startswith("-")
    try:
        value = from_decimal_string(text.lstrip("-"), currency)
    except ValueError:
        raise CheckoutError(f"{what} {text!r} is not an amount in {currency}. Fix: e.g. 20.00") from None
    return -value if negative else value


def _date(text: str | None, what: str):
    from datetime import datetime

    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise CheckoutError(f"{what} {text!r} is not a date. Fix: YYYY-MM-DD") from None


def cmd_orders_list(args) -> int:
    from . import orders
    from .models import Account, Order

    config, ctx, _ = _order_env(args)
    query = Order.select().order_by(Order.created_at.desc(), Order.id.desc()).limit(max(1, args.limit))
    if args.status:
        wanted = [s.strip() for s in args.status.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in orders.STATUSES]
        if unknown:
            raise CheckoutError(f"unknown status {unknown[0]!r}. Fix: one of {', '.join(orders.STATUSES)}")
        query = query.where(Order.status.in_(wanted))
    if args.email:
        query = query.where(Order.account == _user(config, ctx, args.email))
    if args.method:
        query = query.where(Order.payment_method == args.method)
    if args.since:
        query = query.where(Order.created_at >= _date(args.since, "--since"))
    rows = []
    for o in query:
        nickname = Account.select(Account.nickname).where(Account.id == o.account_id).scalar()
        rows.append([o.number, o.status, _money(o.total_minor, o.currency), o.payment_method or "-",
                     o.created_at.strftime("%Y-%m-%d %H:%M"), nickname or "(deleted)", o.hold_reason or ""])
    print_table(["number", "status", "total", "method", "placed (UTC)", "shopper", "note"], rows)
    print(f"{len(rows)} order(s)")
    return 0


def cmd_orders_show(args) -> int:
    from . import orders
    from .models import PaymentNotice, RefundRecord

    config, ctx, setup = _order_env(args)
    order = orders.get_order(args.number)
    view = orders.order_view(ctx, order)
    print(f"order {order.number}  status {order.status}  placed {order.created_at:%Y-%m-%d %H:%M} UTC  "
          f"catalog {order.catalog_version[:12]}")
    print_table(["sku", "title", "qty", "unit", "amount"],
                [[l["sku"], l["title"], l["qty"], _money(l["unit_price_minor"], order.currency),
                  _money(l["line_total_minor"], order.currency)] for l in view["lines"]])
    print(f"subtotal {_money(order.subtotal_minor, order.currency)}  discount {_money(order.discount_minor, order.currency)}"
          f"  credit {_money(order.credit_minor, order.currency)}  total {_money(order.total_minor, order.currency)}")
    address = view["shipping_address"]
    print("ship to: " + (" ".join(str(address.get(k) or "") for k in ("name", "phone", "country", "province", "city",
                                                                       "line1", "line2", "postal_code")).strip()
                         if address else "(erased: account deleted)"))
    print(f"payment: {order.payment_method or '-'}  reference {order.provider_reference or '-'}  "
          f"transaction {order.transaction_id or '-'}  transfer ref {order.transfer_reference or '-'}  "
          f"tracking {order.tracking_number or '-'}")
    if order.hold_reason:
        print(f"hold: {order.hold_reason}")
    print("audit:")
    print_table(["when (UTC)", "from", "to", "by", "reason"],
                [[e["at"], e["from"] or "-", e["to"], e["actor"], e["reason"]] for e in orders.audit(order)])
    notices = list(PaymentNotice.select().where(PaymentNotice.order_number == order.number).order_by(PaymentNotice.id))
    if notices:
        print("provider events:")
        print_table(["received (UTC)", "provider", "event", "kind", "outcome"],
                    [[n.received_at.strftime("%Y-%m-%d %H:%M:%S"), n.provider, n.event_id, n.kind, n.outcome]
                     for n in notices])
    for r in RefundRecord.select().where(RefundRecord.order == order):
        print(f"refund {r.refund_key}: {_money(r.amount_minor, r.currency)} via {r.provider}, {r.status}, by {r.actor}")
    return 0


def _after(order, what: str) -> int:
    print(f"{order.number}: {what} -> {order.status}")
    return 0


def cmd_confirm_transfer(args) -> int:
    from . import orders

    config, ctx, _ = _order_env(args)
    order = orders.confirm_transfer(ctx, orders.get_order(args.number), who=_operator(args), now=config.clock(),
                                    note=args.note)
    return _after(order, f"transfer confirmed by {_operator(args)}")


def cmd_ship(args) -> int:
    from . import orders

    config, ctx, _ = _order_env(args)
    order = orders.ship(ctx, orders.get_order(args.number), args.tracking, who=_operator(args), now=config.clock())
    return _after(order, f"shipped, tracking {args.tracking}")


def cmd_complete(args) -> int:
    from . import orders

    config, ctx, _ = _order_env(args)
    return _after(orders.complete(orders.get_order(args.number), who=_operator(args), now=config.clock()), "delivered")


def cmd_cancel(args) -> int:
    from . import orders

    config, ctx, setup = _order_env(args)
    order = orders.get_order(args.number)
    adapters = setup.adapters() if order.payment_method in orders.ONLINE_METHODS else {}
    orders.cancel_order(ctx, order, actor=f"admin:{_operator(args)}", reason=args.reason, now=config.clock(),
                        adapters=adapters)
    return _after(order, "cancelled, stock released")


def cmd_refund(args) -> int:
    from . import orders

    config, ctx, setup = _order_env(args)
    order = orders.get_order(args.number)
    if not args.yes and input(f"refund {_money(order.total_minor, order.currency)} of {order.number} via "
                              f"{order.payment_method}? [y/N] ").lower() != "y":
        print("not refunded")
        return 1
    adapters = setup.adapters() if order.payment_method in orders.ONLINE_METHODS else {}
    result = orders.refund_order(ctx, adapters, order, who=_operator(args), now=config.clock(), reason=args.reason)
    print_table(["order", "refund key", "provider", "status"],
                [[result["order"], result["refund_key"], result["provider"], result["status"]]])
    if result["status"] == "manual":
        print("bank transfer / credit order: pay the money back by hand; the order is marked refunded.")
    return 0


def cmd_release_hold(args) -> int:
    from . import orders

    config, ctx, _ = _order_env(args)
    order = orders.release_hold(ctx, orders.get_order(args.number), who=_operator(args), now=config.clock(),
                                note=args.note)
    return _after(order, "hold released")


def cmd_set_stock(args) -> int:
    from . import stock

    config, ctx, _ = _order_env(args)
    before = stock.set_stock(args.sku, args.units, config.clock())
    print_table(["sku", "before", "now"], [[args.sku, before, args.units]])
    return 0


def cmd_stock(args) -> int:
    from .models import StockLevel

    _order_env(args)
    query = StockLevel.select().order_by(StockLevel.sku)
    if args.skus:
        query = query.where(StockLevel.sku.in_(args.skus))
    print_table(["sku", "on hand", "markdown seed", "updated (UTC)"],
                [[r.sku, r.on_hand, r.seeded, r.updated_at.strftime("%Y-%m-%d %H:%M")] for r in query])
    return 0


def cmd_expire(args) -> int:
    from . import orders

    config, ctx, setup = _order_env(args)
    result = orders.expire_due(ctx, setup.adapters(), now=config.clock())
    print_table(["expired", "postponed (provider unreachable)"],
                [[len(result["expired"]), len(result["postponed"])]])
    for number in result["expired"]:
        print(f"  {number}")
    return 0


def cmd_coupon_add(args) -> int:
    from . import coupons

    config, ctx, _ = _order_env(args)
    kind, value = ("percent", args.percent) if args.percent is not None else (
        "fixed", _minor(args.fixed, args.currency, "--fixed"))
    coupon = coupons.create_coupon(args.code, kind=kind, value=value, now=config.clock(),
                                   currency=args.currency if kind == "fixed" else None,
                                   min_spend_minor=_minor(args.min_spend, args.currency, "--min-spend"),
                                   valid_from=_date(args.valid_from, "--from"),
                                   valid_until=_date(args.valid_until, "--until"),
                                   usage_limit=args.limit, per_account_limit=args.per_account)
    print_table(["code", "kind", "value", "min spend", "valid", "limit"],
                [[coupon.code, kind, f"{value}%" if kind == "percent" else _money(value, args.currency),
                  _money(coupon.min_spend_minor, args.currency), f"{args.valid_from or '-'} .. {args.valid_until or '-'}",
                  coupon.usage_limit or "-"]])
    return 0


def cmd_credit_add(args) -> int:
    from . import credit

    config, ctx, _ = _order_env(args)
    account = _user(config, ctx, args.email)
    amount = _minor(args.amount, args.currency, "amount")
    credit.grant(account, amount, args.currency, args.reason, f"admin:{_operator(args)}", config.clock())
    print_table(["account", "change", "balance"],
                [[account.id, _money(amount, args.currency),
                  _money(credit.balance(account, args.currency), args.currency)]])
    return 0
