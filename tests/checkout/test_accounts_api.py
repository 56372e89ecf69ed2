"""The accounts API through WSGI (WebTest validates every exchange), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from datetime import datetime, timedelta

import pytest

from checkout import accounts
from checkout.errors import ForbiddenError
from checkout.models import Account, Session

MAJOR_IN_FORCE_MINUS_1S = datetime(2026, 12, 31, 16, 0, 0) - timedelta(seconds=1)


def test_register_activate_login_me_logout(api, shopper, mailbox):
    body = shopper.register()
    activation = mailbox(kind="activate", to="mei@example.com")
    assert len(activation) == 1 and activation[0]["subject"] == "请激活您的 umegou 账户"
    assert "https://shop.example/account/activate/?token=" in activation[0]["body"]
    shopper.login(body, status=403)  # not activated yet
    assert shopper.activate(body) == {"status": "active"}
    answer = shopper.login(body)
    assert answer.json == {"status": "active", "nickname": "小梅"}
    me = api.get("/api/me").json
    assert me["email"] == "mei@example.com" and me["status"] == "active"
    assert me["consent"]["accepted_version"] == "2025-10-01" and me["consent"]["required"] is False
    api.delete("/api/session", status=204)
    api.get("/api/me", status=401)


def test_register_answers_the_same_for_a_taken_email_and_mails_the_owner(api, shopper, mailbox):
    body = shopper.register()
    shopper.activate(body)
    first = api.post("/api/accounts", body, status=202).json
    again = api.post("/api/accounts", dict(body, email="other@example.com"), status=202).json
    assert first == again
    assert [m["kind"] for m in mailbox(to="mei@example.com")] == ["activate", "account_exists"]
    assert "重置" in mailbox(kind="account_exists")[0]["body"]
    # The second registration did not change the owner's password.
    shopper.login(body)


def test_email_lookup_ignores_case_and_spaces(api, shopper):
    body = shopper.register()
    shopper.activate(body)
    shopper.login(dict(body, email="  MEI@Example.COM "))


def test_activation_token_is_single_use(api, shopper, mailbox):
    body = shopper.register()
    token = mailbox.token("activate", body["email"])
    api.post("/api/accounts/activate", {"token": token})
    again = api.post("/api/accounts/activate", {"token": token}, status=400).json
    assert again["error"]["code"] == "invalid_token" and again["error"]["field"] == "token"


def test_activation_token_expires(api, shopper, mailbox, clock, config):
    body = shopper.register()
    clock.advance(seconds=config.activation_ttl_seconds + 1)
    answer = api.post("/api/accounts/activate", {"token": mailbox.token("activate", body["email"])},
                      status=400).json
    assert answer["error"]["code"] == "token_expired"


def test_unknown_token_is_refused(api):
    answer = api.post("/api/accounts/activate", {"token": "x" * 43}, status=400).json
    assert answer["error"] == {"code": "invalid_token", "field": "token",
                               "message": answer["error"]["message"]}


def test_every_field_error_names_the_field(api, registration_body):
    cases = [({"email": "not-an-email"}, "email"), ({"password": "short"}, "password"),
             ({"nickname": ""}, "nickname"), ({"birthday": "2030-01-01"}, "birthday"),
             ({"birthday": "1990-13-01"}, "birthday"), ({"policy_version": "1999-01-01"}, "policy_version"),
             ({"nickname": 5}, "nickname"), ({"is_admin": True}, "is_admin")]
    for change, field in cases:
        answer = api.post("/api/accounts", registration_body(**change), status=400).json
        assert answer["error"]["field"] == field, (change, answer)


def test_invalid_json_is_a_clean_400(api):
    answer = api.test.post("/api/accounts", "{not json", status=400,
                           headers={"Origin": api.origin, "Content-Type": "application/json"}).json
    assert answer["error"]["code"] == "invalid_json"
    assert "Traceback" not in str(answer)


def test_state_changes_need_json(api, registration_body):
    answer = api.test.post("/api/accounts", registration_body(), status=415,
                           headers={"Origin": api.origin}).json
    assert answer["error"]["code"] == "unsupported_media_type"


def test_foreign_or_missing_origin_is_refused(make_api, registration_body, mailbox):
    evil = make_api(origin="https://evil.example")
    answer = evil.post("/api/accounts", registration_body(), status=403).json
    assert answer["error"]["code"] == "forbidden_origin"
    bare = make_api()
    bare.test.post_json("/api/accounts", registration_body(), status=403)
    assert mailbox() == []
    # CORS answers only the configured site origin.
    assert "Access-Control-Allow-Origin" not in evil.get("/api/health").headers
    pre = evil.test.options("/api/accounts", headers={"Origin": "https://evil.example",
                                                      "Access-Control-Request-Method": "POST"},
                            status=403)
    assert "Access-Control-Allow-Origin" not in pre.headers


def test_cors_and_security_headers_for_the_site_origin(api):
    pre = api.test.options("/api/session", headers={"Origin": "https://shop.example",
                                                    "Access-Control-Request-Method": "POST",
                                                    "Access-Control-Request-Headers": "content-type"},
                           status=204)
    assert pre.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert pre.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    got = api.get("/api/health", headers={"Origin": "https://shop.example"})
    assert got.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert got.headers["Access-Control-Allow-Credentials"] == "true"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["X-Frame-Options"] == "DENY"
    assert got.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in got.headers["Content-Security-Policy"]


def test_unknown_api_path_is_json_404(api):
    answer = api.get("/api/nothing-here", status=404).json
    assert answer["error"]["code"] == "not_found"


def session_cookie(response) -> str:
    return next(c for c in response.headers.getall("Set-Cookie") if c.startswith("sf_session="))


def test_session_cookie_flags_and_rotation(api, shopper, config):
    body = shopper.register()
    shopper.activate(body)
    first = session_cookie(shopper.login(body))
    assert "HttpOnly" in first and "samesite=lax" in first.lower() and "Path=/" in first
    assert "Secure" not in first  # plain HTTP on localhost in development
    old = api.test.cookies["sf_session"]
    shopper.login(body)
    assert api.test.cookies["sf_session"] != old
    with Session._meta.database.connection_context():
        assert Session.select().count() == 1  # the pre-login session was ended at login


def test_session_cookie_is_secure_off_localhost(app, make_api, shopper, registration_body):
    body = shopper.register()
    shopper.activate(body)
    other = make_api()
    answer = other.test.post_json("https://shop.example/api/session",
                                  {"email": body["email"], "password": body["password"]},
                                  headers={"Origin": "https://shop.example"})
    assert all("secure" in c.lower() for c in answer.headers.getall("Set-Cookie"))


def test_idle_and_absolute_session_expiry(api, shopper, clock, config):
    shopper.active()
    clock.advance(seconds=config.session_idle_seconds - 60)
    api.get("/api/me")  # activity keeps the session alive
    clock.advance(seconds=config.session_idle_seconds - 60)
    api.get("/api/me")
    clock.advance(seconds=config.session_idle_seconds + 1)
    api.get("/api/me", status=401)
    shopper.login({"email": "mei@example.com", "password": "correct horse 1"})
    for _ in range(config.session_absolute_seconds // config.session_idle_seconds + 1):
        clock.advance(seconds=config.session_idle_seconds - 120)
        if api.get("/api/me", status="*").status_int == 401:
            break
    else:
        raise AssertionError("session outlived its absolute expiry")


def test_wrong_password_and_unknown_email_look_the_same(api, shopper):
    body = shopper.register()
    shopper.activate(body)
    wrong = api.post("/api/session", {"email": body["email"], "password": "wrong password"}, status=401)
    unknown = api.post("/api/session", {"email": "nobody@example.com", "password": "wrong password"},
                       status=401)
    assert wrong.json == unknown.json


def test_login_rate_limit_per_account_holds_across_addresses(make_api, shopper, config):
    body = shopper.register()
    shopper.activate(body)
    allowed, window = config.login_limit_account
    for i in range(allowed):
        make_api(addr=f"198.51.100.{i}").post(
            "/api/session", {"email": body["email"], "password": "wrong password"}, status=401)
    blocked = make_api(addr="198.51.100.200").post(
        "/api/session", {"email": body["email"], "password": body["password"]}, status=429)
    assert blocked.json["error"]["code"] == "rate_limited"
    assert 0 < int(blocked.headers["Retry-After"]) <= window


def test_registration_rate_limit_per_address(make_config, database_url, registration_body, api_for):
    from checkout import create_app

    app = create_app(make_config(database_url, register_limit=(3, 3600)))
    home, neighbour = api_for(app), api_for(app, addr="192.0.2.77")
    for i in range(3):
        home.post("/api/accounts", registration_body(email=f"p{i}@example.com"), status=202)
    blocked = home.post("/api/accounts", registration_body(email="p9@example.com"), status=429)
    assert int(blocked.headers["Retry-After"]) > 0
    neighbour.post("/api/accounts", registration_body(email="n@example.com"), status=202)
    app.config["checkout.database"].close()


def test_profile_update_and_validation(api, shopper):
    shopper.active()
    address = {"name": "梅", "phone": "+86 138 0000 0000", "country": "cn", "province": "上海",
               "city": "上海", "line1": "南京西路 1 号", "postal_code": "200000"}
    me = api.patch("/api/me", {"nickname": "梅梅", "phone": "+86 138 0000 0000",
                               "birthday": "1990-05-04", "addresses": [address]}).json
    assert me["nickname"] == "梅梅" and me["birthday"] == "1990-05-04"
    assert me["addresses"][0]["country"] == "CN"
    bad = api.patch("/api/me", {"addresses": [dict(address, city="")]}, status=400).json
    assert bad["error"]["field"] == "addresses[0].city"
    bad = api.patch("/api/me", {"addresses": [dict(address, colour="red")]}, status=400).json
    assert bad["error"]["field"] == "addresses[0].colour"
    bad = api.patch("/api/me", {"email": "x@example.com"}, status=400).json
    assert bad["error"]["field"] == "email"
    bad = api.patch("/api/me", {"birthday": "2015-01-01"}, status=400).json
    assert bad["error"]["code"] == "guardian_required"


def test_export_contains_everything_stored(api, shopper):
    shopper.active()
    api.patch("/api/me", {"phone": "13800000000"})
    export = api.get("/api/me/export")
    assert "attachment" in export.headers["Content-Disposition"]
    data = export.json
    assert data["profile"]["email"] == "mei@example.com" and data["profile"]["phone"] == "13800000000"
    assert data["consents"][0]["policy_version"] == "2025-10-01"
    assert data["consents"][0]["policy_sha256"] == "b" * 64
    assert len(data["sessions"]) == 1


def test_delete_erases_personal_data_and_ends_sessions(api, shopper, ctx):
    body = shopper.active()
    api.patch("/api/me", {"phone": "13800000000", "birthday": "1990-01-01"})
    wrong = api.delete("/api/me", {"password": "not my password"}, status=401).json
    assert wrong["error"]["field"] == "password"
    assert api.delete("/api/me", {"password": body["password"]}).json == {"status": "deleted"}
    api.get("/api/me", status=401)
    shopper.login(body, status=401)
    with Account._meta.database.connection_context():
        row = Account.get()
        assert row.status == "deleted"
        assert all(getattr(row, c) is None for c in accounts.ENC_COLUMNS)
        assert row.email_index is None and row.nickname is None and row.password_hash is None
        assert Session.select().count() == 0
    # The address is free again.
    shopper.register(nickname="新号")
    assert shopper.activate(body) == {"status": "active"}


def test_password_reset_ends_every_session(api, shopper, mailbox, make_api, registration_body):
    body = shopper.active()
    other_device = make_api()
    shopper_two = type(shopper)(other_device, mailbox)
    shopper_two.login(body)
    stranger = api.post("/api/password-reset", {"email": "nobody@example.com"}, status=202).json
    mine = api.post("/api/password-reset", {"email": body["email"]}, status=202).json
    assert stranger == mine
    token = mailbox.token("reset", body["email"])
    assert len(mailbox(kind="reset")) == 1
    api.post("/api/password-reset/confirm", {"token": token, "password": "a brand new one"})
    other_device.get("/api/me", status=401)
    api.get("/api/me", status=401)
    shopper.login(body, status=401)
    shopper.login(dict(body, password="a brand new one"))
    reuse = api.post("/api/password-reset/confirm", {"token": token, "password": "yet another one"},
                     status=400).json
    assert reuse["error"]["code"] == "invalid_token"


def test_major_policy_in_force_requires_consent(api, shopper, clock):
    clock.now = MAJOR_IN_FORCE_MINUS_1S - timedelta(days=1)
    shopper.active()
    api.patch("/api/me", {"nickname": "before"})
    clock.now = MAJOR_IN_FORCE_MINUS_1S
    api.patch("/api/me", {"nickname": "still fine"})
    clock.advance(seconds=1)
    blocked = api.patch("/api/me", {"nickname": "after"}, status=403).json
    assert blocked["error"]["code"] == "consent_required"
    assert blocked["error"]["policy_version"] == "2027-01-01"
    me = api.get("/api/me").json  # reading stays possible
    assert me["consent"]["required"] is True and me["consent"]["required_version"] == "2027-01-01"
    old = api.post("/api/me/consents", {"policy_version": "2025-10-01"}, status=400).json
    assert old["error"]["field"] == "policy_version"
    accepted = api.post("/api/me/consents", {"policy_version": "2027-01-01"}, status=201).json
    assert accepted["required"] is False and accepted["accepted_version"] == "2027-01-01"
    api.patch("/api/me", {"nickname": "after"})


def test_accepting_the_upcoming_major_version_early_counts(api, shopper, clock):
    clock.now = MAJOR_IN_FORCE_MINUS_1S - timedelta(days=1)
    shopper.active()
    api.post("/api/me/consents", {"policy_version": "2027-01-01"}, status=201)
    clock.now = MAJOR_IN_FORCE_MINUS_1S
    clock.advance(seconds=3600)
    api.patch("/api/me", {"nickname": "ok"})


def test_deletion_needs_no_new_consent(api, shopper, clock):
    clock.now = MAJOR_IN_FORCE_MINUS_1S - timedelta(days=1)
    body = shopper.active()
    clock.advance(days=2)
    api.patch("/api/me", {"nickname": "blocked"}, status=403)
    api.delete("/api/me", {"password": body["password"]})


def test_minor_needs_guardian_email_and_consent(api, shopper, mailbox, registration_body):
    minor = registration_body(birthday="2012-06-01")
    missing = api.post("/api/accounts", minor, status=400).json
    assert missing["error"]["field"] == "guardian_email"
    same = api.post("/api/accounts", dict(minor, guardian_email=minor["email"]), status=400).json
    assert same["error"]["field"] == "guardian_email"
    answer = api.post("/api/accounts", dict(minor, guardian_email="mum@example.com"), status=202).json
    assert answer["guardian_consent_required"] is True
    assert shopper.activate(minor) == {"status": "pending_guardian_consent"}
    shopper.login(minor)
    me = api.get("/api/me").json
    assert me["status"] == "pending_guardian_consent"
    assert me["guardian_consent"] == {"required": True, "given": False}
    blocked = api.patch("/api/me", {"phone": "13800000000"}, status=403).json
    assert blocked["error"]["code"] == "guardian_consent_required"
    with Account._meta.database.connection_context():
        with pytest.raises(ForbiddenError, match="guardian"):
            accounts.require_full_account(Account.get())
    guardian_mail = mailbox(kind="guardian_consent", to="mum@example.com")
    assert len(guardian_mail) == 1 and "https://shop.example/account/guardian/?token=" in guardian_mail[0]["body"]
    token = mailbox.token("guardian_consent", "mum@example.com")
    assert api.post("/api/accounts/guardian-consent", {"token": token}).json == {"status": "active"}
    assert api.get("/api/me").json["guardian_consent"] == {"required": True, "given": True}
    with Account._meta.database.connection_context():
        accounts.require_full_account(Account.get())
    api.post("/api/accounts/guardian-consent", {"token": token}, status=400)


def test_guardian_refusal_deletes_the_minor(api, shopper, mailbox, registration_body):
    minor = registration_body(birthday="2012-06-01", guardian_email="dad@example.com")
    api.post("/api/accounts", minor, status=202)
    token = mailbox.token("guardian_consent", "dad@example.com")
    answer = api.post("/api/accounts/guardian-consent", {"token": token, "decision": "refuse"}).json
    assert answer == {"status": "deleted"}
    with Account._meta.database.connection_context():
        assert Account.get().email_enc is None


def test_purge_deletes_minors_never_consented(api, shopper, ctx, clock, config, registration_body):
    api.post("/api/accounts", registration_body(birthday="2012-06-01", guardian_email="g@example.com"),
             status=202)
    api.post("/api/accounts", registration_body(email="adult@example.com"), status=202)
    with Account._meta.database.connection_context():
        assert accounts.purge(ctx, now=clock.now)["minors_deleted"] == 0
        clock.advance(days=config.minor_purge_days, seconds=1)
        assert accounts.purge(ctx, now=clock.now)["minors_deleted"] == 1
        statuses = sorted(a.status for a in Account.select())
    assert statuses == ["deleted", "pending_activation"]


def test_notify_policy_mails_each_account_once(api, shopper, ctx, mailbox, clock):
    shopper.active()
    shopper.register(email="quiet@example.com")  # never activated: not mailed
    with Account._meta.database.connection_context():
        assert accounts.notify_policy(ctx, now=clock.now) == {"upcoming": "2027-01-01", "mailed": 1}
        assert accounts.notify_policy(ctx, now=clock.now)["mailed"] == 0
    notice = mailbox(kind="policy_notice")
    assert len(notice) == 1 and notice[0]["to"] == "mei@example.com"
    assert "2027-01-01" in notice[0]["subject"] and "重大变更" in notice[0]["body"]


def test_registration_records_policy_sha(api, shopper):
    shopper.active()
    export = api.get("/api/me/export").json
    assert export["consents"] == [{"policy_version": "2025-10-01", "policy_sha256": "b" * 64,
                                   "accepted_at": "2026-11-25T12:00:00Z", "source": "registration"}]


def test_internal_error_is_json_without_trace(api, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(accounts, "register", boom)
    answer = api.post("/api/accounts", {"x": 1}, status=500)
    assert answer.json["error"]["code"] == "internal_error"
    assert "secret internals" not in answer.text and "Traceback" not in answer.text


def test_health_says_ready_only_with_a_catalog(api, site_dir):
    (site_dir / "catalog.json").unlink()
    answer = api.get("/api/health", status=503).json  # no catalog.json: orders cannot be priced
    assert answer == {"status": "degraded", "database": True, "catalog": False, "policies": True}
    (site_dir / "catalog.json").write_text(json.dumps({"schema": 1, "version": "v1", "currency": "CNY",
                                                       "products": []}), encoding="utf-8")
    assert api.get("/api/health").json == {"status": "ok", "database": True, "catalog": True, "policies": True}


def test_taken_and_free_emails_cost_the_same_hashing(api, shopper, monkeypatch):
    """No timing oracle: both registration paths hash once, both login paths verify once."""
    import argon2

    body = shopper.register()
    shopper.activate(body)
    calls = []
    real_hash, real_verify = argon2.PasswordHasher.hash, argon2.PasswordHasher.verify
    monkeypatch.setattr(argon2.PasswordHasher, "hash",
                        lambda self, *a, **k: calls.append("hash") or real_hash(self, *a, **k))
    monkeypatch.setattr(argon2.PasswordHasher, "verify",
                        lambda self, *a, **k: calls.append("verify") or real_verify(self, *a, **k))
    api.post("/api/accounts", body, status=202)
    taken, calls[:] = list(calls), []
    api.post("/api/accounts", dict(body, email="free@example.com"), status=202)
    assert taken == calls == ["hash"]
    calls[:] = []
    api.post("/api/session", {"email": body["email"], "password": "wrong password"}, status=401)
    known, calls[:] = list(calls), []
    api.post("/api/session", {"email": "ghost@example.com", "password": "wrong password"}, status=401)
    assert known == calls == ["verify"]


def test_signed_in_hint_cookie_follows_the_session(api, shopper):
    """Pages read sf_signed_in (never the HttpOnly session) to skip API calls that can only 401."""
    body = shopper.register()
    shopper.activate(body)
    cookies = shopper.login(body).headers.getall("Set-Cookie")
    hint = [c for c in cookies if c.startswith("sf_signed_in=1")]
    assert hint and "HttpOnly" not in hint[0] and "samesite=lax" in hint[0].lower()
    assert api.test.cookies.get("sf_signed_in") == "1"
    api.delete("/api/session", status=204)
    assert "sf_signed_in" not in api.test.cookies
    # a session that ended server-side clears the hint on the next 401
    shopper.login(body)
    api.test.set_cookie("sf_session", "not-a-valid-token")
    api.get("/api/me", status=401)
    assert "sf_signed_in" not in api.test.cookies
