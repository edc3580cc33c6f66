"""The freeze commands' grammar (pure): `freeze`, `unfreeze`, `freezes`."""

from __future__ import annotations

from bot.core.commands import Command, CommandSpec, optional_repo, parse_duration, parse_repo
from bot.core.errors import UsageError



def _parse_freeze(tokens: list[str]) -> Command:
    """`freeze [REPO] ENV|all [for DURATION] [REASON…]`."""
    if not tokens:
        raise UsageError("`freeze` needs an environment (or `all`), like `/bb freeze api production for 2h release day`.")
    if len(tokens) == 1 or tokens[1].lower() == "for":
        repo, environment, rest = None, tokens[0], tokens[1:]
    else:
        repo, environment, rest = parse_repo(tokens[0]), tokens[1], tokens[2:]
    seconds = None
    if rest and rest[0].lower() == "for":
        if len(rest) < 2:
            raise UsageError("`for` needs a duration, like `for 2h` or `for 3d`.")
        seconds, rest = parse_duration(rest[1]), rest[2:]
    return Command("freeze", {"environment": environment, "seconds": seconds, "reason": " ".join(rest).strip()}, repo)


def _parse_unfreeze(tokens: list[str]) -> Command:
    if len(tokens) == 1:
        return Command("unfreeze", {"environment": tokens[0]})
    if len(tokens) == 2:
        return Command("unfreeze", {"environment": tokens[1]}, parse_repo(tokens[0]))
    raise UsageError("`unfreeze` needs a repository and an environment (or `all`), like `/bb unfreeze api production`.")


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("freeze", "/bb freeze REPO ENV|all [for DURATION] [REASON…]", "stops deploys and rollbacks to ENV (or every environment) until unfrozen or DURATION ends", _parse_freeze, (), "Releases"),
    CommandSpec("unfreeze", "/bb unfreeze REPO ENV|all", "ends a deploy freeze", _parse_unfreeze, ("thaw",), "Releases"),
    CommandSpec("freezes", "/bb freezes [REPO]", "the deploy freezes in force", optional_repo("freezes"), (), "Releases"),
)
