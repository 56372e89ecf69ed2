"""Account services: registration, activation, login, profile, export, deletion, consent, minors.

Plain functions that know nothing of HTTP: routes parse the request, call one of these with the
``Context`` (config, cipher, password hasher, policy store) and ``now`` (naive UTC), and render
the result. Each state change is one short ``db.atomic()`` transaction that also enqueues the
mails it causes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import argon2
import peewee as pw

from . import mail, ratelimit, validate
from .config import Config
from .crypto import Cipher, email_index, new_token, token_digest
from .errors import AuthError, ConsentRequired, ForbiddenError, ValidationError
from .models import Account, AccountToken, Consent, Outbox, Session, database
from .policies import PolicyStore

ADULT_AGE = 18
PENDING_ACTIVATION = "pending_activation"
PENDING_GUARDIAN = "pending_guardian_consent"
ACTIVE = "active"
DELETED = "deleted"
REGISTER_FIELDS = frozenset({"nickname", "email", "password", "birthday", "guardian_email",
                             "policy_version"})
ENC_COLUMNS = ("email_enc", "birthday_enc", "phone_enc", "addresses_enc", "guardian_email_enc")


@dataclass(frozen=True)
class Context:
    """What every account service needs; built once by ``create_app``."""

    config: Config
    cipher: Cipher
    hasher: argon2.PasswordHasher
    policies: PolicyStore
    dummy_hash: str
    """A hash of a random password, verified for unknown emails so both login paths cost the same."""

    @classmethod
    def from_config(cls, config: Config) -> "Context":
        hasher = argon2.PasswordHasher(time_cost=config.argon2_time_cost,
                                       memory_cost=config.argon2_memory_cost,
                                       parallelism=config.argon2_parallelism,
                                       type=argon2.Type.ID)
        return cls(config, Cipher(config.data_keys), hasher,
                   PolicyStore(config.site_dir / "policies.json"), hasher.hash(new_token()))

    def today(self, now: datetime) -> date:
        return now.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(self.config.timezone)).date()

    def link(self, path: str, token: str) -> str:
        return f"{self.config.public_url}{path}?token={token}"


# --- registration and activation -------------------------------------------------------------

def register(ctx: Context, data: dict, *, client: str, now: datetime) -> dict:
    """Create a pending account and mail its activation link.

    The answer depends only on the input, never on whether the email is taken: the owner of an
    existing address is mailed instead, and the password is hashed on both paths so the timing
    matches.
    """
    ratelimit.hit("register", client, ctx.config.register_limit, now)
    data = validate.json_object(data)
    validate.known_fields(data, REGISTER_FIELDS)
    nickname = validate.nickname(data)
    address = validate.email(data)
    password = validate.password(data)
    born = validate.birthday(data, ctx.today(now))
    minor = born is not None and validate.age_on(born, ctx.today(now)) < ADULT_AGE
    guardian = validate.email(data, "guardian_email", required=minor) if minor else None
    if minor and guardian and guardian.lower() == address.lower():
        raise ValidationError("监护人邮箱不能与您的邮箱相同。The guardian email must differ from yours.",
                              field="guardian_email")
    policy = _acceptable_policy(ctx, data, now)
    password_hash = ctx.hasher.hash(password)
    index = email_index(ctx.config.email_index_key, address)
    try:
        with database.atomic():
            existing = Account.get_or_none(Account.email_index == index)
            if existing is None:
                _create_account(ctx, index, address, nickname, password_hash, born, guardian,
                                policy, now)
            else:
                _mail_existing_owner(ctx, existing, address, now)
    except pw.IntegrityError:
        # A concurrent registration took the address between our check and insert.
        with database.atomic():
            existing = Account.get(Account.email_index == index)
            _mail_existing_owner(ctx, existing, address, now)
    return {"status": PENDING_ACTIVATION, "guardian_consent_required": minor,
            "message": "请查收激活邮件，点击邮件中的链接完成注册。"}


def _acceptable_policy(ctx: Context, data: dict, now: datetime):
    version = validate.text(data, "policy_version", max_len=64, label="隐私政策版本")
    policies = ctx.policies.current()
    policy = policies.get(version)
    in_force, upcoming = policies.in_force(now), policies.upcoming(now)
    if policy is None or policy not in (in_force, upcoming):
        raise ValidationError(f"隐私政策版本 {version} 不是当前版本，请刷新页面后重新确认。"
                              f"policy_version must be the version in force "
                              f"({in_force.id if in_force else 'none'}) or the upcoming one.",
                              field="policy_version", code="policy_outdated")
    return policy


def _create_account(ctx, index, address, nickname, password_hash, born, guardian, policy, now):
    c = ctx.cipher
    account = Account.create(
        email_index=index, email_enc=c.encrypt(address, "account.email"), nickname=nickname,
        password_hash=password_hash, status=PENDING_ACTIVATION,
        birthday_enc=c.encrypt(born.isoformat() if born else None, "account.birthday"),
        guardian_email_enc=c.encrypt(guardian, "account.guardian_email"),
        needs_guardian=guardian is not None, created_at=now)
    Consent.create(account=account, policy_version=policy.id, policy_sha256=policy.sha256,
                   accepted_at=now, source="registration")
    token = _issue_token(account, "activate", ctx.config.activation_ttl_seconds, now)
    mail.enqueue(ctx.config, c, "activate", address,
                 {"nickname": nickname, "link": ctx.link("/account/activate/", token),
                  "hours": ctx.config.activation_ttl_seconds // 3600}, account=account, now=now)
    if guardian is not None:
        token = _issue_token(account, "guardian", ctx.config.guardian_ttl_seconds, now)
        mail.enqueue(ctx.config, c, "guardian_consent", guardian,
                     {"nickname": nickname, "link": ctx.link("/account/guardian/", token),
                      "days": ctx.config.guardian_ttl_seconds // 86400,
                      "purge_days": ctx.config.minor_purge_days}, account=account, now=now)
    return account


def _mail_existing_owner(ctx: Context, account: Account, address: str, now: datetime) -> None:
    if account.status == PENDING_ACTIVATION:
        token = _issue_token(account, "activate", ctx.config.activation_ttl_seconds, now)
        mail.enqueue(ctx.config, ctx.cipher, "activate", address,
                     {"nickname": account.nickname, "link": ctx.link("/account/activate/", token),
                      "hours": ctx.config.activation_ttl_seconds // 3600}, account=account, now=now)
    else:
        mail.enqueue(ctx.config, ctx.cipher, "account_exists", address,
                     {"nickname": account.nickname,
                      "login_link": f"{ctx.config.public_url}/account/login/",
                      "reset_link": f"{ctx.config.public_url}/account/reset/"},
                     account=account, now=now)


def _issue_token(account: Account, kind: str, ttl: int, now: datetime) -> str:
    token = new_token()
    AccountToken.create(kind=kind, token_hash=token_digest(token), account=account, created_at=now,
                        expires_at=now + timedelta(seconds=ttl))
    return token


def _consume_token(kind: str, token: str, now: datetime) -> Account:
    """Mark a mailed token used (exactly once, even under concurrent requests) and return its account."""
    row = AccountToken.get_or_none((AccountToken.token_hash == token_digest(token)) &
                                   (AccountToken.kind == kind))
    if row is None or row.used_at is not None:
        raise ValidationError("链接无效或已使用。The link is not valid or was already used.",
                              field="token", code="invalid_token")
    if row.expires_at <= now:
        raise ValidationError("链接已过期，请重新申请。The link has expired; request a new one.",
                              field="token", code="token_expired")
    claimed = (AccountToken.update(used_at=now)
               .where((AccountToken.id == row.id) & AccountToken.used_at.is_null()).execute())
    if claimed != 1:
        raise ValidationError("链接无效或已使用。The link is not valid or was already used.",
                              field="token", code="invalid_token")
    return Account.get_by_id(row.account_id)


def _status_after(account: Account) -> str:
    if account.activated_at is None:
        return PENDING_ACTIVATION
    if account.needs_guardian and account.guardian_consented_at is None:
        return PENDING_GUARDIAN
    return ACTIVE


def activate(ctx: Context, data: dict, *, now: datetime) -> dict:
    token = validate.token(validate.json_object(data))
    with database.atomic():
        account = _consume_token("activate", token, now)
        if account.status == DELETED:
            raise ValidationError("链接无效。The link is not valid.", field="token", code="invalid_token")
        if account.activated_at is None:
            account.activated_at = now
        account.status = _status_after(account)
        account.save()
    return {"status": account.status}


def guardian_decision(ctx: Context, data: dict, *, now: datetime) -> dict:
    """A guardian consents to (or refuses) the account of a minor, through the mailed link."""
    data = validate.json_object(data)
    token = validate.token(data)
    decision = data.get("decision", "consent")
    if decision not in ("consent", "refuse"):
        raise ValidationError("decision 应为 consent 或 refuse。decision must be consent or refuse.",
                              field="decision")
    with database.atomic():
        account = _consume_token("guardian", token, now)
        if account.status == DELETED:
            raise ValidationError("链接无效。The link is not valid.", field="token", code="invalid_token")
        if decision == "refuse":
            erase(account, now)
            return {"status": DELETED}
        account.guardian_consented_at = now
        account.status = _status_after(account)
        account.save()
    return {"status": account.status}


# --- sessions ---------------------------------------------------------------------------------

def login(ctx: Context, data: dict, *, client: str, now: datetime) -> tuple[str, Account]:
    """Check credentials and open a new session; returns (session token, account)."""
    data = validate.json_object(data)
    address = validate.email(data)
    password = validate.password(data)
    index = email_index(ctx.config.email_index_key, address)
    ratelimit.hit("login-ip", client, ctx.config.login_limit_ip, now)
    ratelimit.hit("login-account", index, ctx.config.login_limit_account, now)
    account = Account.get_or_none(Account.email_index == index)
    stored = account.password_hash if account is not None and account.password_hash else None
    try:
        # Verify against a dummy hash for unknown emails so both paths cost the same.
        ok = ctx.hasher.verify(stored or ctx.dummy_hash, password) and stored is not None
    except argon2.exceptions.VerificationError:
        ok = False
    except argon2.exceptions.InvalidHashError:
        ok = False
    if not ok:
        raise AuthError("邮箱或密码不正确。Wrong email or password.", code="invalid_credentials")
    if account.status == PENDING_ACTIVATION:
        raise ForbiddenError("账户尚未激活，请先点击激活邮件中的链接。The account is not activated yet.",
                             code="not_activated")
    with database.atomic():
        if ctx.hasher.check_needs_rehash(stored):
            account.password_hash = ctx.hasher.hash(password)
            account.save()
        token = new_token()
        Session.create(token_hash=token_digest(token), account=account, created_at=now,
                       last_seen_at=now,
                       expires_at=now + timedelta(seconds=ctx.config.session_absolute_seconds))
    return token, account


def authenticate(ctx: Context, token: str | None, *, now: datetime) -> Account | None:
    """The account of a session token, or None when absent, unknown, idle too long or expired."""
    if not token or len(token) > 128:
        return None
    session = Session.get_or_none(Session.token_hash == token_digest(token))
    if session is None:
        return None
    idle_limit = session.last_seen_at + timedelta(seconds=ctx.config.session_idle_seconds)
    if session.expires_at <= now or idle_limit <= now:
        Session.delete().where(Session.id == session.id).execute()
        return None
    if now - session.last_seen_at > timedelta(minutes=1):
        # Touch at most once a minute: one write per page view would be wasteful.
        Session.update(last_seen_at=now).where(Session.id == session.id).execute()
    account = Account.get_by_id(session.account_id)
    return None if account.status == DELETED else account


def logout(token: str | None) -> None:
    if token:
        Session.delete().where(Session.token_hash == token_digest(token)).execute()


# --- password reset ---------------------------------------------------------------------------

def request_password_reset(ctx: Context, data: dict, *, client: str, now: datetime) -> dict:
    address = validate.email(validate.json_object(data))
    ratelimit.hit("reset", client, ctx.config.reset_limit, now)
    index = email_index(ctx.config.email_index_key, address)
    with database.atomic():
        account = Account.get_or_none(Account.email_index == index)
        if account is not None and account.status in (ACTIVE, PENDING_GUARDIAN):
            token = _issue_token(account, "reset", ctx.config.reset_ttl_seconds, now)
            mail.enqueue(ctx.config, ctx.cipher, "reset", address,
                         {"nickname": account.nickname, "link": ctx.link("/account/reset/", token),
                          "minutes": ctx.config.reset_ttl_seconds // 60}, account=account, now=now)
    return {"status": "sent", "message": "如果该邮箱已注册，我们已发送重置密码的邮件。"}


def confirm_password_reset(ctx: Context, data: dict, *, now: datetime) -> dict:
    data = validate.json_object(data)
    token = validate.token(data)
    password = validate.password(data)
    password_hash = ctx.hasher.hash(password)
    with database.atomic():
        account = _consume_token("reset", token, now)
        if account.status == DELETED:
            raise ValidationError("链接无效。The link is not valid.", field="token", code="invalid_token")
        account.password_hash = password_hash
        account.save()
        # A reset is how a shopper recovers a stolen account: every session ends.
        Session.delete().where(Session.account == account).execute()
        AccountToken.update(used_at=now).where((AccountToken.account == account) &
                                               (AccountToken.kind == "reset") &
                                               AccountToken.used_at.is_null()).execute()
    return {"status": "password_changed"}


# --- consent ----------------------------------------------------------------------------------

def latest_consent(account: Account) -> Consent | None:
    return (Consent.select().where(Consent.account == account)
            .order_by(Consent.accepted_at.desc(), Consent.id.desc()).first())


def consent_needed(ctx: Context, account: Account, now: datetime):
    """The major policy version in force that this account has not accepted, or None."""
    policies = ctx.policies.current()
    major = policies.latest_major_in_force(now)
    if major is None:
        return None
    for consent in Consent.select().where(Consent.account == account):
        accepted = policies.get(consent.policy_version)
        if accepted is not None and accepted.takes_effect_at >= major.takes_effect_at:
            return None
    return major


def require_full_account(account: Account) -> None:
    """Refuse shopping (orders, payments) until a minor's guardian has consented."""
    if account.status == PENDING_GUARDIAN:
        raise ForbiddenError("需要监护人同意后才能下单。A guardian must consent before this account "
                             "can order.", code="guardian_consent_required")


