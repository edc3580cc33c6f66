"""Personal notifications: direct messages to linked people about their pull requests, reviews, mentions,
builds and deploys.

    webhook -> intake -> router (one transaction): relay's posts + plan_for_delivery -> outbox -> a DM
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

from bot import deploys
from bot.core import outbox
from bot.notify import messages
from bot.notify.planning import KINDS, build_reasons, choose, enabled_kinds, pull_request_reasons, within_burst
from bot.relay.routing import build_note, build_series, newer_pull_request, slim_pull_request
from bot.reminders import LinkedUser
from bot.core.store import Migration

__all__ = ["KINDS", "MIGRATIONS", "enabled_for", "set_enabled", "is_linked", "plan_for_delivery", "deploy_finished"]

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


def is_linked(db, slack_user_id: str) -> bool:
    return bool(list(db.query("SELECT 1 AS one FROM user_links WHERE slack_user_id = ?", (slack_user_id,))))


def _people(db) -> list[LinkedUser]:
    return [LinkedUser(**row) for row in db.query("SELECT slack_user_id, nickname, bitbucket_uuid, account_id FROM user_links")]


# --- from the router: one delivery, inside its transaction ---------------------------------------------


def plan_for_delivery(db, event_key: str, payload: dict, repo: str, *, now: float | None = None, memo: dict | None = None) -> int:
    """Queue the direct messages a delivery causes; call before the relay stores the event's new state
    (the pull request as it was tells who was added as a reviewer). `memo` is kept across one routing pass
    (the linked people are read once). Returns how many were queued."""
    now = time.time() if now is None else now
    memo = {} if memo is None else memo
    if event_key.startswith("pullrequest:") or event_key.startswith("repo:commit_status_"):
        if ("notify", "people") not in memo:
            memo["notify", "people"] = _people(db)
        people = memo["notify", "people"]
        if not people:
            return 0  # nobody linked, nobody to tell
        if event_key.startswith("pullrequest:"):
            return _plan_pull_request(db, event_key, payload, repo, people, now)
        return _plan_build(db, payload, repo, people, now)
    return 0


def _stored_pull_request(db, repo: str, pr_id) -> dict | None:
    row = db.execute("SELECT data FROM relay_pull_requests WHERE repo = ? AND pr_id = ?", (repo, pr_id)).fetchone()
    return json.loads(row[0]) if row else None


def _plan_pull_request(db, event_key: str, payload: dict, repo: str, people: list[LinkedUser], now: float) -> int:
    incoming = slim_pull_request(event_key, payload)
    if not isinstance(incoming.get("id"), int):
        return 0
    before = _stored_pull_request(db, repo, incoming["id"])
    current = newer_pull_request(before, incoming)
    queued = 0
    for slack_user, reasons in pull_request_reasons(event_key, payload, current, before, people).items():
        reason = choose(reasons, enabled_for(db, slack_user))
        if reason is not None:
            _queue_pull_request_news(db, slack_user, repo, current, reason, now)
            queued += 1
    return queued


def _plan_build(db, payload: dict, repo: str, people: list[LinkedUser], now: float) -> int:
    status = payload.get("commit_status")
    if not isinstance(status, dict) or status.get("state") != "FAILED" or not status.get("refname"):
        return 0
    row = db.execute(
        "SELECT status_key, state, updated_on FROM relay_builds WHERE repo = ? AND refname = ? AND series = ?",
        (repo, status["refname"], build_series(status)),
    ).fetchone()
    if build_note(status, dict(zip(("status_key", "state", "updated_on"), row)) if row else None, None) is None:
        return 0  # a failure already told
    open_prs = [json.loads(r["data"]) for r in db.query("SELECT data FROM relay_pull_requests WHERE repo = ?", (repo,))]
    open_prs = [pr for pr in open_prs if pr.get("state") == "OPEN"]
    queued = 0
    for slack_user, found in build_reasons(status, open_prs, people).items():
        if "builds" not in enabled_for(db, slack_user):
            continue
        for pr, reason in found:
            _queue_pull_request_news(db, slack_user, repo, pr, reason, now)
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


# --- from the deploy follower ----------------------------------------------------------------------------


def deploy_finished(db, record) -> None:
    """A deploy or rollback finished: the person who started it hears of it, if linked and willing."""
    if record.phase != "COMPLETED" or not is_linked(db, record.user_id) or "deploys" not in enabled_for(db, record.user_id):
        return
    outbox.enqueue(db, channel=record.user_id, message=messages.deploy_dm(record), key=f"dm:{record.user_id}:deploy:{record.id}")


deploys.on_finished(deploy_finished)
