"""Owners of paths: they hear of the pull requests that change them."""

from bot import owners
from bot.core.feature import Feature
from bot.owners import commands, grammar

FEATURE = Feature(
    "owners",
    migrations=owners.MIGRATIONS,
    commands=grammar.SPECS,
    command_handlers=commands.COMMAND_HANDLERS,
    relay_hooks=(owners.relay_hook,),
    slack_scopes={"bot": {"usergroups:read": "the members of a user group named as owners (/bb owners)",
                          "im:write": "direct messages to owners of paths"}},
)
