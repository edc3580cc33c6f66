"""Pure: the Home tab as a `home` view (at most 100 blocks). Bitbucket's text is escaped."""

from __future__ import annotations

from datetime import datetime

from bot.core import render
from bot.deploys.where_render import environment_text
from bot.notify.messages import settings_blocks
from bot.core.render import age_since, code, escape, link, truncate
from bot.unfurl.render import builds_text

MAX_SHOWN = 15  # per section; three sections and the settings stay well inside 100 blocks
MAX_ENVIRONMENT_BLOCKS = 12


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, render.MAX_SECTION_TEXT)}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, render.MAX_SECTION_TEXT)}]}


def _header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, 150)}}


def _name(account) -> str:
    return escape(account.display_name or account.nickname or "someone")


def _title(repo: str, pr) -> str:
    return f"*{link(pr.url, f'#{pr.id} {truncate(pr.title, 150)}')}* · {escape(repo)}"


def review_line(repo: str, pr, now: datetime) -> str:
    return f"{_title(repo, pr)}\nby {_name(pr.author)} · opened {age_since(pr.created_on, now)} ago · {code(pr.source_branch or '?')} → {code(pr.destination_branch or '?')}"


def mine_line(repo: str, pr, builds: list[tuple[str, str]], now: datetime) -> str:
    approvals = len(pr.approved_by)
    parts = [f"{approvals} approval{'s' if approvals != 1 else ''}"]
    if pr.changes_requested_by:
        parts.append("✋ changes requested by " + ", ".join(_name(a) for a in pr.changes_requested_by))
    if builds:
        parts.append("builds: " + builds_text(builds))
    else:
        parts.append("no builds seen")
    return f"{_title(repo, pr)}\n" + " · ".join(parts) + f" · opened {age_since(pr.created_on, now)} ago"


def _listed(items: list[str], empty: str, total: int) -> list[dict]:
    if not items:
        return [_context(empty)]
    blocks = [_section(item) for item in items[:MAX_SHOWN]]
    if total > MAX_SHOWN:
        blocks.append(_context(f"…and {total - MAX_SHOWN} more"))
    return blocks


def environments_blocks(data, now: datetime) -> list[dict]:
    """The environments of the repositories the person deploys to: what runs, locks, freezes, protections, and
    whether they may deploy there now."""
    if not data.environments:
        return []
    blocks: list[dict] = [{"type": "divider"}, _header("Your environments")]
    stamp = now.timestamp()
    for repo, states in data.environments:
        blocks.append(_context(f"*{escape(repo)}*"))
        if not states:
            blocks.append(_context("No deployment environments in Bitbucket."))
        for state in states:
            if len(blocks) >= MAX_ENVIRONMENT_BLOCKS:
                blocks.append(_context("…more in `/bb where REPO`"))
                return blocks
            blocks.append(_section(environment_text(state, stamp, now, history_read=False)))
    return blocks


def home_view(data, now: datetime) -> dict:
    if not data.linked:
        view = unlinked_view()
        view["blocks"] += [_context(f":warning: {escape(problem)}") for problem in data.problems] + environments_blocks(data, now)
        return view
    blocks: list[dict] = [_header("Bitbucket")]
    for problem in data.problems:
        blocks.append(_context(f":warning: {escape(problem)}"))
    blocks += [_header(f"Waiting on your review ({len(data.reviews)})")]
    blocks += _listed([review_line(repo, pr, now) for repo, pr in data.reviews], "Nothing waits on your review. :tada:", len(data.reviews))
    blocks += [{"type": "divider"}, _header(f"Your open pull requests ({len(data.mine)})")]
    mine = [mine_line(repo, pr, data.builds.get((repo, pr.source_branch or ""), []), now) for repo, pr in data.mine]
    blocks += _listed(mine, "You have no open pull requests.", len(data.mine))
    blocks += environments_blocks(data, now)
    blocks += [{"type": "divider"}, _header("Your notifications")]
    blocks += settings_blocks(data.enabled, linked=True, home=True)
    blocks.append(_context("Direct messages about your pull requests, reviews, mentions, builds and deploys. `/bb notify` changes them too."))
    return {"type": "home", "blocks": blocks[:100]}


def unlinked_view() -> dict:
    return {"type": "home", "blocks": [
        _header("Bitbucket"),
        _section("*Link your Bitbucket account* to see the pull requests waiting on your review, your own, and to get "
                 "direct messages about them.\nType `/bb login` in any channel (or `/bb link YOUR_BITBUCKET_NICKNAME`)."),
    ]}


def trouble_view(reason: str) -> dict:
    """When the tab could not be drawn at all: a short notice, never a blank tab."""
    return {"type": "home", "blocks": [_header("Bitbucket"), _section(f":warning: {escape(reason)} Open the tab again in a minute.")]}