def require_consent(ctx: Context, account: Account, now: datetime) -> None:
    """Raise ``consent_required`` while a major version in force awaits this shopper's consent."""
    major = consent_needed(ctx, account, now)
    if major is not None:
        raise ConsentRequired(f"隐私政策已更新（{major.id}），请阅读并同意后继续。A major policy "
                              f"version ({major.id}) is in force; accept it with POST /api/me/consents.",
                              policy_version=major.id)


def accept_policy(ctx: Context, account: Account, data: dict, *, now: datetime) -> dict:
    policy = _acceptable_policy(ctx, validate.json_object(data), now)
    Consent.create(account=account, policy_version=policy.id, policy_sha256=policy.sha256,
                   accepted_at=now, source="reconsent")
    return consent_view(ctx, account, now)


def consent_view(ctx: Context, account: Account, now: datetime) -> dict:
    latest = latest_consent(account)
    needed = consent_needed(ctx, account, now)
    policies = ctx.policies.current()
    in_force, upcoming = policies.in_force(now), policies.upcoming(now)
    return {"accepted_version": latest.policy_version if latest else None,
            "accepted_at": _iso(latest.accepted_at) if latest else None,
            "required": needed is not None,
            "required_version": needed.id if needed else None,
            "in_force": in_force.id if in_force else None,
            "upcoming": upcoming.id if upcoming else None}


