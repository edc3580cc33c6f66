"""The context reader: what a relayed comment's message waits for, read from Bitbucket off the request path (never
in the webhook's intake, never in the router's transaction): the lines of the pull request's diff around an inline
comment, the first line of the comment a reply answers. Then each channel's message of the comment is updated
through the outbox, and the context is kept for the comment's later events (the relay hook adds it at once).

Jobs are rows of `comment_context`: a replica takes one with a lease, so each is read once and a dead replica's is
taken over; Bitbucket's passing troubles (429, 5xx, no answer) are tried again a few times with backoff. What cannot
be read is left out (the message keeps its file and line, and its link).

Each hour the reader also forgets, a month on (`RETENTION_SECONDS`), the finished contexts and which Slack message
became which comment (`conversations.forget_old_links`).
"""

from __future__ import annotations

import json
import logging

from bot import conversations
from bot.bitbucket import BitbucketError, NetworkError, RateLimited, ServerError
from bot.conversations import render as conversation_render
from bot.conversations.diff import lines_around
from bot.core import outbox
from bot.core.background import LeasedJobReader

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
LEASE_SECONDS = 60.0
MAX_ATTEMPTS = 5
RETRY_BASE_SECONDS = 2.0
RETENTION_SECONDS = 30 * 86400  # a comment's context, and which Slack message became which comment, are kept a month
PRUNE_EVERY_SECONDS = 3600.0


def check_lines(store) -> list[tuple[str, str]]:
    waiting = store.query_one("SELECT COUNT(*) AS n FROM comment_context WHERE state = 'pending'")["n"]
    return [("ok " if not waiting else " - ", f"relayed comments: {waiting} waiting for their code or the comment they answer")]


class ContextReader(LeasedJobReader):
    thread_name = "comment-context-reader"
    table = "comment_context"
    key_columns = ("repo", "pr_id", "comment_id")
    lock = "comment-context"
    poll_seconds = POLL_SECONDS
    lease_seconds = LEASE_SECONDS
    retry_base_seconds = RETRY_BASE_SECONDS
    max_attempts = MAX_ATTEMPTS
    transient_errors = (RateLimited, ServerError, NetworkError)
    prune_every_seconds = PRUNE_EVERY_SECONDS
    kept_seconds = RETENTION_SECONDS

    def describe(self, job: dict) -> str:
        return f"comment context {job['repo']}#{job['pr_id']}/{job['comment_id']}"

    def tidy(self, now: float) -> None:
        """Every `prune_every_seconds`: the finished contexts, and the feature's links of messages to comments, a month on."""
        super().tidy(now)
        conversations.forget_old_links(self.store, now=now, kept_seconds=RETENTION_SECONDS)

    def read(self, job: dict) -> None:
        workspace, slug = job["repo"].split("/", 1)
        blocks = []
        try:
            if job["parent_id"]:
                parent = self.bitbucket.get_pull_request_comment(workspace, slug, job["pr_id"], job["parent_id"])
                blocks.append(conversation_render.parent_context(_author(parent), _first_line(parent), _html(parent)))
            if job["path"] and job["line"]:
                diff = self.bitbucket.get_pull_request_diff(workspace, slug, job["pr_id"])
                lines = lines_around(diff, job["path"], job["line"], old_side=bool(job["old_side"]))
                if lines:
                    blocks.append(conversation_render.code_context(job["path"], lines))
        except BitbucketError as error:
            if self.retried(job, error):
                return
            log.info("comment %s#%s/%s: its context cannot be read (%s)", job["repo"], job["pr_id"], job["comment_id"], error)
        self._finish(job, blocks)

    def _finish(self, job: dict, blocks: list[dict]) -> None:
        """The context kept, and each channel's newest message of the comment updated with it: one transaction."""
        key = self.key_of(job)
        with self.store.transaction() as db:
            if not self.mark_done(db, job, blocks=json.dumps(blocks, separators=(",", ":"))):
                return  # another replica took it over meanwhile
            messages = list(db.query("SELECT channel, key, anchor, message FROM comment_messages WHERE repo = ? AND pr_id = ? AND comment_id = ?", key))
            db.execute("DELETE FROM comment_messages WHERE repo = ? AND pr_id = ? AND comment_id = ?", key)
            if not blocks:
                return
            for row in messages:
                message = conversation_render.with_context(json.loads(row["message"]), blocks)
                outbox.enqueue(db, channel=row["channel"], message=message, key=row["key"], anchor=row["anchor"])


def _author(comment: dict) -> str:
    user = comment.get("user") or {}
    return str(user.get("display_name") or user.get("nickname") or "someone")


def _first_line(comment: dict) -> str:
    if comment.get("deleted"):
        return ""
    lines = str(((comment.get("content") or {}).get("raw")) or "").strip().splitlines()
    return lines[0].strip() if lines else ""


def _html(comment: dict) -> str | None:
    return ((comment.get("links") or {}).get("html") or {}).get("href")


def start_background(services, *, scheduler: bool = True) -> list:
    """The reader, on the bot's clock (its leases, backoff and what it forgets)."""
    reader = ContextReader(services.store, services.bitbucket, clock=services.timestamp).start()
    services.provide(reader)
    return [reader.stop]
