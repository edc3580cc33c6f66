"""Deployment environments and the deployments to them."""

from __future__ import annotations

from bot.bitbucket.paths import DEPLOYMENTS, ENVIRONMENTS
from bot.bitbucket.transport import Transport


class Deployments(Transport):
    """Environments and deployments of a repository."""

    def list_environments(self, ws: str, slug: str) -> list[dict]:
        # No pagelen: swagger documents none for environments or deployments, and Bitbucket rejects
        # page lengths it does not allow instead of clamping them.
        return self._collect(self._url(ENVIRONMENTS, workspace=ws, repo_slug=slug))[0]

    def list_deployments(self, ws: str, slug: str, *, limit: int | None = None) -> list[dict]:
        """Deployments of every environment; filter by `environment.uuid` yourself (Bitbucket has no filter)."""
        return self._collect(self._url(DEPLOYMENTS, workspace=ws, repo_slug=slug), limit=limit)[0]
