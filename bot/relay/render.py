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

from bot.core import ids, render
from bot.bitbucket import PullRequest
from bot.builds import render as build_render
from bot.core.payloads import CardMenuChoice
from bot.core.render import Message
from bot.pull_requests import render as pr_render

MAX_COMMITS_SHOWN = 5  # Bitbucket itself sends at most 5 per change, and says `truncated` when there were more
MAX_COMMIT_LINE = 100
MAX_COMMENT_CHARS = 1000
MAX_DESCRIPTION_CHARS = 1500
_FULL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}/[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


# --- small helpers ---------------------------------------------------------------------------------


def dig(data, *keys):
    """`data[k1][k2]…`, or None where a level is missing or not an object (payloads from strangers)."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


# Payloads are strangers' JSON: where text, an object or a list is expected, anything else counts as missing.


def _text(data, *keys) -> str:
    value = dig(data, *keys) if keys else data
    return value if isinstance(value, str) else ""


def _obj(data, *keys) -> dict:
    value = dig(data, *keys) if keys else data
    return value if isinstance(value, dict) else {}


def _objects(data, *keys) -> list[dict]:
    value = dig(data, *keys) if keys else data
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def user_name(user) -> str:
    """A Bitbucket user object's name, escaped. Older payloads have `username`, newer ones `nickname`."""
    if not isinstance(user, dict) or not user:
        return "someone"
    name = _text(user, "display_name") or _text(user, "nickname") or _text(user, "username") or "someone"
    return render.escape(render.truncate(render.one_line(name), 200))


def repo_name(payload: dict) -> str:
    return render.truncate(render.one_line(_text(payload, "repository", "full_name")), 200) or "a repository"


def _repo_link(payload: dict) -> str:
    return render.link(_text(payload, "repository", "links", "html", "href"), repo_name(payload))


def first_line(text: str | None, limit: int = MAX_COMMIT_LINE) -> str:
    lines = _text(text).strip().splitlines()
    return render.truncate(lines[0].strip(), limit) if lines else ""


def short_hash(commit_hash: str | None) -> str:
    return _text(commit_hash)[:7] or "?"


def quote(text: str, limit: int) -> str:
    """Bitbucket text as a mrkdwn block quote: escaped, cut, every line behind `>`."""
    body = render.escape(render.truncate(_text(text).strip(), limit))
    return "\n".join(f">{line}" for line in body.splitlines()) or ">"


def _account_name(account) -> str:
    return render.escape(account.display_name)


# Blocks as plain dicts: the relay renders on the webhook's answer path, and slack_sdk's models cost about
# a millisecond per block to serialise (tests check every block against Slack's limits).


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": render.clip(text, render.MAX_SECTION_TEXT)}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": render.clip(text, render.MAX_SECTION_TEXT)}]}


def card_buttons(repo: str, pr: PullRequest) -> dict:
    """pr_render.pull_request_buttons, serialised once per pull request: the buttons depend only on the repository,
    the id and whether it is a draft (a test holds this against render's own output)."""
    key = (repo, pr.id, pr.draft)
    cached = _BUTTONS.get(key)
    if cached is None:
        cached = json.dumps(pr_render.pull_request_buttons(repo, pr).to_dict())
        if len(_BUTTONS) >= MAX_CACHED_BUTTONS:
            _BUTTONS.clear()
        _BUTTONS[key] = cached
    return json.loads(cached)  # a fresh copy: nobody can change the cached one


MAX_CACHED_BUTTONS = 4096
_BUTTONS: dict[tuple, str] = {}


WHY_BLOCK = "why"  # the context line's block: what brought the message (builds' follow-up keeps it last)


