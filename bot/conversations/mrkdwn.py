"""Pure: a Slack message's text (mrkdwn, as the Events API sends it) as a Bitbucket comment (markdown).

Slack writes people and channels as `<@U…>` / `<#C…|name>`, links as `<https://…|label>`, and escapes `&`, `<`, `>`
as entities; bold is `*x*`, strike `~x~`, code `` `x` `` and ```` ```block``` ````, a quote a line starting `&gt; `.
Bitbucket's markdown spells these its own way, and mentions a person as `@{account_id}`.

Nothing the person typed becomes markup they did not ask for: `<` and `>` stay entities outside code (so no HTML
reaches Bitbucket's renderer), and `[`, `]` and `!` before them are escaped (no hand-made links or images; the links
Slack made are written as links). Inside code, text is left as typed.
"""

from __future__ import annotations

import re
from typing import Callable

_FENCE = re.compile(r"```(.*?)```", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_ANGLE = re.compile(r"<([^<>\n]*)>")
_BOLD = re.compile(r"(?<![\w*\\])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_STRIKE = re.compile(r"(?<![\w~\\])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_QUOTE = re.compile(r"(?m)^&gt;\s?")
_AMP = re.compile(r"&amp;(?!(?:[A-Za-z]{2,8}|#\d{1,6});)")
_LINK_SCHEMES = ("http://", "https://", "mailto:")


def to_markdown(text: str, mention: Callable[[str], str]) -> str:
    """Bitbucket markdown of Slack's `text`. `mention(user_id)` writes a person (`@{account_id}`, or their name)."""
    parts, at = [], 0
    for fence in _FENCE.finditer(text or ""):
        parts.append(_outside_fences(text[at:fence.start()], mention))
        body = _plain_code(fence.group(1)).strip("\n")
        parts.append(f"\n```\n{body}\n```\n")
        at = fence.end()
    parts.append(_outside_fences((text or "")[at:], mention))
    return re.sub(r"\n{3,}", "\n\n", "".join(parts)).strip()


def _outside_fences(text: str, mention: Callable[[str], str]) -> str:
    parts, at = [], 0
    for code in _INLINE_CODE.finditer(text):
        parts.append(_prose(text[at:code.start()], mention))
        parts.append("`" + _plain_code(code.group(1)) + "`")
        at = code.end()
    parts.append(_prose(text[at:], mention))
    return "".join(parts)


def _plain_code(text: str) -> str:
    """Code as typed: Slack's links inside it back to their text, its entities back to characters."""
    text = _ANGLE.sub(lambda m: _code_entity(m.group(1)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _code_entity(inner: str) -> str:
    target, _, label = inner.partition("|")
    return label or target


def _prose(text: str, mention: Callable[[str], str]) -> str:
    text = _QUOTE.sub("> ", text)
    pieces, at = [], 0
    for angle in _ANGLE.finditer(text):
        pieces.append(_escape_prose(text[at:angle.start()]))
        pieces.append(_entity(angle.group(1), mention))
        at = angle.end()
    pieces.append(_escape_prose(text[at:]))
    return "".join(pieces)


def _escape_prose(text: str) -> str:
    """Plain words: markdown's link and image brackets escaped; Slack's bold and strike in markdown's spelling."""
    text = re.sub(r"([\[\]\\])", r"\\\1", text)
    text = re.sub(r"!(?=\\\[)", r"\\!", text)
    text = _BOLD.sub(r"**\1**", text)
    text = _STRIKE.sub(r"~~\1~~", text)
    return _AMP.sub("&", text)


def _entity(inner: str, mention: Callable[[str], str]) -> str:
    """One of Slack's `<…>`: a person, a channel, a special mention, a link."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        user_id = target[1:]
        return mention(user_id) if re.fullmatch(r"[UW][A-Z0-9]{1,20}", user_id) else _escape_prose(label or "someone")
    if target.startswith("#"):
        return "#" + _escape_prose(label or "channel")
    if target.startswith("!"):
        if label:
            return _escape_prose(label)
        word = target[1:].split("^", 1)[0]
        return "@" + word if word in ("here", "channel", "everyone") else ""
    if target.lower().startswith(_LINK_SCHEMES):
        url = target.replace("&amp;", "&").replace(")", "%29").replace(" ", "%20")
        if label and label != target:
            return f"[{_escape_label(label)}]({url})"
        return url
    return _escape_prose(f"&lt;{inner}&gt;")  # not Slack's: the person typed angle brackets (Slack escaped them)


def _escape_label(label: str) -> str:
    return re.sub(r"([\[\]\\])", r"\\\1", label).replace("&amp;", "&")
