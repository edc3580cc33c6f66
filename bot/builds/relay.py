"""The builds' relay hook: what the relay adds to a failed pipeline's message, inside the router's transaction and
without I/O: a Re-run button, a note that the log is being read, an anchor (so the message can be updated later)
and a job for the log reader, which fetches the step and its log off the request path and updates the message
through the outbox. Declared in `builds/feature.py` (`relay_hooks`); the relay does not import it."""

from __future__ import annotations

import dataclasses
import json
import time

from bot.core import ids
from bot.builds import render as builds_render
from bot.builds.rules import pipeline_number
from bot.core.render import Message, encode_value

WHY_BLOCK = "why"  # the relay's context line (bot.relay.render.WHY_BLOCK), kept last


def anchor_for(repo: str, number: int, updated_on: str = "") -> str:
    """One message per failure: a run that fails again (Bitbucket's "rerun failed steps" keeps its number) gets its own."""
    return f"build:{repo}#{number}@{updated_on}"


def rerun_actions(repo: str, number: int, key: str) -> dict:
    value = {"r": repo, "n": number, "k": key}
    return {"type": "actions", "block_id": f"pipeline:{repo}#{number}"[:255], "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Re-run", "emoji": True}, "action_id": ids.RERUN_PIPELINE,
         "value": encode_value(value)},
    ]}


def failed_build_follow_up(payload: dict, repo: str, posts: list, writes: list, *, now: float | None = None) -> tuple[list, list]:
    """For a failed Bitbucket Pipelines build that some channel gets: the posts, each with the Re-run button and
    the "reading the log" note, anchored; and the write that queues the log reader's job."""
    status = payload.get("commit_status") or {}
    if status.get("state") != "FAILED" or not posts:
        return posts, writes
    number = pipeline_number(status)
    if number is None:
        return posts, writes  # another CI system's build: its log is not Bitbucket's to show
    full_name = (payload.get("repository") or {}).get("full_name") or repo
    anchor = anchor_for(repo, number, status.get("updated_on") or "")
    extra = [builds_render.log_pending(), rerun_actions(full_name, number, f"relay@{status.get('updated_on') or ''}")]
    changed, targets = [], []
    for post in posts:
        blocks = list(post.message.blocks)
        at = len(blocks) - 1 if blocks and blocks[-1].get("block_id") == WHY_BLOCK else len(blocks)  # the context line stays last
        blocks[at:at] = extra
        message = Message(text=post.message.text, blocks=blocks)
        changed.append(dataclasses.replace(post, message=message, anchor=anchor))
        targets.append({"channel": post.channel, "key": post.key, "anchor": anchor, "message": message.to_dict()})
    job = (
        """INSERT INTO build_log_jobs (repo, build_number, results_url, targets, created_at) VALUES (?, ?, ?, ?, ?)""",
        (full_name, number, status.get("url") or "", json.dumps(targets, separators=(",", ":")), time.time() if now is None else now),
    )
    return changed, [*writes, job]


def relay_hook(event) -> None:
    """For each routed delivery (`bot.relay.hooks.RoutedEvent`): a failed pipeline's messages get their follow-up."""
    if event.is_build:
        event.posts, event.writes = failed_build_follow_up(event.payload, event.repo, event.posts, event.writes)
