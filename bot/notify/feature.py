"""Personal notifications: direct messages about what concerns a linked person."""

from bot import notify
from bot.core.feature import Feature
from bot.notify import commands, grammar

FEATURE = Feature(
    "notify",
    migrations=notify.MIGRATIONS,
    commands=grammar.SPECS,
    command_handlers=commands.COMMAND_HANDLERS,
    actions=commands.ACTION_HANDLERS,
    relay_hooks=(notify.relay_hook,),
    slack_scopes={"bot": {"im:write": "personal notifications"}},
)