def with_context(message: Message | None, text: str) -> Message | None:
    """The message, ending with a context line saying why the channel got it (`text`: mrkdwn, escaped)."""
    if message is None or not text:
        return message
    block = {**_context(text), "block_id": WHY_BLOCK}
    return Message(text=message.text, blocks=[*message.blocks[: render.MAX_BLOCKS - 1], block])


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
        pr_render.reviewers_line(pr),
        state,
    ]
    builds = builds_line(data)
    if builds:
        lines.append(builds)
    blocks: list = [{**_section("\n".join(lines)), "block_id": card_block_id(repo, pr.id)}]
    if pr.state == "OPEN" and pr.id > 0 and _FULL_NAME.fullmatch(repo):
        # Buttons carry the repository and the number; no real pull request lacks them, and a name that is
        # not a repository's could not fit a button (nor be acted on).
        actions = card_buttons(repo, pr)
        menu = card_menu(repo, pr)
        if menu is not None:
            actions["elements"].append(menu)
        blocks.append(actions)
    fallback = f"#{pr.id} {render.escape(render.truncate(pr.title, 200))} by {_account_name(pr.author)} in {render.escape(repo)}: {_plain_state(pr)}"
    return render.message(fallback, blocks)


# The card's overflow menu: its options, each a CardMenuChoice (handled by the feature that offers it). An overflow
# menu has at least two options in Slack's older reference (its newer one says only "up to five"): the second
# opens the pull request in Bitbucket.
CARD_MENU_OPTIONS = (("nudge", "Nudge reviewers"), ("open", "Open in Bitbucket"))
MAX_OPTION_VALUE = 150  # Slack's limit on an overflow option's value
MAX_OPTION_URL = 3000


def card_menu(repo: str, pr: PullRequest) -> dict | None:
    """The card's overflow menu, beside its buttons; None where the repository's name would not fit its values."""
    options = []
    for option, label in CARD_MENU_OPTIONS:
        value = render.encode_value(CardMenuChoice(repo, pr.id, option).to_value())
        if len(value) > MAX_OPTION_VALUE:
            return None
        chosen = {"text": {"type": "plain_text", "text": label, "emoji": True}, "value": value}
        if option == "open":
            if not pr.url.startswith("https://") or len(pr.url) > MAX_OPTION_URL:
                continue
            chosen["url"] = pr.url
        options.append(chosen)
    if len(options) < 2:
        return None
    return {"type": "overflow", "action_id": ids.CARD_MENU, "options": options}


CARD_BLOCK_PREFIX = "card:"


def card_block_id(repo: str, pr_id: int) -> str:
    """The relayed card's first block: it tells a click on the card from one on a list."""
    return f"{CARD_BLOCK_PREFIX}{repo}#{pr_id}"[:255]


def is_relayed_card(message: dict | None) -> bool:
    return any(isinstance(b, dict) and str(b.get("block_id") or "").startswith(CARD_BLOCK_PREFIX)
               for b in (message or {}).get("blocks") or [])


def builds_line(data: dict) -> str | None:
    """The builds of the pull request's source commit (`builds.rules.with_status` keeps them in the stored state)."""
    return build_render.builds_line(data) if data.get("builds") else None


def pull_request_state_line(pr: PullRequest, data: dict) -> str:
    closed_by = user_name(data.get("closed_by")) if data.get("closed_by") else None
    if pr.state == "MERGED":
        merge = f" as {render.code(short_hash(pr.merge_commit))}" if pr.merge_commit else ""
        return f":twisted_rightwards_arrows: *Merged*{f' by {closed_by}' if closed_by else ''}{merge}"
    if pr.state == "DECLINED":
        reason = f": {render.escape(render.truncate(data['reason'], 300))}" if _text(data, "reason") else ""
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
    return render.escape(render.truncate(render.one_line(pr.state.lower()), 50))


def pull_request_created(payload: dict) -> Message | None:
    """The card says who opened what; the thread starts with the description, when there is one."""
    description = _text(payload, "pullrequest", "description")
    if not description.strip():
        return None
    return _say(f":memo: {user_name(payload.get('actor'))} opened it:", more=[quote(description, MAX_DESCRIPTION_CHARS)])


