"""When a person's own reminder is sent (pure): its schedule (`at` on `days`, in their time zone) moved into their
working hours. An occurrence within them is sent on time; one outside them (before the start, after the end, on a
day they do not work) is sent at the start of their next working period. Several occurrences may land on the same
start (Saturday's and Sunday's on Monday morning): that is one send, and a local day has one send at most (its
first; the sent mark is the day of the send).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterator

from bot.core.commands import WEEKDAYS
from bot.core.scheduler import GRACE
from bot.reminders import EARLY_WAKE, Schedule, occurrence_on
from bot.people import Hours
from bot.reminders.workdays import next_working_moment

# An occurrence is deferred at most a week (one working day a week, missed by a minute); look this far around.
DAYS_AROUND = 8


def send_moment(occurrence: datetime, hours: Hours) -> datetime:
    """When an occurrence of the schedule is sent: on time within the working hours, else at the next start."""
    return next_working_moment(occurrence, hours)


def reaches_outside(at: str, days: tuple[str, ...], hours: Hours) -> bool:
    """Whether some occurrences of `at` on `days` fall outside the working hours (and so are moved)."""
    minutes = [int(part) for part in at.split(":")]
    start, end = ([int(part) for part in hhmm.split(":")] for hhmm in (hours.start, hours.end))
    return not start <= minutes < end or not set(days) <= set(hours.days)


def _sends(schedule: Schedule, hours: Hours, moment: datetime, offsets: range) -> Iterator[datetime]:
    """The send moments of the schedule's occurrences on the local days `offsets` from `moment`'s, in order: the
    first of each local day only, leaving out occurrences from before the schedule was set."""
    today, last_day = moment.astimezone(hours.zone).date(), None
    for offset in offsets:
        day = today + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in schedule.days:
            continue
        occurrence = occurrence_on(schedule, day, hours.zone)
        if occurrence.timestamp() < schedule.changed_at:
            continue
        send = send_moment(occurrence, hours)
        if send.date() != last_day:  # moments only grow, so a day's first comes first
            last_day = send.date()
            yield send


def next_send(schedule: Schedule, hours: Hours, after: datetime) -> datetime | None:
    """The first moment after `after` at which the reminder is sent (None: it names no day)."""
    return next((s for s in _sends(schedule, hours, after, range(-DAYS_AROUND, DAYS_AROUND + 1)) if s > after), None)


def due_send(schedule: Schedule, hours: Hours, now: datetime) -> datetime | None:
    """The send owed at `now`: the latest send moment at or before it, if less than GRACE ago (a look a moment
    early, within EARLY_WAKE, counts)."""
    passed = [s for s in _sends(schedule, hours, now, range(-DAYS_AROUND, 1)) if s <= now + EARLY_WAKE]
    if not passed or now - max(passed) > GRACE:
        return None
    return max(passed)
