"""Relay hooks: what other features add to a relayed delivery, inside the router's transaction.

A feature declares them in its `Feature(relay_hooks=(hook, …))`; the composition root hands the registry's hooks to
the router (`services.part(FeatureSet)`, read by the relay's `start_background`), so the relay imports none of the
features that hook into it. For each delivery it routes (not the ignored ones), the router works out what it
needs, then calls every hook in the registry's order with one `RoutedEvent`, then stores the writes and queues the
posts. A hook reads and changes the event; it makes no Bitbucket call and no commit:

- it may replace `posts` (the event's own channel messages) or add to `writes` (SQL run in the transaction, after
  every hook: builds adds a job for its log reader and a Re-run button to a failed pipeline's message);
- it may queue messages of its own with `outbox.enqueue(event.db, …)` and count them in `queued` (notify's direct
  messages);
- it must not read the relay's tables: what they said before this event is here (`pull_request_before`,
  `build_before`, `open_pull_requests`), and so is what the relay will store (`pull_request`).

A hook that needs the files a pull request changes calls `event.changed_files()`: when the files reader has not
read them yet, that raises `FilesPending`, and the router sets the delivery aside (its savepoint rolled back, its
state `waiting`) and routes it again, with every hook, once they are read. Any other exception fails the delivery
(kept with its reason, its savepoint rolled back); the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from bot.relay.filters import UNKNOWN_FILES, ChangedFiles
from bot.relay.routing import Post
from bot.relay.subscriptions import Subscription

Write = tuple[str, tuple]


class FilesPending(Exception):
    """The files of `key` are not read yet: the router sets the delivery aside until the files reader has them."""

    def __init__(self, key: str, repo: str, spec: str):
        super().__init__(f"waiting for the files of {key}")
        self.key, self.repo, self.spec = key, repo, spec


@dataclass
class RoutedEvent:
    db: Any                              # the router's transaction (a savepoint per delivery)
    event_key: str                       # X-Event-Key: `pullrequest:approved`, `repo:push`, `repo:commit_status_updated`, …
    payload: dict                        # the delivery's JSON, checked to fit its event key
    repo: str                            # `workspace/slug`, lower-case
    subscriptions: list[Subscription]    # the channels relaying this repository (not the broken ones)
    now: float                           # the router's clock, epoch seconds
    memo: dict                           # kept across one routing pass (a batch of deliveries): caches by key
    posts: list[Post] = field(default_factory=list)    # the event's messages in channels (a pull request's card and reply)
    cards: list[Post] = field(default_factory=list)    # pull request cards a build status redraws
    writes: list[Write] = field(default_factory=list)  # SQL to run once every hook has run
    queued: int = 0                      # messages the hooks queued themselves
    # Pull request events: the pull request as stored before the event (None the first time) and as it is now shown.
    pull_request_before: dict | None = None
    pull_request: dict | None = None
    # Build status events (`repo:commit_status_*`): the last result stored of this build series on this branch, the
    # note the relay worked out (None: not worth a message; '' a plain failure; 'fixed'; 'main branch'), and the
    # repository's open pull requests as stored before the event.
    build_before: dict | None = None
    build_note: str | None = None
    open_pull_requests: list[dict] = field(default_factory=list)
    # The files a pull request (at this update) changes, as the files reader read them (the router sets it).
    files: Callable[[], ChangedFiles] | None = None
    bot_authors: tuple[str, ...] = ()    # CHATOPS_BOT_AUTHORS

    def changed_files(self) -> ChangedFiles:
        """The files this pull request changes at this update (`known` False when Bitbucket could not say). Raises
        `FilesPending` when they are not read yet: let it go through, the delivery is routed again once they are."""
        return self.files() if self.files is not None else UNKNOWN_FILES

    @property
    def is_pull_request(self) -> bool:
        return self.event_key.startswith("pullrequest:")

    @property
    def is_build(self) -> bool:
        return self.event_key.startswith("repo:commit_status_")


RelayHook = Callable[[RoutedEvent], None]
