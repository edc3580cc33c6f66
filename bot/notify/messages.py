"""Pure renderers of personal notifications: the direct message about a pull request (its lines of news, why
you got it, its buttons), the deploy message, and `/bb notify`'s answer. Bitbucket's text is escaped."""

from __future__ import annotations

from bot.deploys import render as deploy_render
from bot.core import ids, render
from bot.bitbucket import PullRequest
from bot.notify.planning import KINDS, WHY
from bot.relay.render import card_buttons, pull_request_state_line
from bot.core.render import Message

MAX_LINES_SHOWN = 10
KIND_WORDS = {
    "reviews": "you are asked to review a pull request",
    "mine": "your pull request is approved, gets changes requested, a comment, is merged or declined",
    "mentions": "a comment mentions you",
    "builds": "a build fails on your open pull request's source branch",
    "deploys": "a deploy or rollback you started finishes",
    "owners": "a pull request is opened (or updated) that changes a path you own (`/bb owners`)",
}


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": render.truncate(text, render.MAX_SECTION_TEXT)}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": render.truncate(text, render.MAX_SECTION_TEXT)}]}


def pull_request_dm(repo: str, pr_data: dict, lines: list[dict]) -> Message:
    """One pull request's news for one person (`lines`: `{"kind", "line"}`, oldest first), with the
    pull request's state and, while it is open, the card's buttons (which act as whoever clicks)."""
    pr = PullRequest.from_api(pr_data)
    title = render.link(pr.url, f"#{pr.id} {render.truncate(pr.title, 200)}")
    shown = lines[-MAX_LINES_SHOWN:]
    news = [entry["line"] for entry in shown]
    if len(lines) > len(shown):
        news.insert(0, f"_…{len(lines) - len(shown)} earlier_")
    kinds = [kind for kind in KINDS if any(entry["kind"] == kind for entry in lines)]
    why = "You got this because " + " and ".join(WHY[kind] for kind in kinds) + "."
    stop = " · ".join(f"`/bb notify {kind} off`" for kind in kinds)
    blocks = [
        _section(f"*{title}* in {render.escape(repo)}\n{render.escape(pr.author.display_name)} · "
                 f"{render.code(pr.source_branch or '?')} → {render.code(pr.destination_branch or '?')}\n{pull_request_state_line(pr, pr_data)}"),
        _section("\n".join(news)),
        _context(f"{why} Stop these: {stop}"),
    ]
    if pr.state == "OPEN":
        blocks.append(card_buttons(repo, pr))
    first = render.fallback_text(shown[-1]["line"].split("\n")[0]) if shown else ""
    fallback = f"#{pr.id} {render.escape(render.truncate(pr.title, 200))} in {render.escape(repo)}: {first}"
    return render.message(fallback, blocks)


def deploy_dm(record) -> Message:
    """A deploy or rollback the person started has finished (or is no longer followed)."""
    emoji, words = deploy_render.STATUS[record.status]
    where = deploy_render.environment_label(record.environment, record.environment_type)
    if record.kind == "rollback":
        what = f"Rollback of *{render.escape(record.repo)}* in {where} to {deploy_render.release_label(record.to_release, record.commit_hash)}"
    else:
        what = f"Deploy of *{render.escape(record.repo)}* {deploy_render.ref_label(record.ref_kind, record.ref, record.commit_hash)} to {where}"
    pipeline = deploy_render.pipeline_label(record.pipeline_number, record.pipeline_url)
    head = f"{emoji} {what}: *{words}* (pipeline {pipeline})."
    return render.message(
        render.fallback_text(head),
        [_section(head), _context(f"You got this because {WHY['deploys']}. Stop these: `/bb notify deploys off`")],
    )


def settings_blocks(enabled: set[str], *, linked: bool, home: bool = False) -> list[dict]:
    """Each kind, on or off, with a button that flips it (for `/bb notify` and the Home tab)."""
    blocks = []
    if not linked:
        blocks.append(_context(":information_source: You are not linked to Bitbucket yet, so nothing reaches you: "
                               "`/bb login` (or `/bb link NICKNAME`)."))
    for kind in KINDS:
        on = kind in enabled
        mark = ":large_green_circle: on" if on else ":white_circle: off"
        blocks.append({
            **_section(f"*{kind}* · {mark}\n{KIND_WORDS[kind]}"),
            "accessory": render.button("Turn off" if on else "Turn on", ids.NOTIFY_TOGGLE, {"k": kind, "on": not on, **({"h": 1} if home else {})}).to_dict(),
        })
    return blocks


def settings_message(enabled: set[str], *, linked: bool, changed: str = "") -> Message:
    head = changed or "*Your direct messages from Bitbucket*"
    blocks = [_section(head), *settings_blocks(enabled, linked=linked),
              _context("`/bb notify on|off` switches them all; `/bb notify KIND on|off` one kind.")]
    summary = ", ".join(f"{kind} {'on' if kind in enabled else 'off'}" for kind in KINDS)
    return render.message(render.fallback_text(f"{head} {summary}"), blocks)
