"""Pure renderers: data in, a Slack message (Block Kit built with slack_sdk's models, plus a plain-text
fallback) out. Text from Bitbucket goes through `escape` before it reaches mrkdwn, so a title such as
`<!channel>` pings nobody.

A `Message` is plain data (JSON-serialisable), so the outbox can store it and send it later.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.core import ids
from bot.core.commands import COMMANDS, spec_for
from bot.core.errors import UsageError, UserError

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FALLBACK_TEXT = 3900
MAX_BUTTON_VALUE = 2000
MAX_ITEMS_IN_LIST = 20  # two blocks each, plus header and footer: well inside 50


@dataclass
class Message:
    text: str
    blocks: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"text": self.text, "blocks": self.blocks}

    @classmethod
    def from_dict(cls, data: dict) -> "Message":
        return cls(text=data.get("text", ""), blocks=list(data.get("blocks") or []))


def message(text: str, blocks: list[Block | dict]) -> Message:
    """Build a message within Slack's limits: at most 50 blocks, fallback text at most ~4,000 characters."""
    rendered = [b.to_dict() if isinstance(b, Block) else b for b in blocks]
    if len(rendered) > MAX_BLOCKS:
        rendered = rendered[: MAX_BLOCKS - 1] + [context(f"…and {len(rendered) - MAX_BLOCKS + 1} more blocks not shown").to_dict()]
    return Message(text=clip(text, MAX_FALLBACK_TEXT), blocks=rendered)


# --- text helpers ----------------------------------------------------------------------------------


def escape(text: object) -> str:
    """Escape exactly Slack's three control characters, `&` first."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


ENTITIES = ("&amp;", "&lt;", "&gt;")  # what `escape` writes


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, ending with `…` when cut. Every cut goes through here, escaped text included,
    so the cut moves back to the start of an entity it would split: never `&l…`, whose `&` Slack would show."""
    if len(text) <= limit:
        return text
    cut = limit - 1
    start = text.rfind("&", max(0, cut - 4), cut)  # an entity that straddles the cut starts at most 4 before it
    if start != -1 and any(text.startswith(entity, start) and start + len(entity) > cut for entity in ENTITIES):
        cut = start
    return text[:cut] + "…"


