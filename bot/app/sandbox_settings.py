"""The settings of a bot run against the simulated Bitbucket (and Slack): `serve --sandbox`, `shell --sandbox`."""

from __future__ import annotations

from bot.core.config import Settings

SANDBOX_SIGNING_SECRET = "sandbox-signing-secret"
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret"
SANDBOX_BOT_TOKEN = "xoxb-sandbox"


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
        database_path=settings.database_path if settings.database_path != "./data/chatops.db" else "./data/sandbox.db",
    )
    if slack is not None:
        changes.update(slack_api_url=slack.api_url, slack_bot_token=SANDBOX_BOT_TOKEN, slack_signing_secret=SANDBOX_SIGNING_SECRET)
    return settings.with_overrides(**changes)
