"""Stale pull request reminders: a schedule per channel and repository, the pure choice of what is stale and of
when a reminder is owed, and the one run that turns a schedule into a message in the outbox.

Who a reminder mentions comes from the accounts feature's links (`accounts.linked_users`).

APScheduler (`bot/core/scheduler.py`) decides when to look; SQLite decides whether to send. A scheduled reminder is
sent at most once per reminder per local day: its "sent" mark is written in the same transaction that queues
the message, so a crash can neither lose it nor send it twice, and a cron run racing a catch-up run is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

from bot import accounts
from bot.core import metrics, outbox
from bot.reminders import snooze, workdays
from bot.relay import noise
from bot.reminders import render as reminder_render
from bot.bitbucket import Account, BitbucketError, NetworkError, PullRequest, RateLimited, ServerError
from bot.core.commands import WEEKDAYS
from bot.core.render import Message
from bot.core.scheduler import GRACE, ScheduledJobs, schedule_zone
from bot.core.store import Migration, Store

SCHEMA: list[str] = [
    """CREATE TABLE IF NOT EXISTS reminders (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel_id TEXT NOT NULL,
        repo TEXT NOT NULL,                -- workspace/slug, lower-case
        after_seconds INTEGER NOT NULL,    -- stale after this long without activity (updated_on)
        at TEXT NOT NULL,                  -- HH:MM in REMINDER_TIMEZONE
        days TEXT NOT NULL,                -- comma-separated, of mon..sun
        created_by TEXT NOT NULL,
        changed_at REAL NOT NULL,          -- epoch seconds: occurrences before it are not owed
        UNIQUE (channel_id, repo)
    )""",
    # One row per reminder and local day it was sent (or found nothing stale): the never-twice guard.
    """CREATE TABLE IF NOT EXISTS reminder_sent (
        reminder_id INTEGER NOT NULL REFERENCES reminders (id) ON DELETE CASCADE,
        day TEXT NOT NULL,                 -- YYYY-MM-DD in REMINDER_TIMEZONE
        sent_at REAL NOT NULL,
        stale_count INTEGER NOT NULL,
        outbox_id INTEGER,                 -- NULL when nothing was stale, so nothing was posted
        PRIMARY KEY (reminder_id, day)
    )""",
]

MIGRATIONS = [Migration("reminders", 1, SCHEMA)]

# A reminder missed while the bot was down is still sent if the bot is back within this long.
# A job may wake a moment before its minute (the clocks it is timed by round and drift); it still counts.
EARLY_WAKE = timedelta(seconds=2)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def zone_of(settings) -> ZoneInfo:
    return schedule_zone(settings)


@dataclass(frozen=True)
class Schedule:
    id: int
    channel_id: str
    repo: str
    after_seconds: int
    at: str  # HH:MM
    days: tuple[str, ...]
    changed_at: float
    created_by: str = ""

    @classmethod
    def from_row(cls, row: Mapping) -> "Schedule":
        return cls(
            id=row["id"],
            channel_id=row["channel_id"],
            repo=row["repo"],
            after_seconds=row["after_seconds"],
            at=row["at"],
            days=tuple(day for day in row["days"].split(",") if day),
            changed_at=row["changed_at"],
            created_by=row["created_by"],
        )


# --- when: pure ------------------------------------------------------------------------------------


def occurrence_on(schedule: Schedule, day: date, zone: ZoneInfo) -> datetime:
    """The schedule's moment on a local day (a time that a DST change skips is moved forward by the gap)."""
    return workdays.local_moment(day, schedule.at, zone)


def _occurrences_around(schedule: Schedule, moment: datetime, zone: ZoneInfo, days: range) -> Iterable[datetime]:
    today = moment.astimezone(zone).date()
    for offset in days:
        day = today + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] in schedule.days:
            yield occurrence_on(schedule, day, zone)


def latest_occurrence(schedule: Schedule, moment: datetime, zone: ZoneInfo) -> datetime | None:
    """The last moment the schedule named at or before `moment`."""
    return next((o for o in _occurrences_around(schedule, moment, zone, range(0, -8, -1)) if o <= moment), None)


def next_occurrence(schedule: Schedule, moment: datetime, zone: ZoneInfo) -> datetime | None:
    """The first moment the schedule names after `moment`."""
    return next((o for o in _occurrences_around(schedule, moment, zone, range(0, 8)) if o > moment), None)


def due_occurrence(schedule: Schedule, now: datetime, zone: ZoneInfo) -> datetime | None:
    """The occurrence owed at `now`: the latest one, if it passed less than GRACE ago and after the schedule
    was set (a reminder set at 10:00 "at 09:00" owes nothing today)."""
    occurrence = latest_occurrence(schedule, now + EARLY_WAKE, zone)
    if occurrence is None or now - occurrence > GRACE:
        return None
    if occurrence.timestamp() < schedule.changed_at:
        return None
    return occurrence


