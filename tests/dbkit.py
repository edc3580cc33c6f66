"""Databases for tests: a SQLite file, or a fresh schema on the PostgreSQL server this machine runs.

Each PostgreSQL test gets its own schema (its URL carries `options=-csearch_path=…`), dropped afterwards,
so tests never see each other's rows or locks. The server is real: never a mock, never skipped. CI makes
sure one answers (`.ci/run`); `CHATOPS_TEST_POSTGRES_URL` names another.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import psycopg

SERVER_URL = os.environ.get("CHATOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def with_schema(server_url: str, schema: str) -> str:
    joiner = "&" if "?" in server_url else "?"
    return f"{server_url}{joiner}options={quote(f'-csearch_path={schema}')}"


class PostgresSchema:
    """A schema of its own on the test server; `url` opens the store there."""

    def __init__(self, server_url: str = SERVER_URL):
        self.server_url = server_url
        self.schema = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"CREATE SCHEMA {self.schema}")
        self.url = with_schema(server_url, self.schema)

    def drop(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


def target_for(backend: str, tmp_path) -> tuple[str, PostgresSchema | None]:
    """(where the store lives, the schema to drop afterwards) for `backend`."""
    if backend == "postgresql":
        schema = PostgresSchema()
        return schema.url, schema
    return str(tmp_path / "chatops.db"), None
