"""Routes of the accounts API: thin wrappers that parse the request and call ``accounts``."""

from __future__ import annotations

import bottle

from . import accounts
from .accounts import Context
from .errors import AuthError
from .models import Account
from .web import (api, clear_session_cookie, client_address, read_json, session_token,
                  set_session_cookie)


def current_account(ctx: Context, *, consent: bool = True) -> Account:
    """The logged-in shopper; with ``consent``, also refuse while a major policy awaits consent.

    Other route modules (orders) call this for every state-changing call of a shopper.
    """
    now = ctx.config.clock()
    account = accounts.authenticate(ctx, session_token(), now=now)
    if account is None:
        raise AuthError("请先登录。Log in first.", code="unauthorized")
    if consent:
        accounts.require_consent(ctx, account, now)
    return account


def add_account_routes(app: bottle.Bottle, ctx: Context) -> None:
    config = ctx.config
    plugin = [api(config)]

    def route(method: str, path: str):
        return lambda fn: app.route(path, method=method, callback=fn, apply=plugin)

    @route("POST", "/api/accounts")
    def register():
        return 202, accounts.register(ctx, read_json(), client=client_address(config), now=config.clock())

    @route("POST", "/api/accounts/activate")
    def activate():
        return accounts.activate(ctx, read_json(), now=config.clock())

    @route("POST", "/api/accounts/guardian-consent")
    def guardian_consent():
        return accounts.guardian_decision(ctx, read_json(), now=config.clock())

    @route("POST", "/api/session")
    def login():
        body = read_json()
        token, account = accounts.login(ctx, body, client=client_address(config), now=config.clock())
        accounts.logout(session_token())  # rotate: a pre-login session never survives login
        set_session_cookie(config, token)
        return {"status": account.status, "nickname": account.nickname}

    @route("DELETE", "/api/session")
    def logout():
        accounts.logout(session_token())
        clear_session_cookie(config)
        return 204, None

    @route("GET", "/api/me")
    def me():
        account = current_account(ctx, consent=False)
        return accounts.profile(ctx, account, config.clock())

    @route("PATCH", "/api/me")
    def update_me():
        account = current_account(ctx)
        return accounts.update_profile(ctx, account, read_json(), now=config.clock())

    @route("GET", "/api/me/export")
    def export():
        account = current_account(ctx, consent=False)
        bottle.response.set_header("Content-Disposition", 'attachment; filename="umegou-my-data.json"')
        return accounts.export_data(ctx, account, config.clock())

    @route("DELETE", "/api/me")
    def delete_me():
        # Deleting stays possible without accepting a new policy: refusing it is a reason to leave.
        account = current_account(ctx, consent=False)
        result = accounts.delete_account(ctx, account, read_json(), now=config.clock())
        clear_session_cookie(config)
        return result

    @route("POST", "/api/me/consents")
    def consent():
        account = current_account(ctx, consent=False)
        return 201, accounts.accept_policy(ctx, account, read_json(), now=config.clock())

    @route("POST", "/api/password-reset")
    def reset():
        return 202, accounts.request_password_reset(ctx, read_json(), client=client_address(config),
                                                    now=config.clock())

    @route("POST", "/api/password-reset/confirm")
    def reset_confirm():
        result = accounts.confirm_password_reset(ctx, read_json(), now=config.clock())
        clear_session_cookie(config)
        return result
