"""Configuration of the checkout service, read once from the environment.

``Config.from_env(os.environ)`` gives working development defaults (SQLite and mail files under
``var/``, secrets generated once into ``var/secrets.json``) and refuses, in production, anything
that is only fit for development: generated secrets, sandbox payments, plain-HTTP origins, mail
written to files.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

from .errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MAIL_TEMPLATES = PACKAGE_ROOT / "templates" / "mail"
DEV_SECRETS_FILE = "secrets.json"


def utc_now() -> datetime:
    """Now as a naive UTC datetime: the database stores naive UTC on SQLite and PostgreSQL."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class DataKey:
    """One AES-256-GCM key for personal data, known by a short id stored with every value."""

    id: str
    key: bytes = field(repr=False)


@dataclass(frozen=True)
class Config:
    """Everything the service reads from its environment. Build with ``Config.from_env``."""

    env: str = "development"
    """``development`` or ``production`` (stricter checks, Secure cookies always)."""
    data_dir: Path = Path("var")
    site_dir: Path = Path("output")
    """Where the build wrote ``catalog.json`` and ``policies.json``."""
    index_dir: Path = Path("search_index")
    database_url: str = ""
    """peewee ``playhouse.db_url`` URL; default ``sqlite:///<data_dir>/checkout.db``."""
    mail_url: str = ""
    """``file:///dir`` (development default: ``<data_dir>/mail``) or ``smtp://user:pass@host:port``."""
    mail_from: str = "umegou <service@umegou.com>"
    site_origin: str = "http://127.0.0.1:8000"
    """The one origin that CORS answers and that may send state-changing calls."""
    public_url: str = "http://127.0.0.1:8000"
    """Base URL of the static site, used in links inside mails (``/account/activate/?token=``)."""
    payments: str = "sandbox"
    data_keys: tuple[DataKey, ...] = field(default=(), repr=False)
    """Personal-data keys, newest first; the first encrypts, all decrypt."""
    email_index_key: bytes = field(default=b"", repr=False)
    """HMAC key of the email lookup index."""
    secrets_source: str = "env"
    """``env`` or ``dev-file`` (generated into the data dir; refused in production)."""
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536
    """KiB; RFC 9106's second recommended option is 64 MiB, t=3, p=4."""
    argon2_parallelism: int = 4
    session_idle_seconds: int = 7 * 24 * 3600
    session_absolute_seconds: int = 30 * 24 * 3600
    activation_ttl_seconds: int = 48 * 3600
    reset_ttl_seconds: int = 3600
    guardian_ttl_seconds: int = 14 * 24 * 3600
    minor_purge_days: int = 14
    """Minors' accounts without guardian consent are deleted by ``admin purge`` after this."""
    register_limit: tuple[int, int] = (20, 3600)
    """(attempts, window seconds) per client address: loose enough for a household or office."""
    login_limit_ip: tuple[int, int] = (60, 900)
    login_limit_account: tuple[int, int] = (10, 900)
    reset_limit: tuple[int, int] = (10, 3600)
    trust_proxy: bool = False
    """Take the client address from the last ``X-Forwarded-For`` hop (behind a reverse proxy)."""
    timezone: str = "Asia/Shanghai"
    mail_templates_dir: Path = DEFAULT_MAIL_TEMPLATES
    mail_max_attempts: int = 8
    mail_sender_interval: float = 5.0
    """Seconds between outbox passes of the background sender in ``serve`` (0: no sender)."""
    clock: Callable[[], datetime] = field(default=utc_now, repr=False, compare=False)
    """Naive-UTC clock; tests replace it to move time."""

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset({self.site_origin, _origin_of(self.public_url)})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Config":
        """Read ``CHECKOUT_*`` and ``DATABASE_URL``; ``overrides`` win (tests use them)."""
        env = dict(os.environ if environ is None else environ)
        mode = env.get("CHECKOUT_ENV", "development")
        if mode not in ("development", "production"):
            raise ConfigError(f"CHECKOUT_ENV={mode!r} is not known. Fix: use development or production.")
        data_dir = Path(env.get("CHECKOUT_DATA_DIR", "var"))
        values: dict = {
            "env": mode,
            "data_dir": data_dir,
            "site_dir": Path(env.get("CHECKOUT_SITE_DIR", "output")),
            "index_dir": Path(env.get("CHECKOUT_INDEX_DIR", "search_index")),
            "database_url": env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'checkout.db'}",
            "mail_url": env.get("CHECKOUT_MAIL_URL") or f"file://{(data_dir / 'mail').resolve()}",
            "mail_from": env.get("CHECKOUT_MAIL_FROM", cls.mail_from),
            "site_origin": env.get("CHECKOUT_SITE_ORIGIN", cls.site_origin).rstrip("/"),
            "payments": env.get("CHECKOUT_PAYMENTS", "sandbox"),
            "trust_proxy": _flag(env, "CHECKOUT_TRUST_PROXY"),
            "timezone": env.get("CHECKOUT_TIMEZONE", cls.timezone),
        }
        values["public_url"] = env.get("CHECKOUT_PUBLIC_URL", values["site_origin"]).rstrip("/")
        if "CHECKOUT_MAIL_TEMPLATES" in env:
            values["mail_templates_dir"] = Path(env["CHECKOUT_MAIL_TEMPLATES"])
        for name, attr in (("ARGON2_TIME_COST", "argon2_time_cost"),
                           ("ARGON2_MEMORY_COST", "argon2_memory_cost"),
                           ("ARGON2_PARALLELISM", "argon2_parallelism"),
                           ("SESSION_IDLE_SECONDS", "session_idle_seconds"),
                           ("SESSION_ABSOLUTE_SECONDS", "session_absolute_seconds"),
                           ("ACTIVATION_TTL_SECONDS", "activation_ttl_seconds"),
                           ("RESET_TTL_SECONDS", "reset_ttl_seconds"),
                           ("GUARDIAN_TTL_SECONDS", "guardian_ttl_seconds"),
                           ("MINOR_PURGE_DAYS", "minor_purge_days"),
                           ("MAIL_MAX_ATTEMPTS", "mail_max_attempts")):
            if f"CHECKOUT_{name}" in env:
                values[attr] = _positive_int(env, f"CHECKOUT_{name}")
        for name, attr in (("REGISTER_LIMIT", "register_limit"), ("LOGIN_LIMIT_IP", "login_limit_ip"),
                           ("LOGIN_LIMIT_ACCOUNT", "login_limit_account"), ("RESET_LIMIT", "reset_limit")):
            if f"CHECKOUT_{name}" in env:
                values[attr] = _limit(env, f"CHECKOUT_{name}")
        if "CHECKOUT_MAIL_SENDER_INTERVAL" in env:
            try:
                values["mail_sender_interval"] = float(env["CHECKOUT_MAIL_SENDER_INTERVAL"])
            except ValueError:
                raise ConfigError("CHECKOUT_MAIL_SENDER_INTERVAL must be a number of seconds. "
                                  "Fix: e.g. CHECKOUT_MAIL_SENDER_INTERVAL=5") from None

        if env.get("CHECKOUT_DATA_KEYS") or env.get("CHECKOUT_EMAIL_INDEX_KEY"):
            values["data_keys"] = parse_data_keys(env.get("CHECKOUT_DATA_KEYS", ""))
            values["email_index_key"] = _b64key(env.get("CHECKOUT_EMAIL_INDEX_KEY", ""),
                                                "CHECKOUT_EMAIL_INDEX_KEY")
            values["secrets_source"] = "env"
        elif mode == "production":
            raise ConfigError("production needs CHECKOUT_DATA_KEYS and CHECKOUT_EMAIL_INDEX_KEY; "
                              "development secrets are refused. Fix: generate keys with "
                              "`python -m checkout admin new-keys` and set them in the environment.")
        else:
            keys, index_key = load_dev_secrets(data_dir)
            values["data_keys"], values["email_index_key"] = keys, index_key
            values["secrets_source"] = "dev-file"
        values.update(overrides)
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        """Refuse incoherent settings; in production, anything fit only for development."""
        if not self.data_keys:
            raise ConfigError("no personal-data key configured. Fix: set CHECKOUT_DATA_KEYS.")
        if len(self.email_index_key) < 32:
            raise ConfigError("CHECKOUT_EMAIL_INDEX_KEY must be at least 32 bytes (base64). "
                              "Fix: `python -m checkout admin new-keys`.")
        for name in ("site_origin", "public_url"):
            parts = urlsplit(getattr(self, name))
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"{name} {getattr(self, name)!r} is not an absolute http(s) URL. "
                                  f"Fix: set CHECKOUT_{name.upper()} like https://www.umegou.com")
        if not self.production:
            return
        if self.secrets_source != "env":
            raise ConfigError("production refuses development secrets. Fix: set CHECKOUT_DATA_KEYS "
                              "and CHECKOUT_EMAIL_INDEX_KEY from your secret store.")
        dev_keys = _existing_dev_keys(self.data_dir)
        if any(k.key in dev_keys for k in self.data_keys) or self.email_index_key in dev_keys:
            raise ConfigError(f"production keys equal the development keys in "
                              f"{self.data_dir / DEV_SECRETS_FILE}. Fix: generate new keys with "
                              "`python -m checkout admin new-keys`.")
        if self.payments == "sandbox":
            raise ConfigError("production refuses CHECKOUT_PAYMENTS=sandbox. "
                              "Fix: set CHECKOUT_PAYMENTS to the live providers.")
        for name in ("site_origin", "public_url"):
            if not getattr(self, name).startswith("https://"):
                raise ConfigError(f"production needs an https {name}. Fix: set CHECKOUT_{name.upper()}.")
        if not self.mail_url.startswith(("smtp://", "smtps://")):
            raise ConfigError("production sends mail by SMTP. "
                              "Fix: set CHECKOUT_MAIL_URL=smtp://user:pass@host:587")


