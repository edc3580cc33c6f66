"""Settings, read once from the environment (a `.env` file in the working directory is loaded too;
the environment wins over it)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_BITBUCKET_API_URL = "https://api.bitbucket.org/2.0"
DEFAULT_OAUTH_AUTHORIZE_URL = "https://bitbucket.org/site/oauth2/authorize"
DEFAULT_OAUTH_TOKEN_URL = "https://bitbucket.org/site/oauth2/access_token"
DEFAULT_SLACK_OIDC_AUTHORIZE_URL = "https://slack.com/openid/connect/authorize"
DEFAULT_BOT_AUTHORS = ("renovate", "renovate-bot", "dependabot", "snyk-bot")


OFF_WORDS = frozenset({"off", "false", "0", "no"})


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = DEFAULT_SLACK_API_URL
    bitbucket_api_url: str = DEFAULT_BITBUCKET_API_URL
    bitbucket_access_token: str = ""
    bitbucket_email: str = ""
    bitbucket_api_token: str = ""
    bitbucket_oauth_client_id: str = ""
    bitbucket_oauth_client_secret: str = ""
    bitbucket_oauth_authorize_url: str = DEFAULT_OAUTH_AUTHORIZE_URL
    bitbucket_oauth_token_url: str = DEFAULT_OAUTH_TOKEN_URL
    chatops_secret_key: str = ""
    # Sign in with Slack (before Bitbucket's consent), and the secrets being rotated out.
    slack_client_id: str = ""
    slack_client_secret: str = field(default="", repr=False)
    slack_oidc_authorize_url: str = DEFAULT_SLACK_OIDC_AUTHORIZE_URL
    chatops_old_secret_keys: tuple[str, ...] = field(default=(), repr=False)
    bitbucket_old_webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    bitbucket_workspace: str = ""
    bitbucket_webhook_secret: str = ""
    database_path: str = "./data/chatops.db"
    database_url: str = ""
    host: str = "0.0.0.0"
    port: int = 3000
    public_url: str = ""
    chatops_admins: frozenset[str] = field(default_factory=frozenset)
    deploy_pipeline: str = "deploy-to-{environment}"
    reminder_timezone: str = "UTC"
    # ISO dates (YYYY-MM-DD) that, like Saturdays and Sundays, do not age a pull request in a reminder.
    reminder_holidays: tuple[str, ...] = ()
    # Bitbucket nicknames whose pull requests reminders leave out (with app users), like `-author:bots`.
    chatops_bot_authors: tuple[str, ...] = DEFAULT_BOT_AUTHORS
    log_level: str = "INFO"
    metrics_token: str = ""  # GET /metrics wants it as a Bearer token when set
    dashboard: bool = True  # GET /dashboard (DASHBOARD=off turns it off)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *, dotenv: bool = True) -> "Settings":
        if environ is None:
            if dotenv:
                load_dotenv_file()
            environ = dict(os.environ)

        def get(name: str, default: str = "") -> str:
            return environ.get(name, default).strip() or default

        port_text = get("PORT", "3000")
        return cls(
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_app_token=get("SLACK_APP_TOKEN"),
            slack_api_url=get("SLACK_API_URL", DEFAULT_SLACK_API_URL),
            bitbucket_api_url=get("BITBUCKET_API_URL", DEFAULT_BITBUCKET_API_URL).rstrip("/"),
            bitbucket_access_token=get("BITBUCKET_ACCESS_TOKEN"),
            bitbucket_email=get("BITBUCKET_EMAIL"),
            bitbucket_api_token=get("BITBUCKET_API_TOKEN"),
            bitbucket_oauth_client_id=get("BITBUCKET_OAUTH_CLIENT_ID"),
            bitbucket_oauth_client_secret=get("BITBUCKET_OAUTH_CLIENT_SECRET"),
            bitbucket_oauth_authorize_url=get("BITBUCKET_OAUTH_AUTHORIZE_URL", DEFAULT_OAUTH_AUTHORIZE_URL),
            bitbucket_oauth_token_url=get("BITBUCKET_OAUTH_TOKEN_URL", DEFAULT_OAUTH_TOKEN_URL),
            chatops_secret_key=get("CHATOPS_SECRET_KEY"),
            slack_client_id=get("SLACK_CLIENT_ID"),
            slack_client_secret=get("SLACK_CLIENT_SECRET"),
            slack_oidc_authorize_url=get("SLACK_OIDC_AUTHORIZE_URL", DEFAULT_SLACK_OIDC_AUTHORIZE_URL),
            chatops_old_secret_keys=_listed(get("CHATOPS_OLD_SECRET_KEYS")),
            bitbucket_old_webhook_secrets=_listed(get("BITBUCKET_OLD_WEBHOOK_SECRETS")),
            bitbucket_workspace=get("BITBUCKET_WORKSPACE"),
            bitbucket_webhook_secret=get("BITBUCKET_WEBHOOK_SECRET"),
            database_path=get("DATABASE_PATH", "./data/chatops.db"),
            database_url=get("DATABASE_URL"),
            host=get("HOST", "0.0.0.0"),
            port=int(port_text) if port_text.isdigit() else -1,
            public_url=get("PUBLIC_URL").rstrip("/"),
            chatops_admins=frozenset(a.strip() for a in get("CHATOPS_ADMINS").split(",") if a.strip()),
            deploy_pipeline=get("DEPLOY_PIPELINE", "deploy-to-{environment}"),
            reminder_timezone=get("REMINDER_TIMEZONE", "UTC"),
            reminder_holidays=_listed(get("REMINDER_HOLIDAYS")),
            chatops_bot_authors=_listed(get("CHATOPS_BOT_AUTHORS", ",".join(DEFAULT_BOT_AUTHORS))),
            log_level=get("LOG_LEVEL", "INFO").upper(),
            metrics_token=get("METRICS_TOKEN"),
            dashboard=get("DASHBOARD", "on").lower() not in OFF_WORDS,
        )

    def with_overrides(self, **changes) -> "Settings":
        return replace(self, **changes)

    @property
    def database_target(self) -> str:
        """Where the store lives: the PostgreSQL URL when `DATABASE_URL` is set, else the SQLite file."""
        return self.database_url or self.database_path

    @property
    def bitbucket_credential_kind(self) -> str | None:
        """Which of the three credential kinds is configured (the first complete one wins)."""
        if self.bitbucket_access_token:
            return "access_token"
        if self.bitbucket_email and self.bitbucket_api_token:
            return "api_token"
        if self.bitbucket_oauth_client_id and self.bitbucket_oauth_client_secret:
            return "oauth_client_credentials"
        return None

    def problems(self, *, socket_mode: bool = False) -> list[str]:
        """One line per missing or malformed setting that stops `serve`."""
        lines = []
        if not self.slack_bot_token:
            lines.append("SLACK_BOT_TOKEN is not set: the bot token (xoxb-…) from your Slack app's OAuth & Permissions page")
        elif not self.slack_bot_token.startswith("xoxb-"):
            lines.append("SLACK_BOT_TOKEN does not look like a bot token: it should start with xoxb-")
        if socket_mode:
            if not self.slack_app_token:
                lines.append("SLACK_APP_TOKEN is not set: --socket-mode needs an app-level token (xapp-…) with connections:write")
        elif not self.slack_signing_secret:
            lines.append("SLACK_SIGNING_SECRET is not set: the signing secret from your Slack app's Basic Information page")
        if self.bitbucket_credential_kind is None:
            lines.append(
                "No Bitbucket credential: set BITBUCKET_ACCESS_TOKEN, or BITBUCKET_EMAIL with BITBUCKET_API_TOKEN, "
                "or BITBUCKET_OAUTH_CLIENT_ID with BITBUCKET_OAUTH_CLIENT_SECRET"
            )
        if self.bitbucket_email and not self.bitbucket_api_token:
            lines.append("BITBUCKET_EMAIL is set without BITBUCKET_API_TOKEN: an Atlassian API token goes with the email")
        if not self.bitbucket_webhook_secret:
            lines.append("BITBUCKET_WEBHOOK_SECRET is not set: unsigned webhook deliveries are refused, so set a secret")
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgres://")):
            lines.append("DATABASE_URL must be a PostgreSQL URL: postgresql://user:password@host:5432/database")
        if not 0 < self.port < 65536:
            lines.append("PORT must be a number between 1 and 65535")
        if self.reminder_timezone and not _is_timezone(self.reminder_timezone):
            lines.append(f"REMINDER_TIMEZONE {self.reminder_timezone!r} is not an IANA time zone name (for example Europe/Paris)")
        bad_dates = [day for day in self.reminder_holidays if not _is_iso_date(day)]
        if bad_dates:
            lines.append(f"REMINDER_HOLIDAYS must list ISO dates (YYYY-MM-DD, comma-separated); not a date: {', '.join(bad_dates)}")
        try:
            self.deploy_pipeline.format(environment="production")
        except (KeyError, IndexError, ValueError):
            lines.append(f"DEPLOY_PIPELINE {self.deploy_pipeline!r} is not a valid name template: use {{environment}} for the environment, as in deploy-to-{{environment}}")
        return lines


def _listed(text: str) -> tuple[str, ...]:
    """Comma-separated values, blanks dropped, order kept."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _is_iso_date(text: str) -> bool:
    try:
        return date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _is_timezone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def load_dotenv_file(path: str | os.PathLike = ".env") -> None:
    """Load `.env` from the working directory without overriding the environment."""
    from dotenv import load_dotenv

    if Path(path).is_file():
        load_dotenv(path, override=False)
