"""Outgoing mail: an outbox table, templates, and the sender that drains it.

Services only ``enqueue`` (inside their own transaction, so a mail exists exactly when the state
change that causes it does). ``send_pending`` claims each due message with a conditional update
before handing it over, so two senders (the background thread of ``serve`` and ``admin
send-mail``) never send the same row; a failure is retried with exponential backoff; after a
successful send the recipient and body are erased. Development writes ``.eml`` files to
``<data dir>/mail/``; production speaks SMTP with STARTTLS.
"""

from __future__ import annotations

import functools
import os
import secrets
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import jinja2

from .config import Config
from .crypto import Cipher
from .errors import ConfigError, MailError
from .models import Account, Outbox

CLAIM_LEASE = timedelta(minutes=10)
"""A row left in ``sending`` this long (its sender died mid-send) is handed to another sender."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


@functools.lru_cache(maxsize=8)
def _environment(templates_dir: str) -> jinja2.Environment:
    # One environment per directory: its template cache saves compiling a template for every mail
    # (half the cost of placing an order); auto_reload still picks up edited templates.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, autoescape=False)


def render(templates_dir: Path, kind: str, context: dict) -> Rendered:
    """Render ``<templates_dir>/<kind>.txt``: the first line is the subject, the rest the body."""
    env = _environment(str(templates_dir))
    try:
        text = env.get_template(f"{kind}.txt").render(**context)
    except jinja2.TemplateError as exc:
        where = f"{templates_dir / (kind + '.txt')}:{getattr(exc, 'lineno', '') or ''}"
        raise MailError(f"{where}: mail template failed: {exc}. Fix: correct the template.") from None
    subject, _, body = text.partition("\n")
    return Rendered(subject.removeprefix("Subject:").strip(), body.lstrip("\n"))


def enqueue(config: Config, cipher: Cipher, kind: str, to: str, context: dict, *,
            account: Account | None = None, now: datetime) -> Outbox:
    rendered = render(config.mail_templates_dir, kind, {"site_url": config.public_url, **context})
    domain = config.mail_from.rpartition("@")[2].rstrip(">").strip() or "localhost"
    return Outbox.create(kind=kind, account=account,
                         recipient_enc=cipher.encrypt(to, "outbox.recipient"),
                         subject=rendered.subject,
                         body_enc=cipher.encrypt(rendered.body, "outbox.body"),
                         message_id=f"<{secrets.token_hex(16)}@{domain}>", status="pending",
                         attempts=0, next_attempt_at=now, created_at=now)


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class FileTransport:
    """Development: one ``.eml`` file per mail, written atomically."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{message['Message-ID'].strip('<>').split('@')[0]}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(bytes(message))
        os.replace(tmp, self.directory / name)


class SmtpTransport:
    """``smtp://user:pass@host:587`` (STARTTLS; ``?starttls=false`` for a trusted local relay)
    or ``smtps://`` (TLS from the start); ``?cafile=/path.pem`` trusts a private CA."""

    def __init__(self, url: str, timeout: float = 30.0):
        parts = urlsplit(url)
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.implicit_tls else 587)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        query = parse_qs(parts.query)
        self.starttls = (not self.implicit_tls and
                         query.get("starttls", ["true"])[0].lower() not in ("0", "false", "no"))
        self.cafile = query.get("cafile", [None])[0]
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context(cafile=self.cafile)
        if self.implicit_tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.starttls:
                client.starttls(context=context)
            if self.user:
                client.login(self.user, self.password or "")
            client.send_message(message)


def transport_for(config: Config) -> Transport:
    scheme = config.mail_url.split(":", 1)[0]
    if scheme == "file":
        return FileTransport(Path(unquote(urlsplit(config.mail_url).path)))
    if scheme in ("smtp", "smtps"):
        return SmtpTransport(config.mail_url)
    raise ConfigError(f"CHECKOUT_MAIL_URL scheme {scheme!r} is not supported. "
                      "Fix: use smtp://user:pass@host:587 or file:///path/to/dir")


def backoff(attempts: int) -> timedelta:
    """1 min, 2, 4, ... capped at 2 hours."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 7200))


def send_pending(config: Config, cipher: Cipher, transport: Transport, *, now: datetime,
                 limit: int = 100) -> tuple[int, int]:
    """Send due outbox rows; returns (sent, failed this pass)."""
    db = Outbox._meta.database
    due = (Outbox.select(Outbox.id)
           .where(((Outbox.status == "pending") & (Outbox.next_attempt_at <= now)) |
                  ((Outbox.status == "sending") & (Outbox.claimed_at < now - CLAIM_LEASE)))
           .order_by(Outbox.id).limit(limit))
    sent = failed = 0
    for row_id in [r.id for r in due]:
        with db.atomic():
            claimed = (Outbox.update(status="sending", claimed_at=now, attempts=Outbox.attempts + 1)
                       .where((Outbox.id == row_id) &
                              (((Outbox.status == "pending") & (Outbox.next_attempt_at <= now)) |
                               ((Outbox.status == "sending") & (Outbox.claimed_at < now - CLAIM_LEASE))))
                       .execute())
        if not claimed:
            continue  # another sender took it
        row = Outbox.get_by_id(row_id)
        try:
            transport.send(build_message(config, cipher, row, now))
        except (OSError, smtplib.SMTPException, MailError) as exc:
            failed += 1
            give_up = row.attempts >= config.mail_max_attempts
            Outbox.update(status="failed" if give_up else "pending",
                          next_attempt_at=now + backoff(row.attempts),
                          last_error=f"{type(exc).__name__}: {exc}"[:500]).where(Outbox.id == row_id).execute()
            continue
        sent += 1
        # Data minimisation: once handed over, the outbox keeps no copy of the personal content.
        Outbox.update(status="sent", sent_at=now, recipient_enc=None, body_enc=None,
                      last_error=None).where(Outbox.id == row_id).execute()
    return sent, failed


def build_message(config: Config, cipher: Cipher, row: Outbox, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.mail_from
    recipient = cipher.decrypt(row.recipient_enc, "outbox.recipient")
    if not recipient or not getaddresses([recipient])[0][1]:
        raise MailError(f"outbox row {row.id} has no valid recipient.")
    message["To"] = recipient
    message["Subject"] = row.subject
    message["Date"] = format_datetime(now.replace(tzinfo=timezone.utc))
    message["Message-ID"] = row.message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(cipher.decrypt(row.body_enc, "outbox.body") or "", charset="utf-8")
    return message