def pull_request_updated(payload: dict) -> Message:
    head = _text(payload, "pullrequest", "source", "commit", "hash")
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
    """A comment, quoted, with who wrote it and where: a line of a file (`inline`), or a reply to another (`parent`;
    the first line of the comment replied to is added later, once read from Bitbucket)."""
    return _comment_message(payload)


def _comment_message(payload: dict, *, note: str = "") -> Message:
    comment = _obj(payload, "comment")
    who = user_name(comment.get("user") or payload.get("actor"))
    replied = bool(_obj(comment, "parent"))
    commented = render.link(_text(comment, "links", "html", "href"), "replied" if replied else "commented")
    head = f":speech_balloon: {who} {commented}{comment_place(comment)}:"
    message = _say(head, more=[quote(_text(comment, "content", "raw"), MAX_COMMENT_CHARS)])
    if note:
        message.blocks.append(_context(note))
    return message


def comment_place(comment: dict) -> str:
    """` on `path:line`` for an inline comment, else ""."""
    inline = _obj(comment, "inline")
    if not _text(inline, "path"):
        return ""
    line = inline.get("to") or inline.get("from")
    line = line if isinstance(line, int) and not isinstance(line, bool) else None
    return f" on {render.code(render.truncate(inline['path'], 300) + (f':{line}' if line else ''))}"


def pull_request_comment_updated(payload: dict) -> Message:
    """The comment's message again, as it now reads (the relay's message of it is updated, not added to)."""
    return _comment_message(payload, note=f":pencil2: edited by {user_name(payload.get('actor'))}")


def pull_request_comment_deleted(payload: dict) -> Message:
    comment = _obj(payload, "comment")
    author, actor = comment.get("user") or payload.get("actor"), payload.get("actor") or comment.get("user")
    by = "" if _same_account(author, actor) else f" by {user_name(actor)}"
    text = f":wastebasket: _{user_name(author)}'s comment{comment_place(comment)} was deleted{by}._"
    return _say(text)


def pull_request_comment_resolved(payload: dict) -> Message:
    return _comment_message(payload, note=f":white_check_mark: *Resolved* by {user_name(payload.get('actor'))}")


def pull_request_comment_reopened(payload: dict) -> Message:
    return _comment_message(payload, note=f":leftwards_arrow_with_hook: *Reopened* by {user_name(payload.get('actor'))}")


def comment_state_line(event_key: str, payload: dict) -> str | None:
    """A comment thread's state in one line (resolved, reopened), for where the comment itself is not shown."""
    comment, actor = _obj(payload, "comment"), user_name(payload.get("actor"))
    link = render.link(_text(comment, "links", "html", "href"), "comment")
    if event_key == "pullrequest:comment_resolved":
        return f":white_check_mark: {actor} resolved the thread of this {link}."
    if event_key == "pullrequest:comment_reopened":
        return f":leftwards_arrow_with_hook: {actor} reopened the thread of this {link}."
    return None


def _same_account(a, b) -> bool:
    a, b = _obj(a), _obj(b)
    for key in ("uuid", "account_id"):
        if _text(a, key) and _text(a, key) == _text(b, key):
            return True
    return False


def pull_request_merged(payload: dict) -> Message:
    pr = _obj(payload, "pullrequest")
    source, destination = _text(pr, "source", "branch", "name"), _text(pr, "destination", "branch", "name")
    into = f" {render.code(render.truncate(source, 200) or '?')} into {render.code(render.truncate(destination, 200) or '?')}"
    merge = _text(pr, "merge_commit", "hash")
    as_commit = f" as {render.code(short_hash(merge))}" if merge else ""
    return _say(f":twisted_rightwards_arrows: {user_name(payload.get('actor'))} merged{into}{as_commit}.")


def pull_request_declined(payload: dict) -> Message:
    reason = _text(payload, "pullrequest", "reason")
    because = f": {render.escape(render.truncate(reason, 300))}" if reason else "."
    return _say(f":no_entry_sign: {user_name(payload.get('actor'))} declined the pull request{because}")


# --- pushes ----------------------------------------------------------------------------------------


