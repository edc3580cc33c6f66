"""Pure: unfurls of Bitbucket links. A pull request is the relay's card with its builds; a commit or a
pipeline is one line. Bitbucket's text is escaped (a title cannot mention anyone)."""

from __future__ import annotations

from bot.core import render
from bot.relay.render import first_line, pull_request_card, short_hash, user_name
from bot.core.render import Message

BUILD_MARKS = {"SUCCESSFUL": "✅", "FAILED": "❌", "INPROGRESS": "⏳", "STOPPED": "⏹"}
PIPELINE_WORDS = {"SUCCESSFUL": "✅ successful", "FAILED": "❌ failed", "ERROR": "❌ error", "STOPPED": "⏹ stopped", "EXPIRED": "⏹ expired"}


def builds_text(builds: list[tuple[str, str]]) -> str:
    """`✅ Pipeline for main, ❌ lint`: each build series the relay has seen on a branch, with its last state."""
    return ", ".join(f"{BUILD_MARKS.get(state, '?')} {render.escape(render.truncate(name.replace('# ', ''), 60))}" for name, state in builds)


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": render.truncate(text, render.MAX_SECTION_TEXT)}]}


def _line(text: str) -> Message:
    return render.message(render.fallback_text(text), [{"type": "section", "text": {"type": "mrkdwn", "text": render.truncate(text, 3000)}}])


def pull_request(repo: str, data: dict, builds: list[tuple[str, str]]) -> Message:
    card = pull_request_card(repo, data)
    if builds:
        text = "Builds: " + builds_text(builds)
    else:
        text = "Builds: none seen yet"
    blocks = [card.blocks[0], _context(text), *card.blocks[1:]]
    return render.message(card.text, blocks)


def commit(repo: str, data: dict) -> Message:
    label = render.link(((data.get("links") or {}).get("html") or {}).get("href"), short_hash(data.get("hash")))
    author = (data.get("author") or {})
    who = user_name(author.get("user")) if author.get("user") else render.escape((author.get("raw") or "someone").split("<")[0].strip())
    return _line(f":memo: {label} {render.escape(first_line(data.get('message')))} · {who} · {render.escape(repo)}")


def pipeline(repo: str, pipeline) -> Message:
    if pipeline.state == "COMPLETED":
        state = PIPELINE_WORDS.get(pipeline.result or "", render.escape((pipeline.result or "completed").lower()))
    else:
        state = "⏳ " + render.escape((pipeline.state or "pending").lower().replace("_", " "))
    target = pipeline.pattern or pipeline.ref_name or short_hash(pipeline.commit)
    label = render.link(pipeline.url, f"Pipeline #{pipeline.build_number}")
    return _line(f":gear: {label} · {render.code(target)} · {state} · {render.escape(repo)}")
