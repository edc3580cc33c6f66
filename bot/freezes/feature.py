"""Deploy freezes: stored, expiring, lifted by whoever may."""

from bot import freezes
from bot.core.feature import Feature
from bot.freezes import commands, grammar, guard

FEATURE = Feature(
    "freezes",
    migrations=freezes.MIGRATIONS,
    commands=grammar.SPECS,
    command_handlers=commands.COMMAND_HANDLERS,
    write_guards=(guard.frozen,),
)
