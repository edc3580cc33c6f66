"""Requests for approval of a deploy or rollback to a protected environment.

A request is a row; its card in the channel is an outbox message anchored to it, redrawn (by whichever replica
changes the row) in the same transaction as the change. Each change is compare-and-set on the row's `state`, and
an approval first takes the row's lock (an UPDATE), so two approvals at once on two replicas count each other and
exactly one of them finds the request complete: that one runs the deploy (once more guarded by the one write
path's claim on the request's key). A request waits `EXPIRES_AFTER_SECONDS`; after that it is over.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from bot.core import outbox
from bot.environments import render as env_render

EXPIRES_AFTER_SECONDS = 3600.0
OPEN, APPROVED, STARTED, FINISHED, FAILED, REJECTED, EXPIRED, SUPERSEDED = (
    "open", "approved", "started", "finished", "failed", "rejected", "expired", "superseded")


@dataclass(frozen=True)
class DeployRequest:
    id: int
    kind: str
    repo: str
    environment: str
    ref_kind: str
    ref: str
    commit_hash: str
    rollback_from: str
    requested_by: str
    channel_id: str
    needed: int
    role: str
    forced: bool
    anyway: bool
    summary: str
    state: str
    created_at: float
    expires_at: float
    ended_at: float | None = None
    ended_by: str = ""
    note: str = ""
    deploy_id: int | None = None
    approvals: tuple[str, ...] = ()  # who approved, in order

    @property
    def anchor(self) -> str:
        return f"deploy-request:{self.id}"

    @property
    def key(self) -> str:
        """The one write path's key of the deploy it becomes: it runs once, however many clicks."""
        return f"deploy-request:{self.id}"

    def expired_at(self, now: float) -> bool:
        return now >= self.expires_at


class NotOpen(Exception):
    """The request is no longer waiting for approvals (approved, rejected, expired, …): nothing changed."""

    def __init__(self, request: DeployRequest):
        super().__init__(request.state)
        self.request = request


_COLUMNS = tuple(f.name for f in fields(DeployRequest) if f.name != "approvals")


def _request(db, row: dict) -> DeployRequest:
    """`db`: a transaction, or the store itself (a read outside one)."""
    approvals = tuple(r["user_id"] for r in db.query(
        "SELECT user_id FROM deploy_request_approvals WHERE request_id = ? ORDER BY approved_at, user_id", (row["id"],)))
    values = {name: row[name] for name in _COLUMNS}
    return DeployRequest(**{**values, "forced": bool(values["forced"]), "anyway": bool(values["anyway"])}, approvals=approvals)


def _redraw(db, request: DeployRequest, now: float) -> None:
    outbox.enqueue(db, channel=request.channel_id, message=env_render.request_card(request, now), key=request.anchor,
                   anchor=request.anchor, fallback_user=request.requested_by)


def _read(db, request_id: int) -> DeployRequest | None:
    row = next(iter(db.query("SELECT * FROM deploy_requests WHERE id = ?", (request_id,))), None)
    return _request(db, row) if row else None


def get(store, request_id: int) -> DeployRequest | None:
    row = store.query_one("SELECT * FROM deploy_requests WHERE id = ?", (request_id,))
    return _request(store, row) if row else None