def parse_data_keys(text: str) -> tuple[DataKey, ...]:
    """``id:base64,id:base64`` (newest first) -> keys."""
    keys = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key_id, sep, b64 = item.partition(":")
        if not sep or not key_id.isalnum() or len(key_id) > 16:
            raise ConfigError(f"CHECKOUT_DATA_KEYS entry {key_id[:16]!r}... is not id:base64 with a "
                              "short alphanumeric id. Fix: e.g. CHECKOUT_DATA_KEYS=k2:<base64>,k1:<base64>")
        key = _b64key(b64, f"CHECKOUT_DATA_KEYS ({key_id})")
        if len(key) != 32:
            raise ConfigError(f"CHECKOUT_DATA_KEYS key {key_id} must be 32 bytes. "
                              "Fix: `python -m checkout admin new-keys`.")
        keys.append(DataKey(key_id, key))
    if not keys:
        raise ConfigError("CHECKOUT_DATA_KEYS is empty. Fix: `python -m checkout admin new-keys`.")
    if len({k.id for k in keys}) != len(keys):
        raise ConfigError("CHECKOUT_DATA_KEYS repeats a key id. Fix: give every key its own id.")
    return tuple(keys)


def new_key_material() -> dict[str, str]:
    """Fresh keys as environment values (used by ``admin new-keys`` and the dev secrets file)."""
    key_id = "k" + secrets.token_hex(3)
    return {
        "CHECKOUT_DATA_KEYS": f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        "CHECKOUT_EMAIL_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def load_dev_secrets(data_dir: Path) -> tuple[tuple[DataKey, ...], bytes]:
    """Read (or create once, mode 0600) the development secrets of ``data_dir``."""
    path = data_dir / DEV_SECRETS_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        material = new_key_material()
        payload = json.dumps({"note": "development secrets; production refuses them",
                              "data_keys": material["CHECKOUT_DATA_KEYS"],
                              "email_index_key": material["CHECKOUT_EMAIL_INDEX_KEY"]}, indent=2)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker created it first: read theirs
        else:
            with os.fdopen(fd, "w") as f:
                f.write(payload)
    try:
        stored = json.loads(path.read_text())
        return parse_data_keys(stored["data_keys"]), _b64key(stored["email_index_key"], str(path))
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path}: unreadable development secrets ({exc}). Fix: delete the file "
                          "only if the development database may be thrown away too.") from None


def _existing_dev_keys(data_dir: Path) -> set[bytes]:
    path = data_dir / DEV_SECRETS_FILE
    if not path.exists():
        return set()
    try:
        keys, index_key = load_dev_secrets(data_dir)
    except ConfigError:
        return set()
    return {k.key for k in keys} | {index_key}


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _positive_int(env: Mapping[str, str], name: str) -> int:
    try:
        value = int(env[name])
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{name}={env[name]!r} must be a positive integer.")
    return value


def _limit(env: Mapping[str, str], name: str) -> tuple[int, int]:
    count, sep, window = env[name].partition("/")
    try:
        result = (int(count), int(window))
    except ValueError:
        result = (0, 0)
    if not sep or result[0] <= 0 or result[1] <= 0:
        raise ConfigError(f"{name}={env[name]!r} is not COUNT/SECONDS. Fix: e.g. {name}=20/3600")
    return result


def _b64key(value: str, name: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except ValueError:
        raise ConfigError(f"{name} is not valid base64. Fix: `python -m checkout admin new-keys`.") from None
