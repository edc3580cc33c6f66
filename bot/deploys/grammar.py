"""The deploy commands' grammar (pure): `deploy`, `rollback`, `deployments`."""

from __future__ import annotations

from bot.core.commands import Command, CommandSpec, forced, optional_repo, parse_repo
from bot.core.errors import UsageError



def _parse_deploy(tokens: list[str]) -> Command:
    lowered = [t.lower() for t in tokens]
    if "to" not in lowered:
        raise UsageError("`deploy` needs `to ENV`, like `/bb deploy api v1.4.0 to production`.")
    at = len(lowered) - 1 - lowered[::-1].index("to")
    before, after = tokens[:at], tokens[at + 1 :]
    if len(after) != 1:
        raise UsageError("`deploy … to` needs one environment name, like `to production`.")
    if len(before) == 1:
        return Command("deploy", {"ref": before[0], "environment": after[0]})
    if len(before) == 2:
        return Command("deploy", {"ref": before[1], "environment": after[0]}, parse_repo(before[0]))
    raise UsageError("`deploy` needs a repository and a branch, tag or commit, like `/bb deploy api v1.4.0 to production`.")


def _parse_rollback(tokens: list[str]) -> Command:
    if len(tokens) == 1:
        return Command("rollback", {"environment": tokens[0]})
    if len(tokens) == 2:
        return Command("rollback", {"environment": tokens[1]}, parse_repo(tokens[0]))
    raise UsageError("`rollback` needs a repository and an environment, like `/bb rollback api production`.")


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("deploy", "/bb deploy REPO REF to ENV [--force]", "runs the deploy pipeline for ENV on REF, after you confirm (`--force`: an admin's way through a freeze)", forced(_parse_deploy), (), "Releases"),
    CommandSpec("rollback", "/bb rollback REPO ENV [--force]", "deploys again what ENV ran before its current release", forced(_parse_rollback), (), "Releases"),
    CommandSpec("deployments", "/bb deployments REPO", "each environment and what is deployed there", optional_repo("deployments"), ("environments", "envs"), "Releases"),
)