def change_ref(change: dict) -> tuple[str, str]:
    """(kind, name) of the branch or tag a push change moved: `new`, or `old` when it was deleted."""
    ref = _obj(change, "new") or _obj(change, "old")
    return _text(ref, "type") or "branch", render.truncate(_text(ref, "name"), 200) or "?"


def push(payload: dict) -> Message | None:
    """One section per change: pushed commits, a forced push, a new or deleted branch, a tag created or deleted."""
    changes = _objects(payload, "push", "changes")[: render.MAX_BLOCKS]
    if not changes:
        return None
    actor, repo = user_name(payload.get("actor")), _repo_link(payload)
    sections = [push_change(change, actor, repo) for change in changes]
    fallback = "\n".join(render.fallback_text(section.splitlines()[0]) for section in sections)
    return render.message(fallback, [_section(section) for section in sections])


def push_change(change: dict, actor: str, repo: str) -> str:
    kind, name = change_ref(change)
    new = _obj(change, "new")
    ref = render.link(_text(new, "links", "html", "href"), name) if new else render.code(name)
    if kind == "tag":
        if change.get("closed") or not new:
            return f":wastebasket: {actor} deleted tag {render.code(name)} in {repo}."
        target = _text(new, "target", "hash")
        annotation = f"\n{quote(new['message'], 300)}" if _text(new, "message") else ""
        return f":label: {actor} tagged {ref} at {render.code(short_hash(target))} in {repo}.{annotation}"
    if change.get("closed") or not new:
        return f":wastebasket: {actor} deleted branch {render.code(name)} in {repo}."
    commits = _objects(change, "commits")
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
    commits = _objects(change, "commits")
    lines = []
    for commit in commits[:MAX_COMMITS_SHOWN]:
        label = render.link(_text(commit, "links", "html", "href"), short_hash(commit.get("hash")))
        author = _obj(commit, "author", "user")
        raw_author = render.truncate(re.sub(r"\s*<[^>]*>", "", _text(commit, "author", "raw")), 200)
        by = user_name(author) if author else render.escape(raw_author or "someone")
        lines.append(f"• {label} {render.escape(first_line(commit.get('message')))} · {by}")
    hidden = len(commits) - len(lines)
    compare = render.link(_text(change, "links", "html", "href"), "see them all")
    if change.get("truncated"):
        lines.append(f"…and more: {compare}")
    elif hidden > 0:
        lines.append(f"…and {hidden} more: {compare}" if _text(change, "links", "html", "href") else f"…and {hidden} more")
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
    status = _obj(payload, "commit_status")
    state = _text(status, "state")
    emoji, verb = BUILD_WORDS.get(state, (":grey_question:", f"is {render.escape(render.truncate(state, 50) or 'unknown')}"))
    name = render.link(_text(status, "url"), render.truncate(_text(status, "name") or _text(status, "key") or "A build", 150))
    where = f" on {render.code(render.truncate(status['refname'], 200))}" if _text(status, "refname") else ""
    commit = _text(status, "commit", "hash")
    at = f" at {render.code(short_hash(commit))}" if commit else ""
    why = f" ({render.escape(note)})" if note else ""
    text = f"{emoji} *{name}* {verb}{where}{at} in {_repo_link(payload)}{why}."
    blocks = [_section(text)]
    if _text(status, "description"):
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
    "pullrequest:comment_updated": pull_request_comment_updated,
    "pullrequest:comment_deleted": pull_request_comment_deleted,
    "pullrequest:comment_resolved": pull_request_comment_resolved,
    "pullrequest:comment_reopened": pull_request_comment_reopened,
    "pullrequest:fulfilled": pull_request_merged,
    "pullrequest:rejected": pull_request_declined,
    "repo:commit_status_created": commit_status,
    "repo:commit_status_updated": commit_status,
}

# What the webhook we register subscribes to: exactly what we can render.
RELAYED_EVENTS: tuple[str, ...] = tuple(RENDERERS)
