"""Builds in chat: `/bb builds` with Re-run and Stop, the failed build's log tail on relayed failures."""

from bot import builds
from bot.builds import commands, grammar, relay
from bot.core.feature import Feature

FEATURE = Feature(
    "builds",
    migrations=builds.MIGRATIONS,
    commands=grammar.SPECS,
    command_handlers=commands.COMMAND_HANDLERS,
    actions=commands.ACTION_HANDLERS,
    relay_hooks=(relay.relay_hook,),
    background=builds.start_background,
    check=builds.check_lines,
)
