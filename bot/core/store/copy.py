"""`bitbucket-chatops db copy --to postgresql://…`: a SQLite database into an empty PostgreSQL one, all of it.

Both sides are first brought to the same schema (every migration applied), then each table's rows are copied
in one transaction, parents before the tables that refer to them, and counted on both sides. Identity
sequences are moved past the copied ids, so new rows never collide with old ones. Leases (which process
runs what) are not copied: they belong to processes, not to the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from bot.core.store import DatabaseError, SQLiteStore, Store

NOT_COPIED = {"schema_migrations", "leases", "_write_check", "sqlite_sequence", "sqlite_stat1"}
BATCH = 500


class CopyRefused(Exception):
    """The copy cannot start (a target that is not empty, say); nothing was written."""


@dataclass(frozen=True)
class TableCopied:
    table: str
    rows: int


def tables_in_order(source: sqlite_utils.Database) -> list[str]:
    """The source's tables, each after the tables its foreign keys refer to."""
    names = [name for name in source.table_names() if name not in NOT_COPIED and not name.startswith("sqlite_")]
    parents = {name: {fk.other_table for fk in source[name].foreign_keys if fk.other_table != name} for name in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [name for name in names if name not in ordered and parents[name] <= set(ordered)]
        if not ready:  # a cycle: keep the rest in their own order
            ready = [name for name in names if name not in ordered]
        ordered += ready
    return ordered


def target_tables(target: Store) -> set[str]:
    rows = target.query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    return {row["table_name"] for row in rows}


def copy_database(source_path: str, target: Store, migrations: list, *, progress=lambda line: None) -> list[TableCopied]:
    """Copy everything at `source_path` (SQLite) into `target` (PostgreSQL, empty); what was copied, per table."""
    if target.kind != "postgresql":
        raise CopyRefused("the target must be a PostgreSQL database (postgresql://…)")
    # Empty: no table holds a row. Tables without rows are fine (a copy that failed half-way left them, or a
    # `serve` that started there once).
    taken = sorted(t for t in target_tables(target) - NOT_COPIED if target.query(f"SELECT 1 AS one FROM {t} LIMIT 1"))
    if taken:
        raise CopyRefused(f"the target database is not empty ({', '.join(taken[:5])} hold rows): copy into an empty one")

    source_store = SQLiteStore(source_path)
    try:
        source_store.migrate(migrations)  # the source at the same schema version as the target
    finally:
        source_store.close()
    target.migrate(migrations)

    source = sqlite_utils.Database(source_path)
    copied: list[TableCopied] = []
    try:
        wanted = target_tables(target)
        with target.transaction(lock="migrations") as db:
            for table in tables_in_order(source):
                if table not in wanted:
                    progress(f"{table}: not in the current schema, skipped")
                    continue
                target_columns = _columns(db, table)
                columns = [c for c in source[table].columns_dict if c in target_columns]
                count = _copy_rows(db, source, table, columns)
                copied.append(TableCopied(table, count))
                progress(f"{table}: {count} row(s)")
            # Items a stopped process was sending go back to pending: their claims were that process's.
            if "outbox" in wanted:
                db.execute("UPDATE outbox SET state = 'pending', owner = '' WHERE state = 'sending'")
            for table in [t.table for t in copied]:
                if "id" in _columns(db, table):
                    db.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}"
                    )
        for item in copied:
            found = target.query(f"SELECT COUNT(*) AS n FROM {item.table}")[0]["n"]
            if found != item.rows:
                raise DatabaseError(f"{item.table}: {item.rows} row(s) read but {found} found after the copy")
    finally:
        source.close()
    return copied


def _columns(db, table: str) -> list[str]:
    rows = db.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?", (table,)
    )
    return [row["column_name"] for row in rows]


def _copy_rows(db, source: sqlite_utils.Database, table: str, columns: list[str]) -> int:
    if not columns:
        return 0
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    insert = f"INSERT INTO {table} ({names}) VALUES ({marks})"
    count = 0
    for row in source.query(f"SELECT {names} FROM [{table}]"):
        db.execute(insert, tuple(row[c] for c in columns))
        count += 1
    return count
