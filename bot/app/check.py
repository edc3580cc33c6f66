"""`bitbucket-chatops check`: what works and what to fix, one line each.

A service that refuses the credential (401, 403, Slack's invalid_auth) and a host that cannot be reached (DNS,
connection, TLS, time-out) are different problems with different fixes, and are said so. Looking changes nothing:
no database file is made where there is none. The Slack scopes are those each feature that is on declares
(`Feature.slack_scopes`), compared with what the token was granted and what the app's manifest declares.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import accounts
from bot import registry
from bot.accounts import signin
from bot.bitbucket import BitbucketClient, BitbucketError, Forbidden, NetworkError, NotFound, Unauthorized
from bot.core import manifest
from bot.core.config import Settings
from bot.core.services import bitbucket_auth
from bot.core.store import is_postgres_url
from bot.core.store.postgres_url import redact
from bot.dashboard import access as dashboard_access

OK, FIX, INFO = "ok ", "FIX", " - "
_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_THIS_MACHINE = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class CheckLine:
    status: str
    text: str

    def __str__(self) -> str:
        return f"[{self.status}] {self.text}"


def check_lines(settings: Settings, *, manifest_path: str | Path | None = None, features=registry.FEATURES) -> list[CheckLine]:
    """`manifest_path`: the Slack app's manifest to compare (the repository's, when it is beside the code);
    `features`: whose scopes, `check` lines and tables (the registry's, unless told)."""
    lines = [CheckLine(FIX, problem) for problem in settings.problems()]
    lines += _bitbucket_lines(settings)
    lines += _slack_lines(settings, manifest_path, features)
    lines += _database_lines(settings, features)
    if settings.bitbucket_webhook_secret:  # when it is not set, `problems()` above said so already
        lines.append(CheckLine(OK, "BITBUCKET_WEBHOOK_SECRET is set: deliveries are verified"))
    lines.append(_public_url_line(settings))
    lines.append(_admins_line(settings))
    lines.append(_login_line(settings))
    lines.append(_dashboard_line(settings))
    lines += _rotation_lines(settings)
    return list(dict.fromkeys(lines))  # one line per problem, however many checks noticed it


# --- settings that look set but cannot work ---------------------------------------------------------------------


def _public_url_line(settings: Settings) -> CheckLine:
    url = settings.public_url
    if not url:
        return CheckLine(INFO, "PUBLIC_URL is not set: /bb subscribe will explain how to add the webhook by hand")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return CheckLine(FIX, f"PUBLIC_URL is {url}, which is not an address: write it like https://chatops.example.com")
    if parts.scheme == "https":
        return CheckLine(OK, f"PUBLIC_URL is {url}: webhooks are registered at {url}/bitbucket/webhook")
    if parts.hostname in _THIS_MACHINE:
        return CheckLine(INFO, f"PUBLIC_URL is {url}: fine for trying the bot on this machine, but Slack and Bitbucket "
                               "reach only HTTPS addresses on the internet (use an HTTPS tunnel or terminator for them)")
    return CheckLine(FIX, f"PUBLIC_URL is {url}: Slack and Bitbucket send requests only to HTTPS addresses; serve the bot "
                          f"behind HTTPS and set PUBLIC_URL=https://{parts.netloc}")


def _admins_line(settings: Settings) -> CheckLine:
    admins = settings.chatops_admins
    if not admins:
        return CheckLine(INFO, "CHATOPS_ADMINS is empty: nobody can grant roles; set it to your Slack member ID "
                               "(your Slack profile › ⋮ › Copy member ID)")
    wrong = sorted(a for a in admins if not _MEMBER_ID.match(a))
    if wrong:
        return CheckLine(FIX, "CHATOPS_ADMINS holds " + ", ".join(f"`{a}`" for a in wrong) + ", which "
                              + ("is not a Slack member ID" if len(wrong) == 1 else "are not Slack member IDs")
                              + ": use member IDs like U0123ABCD (a person's Slack profile › ⋮ › Copy member ID), not names")
    return CheckLine(OK, f"CHATOPS_ADMINS: {len(admins)} admin(s)")


def _login_line(settings: Settings) -> CheckLine:
    missing = accounts.missing_settings(settings)
    if not missing:
        return CheckLine(OK, f"/bb login is on: the OAuth consumer's callback must be {settings.public_url}/bitbucket/oauth/callback, "
                             f"and the Slack app must list {signin.redirect_uri(settings)} under OAuth & Permissions › Redirect URLs")
    return CheckLine(INFO, f"/bb login is off (approvals act as people only once they log in): set {', '.join(missing)}")


def _dashboard_line(settings: Settings) -> CheckLine:
    if not settings.dashboard:
        return CheckLine(INFO, "the dashboard is off (DASHBOARD=off)")
    missing = dashboard_access.missing_settings(settings)
    if missing:
        return CheckLine(INFO, f"the dashboard is on but nobody can sign in to it: set {', '.join(missing)}")
    return CheckLine(OK, f"the dashboard is on at {settings.public_url}/dashboard: the Slack app must list "
                         f"{settings.public_url}{dashboard_access.CALLBACK_PATH} under OAuth & Permissions › Redirect URLs")


def _rotation_lines(settings: Settings) -> list[CheckLine]:
    """Rotations in progress: what to run before the former secrets can go (counts only, never values)."""
    lines = []
    if settings.chatops_old_secret_keys:
        lines.append(CheckLine(INFO, f"CHATOPS_OLD_SECRET_KEYS holds {len(settings.chatops_old_secret_keys)} former key(s): "
                                     "run `bitbucket-chatops rotate-keys`, then remove them"))
    if settings.bitbucket_old_webhook_secrets:
        lines.append(CheckLine(INFO, f"BITBUCKET_OLD_WEBHOOK_SECRETS holds {len(settings.bitbucket_old_webhook_secrets)} former "
                                     "secret(s), still accepted: run `bitbucket-chatops webhooks update`, then remove them"))
    return lines


# --- Bitbucket -------------------------------------------------------------------------------------------------


def _bitbucket_lines(settings: Settings) -> list[CheckLine]:
    lines = []
    if not settings.bitbucket_workspace:
        lines.append(CheckLine(INFO, "BITBUCKET_WORKSPACE is empty: commands must name repositories as workspace/slug "
                                     "(`/bb prs acme/api`); set it to your workspace's ID (the `acme` of bitbucket.org/acme) "
                                     "so that `/bb prs api` works"))
    auth = bitbucket_auth(settings)
    if auth is None:
        return lines
    lines.append(CheckLine(INFO, f"Bitbucket credential in use: {auth.describe()}"))
    client = BitbucketClient(settings.bitbucket_api_url, auth, max_retries=1)
    workspace = settings.bitbucket_workspace
    try:
        if workspace:
            page = client.list_repositories(workspace, limit=1)
            lines.append(CheckLine(OK, f"Bitbucket: can read workspace {workspace} ({page.total} repositories visible)"))
        else:
            user = client.get_current_user()
            lines.append(CheckLine(OK, f"Bitbucket: signed in as {user.get('display_name') or user.get('nickname')}"))
    except NetworkError as error:
        lines.append(_unreachable("Bitbucket", settings.bitbucket_api_url, "BITBUCKET_API_URL", error))
    except (Unauthorized, Forbidden) as error:
        lines.append(CheckLine(FIX, f"Bitbucket refused the credential ({error.status}): {error} (check the token, its scopes "
                                    "and its expiry)"))
    except NotFound as error:
        lines.append(CheckLine(FIX, f"Bitbucket: the workspace {workspace} is not found or not visible to this credential "
                                    f"({error}): check BITBUCKET_WORKSPACE (the workspace's ID, as in bitbucket.org/ID)"))
    except BitbucketError as error:
        lines.append(CheckLine(FIX, f"Bitbucket answered {error.status or 'with an error'}: {error} (try again; if it lasts, "
                                    f"check BITBUCKET_API_URL {settings.bitbucket_api_url})"))
    return lines


# --- Slack -----------------------------------------------------------------------------------------------------


def _slack_lines(settings: Settings, manifest_path: str | Path | None, features) -> list[CheckLine]:
    needed = _scopes_needed(settings, features)
    lines = [_needs_line(needed, settings, features)] + _manifest_lines(needed, manifest_path)
    if not settings.slack_bot_token:
        return lines
    try:
        result = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10).auth_test()
    except SlackApiError as error:
        return lines + [CheckLine(FIX, f"Slack refused the bot token: {error.response.get('error')} (check SLACK_BOT_TOKEN: the "
                                       "Bot User OAuth Token, xoxb-…, of the app installed in your workspace)")]
    except Exception as error:  # noqa: BLE001 - no answer at all: the network's problem, said as such
        return lines + [_unreachable("Slack", settings.slack_api_url, "SLACK_API_URL", error)]
    lines.append(CheckLine(OK, f"Slack auth.test: bot {result.get('user')} in workspace {result.get('team')}"))
    headers = {name.lower(): value for name, value in (result.headers or {}).items()}
    granted = headers.get("x-oauth-scopes")
    if isinstance(granted, str):
        have = set(granted.replace(" ", "").split(","))
        lacking = {scope: why for scope, why in needed.get("bot", {}).items() if scope not in have}
        if lacking:
            lines.append(CheckLine(FIX, "the Slack app lacks the scopes " + _scope_list(lacking)
                                   + ": update it from slack-app-manifest.yml and reinstall it"))
        else:
            lines.append(CheckLine(OK, "the Slack token has every scope the features on need"))
    return lines


