"""`bitbucket-chatops check`: what works and what to fix, one line each."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.config import Settings
from bot.dashboard import access as dashboard_access

OK, FIX, INFO = "ok ", "FIX", " - "
# Scopes added after the first install: an app installed before them must be updated and reinstalled.
LATER_SCOPES = {"im:write": "direct messages", "links:read": "link unfurls", "links:write": "link unfurls"}


@dataclass(frozen=True)
class CheckLine:
    status: str
    text: str

    def __str__(self) -> str:
        return f"[{self.status}] {self.text}"


def check_lines(settings: Settings) -> list[CheckLine]:
    lines = [CheckLine(FIX, problem) for problem in settings.problems()]
    lines += _bitbucket_lines(settings)
    lines += _slack_lines(settings)
    lines += _database_lines(settings)
    if settings.bitbucket_webhook_secret:  # when it is not set, `problems()` above said so already
        lines.append(CheckLine(OK, "BITBUCKET_WEBHOOK_SECRET is set: deliveries are verified"))
    lines.append(
        CheckLine(OK, f"PUBLIC_URL is {settings.public_url}: webhooks are registered at {settings.public_url}/bitbucket/webhook")
        if settings.public_url
        else CheckLine(INFO, "PUBLIC_URL is not set: /bb subscribe will explain how to add the webhook by hand")
    )
    lines.append(_login_line(settings))
    lines.append(_dashboard_line(settings))
    lines += _rotation_lines(settings)
    return list(dict.fromkeys(lines))  # one line per problem, however many checks noticed it


def _login_line(settings: Settings) -> CheckLine:
    from bot import accounts
    from bot.accounts import signin

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


def _bitbucket_lines(settings: Settings) -> list[CheckLine]:
    from bot.bitbucket import BitbucketClient, BitbucketError
    from bot.core.services import bitbucket_auth

    auth = bitbucket_auth(settings)
    if auth is None:
        return []
    lines = [CheckLine(INFO, f"Bitbucket credential in use: {auth.describe()}")]
    client = BitbucketClient(settings.bitbucket_api_url, auth, max_retries=1)
    try:
        if settings.bitbucket_workspace:
            page = client.list_repositories(settings.bitbucket_workspace, limit=1)
            lines.append(CheckLine(OK, f"Bitbucket: can read workspace {settings.bitbucket_workspace} ({page.total} repositories visible)"))
        else:
            user = client.get_current_user()
            lines.append(CheckLine(OK, f"Bitbucket: signed in as {user.get('display_name') or user.get('nickname')}"))
            lines.append(CheckLine(INFO, "BITBUCKET_WORKSPACE is not set: commands must name repositories as workspace/slug"))
    except BitbucketError as error:
        lines.append(CheckLine(FIX, f"Bitbucket refused the credential: {error} (check the token, its scopes and its expiry)"))
    return lines


def _slack_lines(settings: Settings) -> list[CheckLine]:
    if not settings.slack_bot_token:
        return []
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    try:
        result = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10).auth_test()
        lines = [CheckLine(OK, f"Slack auth.test: bot {result.get('user')} in workspace {result.get('team')}")]
        headers = {name.lower(): value for name, value in (result.headers or {}).items()}
        granted = headers.get("x-oauth-scopes")
        have = set(granted.replace(" ", "").split(",")) if isinstance(granted, str) else None
        missing = [f"{scope} ({why})" for scope, why in LATER_SCOPES.items() if have is not None and scope not in have]
        if missing:
            lines.append(CheckLine(FIX, "the Slack app lacks the scopes " + ", ".join(missing)
                                   + ": update it from slack-app-manifest.yml and reinstall it"))
        return lines
    except SlackApiError as error:
        return [CheckLine(FIX, f"Slack auth.test failed: {error.response.get('error')} (check SLACK_BOT_TOKEN)")]
    except Exception as error:  # noqa: BLE001 - a network failure is a line to fix too
        return [CheckLine(FIX, f"Slack could not be reached at {settings.slack_api_url}: {type(error).__name__}")]


def _database_lines(settings: Settings) -> list[CheckLine]:
    from bot import registry as features
    from bot.core.store.postgres_url import redact

    try:
        store = features.open_migrated(settings.database_target)
    except Exception as error:  # noqa: BLE001 - a wrong URL, a server down, a folder not writable
        return [CheckLine(FIX, f"database {redact(settings.database_target)} cannot be opened: {error}")]
    try:
        lines = [CheckLine(INFO, f"database in use: {store.describe()}")]
        ok, where = store.writable()
        lines.append(CheckLine(OK, f"database writable: {where}") if ok else CheckLine(FIX, f"database not writable: {where}"))
        lines += [CheckLine(status, text) for status, text in features.check_lines(store)]
        return lines
    except Exception as error:  # noqa: BLE001
        return [CheckLine(FIX, f"database {store.describe()} failed: {error}")]
    finally:
        store.close()


def run_check(settings: Settings) -> int:
    lines = check_lines(settings)
    for line in lines:
        print(line)
    return 1 if any(line.status == FIX for line in lines) else 0
