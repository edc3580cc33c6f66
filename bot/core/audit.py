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
        rows = self.store.query("SELECT at, user_id, action, target, detail, ok, result FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [AuditEntry(**{**row, "ok": bool(row["ok"])}) for row in rows]
