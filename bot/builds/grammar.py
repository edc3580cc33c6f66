"""The builds command's grammar (pure): `builds`."""

from __future__ import annotations

from bot.core.commands import Command, CommandSpec, parse_repo
from bot.core.errors import UsageError



def _parse_builds(tokens: list[str]) -> Command:
    if len(tokens) > 2:
        raise UsageError("`builds` takes a repository and at most one branch, like `/bb builds api main`.")
    repo = parse_repo(tokens[0]) if tokens else None
    return Command("builds", {"branch": tokens[1] if len(tokens) == 2 else None}, repo)


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("builds", "/bb builds REPO [BRANCH]", "the latest pipelines, with Re-run and Stop buttons", _parse_builds, ("pipelines", "ci"), "Builds"),
)
