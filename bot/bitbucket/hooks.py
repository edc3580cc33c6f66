"""Webhooks: Bitbucket's deliveries of a repository's (or a whole workspace's) events to the bot."""

from __future__ import annotations

from typing import Iterable

from bot.bitbucket.constants import MAX_PAGELEN
from bot.bitbucket.paths import HOOK, HOOKS, WORKSPACE_HOOK, WORKSPACE_HOOKS
from bot.bitbucket.transport import Transport


class Hooks(Transport):
    """Webhooks of a repository, and of a workspace (they fire for each of its repositories)."""

    def list_webhooks(self, ws: str, slug: str) -> list[dict]:
        url = self._url(HOOKS, workspace=ws, repo_slug=slug)
        return self._collect(url, {"pagelen": MAX_PAGELEN})[0]

    def create_webhook(self, ws: str, slug: str, *, url: str, events: Iterable[str], secret: str,
                       description: str, active: bool = True) -> dict:
        """Subscribe `url` to `events`; Bitbucket signs each delivery with `secret` (X-Hub-Signature)."""
        body = {"url": url, "events": list(events), "secret": secret, "description": description, "active": active}
        return self._call("POST", self._url(HOOKS, workspace=ws, repo_slug=slug), json=body, idempotent=False)

    def get_webhook(self, ws: str, slug: str, uid: str) -> dict:
        """The webhook as Bitbucket holds it (its `url`, `events`, `active`; never its secret, only `secret_set`)."""
        return self._call("GET", self._url(HOOK, workspace=ws, repo_slug=slug, uid=uid))

    def update_webhook(self, ws: str, slug: str, uid: str, **fields) -> dict:
        """PUT the fields that change (`url`, `secret`, `events`, `active`, `description`); the rest stays."""
        return self._call("PUT", self._url(HOOK, workspace=ws, repo_slug=slug, uid=uid), json=fields)

    def delete_webhook(self, ws: str, slug: str, uid: str) -> None:
        self._call("DELETE", self._url(HOOK, workspace=ws, repo_slug=slug, uid=uid))

    # A workspace's webhooks: only its owners may add them (403 otherwise), and Bitbucket's UI shows them read-only.

    def list_workspace_webhooks(self, ws: str) -> list[dict]:
        url = self._url(WORKSPACE_HOOKS, workspace=ws)
        return self._collect(url, {"pagelen": MAX_PAGELEN})[0]

    def create_workspace_webhook(self, ws: str, *, url: str, events: Iterable[str], secret: str, description: str,
                                 active: bool = True) -> dict:
        """Subscribe `url` to `events` of every repository in the workspace, signed with `secret` (X-Hub-Signature)."""
        body = {"url": url, "events": list(events), "secret": secret, "description": description, "active": active}
        return self._call("POST", self._url(WORKSPACE_HOOKS, workspace=ws), json=body, idempotent=False)

    def get_workspace_webhook(self, ws: str, uid: str) -> dict:
        return self._call("GET", self._url(WORKSPACE_HOOK, workspace=ws, uid=uid))

    def update_workspace_webhook(self, ws: str, uid: str, **fields) -> dict:
        """PUT the fields that change (`url`, `secret`, `events`, `active`, `description`); the rest stays."""
        return self._call("PUT", self._url(WORKSPACE_HOOK, workspace=ws, uid=uid), json=fields)

    def delete_workspace_webhook(self, ws: str, uid: str) -> None:
        self._call("DELETE", self._url(WORKSPACE_HOOK, workspace=ws, uid=uid))