# --- what: pure ------------------------------------------------------------------------------------


def select_stale(prs: Iterable[PullRequest], *, now: datetime, after_seconds: int, cutoff: datetime | None = None) -> list[PullRequest]:
    """Open, non-draft pull requests without activity for `after_seconds` (or since before `cutoff`, the same
    age counted in working days), the longest idle first."""
    cutoff = cutoff or now - timedelta(seconds=after_seconds)
    stale = [
        pr for pr in prs
        if pr.state == "OPEN" and not pr.draft and _last_activity(pr) is not None and _last_activity(pr) <= cutoff
    ]
    return sorted(stale, key=lambda pr: (_last_activity(pr), pr.id))


def _last_activity(pr: PullRequest) -> datetime | None:
    return pr.updated_on or pr.created_on


def waiting_on(pr: PullRequest) -> list[Account]:
    """The reviewers who have not approved yet."""
    approved = {_identity(a) for a in pr.approved_by}
    return [reviewer for reviewer in pr.reviewers if _identity(reviewer) not in approved]


def _identity(account: Account) -> str:
    return (account.uuid or account.account_id or account.nickname or account.display_name).lower()


def mentions_for(prs: Iterable[PullRequest], links: Iterable[accounts.LinkedUser]) -> dict[Account, str]:
    """Slack user IDs of the linked reviewers the listed pull requests are waiting on."""
    links = list(links)
    found = {}
    for pr in prs:
        for reviewer in waiting_on(pr):
            slack_user = accounts.slack_user_for(reviewer, links)
            if slack_user:
                found[reviewer] = slack_user
    return found


def transient(error: BitbucketError) -> bool:
    """Worth trying again later (the client already retried a few times)."""
    return isinstance(error, (RateLimited, ServerError, NetworkError))


# --- the schedules in SQLite -----------------------------------------------------------------------


def save_schedule(store: Store, *, channel_id: str, repo: str, after_seconds: int, at: str, days: tuple[str, ...],
                  user_id: str, now: datetime) -> tuple[Schedule, bool]:
    """Create the channel's reminder for `repo`, or update it. Returns it, and True when it is new."""
    repo = repo.lower()
    with store.transaction() as db:
        existed = db.execute("SELECT 1 FROM reminders WHERE channel_id = ? AND repo = ?", (channel_id, repo)).fetchone()
        db.execute(
            """INSERT INTO reminders (channel_id, repo, after_seconds, at, days, created_by, changed_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (channel_id, repo) DO UPDATE SET
                 after_seconds = excluded.after_seconds, at = excluded.at, days = excluded.days,
                 changed_at = excluded.changed_at""",
            (channel_id, repo, after_seconds, at, ",".join(days), user_id, now.timestamp()),
        )
        row = next(db.query("SELECT * FROM reminders WHERE channel_id = ? AND repo = ?", (channel_id, repo)))
    return Schedule.from_row(row), existed is None


def channel_schedules(store: Store, channel_id: str) -> list[Schedule]:
    rows = store.query("SELECT * FROM reminders WHERE channel_id = ? ORDER BY repo", (channel_id,))
    return [Schedule.from_row(row) for row in rows]


def all_schedules(store: Store) -> list[Schedule]:
    return [Schedule.from_row(row) for row in store.query("SELECT * FROM reminders ORDER BY id")]


def get_schedule(store: Store, reminder_id: int) -> Schedule | None:
    row = store.query_one("SELECT * FROM reminders WHERE id = ?", (reminder_id,))
    return Schedule.from_row(row) if row else None


def delete_schedule(store: Store, reminder_id: int) -> bool:
    return store.execute("DELETE FROM reminders WHERE id = ?", (reminder_id,)).rowcount > 0


# --- one reminder: Bitbucket in, a message out -----------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    repo: str
    stale: list[PullRequest]
    message: Message | None  # None when nothing is stale
    snoozed: int = 0  # stale, but someone snoozed it: left out


def source_hash(pull_request: Mapping) -> str:
    source = pull_request.get("source")
    commit = source.get("commit") if isinstance(source, Mapping) else None
    value = commit.get("hash") if isinstance(commit, Mapping) else None
    return value if isinstance(value, str) else ""


