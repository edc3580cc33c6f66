"""`GET /bitbucket/oauth/start` and `GET /slack/oidc/callback`: Sign in with Slack before Bitbucket's consent.

The start page uses up the `/bb login` link's state, sets a cookie in the browser and sends it to Slack; the
callback asks for that cookie (a Slack return address forwarded to another browser is refused), uses up Slack's
state, asks Slack who signed in, and only for the person the link was made for goes on to Bitbucket (setting the
cookie Bitbucket's callback will ask for). Anyone else gets a page that says the link belongs to someone else;
nothing is linked. HEAD uses nothing up (link checkers and prefetchers send it).
"""

from __future__ import annotations

import logging
import secrets
import time

from bot import accounts
from bot.accounts import signin
from bot.core.web import Request, Response
from handlers.oauth import NOTHING_LINKED, page

log = logging.getLogger(__name__)

SOMEONE_ELSES = (
    "This sign-in link belongs to someone else: it was made for another Slack account than the one you signed in "
    "with. Nothing was linked. To link your own Bitbucket account, run /bb login in Slack yourself."
)


def _redeem(services, state: str | None, stage: str, what_this_is: str, browser: str | None = None) -> accounts.LoginRequest | Response:
    """Use up the state of `stage`: who it was made for, or the page that says why not."""
    if accounts.missing_settings(services.settings):
        return page(503, "Not set up", "Linking Bitbucket accounts is not set up on this bot; ask its admin.")
    if not state:
        return page(400, "Sign-in refused", f"{what_this_is} {NOTHING_LINKED}")
    try:
        return accounts.redeem_state(services.store, state, now=time.time(), stage=stage, browser=browser)
    except accounts.InvalidLoginState as refusal:
        return page(400, "Sign-in refused", f"{refusal.reason} {NOTHING_LINKED}")


def make_start_handler(services):
    def handle(request: Request) -> Response:
        if request.method == "HEAD":
            return page(200, "Bitbucket ChatOps", "")
        settings = services.settings
        who = _redeem(services, request.query.get("state"), accounts.STAGE_LINK, "This address is where a /bb login link leads.")
        if isinstance(who, Response):
            return who
        nonce, browser = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
        slack_state = accounts.start_login(
            services.store, who.slack_user_id, who.team_id, now=time.time(), stage=accounts.STAGE_SLACK, nonce=nonce,
            browser=browser,
        )
        response = redirect(signin.authorize_url(settings, slack_state, nonce))
        # Slack's return is honoured only in this browser: a copied return address opened elsewhere lacks it.
        response.headers.append(("Set-Cookie", signin.cookie_header(
            browser, settings, max_age=accounts.LOGIN_STATE_LIFETIME, name=signin.SIGNIN_COOKIE)))
        return response

    return handle


def make_callback_handler(services):
    def handle(request: Request) -> Response:
        if request.method == "HEAD":
            return page(200, "Bitbucket ChatOps", "")
        try:
            response = after_slack(services, request.query, signin.cookie_value(request.header("Cookie"), signin.SIGNIN_COOKIE))
            # The browser's proof that it opened the link served once: forget it whatever came of it.
            response.headers.append(("Set-Cookie", signin.cookie_header("", services.settings, max_age=0, name=signin.SIGNIN_COOKIE)))
            return response
        except Exception:  # noqa: BLE001 - the browser gets a plain page; the details go to the log
            log.exception("the Sign in with Slack callback failed")
            return page(500, "Something went wrong", "Something went wrong on our side; it has been logged. " + NOTHING_LINKED)

    return handle


def after_slack(services, query: dict[str, str], browser: str | None = None) -> Response:
    settings = services.settings
    who = _redeem(services, query.get("state"), accounts.STAGE_SLACK, "This address is where Slack sends you back after signing in.", browser)
    if isinstance(who, Response):
        return who
    if query.get("error"):
        return page(400, "Sign-in cancelled", f"Slack did not sign you in ({query['error'][:100]}). {NOTHING_LINKED}")
    code = query.get("code")
    if not code:
        return page(400, "Sign-in refused", f"Slack sent no authorization code. {NOTHING_LINKED}")
    try:
        user_id, team_id = signin.signed_in_person(settings, code, who.nonce_hash)
    except signin.SignInFailed as failure:
        services.audit.record(who.slack_user_id, "login", "slack", ok=False, result=failure.reason)
        return page(failure.status, "Sign-in failed", f"{failure.reason} {NOTHING_LINKED}")
    if (user_id, team_id) != (who.slack_user_id, who.team_id):
        log.warning("a /bb login link of %s was opened by Slack user %s: refused", who.slack_user_id, user_id)
        services.audit.record(who.slack_user_id, "login", f"slack:{user_id}", ok=False, result="the link was opened by another Slack user")
        return page(403, "This link belongs to someone else", SOMEONE_ELSES)
    browser = secrets.token_urlsafe(32)
    bitbucket_state = accounts.start_login(
        services.store, who.slack_user_id, who.team_id, now=time.time(), stage=accounts.STAGE_BITBUCKET, browser=browser
    )
    response = redirect(accounts.authorize_url(settings, bitbucket_state))
    response.headers.append(("Set-Cookie", signin.cookie_header(browser, settings, max_age=accounts.LOGIN_STATE_LIFETIME)))
    return response


def redirect(location: str) -> Response:
    response = page(302, "Redirecting", "Redirecting…")
    response.headers.append(("Location", location))
    return response
