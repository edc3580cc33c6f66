"""The relay's commands' grammar (pure): `subscribe`, `unsubscribe`, `subscriptions`."""

from __future__ import annotations

from bot.core.commands import Command, CommandSpec, code_of, did_you_mean, no_args, optional_repo, parse_repo
from bot.core.errors import UsageError


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


def _parse_subscribe(tokens: list[str]) -> Command:
    if not tokens:
        raise UsageError("`subscribe` needs a repository.")
    repo = parse_repo(tokens[0])
    families: list[str] = []
    branch_glob = None
    for token in tokens[1:]:
        if token.lower().startswith("branch:"):
            branch_glob = token.split(":", 1)[1]
            if not branch_glob:
                raise UsageError("`branch:` needs a pattern, like `branch:main` or `branch:release/*`.")
        else:
            family = parse_family(token)
            if family not in families:
                families.append(family)
    return Command("subscribe", {"families": tuple(families or EVENT_FAMILIES), "branch_glob": branch_glob}, repo)


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("subscribe", "/bb subscribe REPO [pullrequests|pushes|tags|builds…] [branch:GLOB]", "relays REPO's events into this channel", _parse_subscribe, ("sub", "follow"), "Channel"),
    CommandSpec("unsubscribe", "/bb unsubscribe REPO", "stops relaying REPO here", optional_repo("unsubscribe"), ("unsub", "unfollow"), "Channel"),
    CommandSpec("subscriptions", "/bb subscriptions", "what this channel relays", no_args("subscriptions"), ("subs",), "Channel"),
)
