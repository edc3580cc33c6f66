"""Pure renderers of relayed Bitbucket events: a webhook payload in, a Slack message out.

`RENDERERS` has one function per `X-Event-Key` we relay. For pull request events the message is the reply
in the pull request's thread (the card itself is `pull_request_card`, drawn from the stored state); for
pushes and builds it is the message in the channel. A renderer returns None when there is nothing to say
(a push without changes). Every piece of text that came from Bitbucket goes through `render.escape` (or
`render.link` / `render.code`, which escape), the fallback text included: Slack reads it as mrkdwn too.
"""

from __future__ import annotations

import json
import re
from typing import Callable

from bot import render
from bot.bitbucket import PullRequest
from bot.render import Message

MAX_COMMITS_SHOWN = 5  # Bitbucket itself sends at most 5 per change, and says `truncated` when there were more
MAX_COMMIT_LINE = 100
MAX_COMMENT_CHARS = 1000
MAX_DESCRIPTION_CHARS = 1500


# --- small helpers ---------------------------------------------------------------------------------


def dig(data, *keys):
    """`data[k1][k2]…`, or None where a level is missing or not an object (payloads from strangers)."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def user_name(user) -> str:
    """A Bitbucket user object's name, escaped. Older payloads have `username`, newer ones `nickname`."""
    if not isinstance(user, dict) or not user:
        return "someone"
    return render.escape(user.get("display_name") or user.get("nickname") or user.get("username") or "someone")


def repo_name(payload: dict) -> str:
    return dig(payload, "repository", "full_name") or "a repository"


def _repo_link(payload: dict) -> str:
    return render.link(dig(payload, "repository", "links", "html", "href"), repo_name(payload))


def first_line(text: str | None, limit: int = MAX_COMMIT_LINE) -> str:
    lines = (text or "").strip().splitlines()
    return render.truncate(lines[0].strip(), limit) if lines else ""


def short_hash(commit_hash: str | None) -> str:
    return (commit_hash or "")[:7] or "?"


def quote(text: str, limit: int) -> str:
    """Bitbucket text as a mrkdwn block quote: escaped, cut, every line behind `>`."""
    body = render.escape(render.truncate((text or "").strip(), limit))
    return "\n".join(f">{line}" for line in body.splitlines()) or ">"


def _account_name(account) -> str:
    return render.escape(account.display_name)


# Blocks as plain dicts: the relay renders on the webhook's answer path, and slack_sdk's models cost about
# a millisecond per block to serialise (tests check every block against Slack's limits).


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": render.truncate(text, render.MAX_SECTION_TEXT)}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": render.truncate(text, render.MAX_SECTION_TEXT)}]}


def card_buttons(repo: str, pr: PullRequest) -> dict:
    """render.pull_request_buttons, serialised once per pull request: the buttons depend only on the repository,
    the id and whether it is a draft (a test holds this against render's own output)."""
    key = (repo, pr.id, pr.draft)
    cached = _BUTTONS.get(key)
    if cached is None:
        cached = json.dumps(render.pull_request_buttons(repo, pr).to_dict())
        if len(_BUTTONS) >= MAX_CACHED_BUTTONS:
            _BUTTONS.clear()
        _BUTTONS[key] = cached
    return json.loads(cached)  # a fresh copy: nobody can change the cached one


MAX_CACHED_BUTTONS = 4096
_BUTTONS: dict[tuple, str] = {}


def _say(text: str, *, more: list[str] = ()) -> Message:
    """One line of news (its fallback too), and optional detail sections below it."""
    return render.message(render.fallback_text(text), [_section(text), *(_section(extra) for extra in more if extra)])


# --- pull requests ---------------------------------------------------------------------------------


def pull_request_card(repo: str, data: dict) -> Message:
    """The one message a pull request has in a channel: what it is and where it stands now.

    `data` is the stored pull request (the newest seen); `closed_by` in it says who merged or declined.
    """
    pr = PullRequest.from_api(data)
    title = render.link(pr.url, f"#{pr.id} {render.truncate(pr.title, 200)}")
    draft = " · _draft_" if pr.draft else ""
    state = pull_request_state_line(pr, data)
    lines = [
        f"*{title}*{draft}",
        f"{_account_name(pr.author)} · {render.code(pr.source_branch or '?')} → {render.code(pr.destination_branch or '?')}"
        f" · {render.escape(repo)}",
        render.reviewers_line(pr),
        state,
    ]
    builds = builds_line(data)
    if builds:
        lines.append(builds)
    blocks: list = [_section("\n".join(lines))]
    if pr.state == "OPEN":
        blocks.append(card_buttons(repo, pr))
    fallback = f"#{pr.id} {render.escape(render.truncate(pr.title, 200))} by {_account_name(pr.author)} in {render.escape(repo)}: {_plain_state(pr)}"
    return render.message(fallback, blocks)


