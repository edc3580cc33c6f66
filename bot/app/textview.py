"""Pure: a Slack message (Block Kit) as readable console text, its buttons numbered for the shell."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ShownButton:
    number: int
    text: str
    action_id: str
    value: str | None
    url: str | None
    block_id: str | None


def mrkdwn_to_text(text: str) -> str:
    """Links as `label (url)`, mentions as `@U…`, Slack's escapes undone."""
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    text = re.sub(r"<@([A-Z0-9]+)(?:\|[^>]*)?>", r"@\1", text)
    text = re.sub(r"<!(channel|here|everyone)>", r"@\1", text)
    text = re.sub(r"<!date\^[^|>]*\|([^>]*)>", r"\1", text)  # a date in the reader's time zone: its fallback here
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text_of(obj) -> str:
    if not obj:
        return ""
    return mrkdwn_to_text(obj.get("text", "")) if isinstance(obj, dict) else str(obj)


def message_to_text(message: dict, *, first_number: int = 1) -> tuple[str, list[ShownButton]]:
    """Render `{"text", "blocks"}`; returns the text and the buttons numbered from `first_number`."""
    blocks = message.get("blocks") or []
    if not blocks:
        return mrkdwn_to_text(message.get("text", "")), []
    lines: list[str] = []
    buttons: list[ShownButton] = []

    def add_button(element: dict, block_id: str | None) -> str:
        shown = ShownButton(
            number=first_number + len(buttons),
            text=_text_of(element.get("text")),
            action_id=element.get("action_id", ""),
            value=element.get("value"),
            url=element.get("url"),
            block_id=block_id,
        )
        buttons.append(shown)
        return f"[{shown.number}] {shown.text}"

    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = _text_of(block.get("text"))
            lines += [title, "=" * min(len(title), 60)]
        elif kind == "section":
            if block.get("text"):
                lines.append(_text_of(block["text"]))
            for field in block.get("fields") or []:
                lines.append("  " + _text_of(field))
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "button":
                lines.append("  " + add_button(accessory, block.get("block_id")))
        elif kind == "context":
            lines.append("  " + " ".join(_text_of(e) for e in block.get("elements") or []))
        elif kind == "actions":
            shown = [add_button(e, block.get("block_id")) for e in block.get("elements") or [] if e.get("type") == "button"]
            if shown:
                lines.append("  " + "  ".join(shown))
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "input":
            lines.append(f"  ({_text_of(block.get('label'))}: ____)")
    return "\n".join(lines), buttons
