"""The store: every table of the bot, in SQLite (the default, one file) or PostgreSQL (`DATABASE_URL`).

Features speak one SQL to both (SQLite's `?` placeholders; `ON CONFLICT`, `RETURNING`), keep their tables'
migrations beside their code and hand them to `migrate()`; the store imports no feature.

    store = open_store(settings.database_url or settings.database_path).migrate(features.migrations())
    with store.transaction() as db:      # one atomic write; db.execute / db.query / db.savepoint
        ...
    store.execute(...), store.query(...)  # one statement, committed at once

A write transaction reads and writes as if alone: SQLite takes its write lock up front (BEGIN IMMEDIATE);
PostgreSQL takes an advisory transaction lock (`lock=`, "store" unless told otherwise), so several
replicas keep the same guarantees. `lock=None` is for writes that need no such order (webhook intake).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator

from bot.core.store.migrations import LEDGER, Migration, pending

__all__ = ["Store", "SQLiteStore", "open_store", "Migration", "DatabaseError", "IntegrityError", "DatabaseUnavailable", "MIGRATIONS"]


class DatabaseError(Exception):
    """The database refused or failed a statement (either backend)."""


class IntegrityError(DatabaseError):
    """A constraint said no: a unique key taken, say."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached (a server down, a connection lost)."""


# The store's own tables: what was migrated, button claims, and leases (which replica does a singleton's work).
MIGRATIONS = [
    Migration("store", 1, (
        # A button acts once: the first click claims its key, later (or concurrent) clicks find it taken.
        """CREATE TABLE IF NOT EXISTS action_claims (
            key TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            claimed_at REAL NOT NULL,
            outcome TEXT NOT NULL DEFAULT ''
        )""",
    )),
    Migration("store", 2, (
        """CREATE TABLE IF NOT EXISTS leases (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at REAL NOT NULL
        )""",
    )),
]


class Conn:
    """One connection as features see it: `execute` (a cursor: rowcount, fetchone, fetchall), `query` (dicts),
    `savepoint()`, and `after_commit` (callbacks run once the transaction is committed)."""

    def __init__(self, raw, *, translate=None, errors=None):
        self.raw = raw
        self._translate = translate or (lambda sql: sql)
        self._errors = errors
        self.after_commit: list | None = None

    def execute(self, sql: str, params=()):
        with self._errors():
            return self.raw.execute(self._translate(sql), _plain(params))

    def query(self, sql: str, params=()) -> Iterator[dict]:
        with self._errors():
            cursor = self.raw.execute(self._translate(sql), _plain(params))
            names = [column[0] for column in cursor.description or ()]
            rows = cursor.fetchall()
        return iter([dict(zip(names, row)) for row in rows])

    @contextlib.contextmanager
    def savepoint(self, name: str = "item"):
        """A part of the transaction that can fail alone: its writes are undone, the rest stays."""
        self.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            self.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.execute(f"RELEASE SAVEPOINT {name}")
            raise
        else:
            self.execute(f"RELEASE SAVEPOINT {name}")


def _plain(params):
    # PostgreSQL keeps booleans apart from integers; the schema stores flags as 0/1 on both backends.
    if isinstance(params, dict):
        return params
    return tuple(int(p) if isinstance(p, bool) else p for p in params)


