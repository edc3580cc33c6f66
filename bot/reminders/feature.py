"""Stale pull request reminders for channels, on the scheduler."""

from bot import reminders
from bot.core.feature import Feature
from bot.reminders import commands, grammar

FEATURE = Feature(
    "reminders",
    migrations=reminders.MIGRATIONS,
    commands=grammar.SPECS,
    command_handlers=commands.COMMAND_HANDLERS,
    jobs=reminders.start_jobs,
)
