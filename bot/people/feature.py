"""People: working hours and time zones (`/bb hours`), read by the personal reminders."""

from bot import people
from bot.core.feature import Feature
from bot.people import commands, grammar

FEATURE = Feature(
    "people",
    migrations=people.MIGRATIONS,
    commands=grammar.SPECS,
    command_handlers=commands.COMMAND_HANDLERS,
)
