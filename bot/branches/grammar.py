"""The branch commands' grammar (pure): `branches REPO [GLOB]`, `branch REPO NAME [from REF]`,
`branch REPO NAME --delete [--force]`."""

from __future__ import annotations

from bot.core.commands import Command, CommandSpec, code_of, looks_like_repo, parse_repo, take_force
from bot.core.errors import UsageError

DELETE_FLAGS = ("--delete", "\u2014delete", "-delete", "-d")  # Slack may turn `--` into an em dash
GLOB_CHARACTERS = "*?["


def _parse_branches(tokens: list[str]) -> Command:
    if len(tokens) > 2:
        raise UsageError("`branches` takes a repository and at most one pattern, like `/bb branches api release/*`.")
    if len(tokens) == 1 and (any(c in tokens[0] for c in GLOB_CHARACTERS) or not looks_like_repo(tokens[0])):
        return Command("branches", {"glob": tokens[0]})  # the channel's repository
    repo = parse_repo(tokens[0]) if tokens else None
    return Command("branches", {"glob": tokens[1] if len(tokens) == 2 else None}, repo)


def _parse_branch(tokens: list[str]) -> Command:
    tokens, force = take_force(tokens)
    kept = [t for t in tokens if t.lower() not in DELETE_FLAGS]
    delete = len(kept) != len(tokens)
    if len(kept) < 2:
        raise UsageError("`branch` needs a repository and a branch name, like `/bb branch api hotfix/login from main`.")
    repo, name, rest = parse_repo(kept[0]), kept[1], kept[2:]
    if delete:
        if rest:
            raise UsageError(f"`branch … --delete` takes nothing more: `{code_of(' '.join(rest))}`.")
        return Command("branch", {"name": name, "delete": True, "force": force}, repo)
    if force:
        raise UsageError("`--force` is for deleting a branch: `/bb branch REPO NAME --delete --force`.")
    if rest and (len(rest) != 2 or rest[0].lower() != "from"):
        raise UsageError(f"After the branch name, write `from REF` (a branch, tag or commit): not `{code_of(' '.join(rest))}`.")
    return Command("branch", {"name": name, "delete": False, "ref": rest[1] if rest else None}, repo)


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("branches", "/bb branches [REPO] [GLOB]", "branches, newest commit first, with their last build",
                _parse_branches, (), "Releases"),
    CommandSpec("branch", "/bb branch REPO NAME [from REF] · /bb branch REPO NAME --delete [--force]",
                "creates a branch (default: from the main branch), or deletes one after you confirm", _parse_branch, (),
                "Releases"),
)