def compose(services, repo: str, after_seconds: int, now: datetime) -> Reminder:
    """One list request per 50 open pull requests, reviewers and participants included; never one per PR.

    Age counts working days only (weekends and `REMINDER_HOLIDAYS` in `REMINDER_TIMEZONE` do not age a pull
    request); drafts, work in progress and bots' pull requests are left out, and so are snoozed ones (counted)."""
    settings = services.settings
    workspace, slug = repo.split("/", 1)
    page = services.bitbucket.list_pull_requests(workspace, slug, with_reviewers=True)
    kept = [item for item in page.values if noise.noise(item, settings.chatops_bot_authors) is None]
    hashes = {PullRequest.from_api(item).id: source_hash(item) for item in kept}
    cutoff = workdays.cutoff(now, after_seconds, zone_of(settings), settings.reminder_holidays)
    stale = select_stale((PullRequest.from_api(item) for item in kept), now=now, after_seconds=after_seconds, cutoff=cutoff)
    snoozes = snooze.of_repository(services.store, repo)
    held = {pr.id for pr in stale if any(s.holds(now, hashes.get(pr.id)) for s in snoozes.get(pr.id, ()))}
    stale = [pr for pr in stale if pr.id not in held]
    if not stale:
        return Reminder(repo, [], None, len(held))
    waiting = {pr.id: waiting_on(pr) for pr in stale}
    message = reminder_render.stale_pull_requests(
        repo, stale, now=now, after_seconds=after_seconds, waiting=waiting,
        mentions=mentions_for(stale, accounts.linked_users(services.store)), repo_url=f"https://bitbucket.org/{repo}",
        snoozed=len(held),
    )
    return Reminder(repo, stale, message, len(held))


def outbox_key(channel_id: str, repo: str) -> str:
    return f"reminder:{channel_id}:{repo}"


def post_now(services, *, channel_id: str, repo: str, after_seconds: int, now: datetime, asked_by: str | None = None) -> Reminder:
    """`/bb remind now`: compose and queue it in the channel, outside the schedule (no mark is written)."""
    reminder = compose(services, repo, after_seconds, now)
    if reminder.message is not None:
        with services.store.transaction() as db:
            outbox.enqueue(db, channel=channel_id, message=reminder.message, key=outbox_key(channel_id, repo), fallback_user=asked_by)
        metrics.REMINDERS_SENT.labels("now").inc()
    return reminder


def run_due(services, schedule: Schedule, *, now: datetime, zone: ZoneInfo) -> str:
    """Send the reminder if it is owed now and was not sent today. Says what happened, for the log.

    Bitbucket's passing trouble (rate limit, 5xx, network) is raised, and the next look tries again while the
    grace period lasts; a lasting refusal (the repository is gone, the token lost access) is told to the channel.
    """
    occurrence = due_occurrence(schedule, now, zone)
    if occurrence is None:
        return "not due"
    day = occurrence.date().isoformat()
    if services.store.query_one("SELECT 1 FROM reminder_sent WHERE reminder_id = ? AND day = ?", (schedule.id, day)):
        return "already sent"
    try:
        reminder = compose(services, schedule.repo, schedule.after_seconds, now)
        message, stale_count = reminder.message, len(reminder.stale)
    except BitbucketError as error:
        if transient(error):
            raise
        message, stale_count = reminder_render.reminder_failed(schedule.repo, error), 0
    with services.store.transaction() as db:
        # Checked again under the write lock: a concurrent run, or `remind off` meanwhile, wins.
        if not db.execute("SELECT 1 FROM reminders WHERE id = ?", (schedule.id,)).fetchone():
            return "stopped"
        if db.execute("SELECT 1 FROM reminder_sent WHERE reminder_id = ? AND day = ?", (schedule.id, day)).fetchone():
            return "already sent"
        outbox_id = None
        if message is not None:
            outbox_id = outbox.enqueue(db, channel=schedule.channel_id, message=message,
                                       key=outbox_key(schedule.channel_id, schedule.repo), fallback_user=schedule.created_by)
        db.execute(
            "INSERT INTO reminder_sent (reminder_id, day, sent_at, stale_count, outbox_id) VALUES (?, ?, ?, ?, ?)",
            (schedule.id, day, now.timestamp(), stale_count, outbox_id),
        )
    if message is not None:
        metrics.REMINDERS_SENT.labels("scheduled").inc()
    return "sent" if message is not None else "nothing stale"


# --- the scheduler's jobs ---------------------------------------------------------------------------


class ReminderJobs(ScheduledJobs):
    """The reminders' cron jobs, on the scheduler of the replica that leads."""

    kind = "reminder"
    sync_job = "reminders:sync"

    def all_rows(self) -> list:
        return all_schedules(self.services.store)

    def get_row(self, row_id: int):
        return get_schedule(self.services.store, row_id)

    def run_due(self, row) -> str:
        return run_due(self.services, row, now=self.scheduler.clock(), zone=self.zone)


def start_jobs(services, scheduler) -> ReminderJobs:
    return ReminderJobs(services, scheduler).start()
