"""Versioned migrations: each feature lists its own, the store applies what a database has not seen yet.

A migration is one feature's step (`feature`, `version`) of SQL statements written for SQLite; the
PostgreSQL store translates their column types. What was applied is recorded in `schema_migrations`, in
the same transaction as the step itself, under a lock, so two replicas starting at once apply each step once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    feature: str
    version: int
    statements: tuple[str, ...]

    def __post_init__(self):
        if isinstance(self.statements, str):
            object.__setattr__(self, "statements", (self.statements,))
        else:
            object.__setattr__(self, "statements", tuple(self.statements))


LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    feature TEXT NOT NULL,
    version INTEGER NOT NULL,
    applied_at REAL NOT NULL,
    PRIMARY KEY (feature, version)
)"""


def ordered(migrations: list[Migration]) -> list[Migration]:
    """Each feature's steps in version order (features keep the order they were listed in); duplicates refused."""
    seen: set[tuple[str, int]] = set()
    features: list[str] = []
    for migration in migrations:
        key = (migration.feature, migration.version)
        if key in seen:
            raise ValueError(f"migration {migration.feature} v{migration.version} is listed twice")
        seen.add(key)
        if migration.feature not in features:
            features.append(migration.feature)
    return sorted(migrations, key=lambda m: (features.index(m.feature), m.version))


def pending(migrations: list[Migration], applied: set[tuple[str, int]]) -> list[Migration]:
    return [m for m in ordered(migrations) if (m.feature, m.version) not in applied]
