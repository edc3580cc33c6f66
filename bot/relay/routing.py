"""Routing, pure: from an event and the stored state it needs, the messages to post and the state to keep."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.relay import render as relay_render
from bot.bitbucket import parse_timestamp
from bot.relay.subscriptions import Subscription
from bot.core.render import Message

BUILD_STATES_TOLD = ("FAILED", "SUCCESSFUL")

@dataclass(frozen=True)
class Post:
    """One message for the outbox."""

    channel: str
    message: Message
    key: str
    anchor: str | None = None
    thread_anchor: str | None = None


def pull_request_anchor(repo: str, pr_id: int) -> str:
    return f"pr:{repo}#{pr_id}"


def slim_pull_request(event_key: str, payload: dict) -> dict:
    """The fields of a pull request its card needs. Who closed it comes from the event when the PR omits it."""
    pr = payload.get("pullrequest") or {}
    kept = {
        key: pr.get(key)
        for key in ("id", "title", "state", "draft", "author", "source", "destination", "reviewers", "participants",
                    "merge_commit", "closed_by", "reason", "created_on", "updated_on", "links")
        if key in pr
    }
    kept["links"] = {"html": (pr.get("links") or {}).get("html")}
    for side in ("source", "destination"):
        if isinstance(kept.get(side), dict):
            kept[side] = {k: v for k, v in kept[side].items() if k in ("branch", "commit", "repository")}
    if not kept.get("closed_by") and event_key in ("pullrequest:fulfilled", "pullrequest:rejected"):
        kept["closed_by"] = payload.get("actor")
    return kept


STATE_RANK = {"OPEN": 0, "SUPERSEDED": 1, "DECLINED": 1, "MERGED": 2}


def newer_pull_request(stored: dict | None, incoming: dict) -> dict:
    """Pure: the state to show. The later `updated_on` wins; on a tie, the further state (merged beats open)."""
    if stored is None:
        return incoming

    def order(data: dict):
        moment = parse_timestamp(data.get("updated_on"))
        return (moment.timestamp() if moment else 0.0, STATE_RANK.get(data.get("state") or "", 0))

    return incoming if order(incoming) >= order(stored) else stored


def build_series(status: dict) -> str:
    """What a build result is compared with: the same build on the same branch. Pipelines name each run
    `Pipeline #12 for main`, so run numbers are left out."""
    return re.sub(r"#\d+", "#", status.get("name") or status.get("key") or "")


def build_note(status: dict, previous: dict | None, main_branch: str | None) -> str | None:
    """Pure: None when a build result is not worth a message; else why it is ('' for a plain failure).

    Failures always; successes when they fix a failure, or on the main branch. A repeat of what was
    already told, or a result older than the last one seen, says nothing.
    """
    state = status.get("state")
    if state not in BUILD_STATES_TOLD:
        return None
    if previous is not None:
        if previous["status_key"] == (status.get("key") or "") and previous["state"] == state:
            return None
        if (previous.get("updated_on") or "") > (status.get("updated_on") or ""):
            return None
    if state == "FAILED":
        return ""
    if previous is not None and previous["state"] == "FAILED":
        return "fixed"
    if main_branch and status.get("refname") == main_branch:
        return "main branch"
    return None


def plan_pull_request(event_key: str, payload: dict, repo: str, card_data: dict, subscriptions: list[Subscription]) -> list[Post]:
    """The card (posted, or updated to the current state) and the event's reply in its thread, per channel."""
    pr_id = card_data["id"]
    destination = ((card_data.get("destination") or {}).get("branch") or {}).get("name")
    anchor = pull_request_anchor(repo, pr_id)
    card = relay_render.pull_request_card(repo, card_data)
    reply = relay_render.RENDERERS[event_key](payload)
    posts = []
    for sub in subscriptions:
        if not sub.wants("pullrequests", destination):
            continue
        key = f"{sub.channel_id}|{anchor}"
        posts.append(Post(sub.channel_id, card, key, anchor=anchor))
        if reply is not None:
            posts.append(Post(sub.channel_id, reply, key, thread_anchor=anchor))
    return posts


def plan_push(payload: dict, repo: str, subscriptions: list[Subscription]) -> list[Post]:
    """Each channel gets the changes it wants (branch pushes by glob, tags by family) in one message."""
    changes = ((payload.get("push") or {}).get("changes")) or []
    rendered: dict[tuple[int, ...], Message | None] = {}
    posts = []
    for sub in subscriptions:
        kept = tuple(i for i, change in enumerate(changes) if _wants_change(sub, change))
        if not kept:
            continue
        if kept not in rendered:
            filtered = {**payload, "push": {**payload["push"], "changes": [changes[i] for i in kept]}}
            rendered[kept] = relay_render.push(filtered)
        if rendered[kept] is not None:
            posts.append(Post(sub.channel_id, rendered[kept], f"{sub.channel_id}|repo:{repo}"))
    return posts


def _wants_change(sub: Subscription, change: dict) -> bool:
    kind, name = relay_render.change_ref(change)
    return sub.wants("tags" if kind == "tag" else "pushes", name)


def plan_build(payload: dict, repo: str, note: str, subscriptions: list[Subscription]) -> list[Post]:
    status = payload.get("commit_status") or {}
    message = relay_render.commit_status(payload, note=note)
    return [
        Post(sub.channel_id, message, f"{sub.channel_id}|repo:{repo}")
        for sub in subscriptions
        if sub.wants("builds", status.get("refname"))
    ]