def create(store, *, kind: str, repo: str, environment: str, ref_kind: str, ref: str, commit_hash: str,
           rollback_from: str = "", requested_by: str, channel_id: str, needed: int, role: str, forced: bool = False,
           anyway: bool = False, summary: str = "", now: float) -> DeployRequest:
    """Record the request and queue its card, in one transaction."""
    with store.transaction() as db:
        request_id = next(db.query(
            """INSERT INTO deploy_requests (kind, repo, environment, ref_kind, ref, commit_hash, rollback_from, requested_by,
                   channel_id, needed, role, forced, anyway, summary, created_at, expires_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            (kind, repo, environment, ref_kind, ref, commit_hash, rollback_from, requested_by, channel_id, needed, role,
             int(forced), int(anyway), summary[:2500], now, now + EXPIRES_AFTER_SECONDS),
        ))["id"]
        request = _read(db, request_id)
        _redraw(db, request, now)
    return request


def approve(store, request_id: int, user_id: str, *, now: float) -> tuple[DeployRequest, bool]:
    """Count `user_id`'s approval (once however often they click): (the request, True) for the one approval that
    completes it (it is then `approved`, and that caller runs the deploy). NotOpen, and nothing changed, when the
    request is over or its hour has passed."""
    with store.transaction() as db:
        db.execute("UPDATE deploy_requests SET state = state WHERE id = ?", (request_id,))  # approvals one at a time
        request = _read(db, request_id)
        if request is None:
            raise KeyError(request_id)
        if request.state != OPEN or request.expired_at(now):
            raise NotOpen(request)
        db.execute("INSERT INTO deploy_request_approvals (request_id, user_id, approved_at) VALUES (?, ?, ?) "
                   "ON CONFLICT DO NOTHING", (request_id, user_id, now))
        request = _read(db, request_id)
        complete = len(request.approvals) >= request.needed
        if complete:
            db.execute("UPDATE deploy_requests SET state = ? WHERE id = ? AND state = ?", (APPROVED, request_id, OPEN))
            request = _read(db, request_id)
        _redraw(db, request, now)
    return request, complete


def end(store, request_id: int, state: str, *, by: str, note: str = "", now: float, deploy_id: int | None = None,
        states=(OPEN,)) -> DeployRequest | None:
    """Move the request from one of `states` to `state` (rejected, expired, superseded, started, failed), with a
    note, and redraw its card: the request, or None when it was not in `states` (someone else moved it first)."""
    marks = ",".join("?" for _ in states)
    with store.transaction() as db:
        moved = db.execute(
            f"UPDATE deploy_requests SET state = ?, ended_at = ?, ended_by = ?, note = ?, deploy_id = COALESCE(?, deploy_id) "
            f"WHERE id = ? AND state IN ({marks})",
            (state, now, by, note[:500], deploy_id, request_id, *states),
        ).rowcount
        if not moved:
            return None
        request = _read(db, request_id)
        _redraw(db, request, now)
    return request


def is_approved(store, request_id: int, *, repo: str, environment: str, kind: str) -> bool:
    """Does this approved request stand for this write (the protection guard's question)?"""
    row = store.query_one("SELECT repo, environment, kind, state FROM deploy_requests WHERE id = ?", (request_id,))
    return bool(row) and row["state"] == APPROVED and row["kind"] == kind and row["repo"].lower() == repo.lower() \
        and row["environment"].lower() == environment.lower()


def expire_due(store, *, now: float) -> list[DeployRequest]:
    """Close the requests whose hour has passed, each once across replicas: the ones this call closed."""
    due = store.query("SELECT id FROM deploy_requests WHERE state = ? AND expires_at <= ? ORDER BY id", (OPEN, now))
    closed = [end(store, row["id"], EXPIRED, by="", now=now) for row in due]
    return [request for request in closed if request is not None]


def deploy_finished(db, deploy_id: int, outcome: str, now: float) -> None:
    """Inside the deploy follower's transaction: the card of the request a deploy came from tells how it ended."""
    row = next(iter(db.query("SELECT * FROM deploy_requests WHERE deploy_id = ? AND state = ?", (deploy_id, STARTED))), None)
    if row is None:
        return
    note = f"{row['note']} · *{outcome}*" if row["note"] else f"*{outcome}*"
    if db.execute("UPDATE deploy_requests SET state = ?, note = ? WHERE id = ? AND state = ?",
                  (FINISHED, note[:500], row["id"], STARTED)).rowcount:
        _redraw(db, _read(db, row["id"]), now)