def clip(mrkdwn: str, limit: int) -> str:
    """`truncate` for composed mrkdwn: a cut never leaves a link or mention open (`<https://…|lab…`, which Slack
    would read on into what follows) nor an entity half written (`&am…`); it cuts before them."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = mrkdwn[: limit - 1]
    opening = cut.rfind("<")
    if opening > cut.rfind(">"):
        cut = cut[:opening]
    ampersand = cut.rfind("&")
    if ampersand > cut.rfind(";"):
        cut = cut[:ampersand]
    return cut + "…"


_BREAKS = re.compile(r"[\s\x00-\x1f\x7f]+")


def one_line(text: object) -> str:
    """A name on one line: any run of white space, line or paragraph separators and control characters is one
    space (names, branches and labels have no business breaking a line, or a link, in two)."""
    return _BREAKS.sub(" ", str(text)).strip()


def link(url: str | None, label: str) -> str:
    """A mrkdwn link with an escaped label; a URL with `|`, `<`, `>` or any white space in it would break out (or
    is not one), so it is dropped and the label stays plain text."""
    label = escape(one_line(label))
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or any(c in url for c in "|<>") or len(url.split()) != 1 or url != url.strip():
        return label
    return f"<{url}|{label}>"


def code(text: str) -> str:
    return "`" + escape(one_line(text).replace("`", "'")) + "`"


def mention(slack_user_id: str) -> str:
    return f"<@{slack_user_id}>"


def age(seconds: float) -> str:
    """`45m`, `30h`, `4d`: hours up to two days, so "stale after 36h" reads naturally."""
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{max(1, seconds // 60)}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def age_since(when: datetime | None, now: datetime) -> str:
    return age((now - when).total_seconds()) if when else "?"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --- button values -----------------------------------------------------------------------------


def encode_value(data: dict) -> str:
    value = json.dumps(data, separators=(",", ":"), sort_keys=True)
    if len(value) > MAX_BUTTON_VALUE:
        raise ValueError("button value over Slack's 2000 characters")
    return value


def decode_value(value: str | None) -> dict:
    """A button value is ours, but arrives from outside: anything odd is a malformed request."""
    try:
        data = json.loads(value or "")
    except ValueError:
        raise UserError("That button's data is not readable; run the command again.") from None
    if not isinstance(data, dict):
        raise UserError("That button's data is not readable; run the command again.")
    return data


def button(text: str, action_id: str, value: dict | None = None, *, style: str | None = None, url: str | None = None) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=truncate(text, 75), emoji=True),
        action_id=action_id,
        value=encode_value(value) if value is not None else None,
        style=style,
        url=url,
    )


# --- blocks ----------------------------------------------------------------------------------------


def section(text: str, accessory=None) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, MAX_SECTION_TEXT)), accessory=accessory)


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, MAX_SECTION_TEXT))])


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=truncate(text, 150)))


def _user_name(user) -> str:
    if user is None:
        return "someone"
    return escape(getattr(user, "display_name", None) or getattr(user, "nickname", None) or "someone")


def pull_request_buttons(repo: str, pr, *, with_merge: bool = True) -> ActionsBlock:
    value = {"r": repo, "p": pr.id}
    elements = [
        button("Approve", ids.APPROVE, value, style="primary"),
        button("Request changes", ids.REQUEST_CHANGES, value),
    ]
    if with_merge and not pr.draft:  # Bitbucket refuses to merge a draft
        elements.append(button("Merge…", ids.ASK_MERGE, value))
    if with_merge:
        elements.append(button("Decline…", ids.ASK_DECLINE, value, style="danger"))
    return ActionsBlock(block_id=f"pr:{repo}#{pr.id}"[:255], elements=elements)


def reviewers_line(pr) -> str:
    """`Reviewers: bob ✅, carol ✋, dave` — ✅ approved, ✋ changes requested."""
    approved = {u.uuid for u in pr.approved_by}
    changes = {u.uuid for u in pr.changes_requested_by}
    names = []
    for reviewer in pr.reviewers:
        mark = " ✅" if reviewer.uuid in approved else " ✋" if reviewer.uuid in changes else ""
        names.append(_user_name(reviewer) + mark)
    # People who approved without being reviewers count too.
    reviewer_ids = {r.uuid for r in pr.reviewers}
    names += [_user_name(u) + " ✅" for u in pr.approved_by if u.uuid not in reviewer_ids]
    return ("Reviewers: " + ", ".join(names)) if names else "No reviewers"


def pull_request_summary(repo: str, pr, now: datetime) -> str:
    title = link(pr.url, f"#{pr.id} {truncate(pr.title, 200)}")
    draft = " · _draft_" if pr.draft else ""
    approvals = len(pr.approved_by)
    lines = [
        f"*{title}*{draft}",
        f"{_user_name(pr.author)} · {code(pr.source_branch)} → {code(pr.destination_branch)} · "
        f"updated {age_since(pr.updated_on, now)} ago",
        f"{reviewers_line(pr)} · {approvals} approval{'s' if approvals != 1 else ''}",
    ]
    return "\n".join(lines)


def pull_request_list(repo: str, prs: list, total: int, now: datetime, *, repo_url: str | None = None) -> Message:
    """Open pull requests, newest first, with buttons; the total even when only the newest are shown."""
    if not prs:
        return message(f"No open pull requests in {repo}.", [section(f"No open pull requests in {link(repo_url, repo)}. :tada:")])
    # A pull request updated while the listing was paged can come twice; Slack refuses a message whose
    # buttons repeat a block_id, so each is shown once.
    shown = [pr for index, pr in enumerate(prs) if pr.id not in {earlier.id for earlier in prs[:index]}][:MAX_ITEMS_IN_LIST]
    blocks: list[Block] = [header(truncate(f"Open pull requests in {repo} ({total})", 150))]
    for pr in shown:
        blocks.append(section(pull_request_summary(repo, pr, now)))
        blocks.append(pull_request_buttons(repo, pr))
    if total > len(shown):
        more = link(f"{repo_url}/pull-requests/" if repo_url else None, "see them all in Bitbucket")
        blocks.append(context(f"Showing the {len(shown)} newest of {total} open pull requests · {more}"))
    fallback = f"{total} open pull request{'s' if total != 1 else ''} in {repo}: " + "; ".join(
        f"#{pr.id} {escape(pr.title)}" for pr in shown
    )
    return message(fallback, blocks)


def confirmation(question: str, *, confirm_text: str, confirm_action: str, value: dict, danger: bool = False) -> Message:
    """A question with a button that acts and a Cancel button."""
    buttons = ActionsBlock(
        elements=[
            button(confirm_text, confirm_action, value, style="danger" if danger else "primary"),
            button("Cancel", ids.CANCEL, {"k": value.get("k", "")}),
        ]
    )
    return message(fallback_text(question), [section(question), buttons])


def merge_confirmation(repo: str, pr, strategy: str | None, key: str) -> Message:
    how = f" with `{strategy}`" if strategy else " with the branch's default strategy"
    question = (
        f"Merge {link(pr.url, f'#{pr.id} {truncate(pr.title, 200)}')} "
        f"({code(pr.source_branch)} → {code(pr.destination_branch)}){how}?"
    )
    value = {"r": repo, "p": pr.id, "s": strategy, "k": key}
    return confirmation(question, confirm_text="Merge", confirm_action=ids.CONFIRM_MERGE, value=value)


def draft_not_mergeable(repo: str, pr) -> str:
    """What `/bb merge` answers on a draft, by the card's rule (no Merge button on drafts): how to publish it."""
    return (
        f"{link(pr.url, f'#{pr.id} {truncate(pr.title, 200)}')} in {escape(repo)} is a draft, and Bitbucket does not "
        "merge drafts. Publish it first: open it in Bitbucket and click *Mark as ready*; then merge it "
        f"(`/bb merge {escape(repo)} {pr.id}`, or the Merge button on its card)."
    )


