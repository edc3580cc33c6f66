"""The embedded store: one SQLite file in WAL mode, one connection per thread, through sqlite-utils.

Each feature keeps the DDL of its own tables beside its code (a `SCHEMA` list of statements);
`Store.migrate()` applies them all, idempotently, at start-up.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator

import sqlite_utils

CORE_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS grants (
        user_id TEXT NOT NULL,
        role TEXT NOT NULL,              -- merger | releaser | deployer
        environment TEXT NOT NULL DEFAULT '',  -- deployer:ENV, lower-case; '' = any
        repo TEXT NOT NULL DEFAULT '',   -- workspace/slug; '' = every repository
        granted_by TEXT NOT NULL,
        granted_at REAL NOT NULL,
        PRIMARY KEY (user_id, role, environment, repo)
    )""",
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
    # A button acts once: the first click claims its key, later (or concurrent) clicks find it taken.
    """CREATE TABLE IF NOT EXISTS action_claims (
        key TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        claimed_at REAL NOT NULL,
        outcome TEXT NOT NULL DEFAULT ''
    )""",
    # Slack user <-> Bitbucket account, for mentions (`/bb link`) and for acting as the person (`/bb login`).
    """CREATE TABLE IF NOT EXISTS user_links (
        slack_user_id TEXT PRIMARY KEY,
        nickname TEXT NOT NULL DEFAULT '',
        bitbucket_uuid TEXT NOT NULL DEFAULT '',
        account_id TEXT NOT NULL DEFAULT '',
        display_name TEXT NOT NULL DEFAULT '',
        linked_by TEXT NOT NULL,
        linked_at REAL NOT NULL
    )""",
]


def _feature_schemas() -> list[str]:
    # Imported here, not at the top, so that feature modules may import the store.
    from bot import accounts, deploys, outbox, relay, reminders

    return [*outbox.SCHEMA, *relay.SCHEMA, *reminders.SCHEMA, *deploys.SCHEMA, *accounts.SCHEMA]


class Store:
    def __init__(self, path: str, *, synchronous: str = "FULL"):
        self.path = path
        self.synchronous = synchronous
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            db = sqlite_utils.Database(conn)
            self._local.db = db
            with self._lock:
                self._connections.append(conn)
        return db

    def migrate(self) -> "Store":
        with self.transaction() as db:
            for statement in CORE_SCHEMA + _feature_schemas():
                db.execute(statement)
        return self

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """BEGIN IMMEDIATE … COMMIT: takes the write lock up front, so read-then-write is atomic."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        db.after_commit = []  # callbacks that must see the committed rows (waking the outbox worker)
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            db.after_commit = None
            raise
        else:
            db.execute("COMMIT")
            callbacks, db.after_commit = db.after_commit, None
            for callback in callbacks:
                callback()

    def query(self, sql: str, params=()) -> list[dict]:
        return list(self.db.query(sql, params))

    def query_one(self, sql: str, params=()) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params=()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    def ping(self) -> bool:
        try:
            return self.db.execute("SELECT 1").fetchone() == (1,)
        except sqlite3.Error:
            return False

    def writable(self) -> tuple[bool, str]:
        try:
            with self.transaction() as db:
                db.execute("CREATE TABLE IF NOT EXISTS _write_check (at REAL)")
                db.execute("INSERT INTO _write_check VALUES (?)", (time.time(),))
                db.execute("DELETE FROM _write_check")
            return True, self.path
        except sqlite3.Error as error:
            return False, f"{self.path}: {error}"

    def claim(self, key: str, user_id: str) -> bool:
        """True for the first caller with this key, False for every later or concurrent one."""
        cursor = self.execute(
            "INSERT OR IGNORE INTO action_claims (key, user_id, claimed_at) VALUES (?, ?, ?)", (key, user_id, time.time())
        )
        return cursor.rowcount == 1

    def release_claim(self, key: str) -> None:
        """Give a claim back when the action did not happen (say, the person lacked the role)."""
        self.execute("DELETE FROM action_claims WHERE key = ?", (key,))

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()
