"""People's own Bitbucket accounts: `/bb login` (Sign in with Slack, then Bitbucket's consent), Approve and Request
changes as the person."""

from bot import accounts
from bot.accounts import commands, grammar
from bot.core.feature import Feature

FEATURE = Feature(
    "accounts",
    migrations=accounts.MIGRATIONS,
    commands=grammar.SPECS,
    command_handlers=commands.COMMAND_HANDLERS,
    actions=commands.ACTION_HANDLERS,
    slack_scopes={"user": {"openid": "Sign in with Slack, before /bb login's consent"}},
)
