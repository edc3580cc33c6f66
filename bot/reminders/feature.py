"""Stale pull request reminders for channels, and people's own (`/bb remind me`), on the scheduler."""

from bot import reminders
from bot.core.feature import Feature
from bot.reminders import commands, grammar, personal, personal_commands, snooze


class ReminderJobsBoth:
    """The channels' reminders and people's own, started and stopped together on the leading replica."""

    def __init__(self, services, scheduler):
        self.jobs = (reminders.start_jobs(services, scheduler), personal.start_jobs(services, scheduler))

    def stop(self) -> None:
        for jobs in self.jobs:
            jobs.stop()


FEATURE = Feature(
    "reminders",
    migrations=[*reminders.MIGRATIONS, snooze.MIGRATION, personal.MIGRATION],
    commands=grammar.SPECS,
    command_handlers={**commands.COMMAND_HANDLERS, **personal_commands.COMMAND_HANDLERS},
    actions=personal_commands.ACTION_HANDLERS,
    jobs=ReminderJobsBoth,
)