def _scopes_needed(settings: Settings, features) -> dict[str, dict[str, list[str]]]:
    """{kind: {scope: ["feature: why", …]}} of the features that are on. The user token's scopes are Sign in with
    Slack's, needed once /bb login is on."""
    login_on = not accounts.missing_settings(settings)
    needed: dict[str, dict[str, list[str]]] = {}
    for feature in features:
        for kind, scopes in feature.slack_scopes.items():
            if kind == "user" and not login_on:
                continue
            for scope, why in scopes.items():
                needed.setdefault(kind, {}).setdefault(scope, []).append(f"{feature.name}: {why}")
    return needed


def _needs_line(needed: dict, settings: Settings, features) -> CheckLine:
    """Each feature that is on with its scopes, in the registry's order."""
    parts = []
    for feature in features:
        for kind, scopes in feature.slack_scopes.items():
            if kind in needed and any(scope in needed[kind] for scope in scopes):
                name = feature.name + (" (user token)" if kind == "user" else "")
                parts.append(f"{name}: {', '.join(scopes)}")
    return CheckLine(INFO, "Slack scopes the features on need: " + "; ".join(parts))


def _manifest_lines(needed: dict, manifest_path: str | Path | None) -> list[CheckLine]:
    """The manifest beside the code (a source checkout; an installed bot has none) must declare what is needed."""
    path = Path(manifest_path or manifest.MANIFEST_PATH)
    if not path.is_file():
        return []
    try:
        missing = manifest.missing_scopes(manifest.load(path), {kind: list(scopes) for kind, scopes in needed.items()})
    except manifest.ManifestError as error:
        return [CheckLine(FIX, f"{path.name} cannot be read: {error}")]
    return [CheckLine(FIX, f"{path.name} does not declare " + _scope_list({s: needed[kind][s] for s in scopes})
                      + f" under oauth_config.scopes.{kind}") for kind, scopes in missing.items()]


