"""Who may read the dashboard: Sign in with Slack (OpenID Connect, `bot.accounts.signin`) with the dashboard's own
return address, members of the bot's workspace only, in a session cookie for 12 hours.

The state and the nonce of a sign-in live in the session cookie of the browser that started it (signed, HttpOnly,
SameSite=Lax, scoped to /dashboard): a Slack return address copied to another browser finds no state there and
signs nobody in. Once Slack says who signed in, the team must be the bot's own (`auth.test`, cached an hour);
then the session holds the person, the moment, and a CSRF token that every POST must carry.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field

from flask import abort, current_app, redirect, render_template, request, session, url_for

from bot.accounts import signin

log = logging.getLogger(__name__)

CALLBACK_PATH = "/dashboard/oidc/callback"
SESSION_COOKIE = "bb_chatops_dashboard"
SESSION_HOURS = 12
TEAM_CACHE_SECONDS = 3600.0


def session_key(settings) -> bytes:
    """The key that signs the session cookie, derived from the Slack app's secrets (changing either signs
    everyone out)."""
    material = f"{settings.slack_client_secret}\0{settings.slack_signing_secret}\0{settings.chatops_secret_key}".encode()
    return hmac.new(b"bitbucket-chatops dashboard session", material, hashlib.sha256).digest()


def secure_cookie(settings) -> bool:
    """Secure unless the bot is reached over plain http://127.0.0.1 (a developer's machine)."""
    return not settings.public_url.startswith("http://127.0.0.1")


def missing_settings(settings) -> list[str]:
    return signin.missing_settings(settings) + ([] if settings.public_url else ["PUBLIC_URL"])


@dataclass
class Workspace:
    """The bot's own Slack team (`auth.test`), asked once an hour."""

    team_id: str = ""
    asked_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def team(self, slack) -> str:
        with self.lock:
            if not self.team_id or time.monotonic() - self.asked_at > TEAM_CACHE_SECONDS:
                self.team_id = str(slack.auth_test().get("team_id") or "")
                self.asked_at = time.monotonic()
            return self.team_id


def services():
    return current_app.extensions["chatops"]


def person() -> str | None:
    """The Slack user signed in to this browser, while the session lasts."""
    user, at = session.get("user"), session.get("at")
    if not isinstance(user, str) or not isinstance(at, (int, float)):
        return None
    if not 0 <= services().timestamp() - at < SESSION_HOURS * 3600:
        return None
    return user


def is_admin() -> bool:
    user = person()
    return user is not None and services().permissions.is_admin(user)


def csrf_token() -> str:
    return session.get("csrf") or ""


def members_only(view):
    """A page for signed-in members; anyone else is sent to sign in (and sees nothing of it)."""
    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if person() is None:
            return redirect(url_for("access.signin_page", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return guarded


def admins_only(view):
    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if person() is None:
            abort(403)
        if not is_admin():
            abort(403, "Only the bot's admins (CHATOPS_ADMINS) may do this.")
        return view(*args, **kwargs)

    return guarded


def check_csrf() -> None:
    """Every POST carries the session's token (a form's hidden field): one from another site has none."""
    if request.method != "POST":
        return
    expected, given = session.get("csrf"), request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        abort(403, "This form has expired or did not come from this dashboard: reload the page and try again.")


def safe_next(target: str | None) -> str:
    """Only a path of the dashboard itself (never another site, nor `//host`)."""
    if target and target.startswith("/dashboard") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.overview")


# --- the views ---------------------------------------------------------------------------------------------


def signin_page():
    if person() is not None:
        return redirect(safe_next(request.args.get("next")))
    missing = missing_settings(services().settings)
    return render_template("signin.html", missing=missing, next=safe_next(request.args.get("next"))), 503 if missing else 200


def start():
    settings = services().settings
    if missing_settings(settings):
        return redirect(url_for("access.signin_page"))
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.clear()
    session.update({"oidc_state": state, "oidc_nonce": signin.nonce_hash_of(nonce), "next": safe_next(request.args.get("next"))})
    return redirect(signin.authorize_url(settings, state, nonce, redirect_path=CALLBACK_PATH))


def callback():
    bot = services()
    settings = bot.settings
    expected, nonce_hash, target = session.pop("oidc_state", None), session.pop("oidc_nonce", ""), session.pop("next", None)
    given = request.args.get("state", "")
    if not expected or not hmac.compare_digest(str(expected).encode(), given.encode()):
        return refused(400, "This sign-in was not started in this browser, or it was used already. Start again.")
    if request.args.get("error"):
        return refused(400, f"Slack did not sign you in ({request.args['error'][:100]}).")
    code = request.args.get("code")
    if not code:
        return refused(400, "Slack sent no authorization code.")
    try:
        user_id, team_id = signin.signed_in_person(settings, code, nonce_hash, redirect_path=CALLBACK_PATH)
    except signin.SignInFailed as failure:
        return refused(failure.status, failure.reason)
    try:
        ours = bot.part(Workspace) or bot.provide(Workspace())
        team = ours.team(bot.slack)
    except Exception:  # noqa: BLE001 - Slack could not say which workspace the bot is in
        log.exception("auth.test failed during a dashboard sign-in")
        return refused(502, "Slack could not tell which workspace this bot belongs to; try again in a minute.")
    if not team or team_id != team:
        log.warning("dashboard sign-in refused: Slack user %s of team %s is not in the bot's workspace", user_id, team_id)
        return refused(403, "This dashboard is for members of the bot's Slack workspace only.")
    session.clear()
    session.permanent = True
    session.update({"user": user_id, "team": team_id, "at": bot.timestamp(), "csrf": secrets.token_urlsafe(32)})
    return redirect(safe_next(target))


def signout():
    session.clear()
    return redirect(url_for("access.signin_page"))


def refused(status: int, reason: str):
    return render_template("refused.html", reason=reason), status


ROUTES = (
    ("/dashboard/signin", "signin_page", signin_page, ("GET",)),
    ("/dashboard/signin/start", "start", start, ("GET",)),
    (CALLBACK_PATH, "callback", callback, ("GET",)),
    ("/dashboard/signout", "signout", signout, ("POST",)),
)
