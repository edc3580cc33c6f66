"""Who may do what.

Everyone may read and open pull requests. `merge`/`decline` need `merger`, `tag` needs `releaser`, `deploy`/`rollback`
need `deployer` (any environment) or `deployer:ENV`. A grant may be limited to one repository.
`CHATOPS_ADMINS` may do everything, and only they grant and revoke.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.core.errors import NotAllowed
from bot.core.render import escape
from bot.core.store import Migration, Store

MIGRATIONS = [
    Migration("permissions", 1, (
        """CREATE TABLE IF NOT EXISTS grants (
            user_id TEXT NOT NULL,
            role TEXT NOT NULL,              -- merger | releaser | deployer
            environment TEXT NOT NULL DEFAULT '',  -- deployer:ENV, lower-case; '' = any
            repo TEXT NOT NULL DEFAULT '',   -- workspace/slug; '' = every repository
            granted_by TEXT NOT NULL,
            granted_at REAL NOT NULL,
            PRIMARY KEY (user_id, role, environment, repo)
        )""",
    )),
]

ROLE_FOR_ACTION = {"merge": "merger", "decline": "merger", "tag": "releaser", "deploy": "deployer", "rollback": "deployer",
                   "re-run builds": "merger", "stop builds": "merger", "freeze": "deployer", "unfreeze": "deployer",
                   "create a branch": "releaser", "delete a branch": "releaser",
                   "lock": "deployer", "unlock": "deployer", "approve deploys": "deployer"}
# Actions that another role allows too: a branch is a release manager's or a merger's job.
ALSO_ALLOWED_BY = {"create a branch": ("merger",), "delete a branch": ("merger",)}


def roles_for(action: str) -> tuple[str, ...]:
    """Pure: the roles any one of which allows `action` (none: everyone may)."""
    role = ROLE_FOR_ACTION.get(action)
    return (role, *ALSO_ALLOWED_BY.get(action, ())) if role else ()


@dataclass(frozen=True)
class Grant:
    user_id: str
    role: str
    environment: str = ""  # lower-case; '' = any environment
    repo: str = ""  # workspace/slug; '' = every repository

    @property
    def label(self) -> str:
        role = f"{self.role}:{self.environment}" if self.environment else self.role
        return f"{role} on {self.repo}" if self.repo else f"{role} on every repository"


def grant_allows(grant: Grant, action: str, repo: str, environment: str | None = None) -> bool:
    """Pure: does this one grant allow `action` on `repo` (and `environment`, for deploys)?"""
    if grant.role not in roles_for(action):
        return False
    if grant.repo and grant.repo.lower() != repo.lower():
        return False
    if grant.environment and (environment or "").lower() != grant.environment:
        return False
    return True


class Permissions:
    def __init__(self, store: Store, admins: frozenset[str]):
        self.store = store
        self.admins = admins

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    def grants_of(self, user_id: str) -> list[Grant]:
        rows = self.store.query("SELECT user_id, role, environment, repo FROM grants WHERE user_id = ? ORDER BY role, repo", (user_id,))
        return [Grant(**row) for row in rows]

    def all_grants(self) -> list[Grant]:
        """Every grant, by person, role, environment and repository."""
        rows = self.store.query("SELECT user_id, role, environment, repo FROM grants ORDER BY user_id, role, environment, repo")
        return [Grant(**row) for row in rows]

    def allows(self, user_id: str, action: str, repo: str, environment: str | None = None) -> bool:
        if action not in ROLE_FOR_ACTION or self.is_admin(user_id):
            return True
        return any(grant_allows(g, action, repo, environment) for g in self.grants_of(user_id))

    def require(self, user_id: str, action: str, repo: str, environment: str | None = None) -> None:
        if not self.allows(user_id, action, repo, environment):
            role = ROLE_FOR_ACTION[action]
            environment = escape(environment) if environment else environment  # an environment name comes from Bitbucket
            needed = (f"`{role}:{environment.lower()}` or `{role}`" if role == "deployer" and environment
                      else " or ".join(f"`{r}`" for r in roles_for(action)))
            raise NotAllowed(
                f"You need the {needed} role on `{repo}` to {action}. An admin can grant it with "
                f"`/bb grant @you {role}{':' + environment.lower() if role == 'deployer' and environment else ''} {repo}`."
            )

    def require_admin(self, user_id: str) -> None:
        if not self.is_admin(user_id):
            raise NotAllowed("Only admins (listed in `CHATOPS_ADMINS`) can grant and revoke roles.")

    def grant(self, grant: Grant, granted_by: str) -> bool:
        """True when the grant is new."""
        cursor = self.store.execute(
            "INSERT INTO grants (user_id, role, environment, repo, granted_by, granted_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (grant.user_id, grant.role, grant.environment, grant.repo, granted_by, time.time()),
        )
        return cursor.rowcount == 1

    def revoke(self, grant: Grant) -> bool:
        """True when there was such a grant."""
        cursor = self.store.execute(
            "DELETE FROM grants WHERE user_id = ? AND role = ? AND environment = ? AND repo = ?",
            (grant.user_id, grant.role, grant.environment, grant.repo),
        )
        return cursor.rowcount > 0