def _scope_list(scopes: dict[str, list[str]]) -> str:
    return ", ".join(f"{scope} ({'; '.join(reasons)})" for scope, reasons in scopes.items())


# --- reaching a host ---------------------------------------------------------------------------------------------


def _unreachable(service: str, url: str, setting: str, error: BaseException) -> CheckLine:
    host = urlsplit(url).netloc or url
    trouble = network_trouble(error, host, setting)
    if trouble is None:
        return CheckLine(FIX, f"{service} could not be reached at {url}: {type(error).__name__} (check {setting} and the network)")
    what, fix = trouble
    return CheckLine(FIX, f"{service} could not be reached: {what} ({fix})")


def network_trouble(error: BaseException, host: str, setting: str) -> tuple[str, str] | None:
    """(what happened, what to do) when `error` means `host` was not reached: its name did not resolve, nothing
    accepted the connection, the TLS handshake failed, or it did not answer in time. None when it answered."""
    chain = list(_causes(error))
    if any(isinstance(e, socket.gaierror) or type(e).__name__ == "NameResolutionError" for e in chain):
        return (f"the name {host} does not resolve (DNS)",
                f"check {setting} for a typo, and that this machine can resolve names: its DNS, or a proxy in HTTPS_PROXY")
    if any(isinstance(e, (ssl.SSLError, requests.exceptions.SSLError)) for e in chain):
        return (f"the TLS handshake with {host} failed",
                f"check that {setting} is https:// on an HTTPS server; behind a proxy that inspects TLS, point "
                "REQUESTS_CA_BUNDLE and SSL_CERT_FILE at its certificate authority")
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return (f"nothing accepts connections at {host}",
                f"check {setting} (host and port), and that no firewall or proxy stops this machine")
    if any(_is_timeout(e) for e in chain):
        return (f"{host} did not answer in time",
                f"check the network, a firewall or a proxy between this machine and {host}, and {setting}")
    if any(isinstance(e, (OSError, requests.ConnectionError, NetworkError)) for e in chain):
        return (f"the connection to {host} failed",
                f"check {setting}, and the network, a firewall or a proxy between this machine and {host}")
    return None


