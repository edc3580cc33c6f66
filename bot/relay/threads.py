"""Which relayed message a Slack message is: the card of a pull request (whose thread holds its events), or the
message of one comment in that thread. The names are the outbox anchors the relay gives them (`pr:{repo}#{id}`,
`comment:{repo}#{id}/{comment_id}`); the outbox keeps which `ts` each one has in each channel. Other features ask
here, never the outbox's table, and never build an anchor's name themselves."""

from __future__ import annotations

import re

from bot.core import outbox
from bot.relay.routing import pull_request_anchor

_CARD = re.compile(r"pr:(?P<repo>[^/#\s]+/[^/#\s]+)#(?P<pr>\d{1,9})")
_COMMENT = re.compile(r"comment:(?P<repo>[^/#\s]+/[^/#\s]+)#(?P<pr>\d{1,9})/(?P<comment>\d{1,18})")


def comment_anchor(repo: str, pr_id: int, comment_id: int) -> str:
    """The anchor of a relayed comment's message in the card's thread: its edits, deletion and resolution update it."""
    return f"comment:{repo}#{int(pr_id)}/{int(comment_id)}"


def card_of(anchor: str | None) -> tuple[str, int] | None:
    """(repo, pr_id) of a card's anchor, or None."""
    match = _CARD.fullmatch(anchor or "")
    return (match["repo"], int(match["pr"])) if match else None


def comment_of(anchor: str | None) -> tuple[str, int, int] | None:
    """(repo, pr_id, comment_id) of a comment's anchor, or None."""
    match = _COMMENT.fullmatch(anchor or "")
    return (match["repo"], int(match["pr"]), int(match["comment"])) if match else None


def pull_request_in_thread(store, channel: str, thread_ts: str | None) -> tuple[str, int] | None:
    """The pull request whose relayed card in `channel` is the message at `thread_ts` (a thread's parent), or None."""
    if not thread_ts:
        return None
    return card_of(outbox.anchor_named(store, channel, thread_ts))


def relayed_comment_at(store, channel: str, ts: str | None) -> tuple[str, int, int] | None:
    """The comment whose relayed message in `channel` is the one at `ts`, or None."""
    if not ts:
        return None
    return comment_of(outbox.anchor_named(store, channel, ts))


def card_anchor(repo: str, pr_id: int) -> str:
    return pull_request_anchor(repo, pr_id)


def card_ts(store, channel: str, repo: str, pr_id: int) -> str | None:
    """The ts of the pull request's card in `channel`, once posted."""
    return outbox.anchor_ts(store, channel, pull_request_anchor(repo, pr_id))
