"""Webhooks: Bitbucket's deliveries of a repository's events to the bot."""

from __future__ import annotations

from typing import Iterable

from bot.bitbucket.constants import MAX_PAGELEN
from bot.bitbucket.paths import HOOK, HOOKS
from bot.bitbucket.transport import Transport


class Hooks(Transport):
    """Webhooks of a repository."""

    def list_webhooks(self, ws: str, slug: str) -> list[dict]:
        url = self._url(HOOKS, workspace=ws, repo_slug=slug)
        return self._collect(url, {"pagelen": MAX_PAGELEN})[0]

    def create_webhook(self, ws: str, slug: str, *, url: str, events: Iterable[str], secret: str,
                       description: str, active: bool = True) -> dict:
        """Subscribe `url` to `events`; Bitbucket signs each delivery with `secret` (X-Hub-Signature)."""
        body = {"url": url, "events": list(events), "secret": secret, "description": description, "active": active}
        return self._call("POST", self._url(HOOKS, workspace=ws, repo_slug=slug), json=body, idempotent=False)

    def update_webhook(self, ws: str, slug: str, uid: str, **fields) -> dict:
        """PUT the fields that change (`url`, `secret`, `events`, `active`, `description`); the rest stays."""
        return self._call("PUT", self._url(HOOK, workspace=ws, repo_slug=slug, uid=uid), json=fields)

    def delete_webhook(self, ws: str, slug: str, uid: str) -> None:
        self._call("DELETE", self._url(HOOK, workspace=ws, repo_slug=slug, uid=uid))
