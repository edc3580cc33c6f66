"""The weekly digest: the last seven days' insights, posted in a channel on a schedule (default Monday 09:00 in
REMINDER_TIMEZONE) through the scheduler and the outbox.

Like the reminders, APScheduler decides when to look and the store decides whether to send: a digest is sent
at most once per occurrence, its mark written in the same transaction that queues its message. So a cron run,
the catch-up look after a restart, and another replica's scheduler for a moment all agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot.core import metrics, outbox
from bot import reminders
from bot.bitbucket import BitbucketError
from bot.core.errors import UserError
from bot.insights import chart, collect, upload
from bot.insights import render as insights_render
from bot.core.render import notice
from bot.core.scheduler import ScheduledJobs, schedule_zone
from bot.core.store import Migration, Store

log = logging.getLogger(__name__)

MIGRATIONS = [Migration("insights", 1, (
    """CREATE TABLE IF NOT EXISTS digests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel_id TEXT NOT NULL,
        repo TEXT NOT NULL,                -- workspace/slug, lower-case
        at TEXT NOT NULL,                  -- HH:MM in REMINDER_TIMEZONE
        days TEXT NOT NULL,                -- comma-separated, of mon..sun
        created_by TEXT NOT NULL,
        changed_at REAL NOT NULL,          -- occurrences before it are not owed
        UNIQUE (channel_id, repo)
    )""",
    # One row per digest and local day it was sent: the never-twice guard.
    """CREATE TABLE IF NOT EXISTS digest_sent (
        digest_id INTEGER NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
        day TEXT NOT NULL,
        sent_at REAL NOT NULL,
        outbox_id INTEGER,
        PRIMARY KEY (digest_id, day)
    )""",
))]

DAYS = 7  # a digest covers the last week
DEFAULTS = {"at": "09:00", "days": ("mon",)}
SYNC_JOB = "digests:sync"


@dataclass(frozen=True)
class Digest:
    id: int
    channel_id: str
    repo: str
    at: str
    days: tuple[str, ...]
    created_by: str
    changed_at: float

    @classmethod
    def from_row(cls, row) -> "Digest":
        return cls(row["id"], row["channel_id"], row["repo"], row["at"], tuple(d for d in row["days"].split(",") if d),
                   row["created_by"], row["changed_at"])

    def schedule(self) -> reminders.Schedule:
        """As the reminders' pure `when` functions read a schedule."""
        return reminders.Schedule(self.id, self.channel_id, self.repo, 0, self.at, self.days, self.changed_at, self.created_by)


# --- the table ------------------------------------------------------------------------------------------------


def save(store: Store, *, channel_id: str, repo: str, at: str, days: tuple[str, ...], user_id: str, now: datetime) -> tuple[Digest, bool]:
    repo = repo.lower()
    with store.transaction() as db:
        existed = db.execute("SELECT 1 FROM digests WHERE channel_id = ? AND repo = ?", (channel_id, repo)).fetchone()
        db.execute(
            """INSERT INTO digests (channel_id, repo, at, days, created_by, changed_at) VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (channel_id, repo) DO UPDATE SET at = excluded.at, days = excluded.days, changed_at = excluded.changed_at""",
            (channel_id, repo, at, ",".join(days), user_id, now.timestamp()),
        )
        row = next(db.query("SELECT * FROM digests WHERE channel_id = ? AND repo = ?", (channel_id, repo)))
    return Digest.from_row(row), existed is None


def channel_digests(store: Store, channel_id: str) -> list[Digest]:
    return [Digest.from_row(r) for r in store.query("SELECT * FROM digests WHERE channel_id = ? ORDER BY repo", (channel_id,))]


def all_digests(store: Store) -> list[Digest]:
    return [Digest.from_row(r) for r in store.query("SELECT * FROM digests ORDER BY id")]


def get(store: Store, digest_id: int) -> Digest | None:
    row = store.query_one("SELECT * FROM digests WHERE id = ?", (digest_id,))
    return Digest.from_row(row) if row else None


def delete(store: Store, digest_id: int) -> bool:
    return store.execute("DELETE FROM digests WHERE id = ?", (digest_id,)).rowcount > 0