def builds_line(data: dict) -> str | None:
    from bot.builds.pr_cards import builds_line as line  # the builds feature owns the stored `builds`

    return line(data) if data.get("builds") else None


def pull_request_state_line(pr: PullRequest, data: dict) -> str:
    closed_by = user_name(data.get("closed_by")) if data.get("closed_by") else None
    if pr.state == "MERGED":
        merge = f" as {render.code(short_hash(pr.merge_commit))}" if pr.merge_commit else ""
        return f":twisted_rightwards_arrows: *Merged*{f' by {closed_by}' if closed_by else ''}{merge}"
    if pr.state == "DECLINED":
        reason = f": {render.escape(render.truncate(data['reason'], 300))}" if data.get("reason") else ""
        return f":no_entry_sign: *Declined*{f' by {closed_by}' if closed_by else ''}{reason}"
    if pr.state == "SUPERSEDED":
        return ":recycle: *Superseded*"
    approvals = len(pr.approved_by)
    parts = [f":large_green_circle: *Open* · {approvals} approval{'s' if approvals != 1 else ''}"]
    if pr.changes_requested_by:
        parts.append("changes requested by " + ", ".join(_account_name(u) for u in pr.changes_requested_by))
    return " · ".join(parts)


def _plain_state(pr: PullRequest) -> str:
    if pr.state == "OPEN":
        return f"open, {len(pr.approved_by)} approval{'s' if len(pr.approved_by) != 1 else ''}"
    return pr.state.lower()


def pull_request_created(payload: dict) -> Message | None:
    """The card says who opened what; the thread starts with the description, when there is one."""
    description = dig(payload, "pullrequest", "description")
    if not description or not description.strip():
        return None
    return _say(f":memo: {user_name(payload.get('actor'))} opened it:", more=[quote(description, MAX_DESCRIPTION_CHARS)])


def pull_request_updated(payload: dict) -> Message:
    head = dig(payload, "pullrequest", "source", "commit", "hash")
    at = f"; the source is now at {render.code(short_hash(head))}" if head else ""
    return _say(f":pencil2: {user_name(payload.get('actor'))} updated the pull request{at}.")


def pull_request_approved(payload: dict) -> Message:
    who = dig(payload, "approval", "user") or payload.get("actor")
    return _say(f":white_check_mark: {user_name(who)} approved.")


def pull_request_unapproved(payload: dict) -> Message:
    who = dig(payload, "approval", "user") or payload.get("actor")
    return _say(f":heavy_minus_sign: {user_name(who)} removed their approval.")


def pull_request_changes_requested(payload: dict) -> Message:
    who = dig(payload, "changes_request", "user") or payload.get("actor")
    return _say(f":raised_hand: {user_name(who)} requested changes.")


def pull_request_comment(payload: dict) -> Message:
    comment = payload.get("comment") or {}
    who = user_name(comment.get("user") or payload.get("actor"))
    commented = render.link(dig(comment, "links", "html", "href"), "commented")
    inline = comment.get("inline") or {}
    where = ""
    if inline.get("path"):
        line = inline.get("to") or inline.get("from")
        where = f" on {render.code(inline['path'] + (f':{line}' if line else ''))}"
    return _say(f":speech_balloon: {who} {commented}{where}:", more=[quote(dig(comment, "content", "raw") or "", MAX_COMMENT_CHARS)])


def pull_request_merged(payload: dict) -> Message:
    pr = payload.get("pullrequest") or {}
    source, destination = dig(pr, "source", "branch", "name"), dig(pr, "destination", "branch", "name")
    into = f" {render.code(source or '?')} into {render.code(destination or '?')}"
    merge = dig(pr, "merge_commit", "hash")
    as_commit = f" as {render.code(short_hash(merge))}" if merge else ""
    return _say(f":twisted_rightwards_arrows: {user_name(payload.get('actor'))} merged{into}{as_commit}.")


def pull_request_declined(payload: dict) -> Message:
    reason = dig(payload, "pullrequest", "reason")
    because = f": {render.escape(render.truncate(reason, 300))}" if reason else "."
    return _say(f":no_entry_sign: {user_name(payload.get('actor'))} declined the pull request{because}")


# --- pushes ----------------------------------------------------------------------------------------


def change_ref(change: dict) -> tuple[str, str]:
    """(kind, name) of the branch or tag a push change moved: `new`, or `old` when it was deleted."""
    ref = change.get("new") or change.get("old") or {}
    return ref.get("type") or "branch", ref.get("name") or "?"


