"""Pure renderers of the people's answers: working hours and time zone."""

from __future__ import annotations

from bot.core.render import Message, code, escape, notice
from bot.people import Hours
from bot.reminders.render import describe_days

ZONE_SOURCES = {
    "set": "set with `/bb hours`",
    "slack": "your Slack time zone",
    "default": "the bot's default (`REMINDER_TIMEZONE`): Slack did not say yours",
}


def describe(hours: Hours) -> str:
    return f"{hours.start}-{hours.end} on {describe_days(hours.days)}, {code(hours.zone_name)} ({ZONE_SOURCES[hours.zone_source]})"


def shown(hours: Hours) -> Message:
    how = "" if hours.explicit else " (the defaults)"
    return notice(
        f":clock9: Your working hours{how}: {describe(hours)}.\n"
        "Change them with `/bb hours 09:00-17:30 [mon-fri] [tz Europe/Berlin]`; your own reminder (`/bb remind me`) "
        "comes within these hours on your working days, in your time zone."
    )


def saved(hours: Hours) -> Message:
    return notice(f":clock9: Working hours set: {describe(hours)}.")


def not_linked(command: str) -> Message:
    return notice(
        f"`/bb {escape(command)}` is for people linked to a Bitbucket account: run `/bb link YOUR_BITBUCKET_NICKNAME` "
        "or `/bb login` first."
    )
