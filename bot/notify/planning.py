"""Pure: from a relayed Bitbucket event and who is linked, which person gets which direct message, and why.

Nothing here reads or writes: the router hands in the event, the pull request as it stands now (and as it
stood before the event, to tell newly added reviewers), the linked people and their settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core import render
from bot.bitbucket import Account
from bot.notify.grammar import NOTIFY_KINDS
from bot.relay.render import dig, quote, user_name
from bot.accounts import LinkedUser, slack_user_for

KINDS = NOTIFY_KINDS
WHY = {
    "reviews": "you are a reviewer of this pull request",
    "mine": "this is your pull request",
    "mentions": "you were mentioned in it",
    "builds": "a build failed on your pull request's source branch",
    "deploys": "you started this deploy",
    "owners": "you own a path this pull request changes (`/bb owners`)",
}
BURST_SECONDS = 60.0  # one pull request's events for one person within this are one message
MENTION = re.compile(r"@\{([^{}\s]{1,128})\}")  # how Bitbucket writes a mention in `content.raw`
MAX_QUOTE = 300


@dataclass(frozen=True)
class Reason:
    kind: str
    line: str  # mrkdwn; Bitbucket's text in it already escaped


@dataclass(frozen=True)
class Notice:
    """One line of news for one person about one subject (a pull request, a deploy)."""

    slack_user_id: str
    kind: str
    line: str


def person(user, people: list[LinkedUser]) -> str | None:
    """The Slack user linked to a Bitbucket user object, if any."""
    if not isinstance(user, dict) or not user:
        return None
    return slack_user_for(Account.from_api(user), people)


def mentioned_account_ids(raw: str | None) -> list[str]:
    found = []
    for account_id in MENTION.findall(raw or ""):
        if account_id not in found:
            found.append(account_id)
    return found


def pull_request_reasons(event_key: str, payload: dict, pr: dict, before: dict | None,
                         people: list[LinkedUser]) -> dict[str, list[Reason]]:
    """Who may hear of a pull request event, each with their reasons, the most specific first. The actor is
    never among them: nobody is told of their own action."""
    actor_user = payload.get("actor")
    actor = person(actor_user, people)
    who = user_name(actor_user)
    reasons: dict[str, list[Reason]] = {}

    def add(slack_user: str | None, kind: str, line: str) -> None:
        if slack_user and slack_user != actor:
            reasons.setdefault(slack_user, []).append(Reason(kind, line))

    author = person(pr.get("author"), people)
    reviewers = [person(user, people) for user in pr.get("reviewers") or ()]
    if event_key == "pullrequest:created":
        for reviewer in reviewers:
            add(reviewer, "reviews", f":eyes: {who} asked you to review it.")
    elif event_key == "pullrequest:updated" and before is not None:
        earlier = {person(user, people) for user in before.get("reviewers") or ()}
        for reviewer in reviewers:
            if reviewer not in earlier:
                add(reviewer, "reviews", f":eyes: {who} added you as a reviewer.")
    elif event_key == "pullrequest:approved":
        add(author, "mine", f":white_check_mark: {who} approved it.")
    elif event_key == "pullrequest:changes_request_created":
        add(author, "mine", f":raised_hand: {who} requested changes.")
    elif event_key == "pullrequest:comment_created":
        comment = payload.get("comment") or {}
        raw = dig(comment, "content", "raw") or ""
        said = quote(_without_mentions(raw, people), MAX_QUOTE)
        commented = render.link(dig(comment, "links", "html", "href"), "commented")
        by_account = {link.account_id: link.slack_user_id for link in people if link.account_id}
        for account_id in mentioned_account_ids(raw):
            add(by_account.get(account_id), "mentions", f":speech_balloon: {who} mentioned you ({commented}):\n{said}")
        add(author, "mine", f":speech_balloon: {who} {commented}:\n{said}")
    elif event_key == "pullrequest:fulfilled":
        add(author, "mine", f":twisted_rightwards_arrows: {who} merged it.")
    elif event_key == "pullrequest:rejected":
        add(author, "mine", f":no_entry_sign: {who} declined it.")
    return reasons


def _without_mentions(raw: str, people: list[LinkedUser]) -> str:
    """`@{account_id}` read as `@name` where the name is known, `@someone` elsewhere (never a live mention)."""
    names = {link.account_id: link.nickname for link in people if link.account_id and link.nickname}
    return MENTION.sub(lambda match: "@" + (names.get(match.group(1)) or "someone"), raw)


def build_reasons(status: dict, open_prs: list[dict], people: list[LinkedUser]) -> dict[str, list[tuple[dict, Reason]]]:
    """A failed build on a branch: the authors of the open pull requests from that branch, per pull request.
    (A build failing is the CI's doing, not a person's: the author hears of it even if their push started it.)"""
    found: dict[str, list[tuple[dict, Reason]]] = {}
    if status.get("state") != "FAILED":
        return found
    name = render.link(status.get("url"), render.truncate(status.get("name") or status.get("key") or "A build", 150))
    commit = (dig(status, "commit", "hash") or "")[:7]
    at = f" at {render.code(commit)}" if commit else ""
    for pr in open_prs:
        author = person(pr.get("author"), people)
        if author and dig(pr, "source", "branch", "name") == status.get("refname"):
            line = f":x: *{name}* failed on {render.code(status.get('refname') or '?')}{at}."
            found.setdefault(author, []).append((pr, Reason("builds", line)))
    return found


def choose(reasons: list[Reason], enabled: set[str]) -> Reason | None:
    """The first reason whose kind the person wants."""
    return next((reason for reason in reasons if reason.kind in enabled), None)


def enabled_kinds(rows) -> set[str]:
    """A person's settings from their stored rows (kind, on). A kind with no row is on."""
    settings = {kind: bool(on) for kind, on in rows}
    return {kind for kind in KINDS if settings.get(kind, True)}


def within_burst(started_at: float | None, now: float) -> bool:
    return started_at is not None and 0 <= now - started_at < BURST_SECONDS