def decline_confirmation(repo: str, pr, key: str) -> Message:
    question = f"Decline {link(pr.url, f'#{pr.id} {truncate(pr.title, 200)}')} by {_user_name(pr.author)}?"
    value = {"r": repo, "p": pr.id, "k": key}
    return confirmation(question, confirm_text="Decline", confirm_action=ids.CONFIRM_DECLINE, value=value, danger=True)


def outcome(text: str) -> Message:
    """A finished action, replacing the message its button was on."""
    return message(fallback_text(text), [section(text)])


def merged(repo: str, pr, by_user_id: str, strategy: str | None) -> Message:
    how = f" with `{strategy}`" if strategy else ""
    return outcome(
        f":white_check_mark: {mention(by_user_id)} merged {link(pr.url, f'#{pr.id} {truncate(pr.title, 200)}')} "
        f"into {code(pr.destination_branch)} in {escape(repo)}{how}."
    )


def declined(repo: str, pr, by_user_id: str) -> Message:
    return outcome(f":no_entry_sign: {mention(by_user_id)} declined {link(pr.url, f'#{pr.id} {truncate(pr.title, 200)}')} in {escape(repo)}.")


def pull_request_created(repo: str, pr, by_user_id: str) -> Message:
    return outcome(
        f":sparkles: {mention(by_user_id)} opened {link(pr.url, f'#{pr.id} {truncate(pr.title, 200)}')} "
        f"in {escape(repo)}: {code(pr.source_branch)} → {code(pr.destination_branch)}."
    )


def tagged(repo: str, tag_name: str, ref, by_user_id: str, tag_url: str | None = None) -> Message:
    return outcome(
        f":label: {mention(by_user_id)} tagged {escape(repo)} {link(tag_url, tag_name) if tag_url else code(tag_name)} "
        f"at {escape(ref.kind)} {code(ref.name)} ({code(ref.hash[:12])})."
    )


def notice(text: str) -> Message:
    return message(fallback_text(text), [section(text)])


def error_message(error: Exception) -> Message:
    """The one place a failure becomes words for a person. Unknown exceptions say nothing of their internals."""
    if isinstance(error, UsageError):
        lines = [f":warning: {error.message}"]
        if error.usage:
            lines.append(error.usage if "\n" in error.usage else f"Usage: `{error.usage}`")
        return notice("\n".join(lines))
    if isinstance(error, UserError):
        return notice(f":warning: {error.message}" + (f"\n{error.hint}" if error.hint else ""))
    from bot.bitbucket import BitbucketError

    if isinstance(error, BitbucketError):
        return notice(f":x: Bitbucket said: {bitbucket_words(error)}")
    return notice(":boom: Something went wrong on our side; it has been logged. Try again in a moment.")


def bitbucket_words(error) -> str:
    """Bitbucket's own message and detail, escaped; a detail that repeats the message is not said twice."""
    from bot.bitbucket import error_words

    return escape(error_words(error.message or f"HTTP {error.status}", getattr(error, "detail", None)))


def help_message(topic: str | None = None) -> Message:
    spec = spec_for(topic) if topic else None
    if spec:
        text = f"`{spec.usage}`\n{spec.summary}" + (f"\nAlso: {', '.join(f'`{a}`' for a in spec.aliases)}" if spec.aliases else "")
        return notice(text)
    groups: dict[str, list[str]] = {}
    for spec in COMMANDS:
        groups.setdefault(spec.group, []).append(f"`{spec.usage}`\n      {spec.summary}")
    blocks: list[Block] = [header("Bitbucket ChatOps: /bb commands")]
    for group, lines in groups.items():
        blocks.append(section(f"*{group}*\n" + "\n".join(lines)))
    blocks.append(context("REPO is `workspace/slug`, or a bare `slug` in the default workspace. `/bb help COMMAND` for one command."))
    fallback = "/bb commands: " + ", ".join(spec.name for spec in COMMANDS)
    return message(fallback, blocks)


def fallback_text(mrkdwn: str) -> str:
    """A fallback text: mrkdwn is acceptable there, but links read better as their labels."""
    import re

    return re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2", mrkdwn)

