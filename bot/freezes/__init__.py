"""Deploy freezes: while one holds, `deploy` and `rollback` to its environment are refused.

A freeze is a row in the database, so it survives restarts and holds on every replica; it ends by itself
when its time comes (every read compares `ends_at` with the clock: nothing has to run for it to end), or when
someone unfreezes it. `environment` is `*` for a freeze of every environment of the repository.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.core.store import Migration

ALL = "*"

MIGRATIONS = [
    Migration("freezes", 1, (
        """CREATE TABLE IF NOT EXISTS deploy_freezes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            repo TEXT NOT NULL,                 -- workspace/slug, lower-case
            environment TEXT NOT NULL,          -- as Bitbucket spells it; '*' = every environment
            reason TEXT NOT NULL DEFAULT '',
            frozen_by TEXT NOT NULL,
            frozen_at REAL NOT NULL,
            ends_at REAL,                       -- NULL: until someone unfreezes it
            channel_id TEXT NOT NULL DEFAULT '',
            ended_at REAL,                      -- set when unfrozen (or replaced by a newer freeze)
            ended_by TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX IF NOT EXISTS deploy_freezes_by_repo ON deploy_freezes (repo, ended_at)",
    )),
    # A freeze set by an admin is lifted (or replaced) by an admin only: it may be meant to stop the deployers.
    Migration("freezes", 2, ("ALTER TABLE deploy_freezes ADD COLUMN admin_only INTEGER NOT NULL DEFAULT 0",)),
]


@dataclass(frozen=True)
class Freeze:
    id: int
    repo: str
    environment: str
    reason: str
    frozen_by: str
    frozen_at: float
    ends_at: float | None
    channel_id: str = ""
    ended_at: float | None = None
    ended_by: str = ""
    admin_only: bool = False  # set by an admin: only an admin lifts it

    @property
    def everywhere(self) -> bool:
        return self.environment == ALL


class AdminOnly(Exception):
    """Someone who is not an admin tried to end (or replace) freezes that only an admin may lift."""

    def __init__(self, freezes: list[Freeze]):
        super().__init__(f"{len(freezes)} freeze(s) set by an admin")
        self.freezes = freezes


def clock_of(services):
    """The bot's clock in seconds (tests set the services' clock)."""
    return services.timestamp


# --- pure rules ----------------------------------------------------------------------------------------


def is_all(typed: str) -> bool:
    return typed.strip().lower() in ("all", ALL)


def holds(freeze: Freeze, now: float) -> bool:
    return freeze.ended_at is None and (freeze.ends_at is None or freeze.ends_at > now)


def covers(freeze: Freeze, environment: str) -> bool:
    return freeze.everywhere or freeze.environment.lower() == environment.lower()


def blocking(freezes: list[Freeze], environment: str, now: float) -> Freeze | None:
    """The freeze that stops a deploy to `environment`: the one that lasts longest (an open-ended one first)."""
    holding = [f for f in freezes if holds(f, now) and covers(f, environment)]
    if not holding:
        return None
    return max(holding, key=lambda f: (f.ends_at is None, f.ends_at or 0.0))


# --- the store ------------------------------------------------------------------------------------------

_ACTIVE = "ended_at IS NULL AND (ends_at IS NULL OR ends_at > ?)"


def active(store, repo: str | None = None, *, now: float) -> list[Freeze]:
    """The freezes in force (of one repository, or all), oldest first."""
    if repo:
        rows = store.query(f"SELECT * FROM deploy_freezes WHERE repo = ? AND {_ACTIVE} ORDER BY id", (repo.lower(), now))
    else:
        rows = store.query(f"SELECT * FROM deploy_freezes WHERE {_ACTIVE} ORDER BY repo, id", (now,))
    return [_row(row) for row in rows]


def blocking_freeze(store, repo: str, environment: str, *, now: float) -> Freeze | None:
    return blocking(active(store, repo, now=now), environment, now)


def _row(row: dict) -> Freeze:
    return Freeze(**{**row, "admin_only": bool(row.get("admin_only"))})


def _refuse_admin_only(db, where: str, params: tuple, admin: bool) -> None:
    """Inside the transaction that would end them: AdminOnly when any is an admin's and `admin` is not."""
    if admin:
        return
    locked = [_row(row) for row in db.query(f"SELECT * FROM deploy_freezes WHERE {where} AND admin_only = 1 ORDER BY id", params)]
    if locked:
        raise AdminOnly(locked)


def freeze(store, repo: str, environment: str, *, user_id: str, channel_id: str, reason: str, ends_at: float | None,
           now: float, admin: bool = False) -> Freeze:
    """Freeze `environment` (or ALL); a freeze of the same place already in force is replaced by this one (an
    admin's only by an admin: AdminOnly). An admin's freeze is `admin_only`."""
    with store.transaction() as db:
        _refuse_admin_only(db, f"repo = ? AND lower(environment) = lower(?) AND {_ACTIVE}", (repo.lower(), environment, now), admin)
        db.execute(
            f"UPDATE deploy_freezes SET ended_at = ?, ended_by = ? WHERE repo = ? AND lower(environment) = lower(?) AND {_ACTIVE}",
            (now, user_id, repo.lower(), environment, now),
        )
        row = next(db.query(
            """INSERT INTO deploy_freezes (repo, environment, reason, frozen_by, frozen_at, ends_at, channel_id, admin_only)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *""",
            (repo.lower(), environment, reason[:500], user_id, now, ends_at, channel_id, 1 if admin else 0),
        ))
    return _row(row)


def unfreeze(store, repo: str, environment: str, *, user_id: str, now: float, admin: bool = False) -> list[Freeze]:
    """End the freezes in force of `environment` (ALL: every freeze of the repository); the ones ended. Nothing
    ends, and AdminOnly is raised, when one of them is an admin's and `admin` is not."""
    with store.transaction() as db:
        if environment == ALL:
            where, params = f"repo = ? AND {_ACTIVE}", (repo.lower(), now)
        else:
            where, params = f"repo = ? AND lower(environment) = lower(?) AND {_ACTIVE}", (repo.lower(), environment, now)
        _refuse_admin_only(db, where, params, admin)
        rows = list(db.query(f"SELECT * FROM deploy_freezes WHERE {where} ORDER BY id", params))
        db.execute(f"UPDATE deploy_freezes SET ended_at = ?, ended_by = ? WHERE {where}", (now, user_id, *params))
    return [_row(row) for row in rows]
