"""What the simulated Bitbucket tells when its API changes something: the webhook event, as a listener callback.

Bitbucket sends a webhook for what happens through its API as for what happens in its UI: an approval made from
Slack comes back as `pullrequest:approved`. Listeners (`FakeBitbucket.listeners`) are called with
(workspace, slug, event key, payload) under the fake's lock, so they must only queue the event
(`bot.sandbox.deliveries.Courier` sends it, off the request). Tests that do not listen see no difference."""

from __future__ import annotations

from typing import Callable

Listener = Callable[[str, str, str, dict], None]


class EventsMixin:
    """Needs `_user_json`, `_repository_json`, `_pull_request_json` and `listeners` (a list, set in `__init__`)."""

    listeners: list[Listener]

    def _tell(self, repo, event_key: str, actor, *, pull_request=None, **extra) -> None:
        """Build the event's payload now (as things are) and hand it to each listener."""
        if not self.listeners:
            return
        payload = {"actor": self._user_json(actor) if actor is not None else None, "repository": self._repository_json(repo)}
        if pull_request is not None:
            payload["pullrequest"] = self._pull_request_json(repo, pull_request)
        payload.update(extra)
        for listener in list(self.listeners):
            listener(repo.workspace.slug, repo.slug, event_key, payload)