# --- profile, export, deletion ----------------------------------------------------------------

def _addresses(ctx: Context, account: Account) -> list[dict]:
    raw = ctx.cipher.decrypt(account.addresses_enc, "account.addresses")
    return json.loads(raw) if raw else []


def profile(ctx: Context, account: Account, now: datetime) -> dict:
    c = ctx.cipher
    return {"nickname": account.nickname,
            "email": c.decrypt(account.email_enc, "account.email"),
            "phone": c.decrypt(account.phone_enc, "account.phone"),
            "birthday": c.decrypt(account.birthday_enc, "account.birthday"),
            "addresses": _addresses(ctx, account),
            "status": account.status,
            "guardian_consent": {"required": account.needs_guardian,
                                 "given": account.guardian_consented_at is not None},
            "created_at": _iso(account.created_at),
            "consent": consent_view(ctx, account, now)}


def update_profile(ctx: Context, account: Account, data: dict, *, now: datetime) -> dict:
    data = validate.json_object(data)
    validate.known_fields(data, {"nickname", "phone", "birthday", "addresses"})
    if account.status == PENDING_GUARDIAN:
        raise ForbiddenError("需要监护人同意后才能填写更多个人信息。A guardian must consent first.",
                             code="guardian_consent_required")
    c = ctx.cipher
    if "nickname" in data:
        account.nickname = validate.nickname(data)
    if "phone" in data:
        account.phone_enc = c.encrypt(validate.phone(data), "account.phone")
    if "birthday" in data:
        born = validate.birthday(data, ctx.today(now))
        if born is not None and validate.age_on(born, ctx.today(now)) < ADULT_AGE and not (
                account.needs_guardian and account.guardian_consented_at):
            raise ValidationError("未满 18 周岁需要监护人同意，请联系客服。Under 18 needs a guardian's "
                                  "consent; contact customer service.", field="birthday",
                                  code="guardian_required")
        account.birthday_enc = c.encrypt(born.isoformat() if born else None, "account.birthday")
    if "addresses" in data:
        account.addresses_enc = c.encrypt(json.dumps(validate.addresses(data), ensure_ascii=False),
                                          "account.addresses")
    account.save()
    return profile(ctx, account, now)


