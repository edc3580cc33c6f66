"""Deploy safety around environments: locks, protections and the requests for approval."""

from bot import environments
from bot.core.feature import Feature
from bot.environments import commands, grammar, guards, jobs

FEATURE = Feature(
    "environments",
    migrations=environments.MIGRATIONS,
    commands=grammar.SPECS,
    command_handlers=commands.COMMAND_HANDLERS,
    write_guards=(guards.locked, guards.protected),
    provide=jobs.follow_deploys,
    jobs=jobs.start_jobs,
)
