"""Routing, pure: from an event and the stored state it needs, the messages to post and the state to keep.

Each subscription's filters (`bot.relay.filters`) decide, per channel, whether an event is told; every message told
ends with a context line saying why the channel got it (the subscription and the filters it passed)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from bot.bitbucket import parse_timestamp
from bot.core import render
from bot.core.render import Message
from bot.relay import render as relay_render
from bot.relay.filters import ChangedFiles, files_pass, path_words, pull_request_passes, pull_request_words
from bot.relay.subscriptions import Subscription

BUILD_STATES_TOLD = ("FAILED", "SUCCESSFUL")
NO_MESSAGE = Message(text="")
# builds:reactions: the reaction a pull request's card gets for the state of its builds.
REACTIONS = {"FAILED": "x", "INPROGRESS": "hourglass_flowing_sand", "SUCCESSFUL": "white_check_mark"}


@dataclass(frozen=True)
class Post:
    """One message for the outbox (or, with `reaction`, a reaction on the message of `thread_anchor`)."""

    channel: str
    message: Message
    key: str
    anchor: str | None = None
    thread_anchor: str | None = None
    reaction: str = ""


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


# --- why a channel got it ----------------------------------------------------------------------------------


def why(*parts: str) -> str:
    """The context line: `acme/api · pull requests into main · not from bots` (escaped: globs are typed by people,
    branch names come from Bitbucket)."""
    return render.escape(" · ".join(part for part in parts if part))


def destination_of(pr: dict) -> str | None:
    name = ((pr.get("destination") or {}).get("branch") or {}).get("name")
    return name if isinstance(name, str) else None


def source_of(pr: dict) -> str | None:
    name = ((pr.get("source") or {}).get("branch") or {}).get("name")
    return name if isinstance(name, str) else None


def pull_request_why(sub: Subscription, destination: str | None, files_unknown: bool = False) -> str:
    into = f"pull requests into {render.truncate(destination, 100)}" if destination else "pull requests"
    return why(sub.repo, into, *pull_request_words(sub.filters), "files unknown" if files_unknown else "",
               "thread only" if sub.filters.thread_only else "")


def wants_pull_request(sub: Subscription, pr: dict, bot_authors=(), files: ChangedFiles | None = None) -> tuple[bool, bool]:
    """(told, files unknown): the family, `branch:`, and the filters on the pull request and its files."""
    if not sub.wants("pullrequests", destination_of(pr)) or not pull_request_passes(sub.filters, pr, bot_authors):
        return False, False
    return files_pass(sub.filters, files)


def needs_pull_request_files(subscriptions: list[Subscription]) -> bool:
    """Some channel's `path:` filters decide on a pull request's files."""
    return any(sub.filters.needs_files and "pullrequests" in sub.families for sub in subscriptions)


# --- pull requests, pushes, builds ---------------------------------------------------------------------------


def plan_pull_request(event_key: str, payload: dict, repo: str, card_data: dict, subscriptions: list[Subscription], *,
                      bot_authors=(), files: ChangedFiles | None = None) -> list[Post]:
    """The card (posted, or updated to the current state) and the event's reply in its thread, per channel whose
    filters it passes (a draft left out is posted once it is published: its card then)."""
    pr_id = card_data["id"]
    destination = destination_of(card_data)
    anchor = pull_request_anchor(repo, pr_id)
    card = relay_render.pull_request_card(repo, card_data)
    reply = relay_render.RENDERERS[event_key](payload)
    posts = []
    for sub in subscriptions:
        told, unknown = wants_pull_request(sub, card_data, bot_authors, files)
        if not told:
            continue
        key, context = f"{sub.channel_id}|{anchor}", pull_request_why(sub, destination, unknown)
        posts.append(Post(sub.channel_id, relay_render.with_context(card, context), key, anchor=anchor))
        if reply is not None:
            posts.append(Post(sub.channel_id, relay_render.with_context(reply, context), key, thread_anchor=anchor))
    return posts


def change_files_key(repo: str, change: dict) -> tuple[str, str] | None:
    """(key, spec) of the files a push change moved: the range from its old head to its new one (a new branch:
    its head commit alone). None for a deleted branch or a tag."""
    new, old = change.get("new") or {}, change.get("old") or {}
    if not isinstance(new, dict) or new.get("type") == "tag" or not new:
        return None
    head = (new.get("target") or {}).get("hash")
    if not isinstance(head, str) or not head:
        return None
    base = ((old.get("target") or {}).get("hash")) if isinstance(old, dict) else None
    spec = f"{head}..{base}" if isinstance(base, str) and base else head
    return f"{repo}@{spec}", f"diff:{spec}"


def pull_request_thread_for(branch: str | None, open_pull_requests: list[dict], repo: str) -> str | None:
    """thread-only: the card of the open pull request from `branch`, whose thread hears of its builds and pushes."""
    for pr in open_pull_requests:
        if branch and source_of(pr) == branch and isinstance(pr.get("id"), int):
            return pull_request_anchor(repo, pr["id"])
    return None


def plan_push(payload: dict, repo: str, subscriptions: list[Subscription], *,
              files_for: Callable[[dict], ChangedFiles | None] = lambda change: None,
              open_pull_requests: list[dict] = ()) -> list[Post]:
    """Each channel gets the changes it wants (branch pushes by glob and files, tags by family) in one message; with
    `thread-only`, a push to an open pull request's branch goes into that pull request's thread."""
    changes = ((payload.get("push") or {}).get("changes")) or []
    rendered: dict[tuple[int, ...], Message | None] = {}
    posts = []
    for sub in subscriptions:
        groups: dict[str | None, list[int]] = {}
        unknown = False
        for i, change in enumerate(changes):
            told, not_known = _wants_change(sub, change, files_for)
            if told:
                unknown |= not_known
                thread = pull_request_thread_for(relay_render.change_ref(change)[1], open_pull_requests, repo) if sub.filters.thread_only else None
                groups.setdefault(thread, []).append(i)
        for thread, indexes in groups.items():
            kept = tuple(indexes)
            if kept not in rendered:
                filtered = {**payload, "push": {**payload["push"], "changes": [changes[i] for i in kept]}}
                rendered[kept] = relay_render.push(filtered)
            if rendered[kept] is None:
                continue
            kinds = {"tags" if relay_render.change_ref(changes[i])[0] == "tag" else "pushes" for i in kept}
            context = why(sub.repo, " and ".join(sorted(kinds)), f"branches {sub.branch_glob}" if sub.branch_glob else "",
                          *path_words(sub.filters), "files unknown" if unknown else "", "thread only" if thread else "")
            message = relay_render.with_context(rendered[kept], context)
            if thread:
                posts.append(Post(sub.channel_id, message, f"{sub.channel_id}|{thread}", thread_anchor=thread))
            else:
                posts.append(Post(sub.channel_id, message, f"{sub.channel_id}|repo:{repo}"))
    return posts


def _wants_change(sub: Subscription, change: dict, files_for) -> tuple[bool, bool]:
    kind, name = relay_render.change_ref(change)
    if not sub.wants("tags" if kind == "tag" else "pushes", name):
        return False, False
    if kind == "tag" or not sub.filters.needs_files:
        return True, False
    return files_pass(sub.filters, files_for(change))


def needs_push_files(subscriptions: list[Subscription]) -> bool:
    return any(sub.filters.needs_files and "pushes" in sub.families for sub in subscriptions)


def build_told(sub: Subscription, note: str | None, refname: str | None) -> bool:
    """A build's message for this channel: its family and branch, and `builds:` (failures: failed and fixed only;
    reactions: never a message)."""
    if note is None or not sub.wants("builds", refname):
        return False
    if sub.filters.builds == "reactions":
        return False
    return sub.filters.builds != "failures" or note in ("", "fixed")


def plan_build(payload: dict, repo: str, note: str, subscriptions: list[Subscription], open_pull_requests: list[dict] = ()) -> list[Post]:
    status = payload.get("commit_status") or {}
    refname = status.get("refname")
    message = relay_render.commit_status(payload, note=note)
    posts = []
    for sub in subscriptions:
        if not build_told(sub, note, refname):
            continue
        thread = pull_request_thread_for(refname, open_pull_requests, repo) if sub.filters.thread_only else None
        context = why(sub.repo, "builds", f"branches {sub.branch_glob}" if sub.branch_glob else "",
                      {"all": "", "failures": "failures and fixes only"}[sub.filters.builds], "thread only" if thread else "")
        told = relay_render.with_context(message, context)
        if thread:
            posts.append(Post(sub.channel_id, told, f"{sub.channel_id}|{thread}", thread_anchor=thread))
        else:
            posts.append(Post(sub.channel_id, told, f"{sub.channel_id}|repo:{repo}"))
    return posts


def builds_reaction(pr: dict) -> str:
    """The one reaction for the builds of a pull request's source commit: ❌ when one failed, ⏳ while one runs,
    ✅ when all passed ('' for none)."""
    states = {entry.get("state") for entry in (((pr.get("builds") or {}).get("statuses")) or {}).values()}
    for state in ("FAILED", "INPROGRESS"):
        if state in states:
            return REACTIONS[state]
    return REACTIONS["SUCCESSFUL"] if states == {"SUCCESSFUL"} else ""


def plan_reactions(repo: str, pr: dict, subscriptions: list[Subscription], bot_authors=(),
                   files: ChangedFiles | None = None) -> list[Post]:
    """builds:reactions: the reaction on the pull request's card in each such channel."""
    reaction = builds_reaction(pr)
    if not reaction:
        return []
    anchor = pull_request_anchor(repo, pr["id"])
    return [Post(sub.channel_id, NO_MESSAGE, f"{sub.channel_id}|{anchor}", thread_anchor=anchor, reaction=reaction)
            for sub in subscriptions
            if sub.filters.builds == "reactions" and "builds" in sub.families and wants_pull_request(sub, pr, bot_authors, files)[0]]
