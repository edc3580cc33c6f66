"""Slack's Events API deliveries seen, so that a retried event (`X-Slack-Retry-Num`) is acted on once.

Slack retries an event it got no 2xx for (about at once, after a minute, after five), with the same
`event_id`; the first delivery claims the id, every later one finds it taken. Ids are forgotten after
`RETENTION_SECONDS`, long after Slack's last retry.
"""

from __future__ import annotations

import time

from bot.core.store import Migration

RETENTION_SECONDS = 3600.0

MIGRATIONS = [
    Migration("slack_events", 1, (
        """CREATE TABLE IF NOT EXISTS slack_events (
            event_id TEXT PRIMARY KEY,
            event_type TEXT NOT NULL DEFAULT '',
            received_at REAL NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS slack_events_received ON slack_events (received_at)",
    )),
]


def first_time(store, event_id: str, event_type: str = "", *, now: float | None = None) -> bool:
    """True for the first delivery of `event_id`, False for its retries (durable: across restarts and replicas)."""
    now = time.time() if now is None else now
    store.execute("DELETE FROM slack_events WHERE received_at < ?", (now - RETENTION_SECONDS,))
    cursor = store.execute(
        "INSERT INTO slack_events (event_id, event_type, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (event_id, event_type, now),
    )
    return cursor.rowcount == 1
