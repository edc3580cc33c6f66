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


DRY_RUN = ("--dry-run", "--dryrun", "—dry-run")  # Slack turns `--` into an em dash in some clients


def _dry(parse):
    """`--dry-run` anywhere in the command: what would ship and which pipeline would run, without running it."""

    def parse_dry(tokens: list[str]) -> Command:
        kept = [t for t in tokens if t.lower() not in DRY_RUN]
        command = parse(kept)
        return Command(command.name, {**command.args, "dry_run": True}, command.repo) if len(kept) != len(tokens) else command

    return parse_dry


def _parse_where(tokens: list[str]) -> Command:
    if len(tokens) > 2:
        raise UsageError("`where` takes a repository and, if you like, one environment, like `/bb where api production`.")
    if not tokens:
        return Command("where", {"environment": None})
    return Command("where", {"environment": tokens[1] if len(tokens) == 2 else None}, parse_repo(tokens[0]))


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("deploy", "/bb deploy REPO REF to ENV [--force] [--dry-run]", "runs the deploy pipeline for ENV on REF, after you confirm; says what ships (`--dry-run`: only that; `--force`: an admin's way through a freeze)", _dry(forced(_parse_deploy)), (), "Releases"),
    CommandSpec("rollback", "/bb rollback REPO ENV [--force]", "deploys again what ENV ran before its current release", forced(_parse_rollback), (), "Releases"),
    CommandSpec("where", "/bb where REPO [ENV]", "what is deployed where, locks, freezes, protections, and whether you may deploy", _parse_where, (), "Releases"),
    CommandSpec("deployments", "/bb deployments REPO", "each environment and what is deployed there", optional_repo("deployments"), ("environments", "envs"), "Releases"),
)
