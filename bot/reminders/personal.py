"""A person's own reminder (`/bb remind me`): a direct message at their morning with what waits on them.

It comes at `at` (default 09:30) on `days` (default: their working days, `/bb hours`), in their time zone (set,
else Slack's), so a reviewer in Tokyo and one in Berlin each hear at their own 09:30, also across a daylight
saving change; never outside their working hours: one due outside them comes at the start of their next working
period (`timing`). Like the channels' reminders, APScheduler decides when to look and the store whether to send:
the "sent" mark of a person's local day (the day of the send) is written in the transaction that queues the
message, so the job, the catch-up look and another replica's scheduler for a moment send it once. Nothing to
say: no message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot import people, reminders
from bot.core import metrics, outbox
from bot.core.render import Message
from bot.core.scheduler import GRACE, ScheduledJobs
from bot.core.store import Migration, Store
from bot.reminders import inbox as person_inbox
from bot.reminders import personal_render, snooze, timing

log = logging.getLogger(__name__)

MIGRATION = Migration("reminders", 3, (
    """CREATE TABLE IF NOT EXISTS personal_reminders (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        slack_user_id TEXT NOT NULL UNIQUE,
        at TEXT NOT NULL,                  -- HH:MM in the person's time zone
        days TEXT NOT NULL,                -- comma-separated, of mon..sun; empty: their working days
        changed_at REAL NOT NULL           -- occurrences before it are not owed
    )""",
    # One row per person and local day their reminder was sent (or found nothing to say): the never-twice guard.
    """CREATE TABLE IF NOT EXISTS personal_reminder_sent (
        slack_user_id TEXT NOT NULL,
        day TEXT NOT NULL,                 -- YYYY-MM-DD in the person's time zone
        sent_at REAL NOT NULL,
        waiting INTEGER NOT NULL,
        ready INTEGER NOT NULL,
        outbox_id INTEGER,                 -- NULL when there was nothing to say
        PRIMARY KEY (slack_user_id, day)
    )""",
))

DEFAULT_AT = "09:30"


@dataclass(frozen=True)
class PersonalSchedule:
    """A person's reminder with their days and zone resolved (working days and Slack's zone as of now)."""

    id: int
    slack_user_id: str
    at: str
    days: tuple[str, ...]
    own_days: bool  # the days were given with `on DAYS` (else: the working days)
    zone_name: str
    changed_at: float
    hours: people.Hours  # their working hours, in their zone

    # As the scheduler's log line names a row.
    repo = "pull requests"

    @property
    def channel_id(self) -> str:
        return self.slack_user_id

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.zone_name)

    def next_send(self, after: datetime) -> datetime | None:
        return timing.next_send(self.schedule(), self.hours, after)

    def schedule(self) -> reminders.Schedule:
        """As the reminders' pure `when` functions read a schedule."""
        return reminders.Schedule(self.id, self.slack_user_id, "", 0, self.at, self.days, self.changed_at, self.slack_user_id)


# --- the table ----------------------------------------------------------------------------------------------


def save(store: Store, slack_user_id: str, *, at: str, days: tuple[str, ...] | None, now: datetime) -> None:
    store.execute(
        """INSERT INTO personal_reminders (slack_user_id, at, days, changed_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (slack_user_id) DO UPDATE SET at = excluded.at, days = excluded.days, changed_at = excluded.changed_at""",
        (slack_user_id, at, ",".join(days or ()), now.timestamp()),
    )


def delete(store: Store, slack_user_id: str) -> bool:
    return store.execute("DELETE FROM personal_reminders WHERE slack_user_id = ?", (slack_user_id,)).rowcount > 0


def _resolved(services, row, now: datetime) -> PersonalSchedule:
    hours = people.hours_of(services, row["slack_user_id"], now)
    days = tuple(day for day in row["days"].split(",") if day)
    return PersonalSchedule(row["id"], row["slack_user_id"], row["at"], days or hours.days, bool(days), hours.zone_name,
                            row["changed_at"], hours)


def get_for(services, slack_user_id: str, now: datetime) -> PersonalSchedule | None:
    row = services.store.query_one("SELECT * FROM personal_reminders WHERE slack_user_id = ?", (slack_user_id,))
    return _resolved(services, row, now) if row else None


