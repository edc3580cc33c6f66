"""The conversations' relay hook, inside the router's transaction and without I/O (`bot.relay.hooks`):

- a comment written from Slack is not relayed back into the thread it was written in (its webhook comes a moment
  after; it is known by its id, or by its text while its writer still waits for Bitbucket's answer); other channels
  relaying the pull request get it as usual. Its resolution and reopening are told there in one line;
- each relayed comment's message is anchored (`relay.comment_anchor`), so `comment_updated`, `comment_deleted`,
  `comment_resolved` and `comment_reopened` update that message instead of adding to the thread;
- an inline comment waits for the lines of code around it, a reply for the first line of the comment it answers:
  the context reader (`context`) reads them off the request path and updates the message; once read, later events
  of the comment carry them at once.
"""

from __future__ import annotations

import dataclasses

from bot import conversations, relay
from bot.conversations import render as conversation_render
from bot.core import render
from bot.relay import render as relay_render

COMMENT_EVENTS = frozenset({
    "pullrequest:comment_created", "pullrequest:comment_updated", "pullrequest:comment_deleted",
    "pullrequest:comment_resolved", "pullrequest:comment_reopened",
})
DELETED = "pullrequest:comment_deleted"


def relay_hook(event) -> None:
    if event.event_key not in COMMENT_EVENTS or not event.posts:
        return
    comment = event.payload.get("comment") or {}
    comment_id, pr_id = comment.get("id"), (event.pull_request or {}).get("id")
    if not _positive(comment_id) or not _positive(pr_id):
        return
    raw = ((comment.get("content") or {}).get("raw")) or ""
    anchor = relay.comment_anchor(event.repo, pr_id, comment_id)
    origin = conversations.written_in(event.db, event.repo, pr_id, comment_id, raw, now=event.now)
    deleted = event.event_key == DELETED
    known = None if deleted else conversations.known_context(event.db, event.repo, pr_id, comment_id)
    posts, waiting = [], []
    for post in event.posts:
        if post.thread_anchor is None:  # the card
            posts.append(post)
        elif post.channel == origin:  # written in this very thread: only its thread's state is news
            line = relay_render.comment_state_line(event.event_key, event.payload)
            if line:
                posts.append(dataclasses.replace(post, message=render.notice(line), anchor=anchor))
        elif known:
            posts.append(dataclasses.replace(post, message=conversation_render.with_context(post.message.to_dict(), known), anchor=anchor))
        else:
            posts.append(dataclasses.replace(post, anchor=anchor))
            waiting.append((post.channel, post.key, anchor, post.message.to_dict()))
    event.posts = posts
    if deleted or known is not None or not waiting:
        return
    inline = comment.get("inline") if isinstance(comment.get("inline"), dict) else {}
    parent = comment.get("parent") if isinstance(comment.get("parent"), dict) else {}
    path, line, old_side = _place(inline)
    parent_id = parent.get("id") if _positive(parent.get("id")) else None
    if not (path and line) and parent_id is None:
        return
    event.writes += conversations.context_writes(event.repo, pr_id, comment_id, path=path, line=line, old_side=old_side,
                                                  parent_id=parent_id, messages=waiting, now=event.now)


def _place(inline: dict) -> tuple[str, int, bool]:
    """(path, line, old_side) of an inline comment: the new version's line, else (a removed line) the old one's."""
    path = inline.get("path") if isinstance(inline.get("path"), str) else ""
    if _positive(inline.get("to")):
        return path, inline["to"], False
    if _positive(inline.get("from")):
        return path, inline["from"], True
    return path, 0, False


def _positive(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
