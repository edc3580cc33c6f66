"""The relay's commands' grammar (pure): `subscribe`, `unsubscribe`, `subscriptions`.

    /bb subscribe REPO|WORKSPACE/* [FAMILY…] [branch:GLOB] [FILTER…]     (bare: what the channel relays)
    /bb unsubscribe [REPO|WORKSPACE/*]
"""

from __future__ import annotations

import re

from bot.core.commands import Command, CommandSpec, code_of, did_you_mean, no_args, parse_repo
from bot.core.errors import UsageError
from bot.relay.filters import FILTER_GRAMMAR, contradiction, is_filter, parse_filters


EVENT_FAMILIES = ("pullrequests", "pushes", "tags", "builds")
FAMILY_ALIASES = {
    "pr": "pullrequests", "prs": "pullrequests", "pullrequest": "pullrequests", "pull-requests": "pullrequests",
    "push": "pushes", "tag": "tags", "build": "builds", "pipelines": "builds", "statuses": "builds",
}


def parse_family(token: str) -> str:
    family = FAMILY_ALIASES.get(token.lower(), token.lower())
    if family not in EVENT_FAMILIES:
        raise UsageError(
            f"`{code_of(token)}` is not an event family: use {', '.join(f'`{f}`' for f in EVENT_FAMILIES)}."
            + did_you_mean(token, EVENT_FAMILIES)
        )
    return family


_WORKSPACE_ALL = re.compile(r"^(?P<workspace>[A-Za-z0-9][A-Za-z0-9._-]{0,99})/\*$")


def workspace_of(token: str) -> str | None:
    """`acme/*` -> `acme` (every repository of the workspace); None for anything else."""
    match = _WORKSPACE_ALL.match(token)
    return match["workspace"].lower() if match else None


def _target(token: str) -> tuple[dict, object]:
    workspace = workspace_of(token)
    return ({"workspace": workspace}, None) if workspace else ({}, parse_repo(token))


def _parse_subscribe(tokens: list[str]) -> Command:
    if not tokens:
        return Command("subscriptions")  # a bare subscribe shows what the channel relays, and changes nothing
    target, repo = _target(tokens[0])
    families: list[str] = []
    branch_glob = None
    filter_tokens = []
    for token in tokens[1:]:
        if token.lower().startswith("branch:"):
            branch_glob = token.split(":", 1)[1]
            if not branch_glob:
                raise UsageError("`branch:` needs a pattern, like `branch:main` or `branch:release/*`.")
            if len(branch_glob) > 200:
                raise UsageError(f"`branch:` patterns may be at most 200 characters long.\nFilters: `{FILTER_GRAMMAR}`. Nothing was changed.")
        elif is_filter(token):
            filter_tokens.append(token)
        else:
            family = parse_family(token)
            if family not in families:
                families.append(family)
    chosen = tuple(families or EVENT_FAMILIES)
    filters = parse_filters(filter_tokens)
    problem = contradiction(filters, chosen)
    if problem:
        raise UsageError(f"{problem}\nFilters: `{FILTER_GRAMMAR}`. Nothing was changed.")
    return Command("subscribe", {**target, "families": chosen, "branch_glob": branch_glob, "filters": filters}, repo)


def _parse_unsubscribe(tokens: list[str]) -> Command:
    if len(tokens) > 1:
        raise UsageError("`unsubscribe` takes at most one repository (or `WORKSPACE/*`).")
    if not tokens:
        return Command("unsubscribe")
    target, repo = _target(tokens[0])
    return Command("unsubscribe", target, repo)


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("subscribe", "/bb subscribe REPO|WORKSPACE/* [pullrequests|pushes|tags|builds…] [branch:GLOB] " + FILTER_GRAMMAR,
                "relays REPO's (or every repository's of WORKSPACE) events into this channel, filtered", _parse_subscribe,
                ("sub", "follow"), "Channel"),
    CommandSpec("unsubscribe", "/bb unsubscribe REPO|WORKSPACE/*", "stops relaying REPO here", _parse_unsubscribe, ("unsub", "unfollow"), "Channel"),
    CommandSpec("subscriptions", "/bb subscriptions", "what this channel relays", no_args("subscriptions"), ("subs",), "Channel"),
)
