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
