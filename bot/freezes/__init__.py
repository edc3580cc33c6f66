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

    @property
    def everywhere(self) -> bool:
        return self.environment == ALL


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
    return [Freeze(**row) for row in rows]


def blocking_freeze(store, repo: str, environment: str, *, now: float) -> Freeze | None:
    return blocking(active(store, repo, now=now), environment, now)


def freeze(store, repo: str, environment: str, *, user_id: str, channel_id: str, reason: str, ends_at: float | None,
           now: float) -> Freeze:
    """Freeze `environment` (or ALL); a freeze of the same place already in force is replaced by this one."""
    with store.transaction() as db:
        db.execute(
            f"UPDATE deploy_freezes SET ended_at = ?, ended_by = ? WHERE repo = ? AND lower(environment) = lower(?) AND {_ACTIVE}",
            (now, user_id, repo.lower(), environment, now),
        )
        row = next(db.query(
            """INSERT INTO deploy_freezes (repo, environment, reason, frozen_by, frozen_at, ends_at, channel_id)
               VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *""",
            (repo.lower(), environment, reason[:500], user_id, now, ends_at, channel_id),
        ))
    return Freeze(**row)


def unfreeze(store, repo: str, environment: str, *, user_id: str, now: float) -> list[Freeze]:
    """End the freezes in force of `environment` (ALL: every freeze of the repository); the ones ended."""
    with store.transaction() as db:
        if environment == ALL:
            where, params = f"repo = ? AND {_ACTIVE}", (repo.lower(), now)
        else:
            where, params = f"repo = ? AND lower(environment) = lower(?) AND {_ACTIVE}", (repo.lower(), environment, now)
        rows = list(db.query(f"SELECT * FROM deploy_freezes WHERE {where} ORDER BY id", params))
        db.execute(f"UPDATE deploy_freezes SET ended_at = ?, ended_by = ? WHERE {where}", (now, user_id, *params))
    return [Freeze(**row) for row in rows]
