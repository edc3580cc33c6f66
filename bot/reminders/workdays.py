"""Working time (pure): Saturdays, Sundays and the holidays of `REMINDER_HOLIDAYS` do not age a pull request.

Days are read in a time zone (a day is from one local midnight to the next, 23 or 25 hours across a daylight
saving change); the arithmetic is done in UTC, so no wall-clock jump counts twice or not at all.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Collection
from zoneinfo import ZoneInfo

WEEKEND = (5, 6)  # Saturday, Sunday
MAX_DAYS_BACK = 3660  # a cutoff further back than ten years is "never"


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
