"""The people's command grammar (pure): `/bb hours HH:MM-HH:MM [DAYS] [tz ZONE]` and `/bb hours`."""

from __future__ import annotations

import re

from bot.core.commands import Command, CommandSpec, code_of, parse_days, parse_time_of_day
from bot.core.errors import UsageError
from bot.people import known_zone

USAGE = "/bb hours HH:MM-HH:MM [DAYS] [tz ZONE] · /bb hours"
_RANGE = re.compile(r"^(?P<start>[^-]+)-(?P<end>[^-]+)$")


def parse_range(token: str) -> tuple[str, str]:
    match = _RANGE.match(token)
    if not match:
        raise UsageError(f"`{code_of(token)}` is not a range of hours: write it like `09:00-17:30`.")
    start, end = (_time(match[part], token) for part in ("start", "end"))
    if start >= end:
        raise UsageError(f"`{code_of(token)}` is an empty range: the end must come after the start, as in `09:00-17:30`.")
    return start, end


def _time(text: str, token: str) -> str:
    try:
        return parse_time_of_day(text)
    except UsageError:
        raise UsageError(f"`{code_of(token)}` is not a range of hours: `{code_of(text)}` is not a time of day (00:00 to 23:59).") from None


def _parse_hours(tokens: list[str]) -> Command:
    if not tokens:
        return Command("hours", {})
    start, end = parse_range(tokens[0])
    days, zone, rest = None, "", tokens[1:]
    while rest:
        if rest[0].lower() == "tz":
            if len(rest) < 2 or zone:
                raise UsageError("`tz` needs one time zone, like `tz Europe/Berlin`.")
            if not known_zone(rest[1]):
                raise UsageError(f"`{code_of(rest[1])}` is not a time zone: use an IANA name such as `Europe/Berlin` or `Asia/Tokyo`.")
            zone, rest = rest[1], rest[2:]
        elif days is None:
            days, rest = _days(rest[0]), rest[1:]
        else:
            raise UsageError(f"`{code_of(rest[0])}` is not understood here: give the days once, then `tz ZONE`.")
    return Command("hours", {"start": start, "end": end, "days": days, "tz": zone})


def _days(token: str) -> tuple[str, ...]:
    try:
        days = parse_days(token)
    except UsageError as error:
        raise UsageError(error.message.replace("`on ", "`", 1)) from None
    if not days:
        raise UsageError(f"`{code_of(token)}` names no days: write them like `mon-fri` or `mon,wed,fri`.")
    return days


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("hours", USAGE, "your working hours and time zone (default: your Slack time zone, 09:00-17:30 mon-fri)",
                _parse_hours, (), "You"),
)
