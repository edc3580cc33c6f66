"""What the client tells a request meter: whose credential a request spends, how urgent it is and what it is for.

The client knows no store. It calls an injected `Meter` before and after each request it sends (every page and
every retry is a request Bitbucket counts), naming the credential (`Credential(kind, id)`: the bot's, or a
person's under a hashed id, never a token) and the request's `Tag`: its priority and the feature it serves.

The tag is the caller's context, set once where work enters the bot (a slash command or a button: `person`;
relay work such as log tails: `relay`; scheduler jobs, Home tabs, unfurls, stats, digests: `background`) with
`tagged(priority, feature)`, so call sites need not pass it through every function. A context variable, so it
follows the work onto another thread only where the work is handed over with its context (`Services.submit`).
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

PERSON = "person"  # a person's action: merge, approve, deploy, `/bb prs`
RELAY = "relay"  # work the relay does for an event: log tails, a deploy's progress
BACKGROUND = "background"  # Home tabs, unfurls, reminders, stats, digests, reconciliation
PRIORITIES = (PERSON, RELAY, BACKGROUND)

BOT = "bot"  # the bot's own credential
PERSONAL = "person"  # a person's own token (credential kind)


@dataclass(frozen=True)
class Credential:
    """Whose allowance a request spends: `kind` is `bot` or `person`; `id` never holds a secret."""

    kind: str = BOT
    id: str = BOT


@dataclass(frozen=True)
class Tag:
    priority: str = BACKGROUND
    feature: str = "other"


_TAG: contextvars.ContextVar[Tag] = contextvars.ContextVar("bitbucket_request_tag", default=Tag())


def current() -> Tag:
    """The tag of the work in hand (`background`/`other` where no entry point set one)."""
    return _TAG.get()


@contextmanager
def tagged(priority: str, feature: str) -> Iterator[Tag]:
    """Requests made inside are counted under this priority and feature."""
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r}")
    token = _TAG.set(Tag(priority, feature))
    try:
        yield _TAG.get()
    finally:
        _TAG.reset(token)


class Meter:
    """Counts requests; the client calls it around every request it sends. This one counts nothing."""

    def before(self, credential: Credential, tag: Tag) -> None:
        """A request is about to go out."""

    def after(self, credential: Credential, tag: Tag, status: int | str, rate_limit) -> None:
        """Its answer came: `status` (an HTTP status, or `network_error`) and the `RateLimit` it carried, if any."""
