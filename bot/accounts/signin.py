"""Sign in with Slack (OpenID Connect): proves who is at the browser before Bitbucket's consent page.

A `/bb login` link names the person who asked (its state is bound to their Slack user); anyone the link is
forwarded to could open it. So the link leads to `START_PATH`, which sends the browser to Slack's authorize page
(scope `openid`, a state and a nonce); Slack sends it back to `CALLBACK_PATH` with a code; the bot exchanges the
code (`openid.connect.token`, with the app's client id and secret), checks the ID token's audience and nonce, and
reads the person (`openid.connect.userInfo`). Only when that is the Slack user and workspace the link was made
for does the browser go on to Bitbucket, with a cookie that Bitbucket's callback requires: a Bitbucket consent
URL forwarded from there is refused too. Slack's return address is bound the same way: the start page sets a
cookie that `CALLBACK_PATH` requires, so a Slack return address copied and forwarded to someone else (whose
browser never opened the link) links nobody.

The ID token comes straight from Slack's token endpoint over TLS, so its signature is not checked (OpenID
Connect Core 3.1.3.7 allows TLS to stand for it there); the person is read from `openid.connect.userInfo`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import urlencode

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.config import Settings

START_PATH = "/bitbucket/oauth/start"
CALLBACK_PATH = "/slack/oidc/callback"
BROWSER_COOKIE = "bb_chatops_login"  # set at Slack's return, asked for at Bitbucket's
SIGNIN_COOKIE = "bb_chatops_signin"  # set at the start page, asked for at Slack's return
USER_ID_CLAIM = "https://slack.com/user_id"
TEAM_ID_CLAIM = "https://slack.com/team_id"


class SignInFailed(Exception):
    """Slack did not tell us who is at the browser. `status` is what the page answers, `reason` is safe to show."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def missing_settings(settings: Settings) -> list[str]:
    wanted = (("SLACK_CLIENT_ID", settings.slack_client_id), ("SLACK_CLIENT_SECRET", settings.slack_client_secret))
    return [name for name, value in wanted if not value]


def start_url(settings: Settings, state: str) -> str:
    """Where a `/bb login` link leads."""
    return f"{settings.public_url.rstrip('/')}{START_PATH}?{urlencode({'state': state})}"


def redirect_uri(settings: Settings, path: str = CALLBACK_PATH) -> str:
    """A redirect URL to list in the Slack app (OAuth & Permissions › Redirect URLs): `/bb login`'s, or another
    sign-in's own (the dashboard's)."""
    return settings.public_url.rstrip("/") + path


def authorize_url(settings: Settings, state: str, nonce: str, *, redirect_path: str = CALLBACK_PATH) -> str:
    query = urlencode({
        "response_type": "code", "scope": "openid", "client_id": settings.slack_client_id,
        "redirect_uri": redirect_uri(settings, redirect_path), "state": state, "nonce": nonce,
    })
    separator = "&" if "?" in settings.slack_oidc_authorize_url else "?"
    return f"{settings.slack_oidc_authorize_url}{separator}{query}"


def _client(settings: Settings, token: str | None = None) -> WebClient:
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=10)


def signed_in_person(settings: Settings, code: str, nonce_hash: str, *, redirect_path: str = CALLBACK_PATH) -> tuple[str, str]:
    """(Slack user id, team id) of whoever signed in and was given `code` (sent back to `redirect_path`); raises
    SignInFailed."""
    try:
        answer = _client(settings).openid_connect_token(
            client_id=settings.slack_client_id, client_secret=settings.slack_client_secret, code=code,
            redirect_uri=redirect_uri(settings, redirect_path),
        )
    except SlackApiError as error:
        words = error.response.get("error") if isinstance(error.response.data, dict) else None
        raise SignInFailed(400 if words == "invalid_code" else 502, f"Slack did not accept the sign-in ({words or 'no answer'}).") from None
    except Exception as error:  # noqa: BLE001 - a network failure
        raise SignInFailed(502, f"Slack could not be reached to finish the sign-in ({type(error).__name__}).") from None
    claims = id_token_claims(str(answer.get("id_token") or ""))
    if claims.get("aud") != settings.slack_client_id or not nonce_matches(claims.get("nonce"), nonce_hash):
        raise SignInFailed(400, "Slack's answer was not made for this sign-in.")
    try:
        person = _client(settings, str(answer.get("access_token") or "")).openid_connect_userInfo()
    except SlackApiError as error:
        words = error.response.get("error") if isinstance(error.response.data, dict) else None
        raise SignInFailed(502, f"Slack did not say who you are ({words or 'no answer'}).") from None
    except Exception as error:  # noqa: BLE001
        raise SignInFailed(502, f"Slack could not be reached to finish the sign-in ({type(error).__name__}).") from None
    user_id, team_id = person.get(USER_ID_CLAIM), person.get(TEAM_ID_CLAIM)
    if not isinstance(user_id, str) or not isinstance(team_id, str) or not user_id or not team_id:
        raise SignInFailed(502, "Slack did not say who you are.")
    return user_id, team_id


def id_token_claims(id_token: str) -> dict:
    """Pure: the claims of a JWT (its middle part), or {} when it is not one."""
    parts = id_token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def nonce_hash_of(nonce: str) -> str:
    """What is kept of a nonce until Slack's answer comes back."""
    return hashlib.sha256(nonce.encode()).hexdigest()


def nonce_matches(nonce, nonce_hash: str) -> bool:
    if not isinstance(nonce, str) or not nonce or not nonce_hash:
        return False
    return hmac.compare_digest(hashlib.sha256(nonce.encode()).hexdigest(), nonce_hash)


def cookie_header(value: str, settings: Settings, *, max_age: int, name: str = BROWSER_COOKIE) -> str:
    """A browser's proof that it went through the stage before, sent back only to the next stage's return address:
    `BROWSER_COOKIE` (it signed in to Slack) to Bitbucket's callback, `SIGNIN_COOKIE` (it opened the `/bb login`
    link) to Slack's."""
    path = CALLBACK_PATH if name == SIGNIN_COOKIE else "/bitbucket/oauth/callback"
    secure = "; Secure" if settings.public_url.startswith("https://") else ""
    return f"{name}={value}; Max-Age={max_age}; Path={path}; HttpOnly; SameSite=Lax{secure}"


def cookie_value(cookie_header_value: str | None, name: str = BROWSER_COOKIE) -> str | None:
    """Pure: one of our cookies' value from a `Cookie` header."""
    for part in (cookie_header_value or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None