def push(payload: dict) -> Message | None:
    """One section per change: pushed commits, a forced push, a new or deleted branch, a tag created or deleted."""
    changes = dig(payload, "push", "changes") or []
    if not changes:
        return None
    actor, repo = user_name(payload.get("actor")), _repo_link(payload)
    sections = [push_change(change, actor, repo) for change in changes]
    fallback = "\n".join(render.fallback_text(section.splitlines()[0]) for section in sections)
    return render.message(fallback, [_section(section) for section in sections])


def push_change(change: dict, actor: str, repo: str) -> str:
    kind, name = change_ref(change)
    new = change.get("new") or {}
    ref = render.link(dig(new, "links", "html", "href"), name) if new else render.code(name)
    if kind == "tag":
        if change.get("closed") or not new:
            return f":wastebasket: {actor} deleted tag {render.code(name)} in {repo}."
        target = dig(new, "target", "hash")
        annotation = f"\n{quote(new['message'], 300)}" if new.get("message") else ""
        return f":label: {actor} tagged {ref} at {render.code(short_hash(target))} in {repo}.{annotation}"
    if change.get("closed") or not new:
        return f":wastebasket: {actor} deleted branch {render.code(name)} in {repo}."
    commits = change.get("commits") or []
    if change.get("created"):
        head = f":seedling: {actor} created branch {ref} in {repo}"
    elif change.get("forced"):
        head = f":warning: {actor} *force-pushed* {ref} in {repo}"
    else:
        head = f":arrow_up: {actor} pushed {_count(commits, change.get('truncated'))} to {ref} in {repo}"
    return head + ".\n" + commit_lines(change) if commits else head + "."


def _count(commits: list, truncated: bool | None) -> str:
    n = len(commits)
    if truncated:
        return f"more than {n} commits"
    return f"{n} commit{'s' if n != 1 else ''}"


def commit_lines(change: dict) -> str:
    """The first commits' first lines, newest first; then how many more, or a link when Bitbucket cut the list."""
    commits = change.get("commits") or []
    lines = []
    for commit in commits[:MAX_COMMITS_SHOWN]:
        label = render.link(dig(commit, "links", "html", "href"), short_hash(commit.get("hash")))
        author = dig(commit, "author", "user") or {}
        by = user_name(author) if author else render.escape(re.sub(r"\s*<[^>]*>", "", dig(commit, "author", "raw") or "") or "someone")
        lines.append(f"• {label} {render.escape(first_line(commit.get('message')))} · {by}")
    hidden = len(commits) - len(lines)
    compare = render.link(dig(change, "links", "html", "href"), "see them all")
    if change.get("truncated"):
        lines.append(f"…and more: {compare}")
    elif hidden > 0:
        lines.append(f"…and {hidden} more: {compare}" if dig(change, "links", "html", "href") else f"…and {hidden} more")
    return "\n".join(lines)


# --- builds ----------------------------------------------------------------------------------------

BUILD_WORDS = {
    "SUCCESSFUL": (":white_check_mark:", "passed"),
    "FAILED": (":x:", "failed"),
    "INPROGRESS": (":hourglass_flowing_sand:", "is running"),
    "STOPPED": (":black_square_for_stop:", "was stopped"),
}


def commit_status(payload: dict, *, note: str = "") -> Message:
    """A build's result: name, state, branch and commit, link. `note` says why a success is worth telling."""
    status = payload.get("commit_status") or {}
    emoji, verb = BUILD_WORDS.get(status.get("state") or "", (":grey_question:", f"is {render.escape(status.get('state') or 'unknown')}"))
    name = render.link(status.get("url"), render.truncate(status.get("name") or status.get("key") or "A build", 150))
    where = f" on {render.code(status['refname'])}" if status.get("refname") else ""
    commit = dig(status, "commit", "hash")
    at = f" at {render.code(short_hash(commit))}" if commit else ""
    why = f" ({render.escape(note)})" if note else ""
    text = f"{emoji} *{name}* {verb}{where}{at} in {_repo_link(payload)}{why}."
    blocks = [_section(text)]
    if status.get("description"):
        blocks.append(_context(render.escape(render.truncate(status["description"], 300))))
    return render.message(render.fallback_text(text), blocks)


Renderer = Callable[[dict], "Message | None"]

RENDERERS: dict[str, Renderer] = {
    "repo:push": push,
    "pullrequest:created": pull_request_created,
    "pullrequest:updated": pull_request_updated,
    "pullrequest:approved": pull_request_approved,
    "pullrequest:unapproved": pull_request_unapproved,
    "pullrequest:changes_request_created": pull_request_changes_requested,
    "pullrequest:comment_created": pull_request_comment,
    "pullrequest:fulfilled": pull_request_merged,
    "pullrequest:rejected": pull_request_declined,
    "repo:commit_status_created": commit_status,
    "repo:commit_status_updated": commit_status,
}

# What the webhook we register subscribes to: exactly what we can render.
RELAYED_EVENTS: tuple[str, ...] = tuple(RENDERERS)