def export_data(ctx: Context, account: Account, now: datetime) -> dict:
    """Everything stored about the shopper, decrypted, as one JSON document (orders and store credit too)."""
    from . import credit, orders  # orders builds on accounts: imported here, not at the top
    from .models import Order
    placed = Order.select().where(Order.account == account).order_by(Order.id)
    return {"exported_at": _iso(now),
            "orders": [orders.order_view(ctx, o, detail=True) for o in placed],
            "store_credit": credit.statement(account),
            "profile": profile(ctx, account, now),
            "guardian_email": ctx.cipher.decrypt(account.guardian_email_enc, "account.guardian_email"),
            "consents": [{"policy_version": c.policy_version, "policy_sha256": c.policy_sha256,
                          "accepted_at": _iso(c.accepted_at), "source": c.source}
                         for c in Consent.select().where(Consent.account == account).order_by(Consent.id)],
            "sessions": [{"created_at": _iso(s.created_at), "last_seen_at": _iso(s.last_seen_at),
                          "expires_at": _iso(s.expires_at)}
                         for s in Session.select().where(Session.account == account).order_by(Session.id)],
            "activated_at": _iso(account.activated_at)}


def delete_account(ctx: Context, account: Account, data: dict, *, now: datetime) -> dict:
    """Erase the shopper's personal data after checking their password."""
    password = validate.password(validate.json_object(data))
    try:
        ctx.hasher.verify(account.password_hash or ctx.dummy_hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        raise AuthError("密码不正确。Wrong password.", field="password", code="invalid_credentials") from None
    with database.atomic():
        erase(account, now)
    return {"status": DELETED}


def erase(account: Account, now: datetime) -> None:
    """Keep an anonymous tombstone row (orders point at it) and erase everything personal."""
    Session.delete().where(Session.account == account).execute()
    AccountToken.delete().where(AccountToken.account == account).execute()
    Consent.delete().where(Consent.account == account).execute()
    Outbox.update(recipient_enc=None, body_enc=None, status="failed", last_error="account deleted"
                  ).where((Outbox.account == account) & (Outbox.status.in_(("pending", "sending")))
                          ).execute()
    from .orders import anonymise_for_account  # late: orders builds on this module

    anonymise_for_account(account, now)  # order rows stay (bookkeeping), their personal data goes
    Account.update(email_index=None, email_enc=None, nickname=None, password_hash=None,
                   birthday_enc=None, phone_enc=None, addresses_enc=None, guardian_email_enc=None,
                   status=DELETED, deleted_at=now).where(Account.id == account.id).execute()


# --- operator tasks ---------------------------------------------------------------------------

def purge(ctx: Context, *, now: datetime) -> dict:
    """Delete minors' accounts never consented to within ``minor_purge_days``, plus stale state."""
    cutoff = now - timedelta(days=ctx.config.minor_purge_days)
    minors = list(Account.select().where(Account.needs_guardian &
                                         Account.guardian_consented_at.is_null() &
                                         (Account.status != DELETED) & (Account.created_at < cutoff)))
    for account in minors:
        with database.atomic():
            erase(account, now)
    sessions = Session.delete().where(Session.expires_at <= now).execute()
    tokens = AccountToken.delete().where(AccountToken.expires_at <= now - timedelta(days=1)).execute()
    limits = ratelimit.purge_expired(now)
    return {"minors_deleted": len(minors), "sessions_deleted": sessions,
            "tokens_deleted": tokens, "rate_limits_deleted": limits}


def notify_policy(ctx: Context, *, now: datetime) -> dict:
    """Mail every live account, once, about the upcoming policy version."""
    upcoming = ctx.policies.current().upcoming(now)
    if upcoming is None:
        return {"upcoming": None, "mailed": 0}
    mailed = 0
    todo = (Account.select(Account.id)
            .where((Account.status != DELETED) & Account.activated_at.is_null(False) &
                   (Account.policy_notified.is_null() | (Account.policy_notified != upcoming.id))))
    for row_id in [a.id for a in todo]:
        with database.atomic():
            marked = (Account.update(policy_notified=upcoming.id)
                      .where((Account.id == row_id) & (Account.policy_notified.is_null() |
                                                       (Account.policy_notified != upcoming.id)))
                      .execute())
            if marked != 1:
                continue  # another run got it first
            account = Account.get_by_id(row_id)
            mail.enqueue(ctx.config, ctx.cipher, "policy_notice",
                         ctx.cipher.decrypt(account.email_enc, "account.email"),
                         {"nickname": account.nickname, "policy": upcoming,
                          "url": f"{ctx.config.public_url}{upcoming.url}",
                          "history_url": f"{ctx.config.public_url}/privacy/history/"},
                         account=account, now=now)
            mailed += 1
    return {"upcoming": upcoming.id, "mailed": mailed}


def rotate_keys(ctx: Context) -> int:
    """Re-encrypt every value not under the newest key; returns how many values changed."""
    changed = 0
    current = ctx.cipher.current.id
    targets = [(Account, "account", [("email_enc", "email"), ("birthday_enc", "birthday"),
                                     ("phone_enc", "phone"), ("addresses_enc", "addresses"),
                                     ("guardian_email_enc", "guardian_email")]),
               (Outbox, "outbox", [("recipient_enc", "recipient"), ("body_enc", "body")])]
    for model, prefix, columns in targets:
        for row in model.select().order_by(model.id):
            updates = {}
            for column, name in columns:
                stored = getattr(row, column)
                if stored is not None and ctx.cipher.key_id_of(stored) != current:
                    context = f"{prefix}.{name}"
                    updates[column] = ctx.cipher.encrypt(ctx.cipher.decrypt(stored, context), context)
            if updates:
                with database.atomic():
                    model.update(updates).where(model.id == row.id).execute()
                changed += len(updates)
    return changed


def find_by_email(ctx: Context, address: str) -> Account | None:
    return Account.get_or_none(Account.email_index == email_index(ctx.config.email_index_key, address))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")
