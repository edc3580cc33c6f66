"""Snoozed pull requests: a person's "not now" on a pull request that waits on them, for the rest of their day
or until its next push, whichever they chose; a new push (another source commit) ends either kind.

A snoozed pull request is left out of the person's reminder, and out of channel reminders too (counted there).
The rule of whether a snooze holds is pure; the table is this feature's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

from bot.core.errors import UserError
from bot.core.store import Migration, Store

MIGRATION = Migration("reminders", 2, (
    """CREATE TABLE IF NOT EXISTS reminder_snoozes (
        repo TEXT NOT NULL,                -- workspace/slug, lower-case
        pr_id INTEGER NOT NULL,
        slack_user_id TEXT NOT NULL,
        source_hash TEXT NOT NULL,         -- the source commit when snoozed: another one ends the snooze
        until_at REAL,                     -- epoch seconds; NULL: until the next push only
        snoozed_at REAL NOT NULL,
        PRIMARY KEY (repo, pr_id, slack_user_id)
    )""",
))

KINDS = ("day", "push")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_HASH = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class Snooze:
    repo: str
    pr_id: int
    slack_user_id: str
    source_hash: str
    until_at: float | None

    def holds(self, now: datetime, current_hash: str | None) -> bool:
        """Still in force at `now` for a pull request whose source commit is `current_hash`."""
        if self.until_at is not None and now.timestamp() >= self.until_at:
            return False
        return not current_hash or _same_commit(self.source_hash, current_hash)


def _same_commit(one: str, other: str) -> bool:
    shorter = min(len(one), len(other))
    return shorter >= 7 and one[:shorter].lower() == other[:shorter].lower()


def until_for(kind: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    """`day`: until the person's next local day begins (back in tomorrow's reminder); `push`: no end of its own."""
    if kind == "push":
        return None
    tomorrow: date = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=zone).astimezone(timezone.utc)


@dataclass(frozen=True)
class SnoozeRequest:
    """A Snooze button's value, checked: it comes back from Slack, so each part is typed and bounded."""

    repo: str
    pr_id: int
    source_hash: str
    kind: str
    day: str

    @classmethod
    def from_value(cls, value: Mapping) -> "SnoozeRequest":
        repo, pr_id, source_hash = value.get("r"), value.get("p"), value.get("h")
        kind, day = value.get("u"), value.get("d")
        if not (isinstance(repo, str) and _REPO.match(repo) and len(repo) <= 200):
            raise _unreadable()
        if not (isinstance(pr_id, int) and not isinstance(pr_id, bool) and 0 < pr_id < 10**9):
            raise _unreadable()
        if not (isinstance(source_hash, str) and _HASH.match(source_hash)) or kind not in KINDS:
            raise _unreadable()
        try:
            date.fromisoformat(day if isinstance(day, str) else "")
        except ValueError:
            raise _unreadable() from None
        return cls(repo.lower(), pr_id, source_hash, kind, day)

    def value(self) -> dict:
        return {"r": self.repo, "p": self.pr_id, "h": self.source_hash, "u": self.kind, "d": self.day}

    def claim_key(self, user_id: str) -> str:
        return f"snooze:{user_id}:{self.repo}#{self.pr_id}:{self.kind}:{self.source_hash}:{self.day}"


def _unreadable() -> UserError:
    return UserError("That button's data is not readable; run `/bb remind me now` for a fresh list.")


# --- the table ------------------------------------------------------------------------------------------


def snooze(store: Store, request: SnoozeRequest, *, user_id: str, now: datetime, until: datetime | None) -> None:
    store.execute(
        """INSERT INTO reminder_snoozes (repo, pr_id, slack_user_id, source_hash, until_at, snoozed_at)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (repo, pr_id, slack_user_id) DO UPDATE SET
             source_hash = excluded.source_hash, until_at = excluded.until_at, snoozed_at = excluded.snoozed_at""",
        (request.repo, request.pr_id, user_id, request.source_hash, until.timestamp() if until else None, now.timestamp()),
    )


def _from_rows(rows: Iterable[Mapping]) -> list[Snooze]:
    return [Snooze(r["repo"], r["pr_id"], r["slack_user_id"], r["source_hash"], r["until_at"]) for r in rows]


def of_repository(store: Store, repo: str) -> dict[int, list[Snooze]]:
    """Everyone's snoozes in a repository, by pull request."""
    found: dict[int, list[Snooze]] = {}
    for item in _from_rows(store.query("SELECT * FROM reminder_snoozes WHERE repo = ?", (repo.lower(),))):
        found.setdefault(item.pr_id, []).append(item)
    return found


def of_person(store: Store, user_id: str) -> dict[tuple[str, int], Snooze]:
    rows = store.query("SELECT * FROM reminder_snoozes WHERE slack_user_id = ?", (user_id,))
    return {(item.repo, item.pr_id): item for item in _from_rows(rows)}


def forget_ended(store: Store, now: datetime) -> int:
    """Drop the day snoozes that ended (push snoozes end when seen with another commit, and are then replaced)."""
    return store.execute("DELETE FROM reminder_snoozes WHERE until_at IS NOT NULL AND until_at <= ?", (now.timestamp(),)).rowcount