def _is_timeout(error: BaseException) -> bool:
    if type(error).__name__ in ("NewConnectionError", "NameResolutionError"):  # urllib3 files these under time-outs
        return False
    return isinstance(error, (TimeoutError, socket.timeout, requests.Timeout)) or type(error).__name__ in (
        "ConnectTimeoutError", "ReadTimeoutError", "TimeoutError")


def _causes(error: BaseException):
    """The error, what it was raised from, and the reasons urllib and urllib3 keep (`reason`, `args`)."""
    seen, todo = set(), [error]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]
        todo = [e for e in todo if isinstance(e, BaseException)]


# --- the database ------------------------------------------------------------------------------------------------


def _database_lines(settings: Settings, features) -> list[CheckLine]:
    target = settings.database_target
    if not is_postgres_url(target) and not Path(target).exists():
        return _no_database_yet(Path(target))
    try:
        store = registry.open_migrated(target, features)
    except Exception as error:  # noqa: BLE001 - a wrong URL, a server down, a folder not writable
        return [CheckLine(FIX, f"database {redact(target)} cannot be opened: {error}")]
    try:
        lines = [CheckLine(INFO, f"database in use: {store.describe()}")]
        ok, where = store.writable()
        lines.append(CheckLine(OK, f"database writable: {where}") if ok else CheckLine(FIX, f"database not writable: {where}"))
        lines += [CheckLine(status, text) for status, text in registry.check_lines(store, features)]
        return lines
    except Exception as error:  # noqa: BLE001
        return [CheckLine(FIX, f"database {store.describe()} failed: {error}")]
    finally:
        store.close()


def _no_database_yet(path: Path) -> list[CheckLine]:
    """A SQLite file that does not exist yet: `serve` makes it (and its folders). Whether it can, without making it."""
    folder = path.absolute().parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    lines = [CheckLine(INFO, f"database in use: SQLite file {path} (not created yet)")]
    if existing is not None and existing.is_dir() and os.access(existing, os.W_OK | os.X_OK):
        lines.append(CheckLine(OK, f"database: {path} does not exist yet; serve creates it ({existing} is writable)"))
    else:
        lines.append(CheckLine(FIX, f"database: {path} cannot be created: {existing} is not a writable folder "
                                    "(set DATABASE_PATH, or DATABASE_URL for PostgreSQL)"))
    return lines


def run_check(settings: Settings) -> int:
    lines = check_lines(settings)
    for line in lines:
        print(line)
    return 1 if any(line.status == FIX for line in lines) else 0
