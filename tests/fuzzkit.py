"""Hypothesis strategies for hostile input, and the checks every Slack message must pass.

- `hostile_text()`: any text, plus what strangers type on purpose: Slack's control sequences (`<!channel>`,
  `<@U…>`, `<#C…>`, `<https://…|…>`), their escaped forms, markdown, control characters, right-to-left marks,
  lone surrogates' neighbours, and huge strings.
- `mutated(payload)`: a real payload with a few of its keys dropped or their values replaced by other JSON
  types or hostile text, anywhere in the tree.
- `message_problems(message)`: Slack's limits (50 blocks, 3,000 characters of section text, 75 of a button
  label, 2,000 of a button value, 40,000 of `text`), and any live mention, channel ping or link that did not
  come from a URL field.
"""

from __future__ import annotations

import copy
import json
import re

from hypothesis import strategies as st

from bot.sandbox.slack import MAX_BUTTON_TEXT, MAX_BUTTON_VALUE, MAX_MESSAGE_TEXT, block_problems

MAX_BLOCKS = 50

NASTY = [
    "<!channel>", "<!here>", "<!everyone>", "<@U0123ABC>", "<@W999|boss>", "<#C0123|general>", "<!subteam^S1|@team>",
    "<https://evil.example/|click me>", "<mailto:a@b.c|mail>", "<javascript:alert(1)>", "@channel", "@here",
    "&lt;!channel&gt;", "&amp;lt;@U1&amp;gt;", "&", "<", ">", "|", "`", "```", "*bold*", "_it_", "~s~", "> quote",
    "\x00", "\x07", "\x1b[31m", "\r\n", "\u2028", "\u202e", "\ufeff", "\u200b", "é", "日本語", "🚀" * 3, "\U0010ffff",
    "https://evil.example/x", "https://a.example/<!channel>", "http://x|y", " ", "",
]


def hostile_text() -> st.SearchStrategy[str]:
    nasty = st.sampled_from(NASTY)
    mixed = st.lists(st.one_of(nasty, st.text(max_size=20)), min_size=1, max_size=8).map("".join)
    huge = st.builds(lambda piece, times: piece * times, st.one_of(nasty, st.text(min_size=1, max_size=3)), st.integers(500, 20_000))
    return st.one_of(st.text(max_size=200), nasty, mixed, huge)


def json_values() -> st.SearchStrategy:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), hostile_text())
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                        max_leaves=8)


def _paths(node, prefix=()):
    """Every place in a JSON tree: (path to the container, key or index)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix, key
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield prefix, index
            yield from _paths(value, prefix + (index,))


def _at(node, path):
    for step in path:
        node = node[step]
    return node


@st.composite
def mutated(draw, payload: dict) -> dict:
    """`payload`, with 1 to 6 changes: a key dropped, or a value replaced (another type, hostile text)."""
    data = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 6))):
        places = list(_paths(data))
        if not places:
            break
        container_path, key = places[draw(st.integers(0, len(places) - 1))]
        container = _at(data, container_path)
        action = draw(st.sampled_from(("drop", "replace", "text", "text")))
        if action == "drop":
            del container[key]
        elif action == "replace":
            container[key] = draw(json_values())
        else:
            container[key] = draw(hostile_text())
    return data


# --- what a message must be ----------------------------------------------------------------------------------

_ANGLE = re.compile(r"<([^<>]*)>")
_LINK = re.compile(r"^https?://[^|<>\s]+\|[^<>]*$")


def texts_of(message: dict) -> list[str]:
    found = [message.get("text") or ""]

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                elif isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return found


def live_sequences(text: str) -> list[str]:
    """Slack control sequences in mrkdwn that are not links to an http(s) URL: mentions, pings, other links.
    Also a `<` that is not part of a sequence (Slack could read it and what follows as one). A `>` alone is
    harmless (at the start of a line it is our block quote)."""
    bad = [f"<{inner}>" for inner in _ANGLE.findall(text) if not _LINK.match(inner)]
    if "<" in _ANGLE.sub("", text):
        bad.append("a lone <")
    return bad


def message_problems(message: dict) -> list[str]:
    """Why Slack would refuse `message`, or where it would ping, mention or link text from strangers."""
    problems = list(block_problems(message.get("blocks") or [], max_blocks=MAX_BLOCKS))
    text = message.get("text")
    if not isinstance(text, str):
        problems.append("text is not a string")
    elif len(text) > MAX_MESSAGE_TEXT:
        problems.append(f"text is {len(text)} characters")
    for block in message.get("blocks") or []:
        for element in (block.get("elements") or []) + ([block["accessory"]] if block.get("accessory") else []):
            if element.get("type") == "button":
                if len((element.get("text") or {}).get("text") or "") > MAX_BUTTON_TEXT:
                    problems.append("a button label is too long")
                if len(element.get("value") or "") > MAX_BUTTON_VALUE:
                    problems.append("a button value is too long")
    for piece in texts_of(message):
        problems += [f"live sequence {sequence[:80]!r}" for sequence in live_sequences(piece)]
    try:
        json.dumps(message)
    except (TypeError, ValueError) as error:
        problems.append(f"not JSON: {error}")
    return problems
