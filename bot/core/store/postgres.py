"""PostgreSQL through psycopg 3 and its connection pool: the store for wiped disks and for many replicas.

Statements outside a transaction run in autocommit on a pooled connection. A transaction holds one
connection for its length; statements the same thread runs meanwhile (through the store) use it too, as
they would with SQLite's connection per thread. Write transactions take an advisory transaction lock
(per schema and name), so what reads then writes stays atomic across replicas, as with SQLite's one writer.
"""

from __future__ import annotations

import contextlib
import re
import threading
from typing import Iterator

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.core.store import Conn, DatabaseError, DatabaseUnavailable, IntegrityError, Store
from bot.core.store.postgres_url import redact
from bot.core.store.sql import ddl_for_postgres, lock_key, placeholders_for_postgres

POOL_SIZE = 32  # HTTP threads, the work pool, the webhook writer, the workers and the scheduler's jobs
CONNECT_TIMEOUT = 5
WAIT_FOR_CONNECTION = 5.0  # a request waits this long for a connection before it is answered 503


class PostgresStore(Store):
    kind = "postgresql"

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE):
        self.url = url
        self._local = threading.local()
        self._server_version = ""
        # Connect once up front: a wrong URL or a server that is down is one clear error, at once.
        with _pg_errors(), psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, autocommit=True) as probe:
            self._server_version = probe.execute("SHOW server_version").fetchone()[0]
            self.schema = probe.execute("SELECT current_schema()").fetchone()[0] or "public"
        self.pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, timeout=WAIT_FOR_CONNECTION, open=True, name="bitbucket-chatops",
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
        )

    def describe(self) -> str:
        version = re.match(r"[\d.]+", self._server_version)
        return f"PostgreSQL {version.group(0) if version else self._server_version} at {redact(self.url)}"

    def _ddl(self, statement: str) -> str:
        return ddl_for_postgres(statement)

    # --- connections -----------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Conn]:
        current = getattr(self._local, "conn", None)
        if current is not None:  # inside this thread's transaction
            yield current
            return
        try:
            with self.pool.connection() as raw:
                yield Conn(raw, translate=placeholders_for_postgres, errors=_pg_errors)
        except PoolTimeout as error:
            raise DatabaseUnavailable(f"no database connection within {WAIT_FOR_CONNECTION:.0f}s") from error
        except psycopg.Error as error:  # raised while the pool opened or closed the connection
            with _pg_errors():
                raise error

    def execute(self, sql: str, params=()):
        with self._connection() as db:
            cursor = db.execute(sql, params)
            return _Detached(cursor)

    def query(self, sql: str, params=()) -> list[dict]:
        with self._connection() as db:
            return list(db.query(sql, params))

    @contextlib.contextmanager
    def transaction(self, *, lock: str | None = "store") -> Iterator[Conn]:
        if getattr(self._local, "conn", None) is not None:
            raise RuntimeError("a transaction is already open on this thread")
        try:
            with self.pool.connection() as raw:
                db = Conn(raw, translate=placeholders_for_postgres, errors=_pg_errors)
                with _pg_errors():
                    raw.execute("BEGIN")
                    if lock:
                        raw.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema, lock),))
                db.after_commit = []
                self._local.conn = db
                try:
                    yield db
                except BaseException:
                    with contextlib.suppress(psycopg.Error):
                        raw.execute("ROLLBACK")
                    raise
                finally:
                    self._local.conn = None
                with _pg_errors():
                    raw.execute("COMMIT")  # a failed COMMIT ends the transaction in PostgreSQL: nothing to undo
        except PoolTimeout as error:
            raise DatabaseUnavailable(f"no database connection within {WAIT_FOR_CONNECTION:.0f}s") from error
        callbacks, db.after_commit = db.after_commit, None
        for callback in callbacks:
            callback()

    def close(self) -> None:
        self.pool.close()


class _Detached:
    """A cursor's results read before its connection goes back to the pool."""

    def __init__(self, cursor):
        self.rowcount = cursor.rowcount
        self.description = cursor.description
        self._rows = cursor.fetchall() if cursor.description else []

    def fetchone(self):
        return self._rows[0] if self._rows else None

    def fetchall(self):
        return list(self._rows)


@contextlib.contextmanager
def _pg_errors():
    try:
        yield
    except psycopg.IntegrityError as error:
        raise IntegrityError(_first_line(error)) from error
    except (psycopg.OperationalError, psycopg.InterfaceError) as error:
        raise DatabaseUnavailable(_first_line(error)) from error
    except psycopg.Error as error:
        raise DatabaseError(_first_line(error)) from error


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