def get(services, reminder_id: int, now: datetime) -> PersonalSchedule | None:
    row = services.store.query_one("SELECT * FROM personal_reminders WHERE id = ?", (reminder_id,))
    return _resolved(services, row, now) if row else None


def everyone(services, now: datetime) -> list[PersonalSchedule]:
    return [_resolved(services, row, now) for row in services.store.query("SELECT * FROM personal_reminders ORDER BY id")]


# --- one run ------------------------------------------------------------------------------------------------


def compose(services, person, now: datetime, *, day: str, fresh: bool = False) -> tuple[person_inbox.Inbox, Message | None]:
    found = person_inbox.gather(services, person, now, fresh=fresh)
    if found.empty:
        return found, None
    return found, personal_render.reminder(found, now=now, day=day)


def outbox_key(slack_user_id: str) -> str:
    return f"remind-me:{slack_user_id}"


def run_due(services, schedule: PersonalSchedule, *, now: datetime) -> str:
    """Send the person's reminder if a send is owed now (within their working hours) and none was made on that
    local day. Says what happened."""
    send = timing.due_send(schedule.schedule(), schedule.hours, now)
    if send is None:
        return "not due"
    user, day = schedule.slack_user_id, send.astimezone(schedule.zone).date().isoformat()
    if _sent(services.store, user, day):
        return "already sent"
    person = people.linked(services.store, user)
    if person is None:
        return "not linked"
    found, message = compose(services, person, now, day=day)  # Bitbucket's passing trouble is raised: tried again
    with services.store.transaction() as db:
        # Checked again under the write lock: a concurrent run, or `remind me off` meanwhile, wins.
        if not db.execute("SELECT 1 FROM personal_reminders WHERE slack_user_id = ?", (user,)).fetchone():
            return "stopped"
        if db.execute("SELECT 1 FROM personal_reminder_sent WHERE slack_user_id = ? AND day = ?", (user, day)).fetchone():
            return "already sent"
        outbox_id = outbox.enqueue(db, channel=user, message=message, key=outbox_key(user)) if message else None
        db.execute(
            "INSERT INTO personal_reminder_sent (slack_user_id, day, sent_at, waiting, ready, outbox_id) VALUES (?, ?, ?, ?, ?, ?)",
            (user, day, now.timestamp(), len(found.reviews), len(found.ready), outbox_id),
        )
    if message is None:
        return "nothing stale"
    metrics.REMINDERS_SENT.labels("personal").inc()
    return "sent"


def _sent(store: Store, slack_user_id: str, day: str) -> bool:
    return store.query_one("SELECT 1 FROM personal_reminder_sent WHERE slack_user_id = ? AND day = ?", (slack_user_id, day)) is not None


def send_now(services, person, now: datetime, zone: ZoneInfo) -> person_inbox.Inbox:
    """`/bb remind me now`: the direct message at once, outside the schedule (no mark is written)."""
    found, message = compose(services, person, now, day=now.astimezone(zone).date().isoformat(), fresh=True)
    if message is not None:
        with services.store.transaction() as db:
            outbox.enqueue(db, channel=person.slack_user_id, message=message, key=outbox_key(person.slack_user_id))
        metrics.REMINDERS_SENT.labels("now").inc()
    return found


# --- the scheduler's jobs -----------------------------------------------------------------------------------


class PersonalJobs(ScheduledJobs):
    """One cron job per person's reminder, in their own time zone, on the scheduler of the replica that leads."""

    kind = "remind-me"
    sync_job = "remind-me:sync"

    def all_rows(self) -> list:
        return everyone(self.services, self.scheduler.clock())

    def get_row(self, row_id: int):
        return get(self.services, row_id, self.scheduler.clock())

    def zone_for(self, row):
        return row.zone

    def job_shape(self, row) -> tuple:
        return (row.at, row.days, row.zone_name, row.hours)

    def add_job(self, row) -> None:
        """Timed by `timing`: the schedule moved into the person's working hours."""
        self.scheduler.at_moments(self.job_id(row.id), self.run, row.next_send, grace=GRACE, args=(row.id,))

    def sync(self) -> None:
        snooze.forget_ended(self.services.store, self.scheduler.clock())  # day snoozes past their end
        super().sync()

    def run_due(self, row) -> str:
        return run_due(self.services, row, now=self.scheduler.clock())


def start_jobs(services, scheduler) -> PersonalJobs:
    return PersonalJobs(services, scheduler).start()
