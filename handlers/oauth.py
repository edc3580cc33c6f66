"""`GET /bitbucket/oauth/callback`: where Bitbucket sends a person's browser back after `/bb login`.

The page answers in a few plain words (no external assets, everything escaped) and never shows the code,
the state or a token; a bad, reused or expired state is a 400, Bitbucket failing us a 502. The state is the one
Sign in with Slack made (handlers/signin.py), and it is honoured only in the browser that signed in: the
cookie set then must come back with it, so a consent URL forwarded to someone else links nothing.
"""

from __future__ import annotations

import html
import logging
import time

from bot import accounts
from bot.core import outbox
from bot.accounts import signin
from bot.bitbucket import BitbucketError
from bot.core.web import Request, Response
from bot.accounts.commands import linked_notice

log = logging.getLogger(__name__)

NOTHING_LINKED = "Nothing was linked. Run /bb login in Slack for a new link."
PAGE_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
]


def make_handler(services):
    def handle(request: Request) -> Response:
        if request.method == "HEAD":
            # Link checkers and prefetchers send HEAD; only a real visit may use up a login.
            return page(200, "Bitbucket ChatOps", "")
        try:
            response = complete_login(services, request.query, signin.cookie_value(request.header("Cookie")))
            # The browser's proof of its Slack sign-in served once: forget it whatever came of it.
            response.headers.append(("Set-Cookie", signin.cookie_header("", services.settings, max_age=0)))
            return response
        except Exception:  # noqa: BLE001 - the browser gets a plain page; the details go to the log
            log.exception("the Bitbucket sign-in callback failed")
            return page(500, "Something went wrong", "Something went wrong on our side; it has been logged. " + NOTHING_LINKED)

    return handle


def complete_login(services, query: dict[str, str], browser: str | None = None) -> Response:
    settings = services.settings
    if accounts.missing_settings(settings):
        return page(503, "Not set up", "Linking Bitbucket accounts is not set up on this bot; ask its admin.")
    state = query.get("state")
    if not state:
        return page(400, "Sign-in refused", "This address is where Bitbucket sends you back after /bb login. " + NOTHING_LINKED)
    try:
        who = accounts.redeem_state(services.store, state, now=time.time(), stage=accounts.STAGE_BITBUCKET, browser=browser)
    except accounts.InvalidLoginState as refusal:
        return page(400, "Sign-in refused", f"{refusal.reason} {NOTHING_LINKED}")
    if query.get("error"):
        reason = query.get("error_description") or query["error"]
        return page(400, "Access not granted", f"Bitbucket did not grant access ({reason[:200]}). {NOTHING_LINKED}")
    code = query.get("code")
    if not code:
        return page(400, "Sign-in refused", f"Bitbucket sent no authorization code. {NOTHING_LINKED}")
    try:
        tokens = accounts.exchange_code(settings, code, now=time.time())
        identity = accounts.fetch_identity(services, tokens, who.slack_user_id)
    except accounts.TokenExchangeFailed as failure:
        services.audit.record(who.slack_user_id, "login", "bitbucket", ok=False, result=failure.reason)
        return page(failure.status, "Sign-in failed", f"{failure.reason} {NOTHING_LINKED}")
    except BitbucketError as error:
        services.audit.record(who.slack_user_id, "login", "bitbucket", ok=False, result=str(error))
        return page(502, "Sign-in failed", f"Bitbucket did not say who you are ({error}). {NOTHING_LINKED}")
    cipher = accounts.token_keys(settings)
    account = accounts.save_login(services.store, cipher, who, tokens, identity, now=time.time())
    services.audit.record(who.slack_user_id, "login", f"bitbucket:{account.nickname or account.bitbucket_uuid}", ok=True)
    with services.store.transaction() as db:
        # Through the outbox, so a Slack hiccup does not lose the news; the page already says it worked.
        outbox.enqueue(db, channel=account.slack_user_id, message=linked_notice(account), key=f"login:{account.slack_user_id}")
    return page(200, "Linked", f"Your Slack account is linked to Bitbucket as {account.name}. You can close this tab.")


def page(status: int, title: str, text: str) -> Response:
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34em;margin:4em auto;padding:0 1em}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return Response(status, body.encode(), list(PAGE_HEADERS))
