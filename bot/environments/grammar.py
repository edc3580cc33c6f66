"""The environments' commands (pure): `lock`, `unlock`, `locks`, `protect`, `unprotect`."""

from __future__ import annotations

from bot.core.commands import Command, CommandSpec, optional_repo, parse_repo, parse_timed_environment
from bot.core.errors import UsageError
from bot.environments.protections import MAX_APPROVALS, ROLES


def _parse_lock(tokens: list[str]) -> Command:
    """`lock [REPO] ENV [for DURATION] [REASON…]`."""
    lock = parse_timed_environment(
        tokens, missing="`lock` needs an environment, like `/bb lock api staging for 2h testing the migration`.",
        durations=("2h", "30m"))
    return Command("lock", {"environment": lock.environment, "seconds": lock.seconds, "reason": lock.reason}, lock.repo)


def _repo_and_environment(name: str, example: str):
    def parse(tokens: list[str]) -> Command:
        if len(tokens) == 1:
            return Command(name, {"environment": tokens[0]})
        if len(tokens) == 2:
            return Command(name, {"environment": tokens[1]}, parse_repo(tokens[0]))
        raise UsageError(f"`{name}` needs a repository and an environment, like `{example}`.")
    return parse


def _parse_protect(tokens: list[str]) -> Command:
    """`protect [REPO] ENV approvals:N [by:ROLE]`."""
    options = {t.split(":", 1)[0].lower(): t.split(":", 1)[1] for t in tokens if t.lower().startswith(("approvals:", "by:"))}
    words = [t for t in tokens if not t.lower().startswith(("approvals:", "by:"))]
    if "approvals" not in options:
        raise UsageError("`protect` needs how many approvals, like `/bb protect api production approvals:2`.")
    count = options["approvals"]
    if not (count.isascii() and count.isdigit()) or not 1 <= int(count) <= MAX_APPROVALS:
        raise UsageError(f"`approvals:{count}` is not a number from 1 to {MAX_APPROVALS}.")
    role = options.get("by", "deployer").lower()
    if role not in ROLES:
        raise UsageError(f"`by:{role}` is not a role: one of {', '.join(f'`{r}`' for r in ROLES)}.")
    parsed = _repo_and_environment("protect", "/bb protect api production approvals:2")(words)
    return Command("protect", {**parsed.args, "approvals": int(count), "role": role}, parsed.repo)


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("lock", "/bb lock REPO ENV [for DURATION] [REASON…]",
                "holds ENV for you (4h unless told): deploys there by anyone else are refused until you unlock it", _parse_lock, (), "Releases"),
    CommandSpec("unlock", "/bb unlock REPO ENV", "ends your lock on ENV (an admin can end anyone's)",
                _repo_and_environment("unlock", "/bb unlock api staging"), (), "Releases"),
    CommandSpec("locks", "/bb locks [REPO]", "the environments locked, by whom, why and until when", optional_repo("locks"), (), "Releases"),
    CommandSpec("protect", "/bb protect REPO ENV approvals:N [by:ROLE]",
                "admins: deploys to ENV need N approvals by other people with the role (default `deployer`)", _parse_protect, (), "Admin"),
    CommandSpec("unprotect", "/bb unprotect REPO ENV", "admins: deploys to ENV need no approvals again",
                _repo_and_environment("unprotect", "/bb unprotect api production"), (), "Admin"),
)
