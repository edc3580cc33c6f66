"""Roles: admins grant and revoke `merger`, `releaser`, `deployer[:ENV]`; `/bb roles` says who holds what (the
permissions themselves are core)."""

from bot.core.feature import Feature
from bot.roles import commands, grammar

FEATURE = Feature(
    "roles",
    commands=grammar.SPECS,
    command_handlers={"grant": commands.grant, "revoke": commands.revoke, "roles": commands.roles},
    slack_scopes={"bot": {"users:read": "find people typed as @name", "users:read.email": "find people typed as an email"}},
)
