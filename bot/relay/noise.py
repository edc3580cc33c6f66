"""Noise (pure), on Bitbucket's own pull request JSON: drafts, work in progress (titles starting with `WIP`,
`[WIP]` or `Draft:`), and pull requests opened by bots (Bitbucket's app users, and the nicknames of
`CHATOPS_BOT_AUTHORS`). Shared by a subscription's filters (`-drafts`, `-title:WIP`, `-author:bots`,
`bot.relay.filters`) and the reminders, which leave all three out of channel reminders.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

_WIP_TITLE = re.compile(r"^\s*(?:\[\s*wip\s*\]|wip\b|draft\s*:)", re.IGNORECASE)


def is_draft(pull_request: Mapping) -> bool:
    return pull_request.get("draft") is True


def is_wip_title(title: str | None) -> bool:
    """`WIP: login`, `[WIP] login`, `wip login`, `Draft: login`; not `Wipe the cache`."""
    return bool(_WIP_TITLE.match(title or ""))


def is_bot_author(author: Mapping | None, bot_nicknames: Iterable[str]) -> bool:
    """An app user (Bitbucket's account `type`), or a nickname of the bots' list (any case)."""
    if not isinstance(author, Mapping):
        return False
    if author.get("type") == "app_user":
        return True
    nickname = author.get("nickname")
    return isinstance(nickname, str) and nickname.casefold() in {name.casefold() for name in bot_nicknames}


def noise(pull_request: Mapping, bot_nicknames: Iterable[str] = ()) -> str | None:
    """Why a pull request is noise (`draft`, `wip`, `bot`), or None when it is not."""
    if is_draft(pull_request):
        return "draft"
    title = pull_request.get("title")
    if is_wip_title(title if isinstance(title, str) else ""):
        return "wip"
    if is_bot_author(pull_request.get("author"), bot_nicknames):
        return "bot"
    return None
