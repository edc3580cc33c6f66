"""Deploys and rollbacks through custom pipelines, and the follower that reports their progress."""

from bot import deploys
from bot.core.feature import Feature
from bot.deploys import approvals, commands, grammar

FEATURE = Feature(
    "deploys",
    migrations=deploys.MIGRATIONS,
    commands=grammar.SPECS,
    command_handlers=commands.COMMAND_HANDLERS,
    actions=commands.ACTION_HANDLERS,
    views=approvals.VIEW_HANDLERS,
    background=deploys.start_background,
)
