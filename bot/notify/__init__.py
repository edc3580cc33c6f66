"""Personal notifications: direct messages to linked people about their pull requests, reviews, mentions,
builds and deploys.

    webhook -> intake -> router (one transaction): relay's posts + this feature's relay hook -> outbox -> a DM
    deploy follower (a deploy finishes, one transaction) -> deploy_finished -> outbox -> a DM

| module | what |
| --- | --- |
| `planning` | pure: who hears of an event, why, and whether they want to (their settings) |
| `messages` | pure: the direct messages, and the settings as blocks |

A burst does not flood a person: one pull request's events for one person within `BURST_SECONDS` are one
message (an outbox anchor per burst), updated in place with each new line. Settings live in
`notify_settings` (a kind without a row is on).
"""

from __future__ import annotations

import json
import time

from bot import accounts, deploys
from bot.core import outbox
from bot.core.store import Migration
from bot.notify import messages
from bot.notify.planning import KINDS, Reason, build_reasons, choose, enabled_kinds, pull_request_reasons, within_burst

__all__ = ["KINDS", "MIGRATIONS", "enabled_for", "set_enabled", "relay_hook", "deploy_finished", "tell"]

BURSTS_KEPT_SECONDS = 86400.0  # a person's finished bursts are forgotten after a day

MIGRATIONS = [
    Migration("notify", 1, (
        """CREATE TABLE IF NOT EXISTS notify_settings (
            slack_user_id TEXT NOT NULL,
            kind TEXT NOT NULL,               -- reviews | mine | mentions | builds | deploys
            enabled INTEGER NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (slack_user_id, kind)
        )""",
        # The message a person's burst of news about one pull request is gathered in.
        """CREATE TABLE IF NOT EXISTS notify_bursts (
            slack_user_id TEXT NOT NULL,
            subject TEXT NOT NULL,            -- workspace/slug#id
            anchor TEXT NOT NULL,             -- the outbox anchor of its message
            started_at REAL NOT NULL,
            lines TEXT NOT NULL,              -- JSON [{kind, line}], oldest first
            PRIMARY KEY (slack_user_id, subject)
        )""",
    )),
]


# --- settings -------------------------------------------------------------------------------------------


def enabled_for(db, slack_user_id: str) -> set[str]:
    rows = db.query("SELECT kind, enabled FROM notify_settings WHERE slack_user_id = ?", (slack_user_id,))
    return enabled_kinds((row["kind"], row["enabled"]) for row in rows)


def set_enabled(store, slack_user_id: str, kinds, on: bool, *, now: float | None = None) -> set[str]:
    now = time.time() if now is None else now
    with store.transaction() as db:
        for kind in kinds:
            db.execute(
                """INSERT INTO notify_settings (slack_user_id, kind, enabled, updated_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT (slack_user_id, kind) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at""",
                (slack_user_id, kind, on, now),
            )
        return enabled_for(db, slack_user_id)


# --- a relay hook: one routed delivery, inside the router's transaction -----------------------------------


def relay_hook(event) -> None:
    """The direct messages a relayed delivery causes (`bot.relay.hooks.RoutedEvent`), planned from the state the
    router read before storing the event's (the pull request as it was tells who was newly added as a reviewer).
    The linked people are read once per routing pass."""
    if not (event.is_pull_request or event.is_build):
        return
    if ("notify", "people") not in event.memo:
        event.memo["notify", "people"] = accounts.linked_users(event.db)
    people = event.memo["notify", "people"]
    if not people:
        return  # nobody linked, nobody to tell
    if event.is_pull_request:
        event.queued += _plan_pull_request(event, people)
    else:
        event.queued += _plan_build(event, people)


def _plan_pull_request(event, people: list[accounts.LinkedUser]) -> int:
    db, current = event.db, event.pull_request
    queued = 0
    for slack_user, reasons in pull_request_reasons(event.event_key, event.payload, current, event.pull_request_before, people).items():
        reason = choose(reasons, enabled_for(db, slack_user))
        if reason is not None:
            _queue_pull_request_news(db, slack_user, event.repo, current, reason, event.now)
            queued += 1
    return queued


def _plan_build(event, people: list[accounts.LinkedUser]) -> int:
    status = event.payload.get("commit_status")
    if not isinstance(status, dict) or status.get("state") != "FAILED" or not status.get("refname"):
        return 0
    if event.build_note is None:
        return 0  # a failure already told
    queued = 0
    for slack_user, found in build_reasons(status, event.open_pull_requests, people).items():
        if "builds" not in enabled_for(event.db, slack_user):
            continue
        for pr, reason in found:
            _queue_pull_request_news(event.db, slack_user, event.repo, pr, reason, event.now)
            queued += 1
    return queued


def _queue_pull_request_news(db, slack_user: str, repo: str, pr: dict, reason, now: float) -> None:
    """Add a line to the person's message about this pull request: the one of the running burst, or a new one."""
    subject = f"{repo}#{pr['id']}"
    db.execute("DELETE FROM notify_bursts WHERE slack_user_id = ? AND started_at < ?", (slack_user, now - BURSTS_KEPT_SECONDS))
    row = db.execute("SELECT anchor, started_at, lines FROM notify_bursts WHERE slack_user_id = ? AND subject = ?",
                     (slack_user, subject)).fetchone()
    entry = {"kind": reason.kind, "line": reason.line}
    if row is not None and within_burst(row[1], now):
        anchor, started_at, lines = row[0], row[1], [*json.loads(row[2]), entry]
    else:
        anchor, started_at, lines = f"notify:{subject}:{int(now * 1000)}", now, [entry]
    db.execute(
        """INSERT INTO notify_bursts (slack_user_id, subject, anchor, started_at, lines) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (slack_user_id, subject) DO UPDATE SET anchor = excluded.anchor, started_at = excluded.started_at,
               lines = excluded.lines""",
        (slack_user, subject, anchor, started_at, json.dumps(lines, separators=(",", ":"))),
    )
    outbox.enqueue(db, channel=slack_user, message=messages.pull_request_dm(repo, pr, lines), key=f"dm:{slack_user}:{subject}",
                   anchor=anchor)


def tell(db, slack_user: str, repo: str, pr: dict, kind: str, line: str, now: float) -> bool:
    """Another feature's news about a pull request for one person (owners: `owners`), in their burst of news about
    it, if they want that kind; True when queued. Inside the caller's transaction (a relay hook's)."""
    if kind not in enabled_for(db, slack_user):
        return False
    _queue_pull_request_news(db, slack_user, repo, pr, Reason(kind, line), now)
    return True


# --- from the deploy follower ----------------------------------------------------------------------------


def deploy_finished(db, record) -> None:
    """A deploy or rollback finished: the person who started it hears of it, if linked and willing."""
    if record.phase != "COMPLETED" or not accounts.is_linked(db, record.user_id) or "deploys" not in enabled_for(db, record.user_id):
        return
    outbox.enqueue(db, channel=record.user_id, message=messages.deploy_dm(record), key=f"dm:{record.user_id}:deploy:{record.id}")


deploys.on_finished(deploy_finished)
