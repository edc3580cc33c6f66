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
from bot.bitbucket import BitbucketError, error_words
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


def confirmation(question: str, *, confirm_text: str, confirm_action: str, value: dict, danger: bool = False) -> Message:
    """A question with a button that acts and a Cancel button."""
    buttons = ActionsBlock(
        elements=[
            button(confirm_text, confirm_action, value, style="danger" if danger else "primary"),
            button("Cancel", ids.CANCEL, {"k": value.get("k", "")}),
        ]
    )
    return message(fallback_text(question), [section(question), buttons])


def text_input_modal(*, callback_id: str, title: str, submit: str, meta: str, about: str,
                     block_id: str, label: str, action_id: str, max_length: int) -> dict:
    """A form (a Slack modal view) of one mrkdwn paragraph and one multi-line text box; `input_text` reads what
    was written in it."""
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": meta,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": clip(about, MAX_SECTION_TEXT)}},
            {"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": label},
             "element": {"type": "plain_text_input", "action_id": action_id, "multiline": True, "max_length": max_length}},
        ],
    }


def input_text(view: dict, block_id: str, action_id: str) -> str:
    """The text a submitted form's box holds, stripped ("" when it is missing or not text)."""
    values = (view.get("state") or {}).get("values") or {}
    text = ((values.get(block_id) or {}).get(action_id) or {}).get("value")
    return text.strip() if isinstance(text, str) else ""


def outcome(text: str) -> Message:
    """A finished action, replacing the message its button was on."""
    return message(fallback_text(text), [section(text)])


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
    if isinstance(error, BitbucketError):
        return notice(f":x: Bitbucket said: {bitbucket_words(error)}")
    return notice(":boom: Something went wrong on our side; it has been logged. Try again in a moment.")


def bitbucket_words(error) -> str:
    """Bitbucket's own message and detail, escaped; a detail that repeats the message is not said twice."""
    return escape(error_words(error.message or f"HTTP {error.status}", getattr(error, "detail", None)))


def help_message(table, topic: str | None = None) -> Message:
    """The command list of `table` (a `bot.core.commands.CommandTable`), or one command's usage."""
    spec = table.spec_for(topic) if topic else None
    if spec:
        text = f"`{spec.usage}`\n{spec.summary}" + (f"\nAlso: {', '.join(f'`{a}`' for a in spec.aliases)}" if spec.aliases else "")
        return notice(text)
    groups: dict[str, list[str]] = {}
    for spec in table.specs:
        groups.setdefault(spec.group, []).append(f"`{spec.usage}`\n      {spec.summary}")
    blocks: list[Block] = [header("Bitbucket ChatOps: /bb commands")]
    for group, lines in groups.items():
        blocks.append(section(f"*{group}*\n" + "\n".join(lines)))
    blocks.append(context("REPO is `workspace/slug`, or a bare `slug` in the default workspace. `/bb help COMMAND` for one command."))
    fallback = "/bb commands: " + ", ".join(spec.name for spec in table.specs)
    return message(fallback, blocks)


def fallback_text(mrkdwn: str) -> str:
    """A fallback text: mrkdwn is acceptable there, but links read better as their labels."""
    return re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2", mrkdwn)

