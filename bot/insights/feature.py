"""Insights: `/bb stats` and the weekly digest on the scheduler."""

from bot.core.feature import Feature
from bot.insights import commands, digest, grammar

FEATURE = Feature(
    "insights",
    migrations=digest.MIGRATIONS,
    commands=grammar.SPECS,
    command_handlers=commands.COMMAND_HANDLERS,
    jobs=digest.start_jobs,
    slack_scopes={"bot": {"files:write": "the /bb stats chart"}},
)
