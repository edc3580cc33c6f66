"""The simulated Bitbucket's webhook deliveries: what Bitbucket POSTs to a repository's webhooks when something
happens there, signed as Bitbucket signs them.

`FakeBitbucket` keeps the webhooks that `POST …/hooks` registered; these functions make something happen in
the fake (a pull request is opened) and send the event to every active webhook listening for it, over HTTP:
`X-Event-Key`, `X-Request-UUID`, `X-Hook-UUID`, `X-Attempt-Number`, and `X-Hub-Signature: sha256=<HMAC of the
body>` when the webhook has a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import uuid
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from bot.sandbox.bitbucket import FakeBitbucket

USER_AGENT = "Bitbucket-Webhooks/2.0"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One POST to one webhook, and how it was answered (`status` None: no answer at all)."""

    url: str
    event_key: str
    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def webhooks_for(fake: FakeBitbucket, workspace: str, slug: str, event_key: str) -> list[tuple[str, str, str | None]]:
    """(uuid, url, secret) of the active webhooks that listen for `event_key`: the repository's, then its workspace's."""
    with fake._lock:
        repo = fake._repository(workspace, slug)
        hooks = [*repo.hooks.values(), *repo.workspace.hooks.values()]
        return [(hook.uuid, hook.url, hook.secret) for hook in hooks if hook.active and event_key in hook.events]


def deliver(fake: FakeBitbucket, workspace: str, slug: str, event_key: str, payload: dict, *, timeout: float = 10) -> list[Delivery]:
    """POST `payload` to every webhook of the repository that listens for `event_key`; one `Delivery` each."""
    body = json.dumps(payload).encode()
    sent = []
    for hook_uuid, url, secret in webhooks_for(fake, workspace, slug, event_key):
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Event-Key": event_key,
            "X-Request-UUID": str(uuid.uuid4()),
            "X-Hook-UUID": hook_uuid,
            "X-Attempt-Number": "1",
        }
        if secret:
            headers["X-Hub-Signature"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        try:
            with requests.Session() as session:
                session.trust_env = False  # the sandbox's webhooks point at loopback
                response = session.post(url, data=body, headers=headers, timeout=timeout)
            sent.append(Delivery(url, event_key, response.status_code))
        except requests.RequestException as error:
            sent.append(Delivery(url, event_key, None, type(error).__name__))
    return sent


class Courier:
    """Sends what the simulated Bitbucket tells of its API's changes (`FakeBitbucket.listeners`) to the
    repository's webhooks, in order, on a thread of its own: an approval made from Slack comes back as its
    webhook, a moment after the API answered, as on Bitbucket."""

    def __init__(self, fake: FakeBitbucket):
        self.fake = fake
        self.sent: list[Delivery] = []
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)

    def start(self) -> Courier:
        self.fake.listeners.append(self.tell)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.tell in self.fake.listeners:
            self.fake.listeners.remove(self.tell)
        self._queue.put(None)
        self._thread.join(timeout=5)

    def tell(self, workspace: str, slug: str, event_key: str, payload: dict) -> None:
        self._queue.put((workspace, slug, event_key, payload))

    def idle(self) -> bool:
        return self._queue.unfinished_tasks == 0

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self.sent += deliver(self.fake, *item)
            except Exception:  # noqa: BLE001 - a webhook that cannot be sent is logged, and the next one tried
                log.exception("the sandbox Bitbucket could not send a webhook")
            finally:
                self._queue.task_done()


def pull_request_payload(fake: FakeBitbucket, workspace: str, slug: str, pr_id: int, *, actor: str) -> dict:
    """A `pullrequest:*` body as Bitbucket sends it: who did it, the repository, the pull request as it is now."""
    with fake._lock:
        repository = fake._repository_json(fake._repository(workspace, slug))
    return {"actor": fake.user(actor), "repository": repository, "pullrequest": fake.pull_request(workspace, slug, pr_id)}


SIMULATED_CHANGES = (
    ("Cache the pricing table for five minutes", "feature/pricing-cache", "bob", ("alice", "carol")),
    ("Fix the flaky checkout test", "fix/flaky-checkout-test", "erin", ("dave",)),
    ("Add a dark mode to the settings page", "feature/dark-mode", "dave", ("erin", "bob")),
    ("Retry webhook deliveries with backoff", "feature/webhook-retries", "carol", ("alice",)),
)
_opened: "weakref.WeakKeyDictionary[FakeBitbucket, int]" = weakref.WeakKeyDictionary()  # how many, per fake


def open_pull_request(fake: FakeBitbucket, workspace: str, slug: str, *, author: str | None = None, avoid: str | None = None,
                      reviewers: tuple[str, ...] = ()) -> tuple[dict, list[Delivery]]:
    """Someone opens a pull request in the repository (on a branch of their own), and Bitbucket tells the
    repository's webhooks (`pullrequest:created`). The pull request as Bitbucket holds it, and the deliveries.

    `author`: who opens it (default: the next of `SIMULATED_CHANGES`' authors that is not `avoid`); `reviewers`:
    asked first, before the change's own (never its author)."""
    number = _opened[fake] = _opened.get(fake, 0) + 1
    title, branch, usual_author, usual_reviewers = SIMULATED_CHANGES[(number - 1) % len(SIMULATED_CHANGES)]
    if number > len(SIMULATED_CHANGES):
        branch = f"{branch}-{number}"
    if author is None:
        authors = [change[2] for change in SIMULATED_CHANGES]
        author = usual_author if usual_author != avoid else next(a for a in authors if a != avoid)
    asked = [r for r in (*reviewers, *usual_reviewers) if r != author and (r != avoid or r in reviewers)]
    if not asked:
        asked = [next(change[2] for change in SIMULATED_CHANGES if change[2] not in (author, avoid))]
    fake.add_branch(workspace, slug, branch, message=title, author=author)
    pull_request = fake.add_pull_request(
        workspace, slug, title=title, source=branch, author=author, reviewers=tuple(dict.fromkeys(asked)),
        description="Opened by `/simulate` in the sandbox.", close_source_branch=True,
    )
    payload = pull_request_payload(fake, workspace, slug, pull_request["id"], actor=author)
    return pull_request, deliver(fake, workspace, slug, "pullrequest:created", payload)
