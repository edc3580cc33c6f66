"""Protected environments: a deploy or rollback there needs `approvals` different people with `role` for that
environment (never the one who asks). `of(store, repo)` is the public read (the dashboard's too)."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("deployer", "releaser", "merger")
# The permission that each role gives (bot.core.permissions.ROLE_FOR_ACTION), to ask whether someone holds it.
PERMISSION_OF_ROLE = {"deployer": "approve deploys", "releaser": "tag", "merger": "merge"}
MAX_APPROVALS = 10


@dataclass(frozen=True)
class Protection:
    repo: str
    environment: str
    approvals: int
    role: str
    set_by: str
    set_at: float

    @property
    def permission(self) -> str:
        return PERMISSION_OF_ROLE.get(self.role, "approve deploys")


def _protection(row: dict) -> Protection:
    return Protection(row["repo"], row["environment"], row["approvals"], row["role"], row["set_by"], row["set_at"])


def of(store, repo: str) -> list[Protection]:
    """The protected environments of a repository, by name."""
    rows = store.query("SELECT * FROM environment_protections WHERE repo = ? ORDER BY env_key", (repo.lower(),))
    return [_protection(row) for row in rows]


def every(store) -> list[Protection]:
    return [_protection(row) for row in store.query("SELECT * FROM environment_protections ORDER BY repo, env_key")]


def for_environment(store, repo: str, environment: str) -> Protection | None:
    row = store.query_one("SELECT * FROM environment_protections WHERE repo = ? AND env_key = ?",
                          (repo.lower(), environment.lower()))
    return _protection(row) if row else None


def protect(store, repo: str, environment: str, *, approvals: int, role: str, user_id: str, now: float) -> Protection:
    """Protect (or change the protection of) an environment."""
    store.execute(
        """INSERT INTO environment_protections (repo, environment, env_key, approvals, role, set_by, set_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (repo, env_key) DO UPDATE SET environment = excluded.environment, approvals = excluded.approvals,
               role = excluded.role, set_by = excluded.set_by, set_at = excluded.set_at""",
        (repo.lower(), environment, environment.lower(), approvals, role, user_id, now),
    )
    return Protection(repo.lower(), environment, approvals, role, user_id, now)


def unprotect(store, repo: str, environment: str) -> bool:
    """True when it was protected."""
    return store.execute("DELETE FROM environment_protections WHERE repo = ? AND env_key = ?",
                         (repo.lower(), environment.lower())).rowcount > 0
