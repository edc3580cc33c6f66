"""Environment locks: one person holds an environment; deploys, rollbacks and re-runs of its deploy pipeline by
anyone else are refused while the lock holds. A lock ends at its time (default `DEFAULT_SECONDS`), or when its
holder (or an admin) unlocks it. `active(store, repo)` is the public read (the dashboard's too)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.core import outbox
from bot.core.render import Message
from bot.core.store import IntegrityError

DEFAULT_SECONDS = 4 * 3600
WARN_BEFORE_SECONDS = 10 * 60
_HOLDS = "ended_at IS NULL AND ends_at > ?"


@dataclass(frozen=True)
class Lock:
    id: int
    repo: str
    environment: str
    holder: str
    reason: str
    locked_at: float
    ends_at: float
    channel_id: str = ""
    warned: bool = False
    ended_at: float | None = None
    ended_by: str = ""


class AlreadyLocked(Exception):
    def __init__(self, lock: Lock):
        super().__init__(f"held by {lock.holder}")
        self.lock = lock


def _lock(row: dict) -> Lock:
    return Lock(**{**row, "warned": bool(row.get("warned"))})


def active(store, repo: str | None = None, *, now: float | None = None) -> list[Lock]:
    """The locks that hold (of one repository, or all), oldest first; `now` is the machine's time unless told (the
    bot passes its clock)."""
    now = time.time() if now is None else now
    if repo:
        rows = store.query(f"SELECT * FROM environment_locks WHERE repo = ? AND {_HOLDS} ORDER BY id", (repo.lower(), now))
    else:
        rows = store.query(f"SELECT * FROM environment_locks WHERE {_HOLDS} ORDER BY repo, id", (now,))
    return [_lock(row) for row in rows]


def holding(store, repo: str, environment: str, *, now: float) -> Lock | None:
    """The lock on this environment, if one holds."""
    row = store.query_one(
        f"SELECT * FROM environment_locks WHERE repo = ? AND lower(environment) = lower(?) AND {_HOLDS}",
        (repo.lower(), environment, now),
    )
    return _lock(row) if row else None


def held_by(store, user_id: str, *, now: float) -> list[Lock]:
    return [_lock(row) for row in store.query(
        f"SELECT * FROM environment_locks WHERE holder = ? AND {_HOLDS} ORDER BY repo, id", (user_id, now))]


def take(store, repo: str, environment: str, *, user_id: str, channel_id: str, reason: str, ends_at: float,
         now: float) -> tuple[Lock, bool]:
    """Lock the environment for `user_id`: (the lock, True) when new; the holder's own lock is renewed (False).
    AlreadyLocked when someone else holds it."""
    try:
        with store.transaction() as db:
            db.execute(  # a lock over by its time makes room (the unique index counts unended ones)
                "UPDATE environment_locks SET ended_at = ends_at WHERE repo = ? AND lower(environment) = lower(?) "
                "AND ended_at IS NULL AND ends_at <= ?", (repo.lower(), environment, now),
            )
            mine = db.execute(
                "UPDATE environment_locks SET reason = ?, ends_at = ?, warned = 0, channel_id = ? "
                "WHERE repo = ? AND lower(environment) = lower(?) AND ended_at IS NULL AND holder = ?",
                (reason[:500], ends_at, channel_id, repo.lower(), environment, user_id),
            ).rowcount
            if not mine:
                db.execute(
                    """INSERT INTO environment_locks (repo, environment, holder, reason, locked_at, ends_at, channel_id)
                       VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    (repo.lower(), environment, user_id, reason[:500], now, ends_at, channel_id),
                )
            row = next(db.query("SELECT * FROM environment_locks WHERE repo = ? AND lower(environment) = lower(?) "
                                "AND ended_at IS NULL", (repo.lower(), environment)))
    except IntegrityError:
        raise AlreadyLocked(holding(store, repo, environment, now=now) or _stand_in(repo, environment, now)) from None
    lock = _lock(row)
    if lock.holder != user_id:
        raise AlreadyLocked(lock)
    return lock, not mine


def _stand_in(repo: str, environment: str, now: float) -> Lock:
    """Taken a moment ago by someone whose lock this reader cannot see yet."""
    return Lock(0, repo.lower(), environment, "", "", now, now)


def release(store, repo: str, environment: str, *, user_id: str, now: float) -> Lock | None:
    """End the lock that holds on this environment; the lock ended, or None when none held."""
    with store.transaction() as db:
        row = next(iter(db.query(
            f"SELECT * FROM environment_locks WHERE repo = ? AND lower(environment) = lower(?) AND {_HOLDS}",
            (repo.lower(), environment, now))), None)
        if row is None:
            return None
        if not db.execute("UPDATE environment_locks SET ended_at = ?, ended_by = ? WHERE id = ? AND ended_at IS NULL",
                          (now, user_id, row["id"])).rowcount:
            return None
    return _lock({**row, "ended_at": now, "ended_by": user_id})


def warn_due(store, *, now: float, warning) -> int:
    """Tell each holder whose lock ends within `WARN_BEFORE_SECONDS`, once (the row is marked in the transaction
    that queues the message, so two replicas tell nobody twice). `warning(lock, now) -> Message`."""
    told = 0
    due = store.query(  # a lock shorter than the warning's lead is not warned about: its holder just took it
        f"SELECT * FROM environment_locks WHERE warned = 0 AND {_HOLDS} AND ends_at <= ? AND ends_at - locked_at > ? ORDER BY id",
        (now, now + WARN_BEFORE_SECONDS, WARN_BEFORE_SECONDS))
    for row in due:
        lock = _lock(row)
        with store.transaction() as db:
            if not db.execute("UPDATE environment_locks SET warned = 1 WHERE id = ? AND warned = 0", (lock.id,)).rowcount:
                continue
            message: Message = warning(lock, now)
            outbox.enqueue(db, channel=lock.holder, message=message, key=f"lock:{lock.id}")
        told += 1
    return told
