"""The signed-in account, workspaces, their members and repositories."""

from __future__ import annotations

from bot.bitbucket.constants import MAX_PAGELEN
from bot.bitbucket.models import Page
from bot.bitbucket.paths import REPOSITORIES, REPOSITORY, USER, WORKSPACE, WORKSPACE_MEMBERS
from bot.bitbucket.transport import Transport


class Workspaces(Transport):
    """Accounts, workspaces and repositories."""

    def get_current_user(self) -> dict:
        return self._call("GET", self._url(USER))

    def get_workspace(self, ws: str) -> dict:
        return self._call("GET", self._url(WORKSPACE, workspace=ws))

    def list_workspace_members(self, ws: str) -> list[dict]:
        """`workspace_membership` objects, each with its `user` (nickname, uuid, account_id, display_name)."""
        return self._collect(self._url(WORKSPACE_MEMBERS, workspace=ws), {"pagelen": MAX_PAGELEN})[0]

    def list_repositories(self, ws: str, *, limit: int | None = None) -> Page:
        """The workspace's repositories the credential can read, most recently updated first."""
        params = {"sort": "-updated_on", "pagelen": MAX_PAGELEN}
        return Page(*self._collect(self._url(REPOSITORIES, workspace=ws), params, limit))

    def get_repository(self, ws: str, slug: str) -> dict:
        return self._call("GET", self._url(REPOSITORY, workspace=ws, repo_slug=slug))
