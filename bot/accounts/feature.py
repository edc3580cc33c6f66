"""People's own Bitbucket accounts: `/bb login` (Sign in with Slack, then Bitbucket's consent), Approve and Request
changes as the person; `/bb link`, who is who for mentions (the `user_links` the other features read through
`accounts.linked_users` and friends)."""

from bot import accounts
from bot.accounts import commands, grammar, link_command
from bot.core.actions import PersonalClients
from bot.core.feature import Feature

FEATURE = Feature(
    "accounts",
    migrations=accounts.MIGRATIONS,
    commands=grammar.SPECS,
    command_handlers={**commands.COMMAND_HANDLERS, **link_command.COMMAND_HANDLERS},
    actions=commands.ACTION_HANDLERS,
    provide=lambda services: services.provide(PersonalClients(accounts.client_for_user)),
    slack_scopes={"user": {"openid": "Sign in with Slack, before /bb login's consent"}},
)
