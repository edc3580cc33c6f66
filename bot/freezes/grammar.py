"""The freeze commands' grammar (pure): `freeze`, `unfreeze`, `freezes`."""

from __future__ import annotations

from bot.core.commands import Command, CommandSpec, optional_repo, parse_repo, parse_timed_environment
from bot.core.errors import UsageError


def _parse_freeze(tokens: list[str]) -> Command:
    """`freeze [REPO] ENV|all [for DURATION] [REASON…]`."""
    freeze = parse_timed_environment(
        tokens, missing="`freeze` needs an environment (or `all`), like `/bb freeze api production for 2h release day`.",
        durations=("2h", "3d"))
    return Command("freeze", {"environment": freeze.environment, "seconds": freeze.seconds, "reason": freeze.reason},
                   freeze.repo)


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
