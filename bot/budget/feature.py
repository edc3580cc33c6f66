"""The Bitbucket request budget: every request counted per credential across replicas, `/bb usage`, and the webhook-fed
state of open pull requests that spares the Home tab its requests."""

from bot import budget
from bot.budget import commands, grammar, state
from bot.core.feature import Feature

FEATURE = Feature(
    "budget",
    migrations=budget.MIGRATIONS,
    commands=grammar.SPECS,
    command_handlers=commands.COMMAND_HANDLERS,
    relay_hooks=(state.on_relayed,),
    provide=budget.provide,
    background=budget.start_background,
    jobs=state.start_jobs,
)
