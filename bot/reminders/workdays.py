"""Working time (pure): Saturdays, Sundays and the holidays of `REMINDER_HOLIDAYS` do not age a pull request;
a person's working hours (`/bb hours`: from a start to an end on their working days, in their time zone) say when
their own reminder may come.

Days are read in a time zone (a day is from one local midnight to the next, 23 or 25 hours across a daylight
saving change); the arithmetic is done in UTC, so no wall-clock jump counts twice or not at all.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Collection
from zoneinfo import ZoneInfo

from bot.core.commands import WEEKDAYS
from bot.people import Hours

WEEKEND = (5, 6)  # Saturday, Sunday
MAX_DAYS_BACK = 3660  # a cutoff further back than ten years is "never"


def local_moment(day: date, at: str, zone: ZoneInfo) -> datetime:
    """`at` (HH:MM) on a local day; a time that a daylight saving change skips is moved forward by the gap."""
    hour, minute = map(int, at.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(timezone.utc).astimezone(zone)


def next_working_moment(moment: datetime, hours: Hours) -> datetime:
    """`moment` itself when it falls within the working hours, else the start of the next working period (in the
    hours' zone). With no working day at all, `moment`: nothing to wait for."""
    zone, today = hours.zone, moment.astimezone(hours.zone).date()
    for offset in range(8):
        day = today + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in hours.days:
            continue
        if moment < local_moment(day, hours.end, zone):
            return max(moment.astimezone(zone), local_moment(day, hours.start, zone))
    return moment.astimezone(zone)


def is_working_day(day: date, holidays: Collection[str] = ()) -> bool:
    return day.weekday() not in WEEKEND and day.isoformat() not in holidays


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)


def working_seconds(start: datetime, end: datetime, zone: ZoneInfo, holidays: Collection[str] = ()) -> float:
    """The time between `start` and `end` that falls on working days, in seconds (0 when end <= start)."""
    if end <= start:
        return 0.0
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    total, day = 0.0, start.astimezone(zone).date()
    while _midnight(day, zone) < end:
        if is_working_day(day, holidays):
            lower = max(start, _midnight(day, zone))
            upper = min(end, _midnight(day + timedelta(days=1), zone))
            total += max(0.0, (upper - lower).total_seconds())
        day += timedelta(days=1)
    return total


def cutoff(now: datetime, after_seconds: float, zone: ZoneInfo, holidays: Collection[str] = ()) -> datetime:
    """The moment before which a pull request has gone `after_seconds` of working time without activity:
    on a Monday at 09:00, `after 2d` reaches back to Thursday 09:00, since the weekend does not count."""
    remaining = float(after_seconds)
    upper = now.astimezone(timezone.utc)
    day = now.astimezone(zone).date()
    for _ in range(MAX_DAYS_BACK):
        start = _midnight(day, zone)
        if is_working_day(day, holidays):
            available = (upper - start).total_seconds()
            if available >= remaining:
                return upper - timedelta(seconds=remaining)
            remaining -= max(0.0, available)
        upper, day = min(upper, start), day - timedelta(days=1)
    return datetime.min.replace(tzinfo=timezone.utc)