# --- one run ----------------------------------------------------------------------------------------------------


def make(services, repo: str, now: datetime):
    """The digest's message, and the insights behind it (None when Bitbucket refused: the message says so).
    Bitbucket's passing trouble is raised: the next look tries again, while the grace period lasts."""
    try:
        insights = collect.fetch(services.bitbucket, repo, DAYS, now, **collect.limits_of(services))
    except BitbucketError as error:
        if reminders.transient(error):
            raise
        return insights_render.digest_failed(repo, error), None
    except UserError as error:  # the bot can no longer read the repository
        return notice(f":warning: This week's digest could not be made. {error.message}"), None
    return insights_render.digest(insights), insights


def outbox_key(channel_id: str, repo: str) -> str:
    return f"digest:{channel_id}:{repo}"


def post_now(services, *, channel_id: str, repo: str, now: datetime, asked_by: str) -> bool:
    """`/bb digest now REPO`: this week's digest in the channel at once, outside any schedule (no mark is
    written, so a scheduled one still comes). True when the figures could be made."""
    message, insights = make(services, repo, now.astimezone(schedule_zone(services.settings)))
    with services.store.transaction() as db:
        outbox.enqueue(db, channel=channel_id, message=message, key=outbox_key(channel_id, repo), fallback_user=asked_by)
    metrics.DIGESTS_SENT.inc()
    if insights is not None:
        share_chart(services, channel_id, repo, insights, now.date().isoformat())
    return insights is not None


def run_due(services, digest: Digest, *, now: datetime, zone) -> str:
    """Queue the digest if it is owed now and was not sent for this occurrence; says what happened."""
    occurrence = reminders.due_occurrence(digest.schedule(), now, zone)
    if occurrence is None:
        return "not due"
    day = occurrence.date().isoformat()
    if services.store.query_one("SELECT 1 FROM digest_sent WHERE digest_id = ? AND day = ?", (digest.id, day)):
        return "already sent"
    message, insights = make(services, digest.repo, now.astimezone(zone))  # the chart's days are the schedule's
    with services.store.transaction() as db:
        if not db.execute("SELECT 1 FROM digests WHERE id = ?", (digest.id,)).fetchone():
            return "stopped"
        if db.execute("SELECT 1 FROM digest_sent WHERE digest_id = ? AND day = ?", (digest.id, day)).fetchone():
            return "already sent"
        outbox_id = outbox.enqueue(db, channel=digest.channel_id, message=message, key=outbox_key(digest.channel_id, digest.repo),
                                   fallback_user=digest.created_by)
        db.execute("INSERT INTO digest_sent (digest_id, day, sent_at, outbox_id) VALUES (?, ?, ?, ?)",
                   (digest.id, day, now.timestamp(), outbox_id))
    metrics.DIGESTS_SENT.inc()
    if insights is not None:
        share_chart(services, digest.channel_id, digest.repo, insights, day)
    return "sent"


def share_chart(services, channel_id: str, repo: str, insights, day: str) -> None:
    """The chart goes to Slack directly, once the digest is queued: at most once (only the run that wrote the
    mark shares it), and a Slack failure loses the chart, never the digest."""
    try:
        upload.post_png(services.slack, channel=channel_id, filename=f"{repo.split('/')[1]}-digest-{day}.png",
                        data=chart.chart_png(insights), title=insights_render.chart_title(insights),
                        alt_text=insights_render.chart_title(insights))
    except Exception as error:  # noqa: BLE001 - the figures are queued already
        log.warning("digest of %s: chart not shared in %s: %s", repo, channel_id, error)


class DigestJobs(ScheduledJobs):
    """One cron job per digest on the leader's scheduler; a look every minute sends what is owed (missed while
    down, or set on another replica)."""

    kind = "digest"
    sync_job = SYNC_JOB

    def all_rows(self) -> list:
        return all_digests(self.services.store)

    def get_row(self, row_id: int):
        return get(self.services.store, row_id)

    def run_due(self, row) -> str:
        return run_due(self.services, row, now=self.scheduler.clock(), zone=self.zone)


def start_jobs(services, scheduler) -> DigestJobs:
    """Called when this process starts running the scheduler."""
    return DigestJobs(services, scheduler).start()
