"""Branches from Slack: list them with their last build, create one, delete one after confirming."""

from bot.branches import commands, grammar
from bot.core.feature import Feature

FEATURE = Feature("branches", commands=grammar.SPECS, command_handlers=commands.COMMAND_HANDLERS,
                  actions=commands.ACTION_HANDLERS)
