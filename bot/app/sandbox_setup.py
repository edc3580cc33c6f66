"""How `--sandbox` points the bot at the simulated servers, and its own database.

The sandbox is two halves that must agree: the simulated Bitbucket (in memory, gone when the process ends) and
the bot's database. So the sandbox keeps its database in a file of its own, `sandbox.db` beside the configured
one, and empties it each time it starts: both halves start fresh together, never one without the other. The
database the settings name for real use (a SQLite file or `DATABASE_URL`) is never opened by the sandbox.
"""

from __future__ import annotations

from pathlib import Path

from bot.core.config import Settings

SANDBOX_SIGNING_SECRET = "sandbox-signing-secret"
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret"
SANDBOX_BOT_TOKEN = "xoxb-sandbox"
SANDBOX_APP_TOKEN = "xapp-sandbox"  # what the simulated Slack's `apps.connections.open` accepts (Socket Mode)
SANDBOX_DATABASE = "sandbox.db"


def sandbox_database_path(settings: Settings) -> str:
    """The sandbox's own SQLite file: `sandbox.db` in the folder of `DATABASE_PATH` (`./data/` by default)."""
    return str(Path(settings.database_path).parent / SANDBOX_DATABASE)


def sandbox_settings(settings: Settings, bitbucket, slack=None) -> Settings:
    """Point the bot at the simulated Bitbucket (and Slack, when one is given); no credentials needed."""
    changes = dict(
        bitbucket_api_url=bitbucket.base_url,
        bitbucket_access_token="sandbox-token",
        bitbucket_email="",
        bitbucket_api_token="",
        bitbucket_oauth_client_id="",
        bitbucket_oauth_client_secret="",
        bitbucket_oauth_authorize_url=bitbucket.oauth_authorize_url,
        bitbucket_oauth_token_url=bitbucket.oauth_token_url,
        bitbucket_workspace="acme",
        bitbucket_webhook_secret=settings.bitbucket_webhook_secret or SANDBOX_WEBHOOK_SECRET,
        database_url="",
        database_path=sandbox_database_path(settings),
    )
    if slack is not None:
        changes.update(slack_api_url=slack.api_url, slack_bot_token=SANDBOX_BOT_TOKEN, slack_signing_secret=SANDBOX_SIGNING_SECRET,
                       slack_app_token=SANDBOX_APP_TOKEN)
    return settings.with_overrides(**changes)


def start_fresh(settings: Settings) -> None:
    """Empty the sandbox's database (the file and its WAL companions), as the simulated Bitbucket starts empty too.
    `settings` are the sandbox's (`sandbox_settings`), so only `sandbox.db` is ever removed."""
    path = Path(settings.database_path)
    if path.name != SANDBOX_DATABASE or settings.database_url:
        raise ValueError("only the sandbox's own database starts fresh")
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
