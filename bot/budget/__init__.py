"""The Bitbucket request budget's store: every replica's requests counted in one table, per credential and minute.

The client's meter (`bot.core.meter.RequestBudget`) counts in memory; `Flusher` writes those counts every
`FLUSH_SECONDS` with one upsert per (credential, minute, priority, feature) row, every replica adding to the same
rows, then reads the rolling hour back (a SUM over the last 60 minutes' rows) and hands it to the meter. So a
request costs no write of its own, and every replica sees the same count within a second or two.

`/bb usage` (admins) shows the hour's spend by feature and priority. `state` keeps what webhooks said of open pull
requests, so the Home tab need not ask Bitbucket (see there).
"""

from __future__ import annotations

import logging
import threading

from bot.bitbucket.metering import BOT, PERSONAL
from bot.core.background import BackgroundLoop
from bot.core.meter import HOURLY_LIMIT, WINDOW_MINUTES, RequestBudget, minute_of
from bot.core.store import DatabaseError, Migration, Store
from bot.budget.state import MIGRATIONS as STATE_MIGRATIONS

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
KEEP_MINUTES = 24 * 60  # rows older than a day are dropped
PRUNE_EVERY = 600  # passes between prunes

MIGRATIONS = [
    Migration("budget", 1, (
        """CREATE TABLE IF NOT EXISTS bitbucket_requests (
            credential_id TEXT NOT NULL,     -- 'bot', or a hash of the person (never a token)
            credential_kind TEXT NOT NULL,   -- bot | person
            minute INTEGER NOT NULL,         -- epoch seconds // 60
            priority TEXT NOT NULL,          -- person | relay | background
            feature TEXT NOT NULL,
            requests INTEGER NOT NULL,
            PRIMARY KEY (credential_id, minute, priority, feature)
        )""",
        "CREATE INDEX IF NOT EXISTS bitbucket_requests_by_minute ON bitbucket_requests (minute)",
    )),
    *STATE_MIGRATIONS,
]

_ADD = """INSERT INTO bitbucket_requests (credential_id, credential_kind, minute, priority, feature, requests)
          VALUES (?, ?, ?, ?, ?, ?)
          ON CONFLICT (credential_id, minute, priority, feature)
          DO UPDATE SET requests = bitbucket_requests.requests + excluded.requests"""


def record(store: Store, counts: dict) -> None:
    """Add counts `{(kind, credential id, minute, priority, feature): n}` to the shared rows, in one transaction.
    Rows are written in one order, so replicas adding to the same rows never wait on each other in a circle."""
    if not counts:
        return
    rows = sorted((cid, kind, minute, priority, feature, n) for (kind, cid, minute, priority, feature), n in counts.items() if n)
    with store.transaction(lock=None) as db:
        for row in rows:
            db.execute(_ADD, row)


def hour_used(store: Store, now: float) -> dict[str, tuple[str, int]]:
    """The rolling hour's requests of every credential that spent any: {credential id: (kind, requests)}."""
    since = minute_of(now) - WINDOW_MINUTES
    rows = store.query(
        """SELECT credential_id, MIN(credential_kind) AS kind, SUM(requests) AS n FROM bitbucket_requests
           WHERE minute > ? GROUP BY credential_id""", (since,))
    return {row["credential_id"]: (row["kind"], int(row["n"] or 0)) for row in rows}


def hour_by_feature(store: Store, now: float) -> list[tuple[str, str, str, int]]:
    """The rolling hour's spend: [(credential kind, priority, feature, requests)], most first."""
    since = minute_of(now) - WINDOW_MINUTES
    rows = store.query(
        """SELECT credential_kind, priority, feature, SUM(requests) AS n FROM bitbucket_requests WHERE minute > ?
           GROUP BY credential_kind, priority, feature""", (since,))
    found = [(row["credential_kind"], row["priority"], row["feature"], int(row["n"] or 0)) for row in rows]
    return sorted(found, key=lambda row: (-row[3], row[0], row[1], row[2]))


def prune(store: Store, now: float) -> int:
    return store.execute("DELETE FROM bitbucket_requests WHERE minute < ?", (minute_of(now) - KEEP_MINUTES,)).rowcount


def flush(store: Store, budget: RequestBudget) -> None:
    """Write what the meter counted, read the hour back into it, publish the gauges."""
    taken = budget.take()
    try:
        record(store, taken)
        budget.settle(hour_used(store, budget.clock()))
    except DatabaseError:
        budget.settle(None)  # counted again next time
        raise
    finally:
        budget.publish()


class Flusher(BackgroundLoop):
    thread_name = "budget-flush"

    def __init__(self, store: Store, budget: RequestBudget, *, seconds: float = FLUSH_SECONDS):
        super().__init__(threading.Event())
        self.store, self.budget, self.seconds = store, budget, seconds
        self._passes = 0

    def one_pass(self) -> bool:
        try:
            flush(self.store, self.budget)
        except DatabaseError as error:
            log.warning("the request counts could not be written (%s); trying again", error)
            return False
        self._passes += 1
        if self._passes % PRUNE_EVERY == 1:
            prune(self.store, self.budget.clock())
        return False

    def idle_time(self) -> float:
        return self.seconds

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)
        try:
            flush(self.store, self.budget)  # what was counted last is not lost
        except DatabaseError:
            log.warning("the last request counts could not be written")


def provide(services) -> RequestBudget:
    """The meter, in the services and on the bot's client (people's clients get it from `meter_for`)."""
    budget = services.part(RequestBudget) or services.provide(RequestBudget(clock=services.timestamp))
    services.bitbucket.meter = budget
    return budget


def meter_for(services) -> RequestBudget | None:
    return services.part(RequestBudget)


def start_background(services, *, scheduler=None) -> list:
    flusher = Flusher(services.store, provide(services)).start()
    return [flusher.stop]


__all__ = ["MIGRATIONS", "HOURLY_LIMIT", "BOT", "PERSONAL", "Flusher", "flush", "hour_by_feature", "hour_used", "meter_for", "provide", "prune",
           "record", "start_background"]
