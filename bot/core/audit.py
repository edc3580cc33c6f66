"""The audit log: every write (create, merge, decline, tag, grant, revoke, deploy, rollback…), who, what, when, result."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from bot.core.store import Migration, Store

MIGRATIONS = [
    Migration("audit", 1, (
        """CREATE TABLE IF NOT EXISTS audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            user_id TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            ok INTEGER NOT NULL,
            result TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX IF NOT EXISTS audit_at ON audit (at)",
    )),
]


@dataclass(frozen=True)
class AuditEntry:
    at: float
    user_id: str
    action: str
    target: str
    detail: str
    ok: bool
    result: str
    id: int = 0


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to read: each field narrows (blank: any). `repo` matches a target that names the repository
    (`acme/api`, `acme/api#12`, `acme/api@production`, `C1 acme/api`, `acme/api in C1`), not `acme/api2`;
    `since` and `until` are seconds since the epoch, `since` included, `until` not."""

    user_id: str = ""
    action: str = ""
    repo: str = ""
    since: float | None = None
    until: float | None = None

    def where(self) -> tuple[str, tuple]:
        clauses, params = [], []
        if self.user_id:
            clauses.append("user_id = ?")
            params.append(self.user_id)
        if self.action:
            clauses.append("action = ?")
            params.append(self.action)
        if self.repo:
            repo = _like_escaped(self.repo.lower())
            clauses.append("(" + " OR ".join(["lower(target) = ?"] + ["lower(target) LIKE ? ESCAPE '!'"] * 5) + ")")
            params += [self.repo.lower(), repo + "#%", repo + "@%", repo + " %", "% " + repo, "% " + repo + " %"]
        if self.since is not None:
            clauses.append("at >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("at < ?")
            params.append(self.until)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _like_escaped(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


class AuditLog:
    def __init__(self, store: Store, clock=time.time):
        self.store = store
        self.clock = clock

    def record(self, user_id: str, action: str, target: str, *, ok: bool, result: str = "", detail: dict | None = None) -> None:
        self.store.execute(
            "INSERT INTO audit (at, user_id, action, target, detail, ok, result) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.clock(), user_id, action, target, json.dumps(detail or {}, sort_keys=True), int(ok), result[:1000]),
        )

    def recent(self, limit: int = 50) -> list[AuditEntry]:
        return self.query(AuditFilter(), limit=limit)

    def query(self, where: AuditFilter, *, limit: int = 50, offset: int = 0) -> list[AuditEntry]:
        """The entries `where` keeps, newest first (by their time, then as written), `limit` of them after `offset`."""
        sql, params = where.where()
        rows = self.store.query(
            f"SELECT id, at, user_id, action, target, detail, ok, result FROM audit{sql} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
            params + (limit, offset),
        )
        return [AuditEntry(**{**row, "ok": bool(row["ok"])}) for row in rows]

    def count(self, where: AuditFilter) -> int:
        sql, params = where.where()
        return int(self.store.query(f"SELECT COUNT(*) AS n FROM audit{sql}", params)[0]["n"])

    def actions(self) -> list[str]:
        """Every action the log holds, for a filter's choices."""
        return [row["action"] for row in self.store.query("SELECT DISTINCT action FROM audit ORDER BY action")]