class Store:
    """What both backends offer. Subclasses provide `_connect_for_thread`/`transaction`/`execute` and `describe`."""

    kind = "?"

    # --- one statement ----------------------------------------------------------------------------------

    def execute(self, sql: str, params=()):
        raise NotImplementedError

    def query(self, sql: str, params=()) -> list[dict]:
        raise NotImplementedError

    def query_one(self, sql: str, params=()) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def transaction(self, *, lock: str | None = "store"):
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    # --- migrations ---------------------------------------------------------------------------------------

    def migrate(self, migrations: list[Migration] = ()) -> "Store":
        """Apply the steps this database has not seen, each recorded with it; the store's own come first."""
        with self.transaction(lock="migrations") as db:
            db.execute(self._ddl(LEDGER))
            applied = {(row["feature"], row["version"]) for row in db.query("SELECT feature, version FROM schema_migrations")}
            for migration in pending([*MIGRATIONS, *migrations], applied):
                for statement in migration.statements:
                    db.execute(self._ddl(statement))
                db.execute(
                    "INSERT INTO schema_migrations (feature, version, applied_at) VALUES (?, ?, ?)",
                    (migration.feature, migration.version, time.time()),
                )
        return self

    def _ddl(self, statement: str) -> str:
        return statement

    def applied_migrations(self) -> set[tuple[str, int]]:
        return {(row["feature"], row["version"]) for row in self.query("SELECT feature, version FROM schema_migrations")}

    # --- small shared services ---------------------------------------------------------------------------

    def ping(self) -> bool:
        try:
            return self.query("SELECT 1 AS one")[0]["one"] == 1
        except DatabaseError:
            return False

    def writable(self) -> tuple[bool, str]:
        try:
            with self.transaction(lock=None) as db:
                db.execute("CREATE TABLE IF NOT EXISTS _write_check (at REAL)")
                db.execute("INSERT INTO _write_check VALUES (?)", (time.time(),))
                db.execute("DELETE FROM _write_check")
            return True, self.describe()
        except DatabaseError as error:
            return False, f"{self.describe()}: {error}"

    def claim(self, key: str, user_id: str) -> bool:
        """True for the first caller with this key, False for every later or concurrent one."""
        cursor = self.execute(
            "INSERT INTO action_claims (key, user_id, claimed_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (key, user_id, time.time())
        )
        return cursor.rowcount == 1

    def claim_holder(self, key: str) -> str | None:
        """Who holds the claim on `key` (a user id, or what a Cancel wrote), or None."""
        row = self.query_one("SELECT user_id FROM action_claims WHERE key = ?", (key,))
        return row["user_id"] if row else None

    def release_claim(self, key: str) -> None:
        """Give a claim back when the action did not happen (say, the person lacked the role)."""
        self.execute("DELETE FROM action_claims WHERE key = ?", (key,))

    def hold_lease(self, name: str, owner: str, *, ttl: float, now: float | None = None) -> bool:
        """Take or renew the lease `name` for `owner`: True while this owner holds it. A lease not renewed
        within `ttl` seconds (its holder died) goes to the next who asks."""
        now = time.time() if now is None else now
        cursor = self.execute(
            """INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
               WHERE leases.owner = excluded.owner OR leases.expires_at < ?""",
            (name, owner, now + ttl, now),
        )
        return cursor.rowcount == 1

    def release_lease(self, name: str, owner: str) -> None:
        self.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    def close(self) -> None:
        raise NotImplementedError


class SQLiteStore(Store):
    """One SQLite file in WAL mode, one connection per thread."""

    kind = "sqlite"

    def __init__(self, path: str, *, synchronous: str = "FULL"):
        self.path = path
        self.synchronous = synchronous
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    def describe(self) -> str:
        return f"SQLite {sqlite3.sqlite_version} file {self.path}"

    @property
    def db(self) -> Conn:
        db = getattr(self._local, "db", None)
        if db is None:
            if self._closed:
                raise DatabaseUnavailable("the store is closed")
            with _sqlite_errors():
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                _set_wal(conn)
                conn.execute(f"PRAGMA synchronous={self.synchronous}")
                conn.execute("PRAGMA busy_timeout=30000")
                conn.execute("PRAGMA foreign_keys=ON")
            db = Conn(conn, errors=_sqlite_errors)
            self._local.db = db
            with self._lock:
                self._connections.append(conn)
        return db

    def execute(self, sql: str, params=()):
        return self.db.execute(sql, params)

    def query(self, sql: str, params=()) -> list[dict]:
        return list(self.db.query(sql, params))

    @contextlib.contextmanager
    def transaction(self, *, lock: str | None = "store") -> Iterator[Conn]:
        """BEGIN IMMEDIATE … COMMIT: the write lock up front, so read-then-write is atomic (`lock` is
        PostgreSQL's business: SQLite has one writer at a time anyway)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        db.after_commit = []  # callbacks that must see the committed rows (waking a worker)
        try:
            yield db
        except BaseException:
            db.after_commit = None
            with contextlib.suppress(DatabaseError):
                db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except BaseException:
            # A COMMIT that failed (disk full, I/O error) leaves the connection inside the transaction:
            # roll it back, or every later BEGIN on this thread fails until a restart.
            db.after_commit = None
            with contextlib.suppress(DatabaseError):
                db.execute("ROLLBACK")
            raise
        callbacks, db.after_commit = db.after_commit, None
        for callback in callbacks:
            callback()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()


def _set_wal(conn: sqlite3.Connection, patience: float = 30.0) -> None:
    """WAL mode. Switching a new file to it needs the file to itself, and SQLite says "locked" at once instead
    of waiting, when several processes open a new database together: so wait here."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


@contextlib.contextmanager
def _sqlite_errors():
    try:
        yield
    except sqlite3.IntegrityError as error:
        raise IntegrityError(str(error)) from error
    except sqlite3.OperationalError as error:
        if "unable to open" in str(error):
            raise DatabaseUnavailable(str(error)) from error
        raise DatabaseError(str(error)) from error
    except sqlite3.Error as error:
        raise DatabaseError(str(error)) from error


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def open_store(target: str, **options) -> Store:
    """A `postgresql://` URL opens PostgreSQL (psycopg 3 and its pool); anything else is a SQLite file path."""
    if is_postgres_url(target):
        from bot.core.store.postgres import PostgresStore

        return PostgresStore(target, **options)
    return SQLiteStore(target, **options)
