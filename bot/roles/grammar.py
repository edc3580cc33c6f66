"""The roles' commands' grammar (pure): `grant`, `revoke`, `roles`."""

from __future__ import annotations

from typing import Callable

from bot.core.commands import Command, CommandSpec, optional_repo, parse_repo, parse_role
from bot.core.errors import UsageError
from bot.core.people import parse_person


def _grant_or_revoke(name: str) -> Callable[[list[str]], Command]:
    def parse(tokens: list[str]) -> Command:
        if len(tokens) not in (2, 3):
            raise UsageError(f"`{name}` needs a person and a role, like `/bb {name} @alice merger`.")
        role, environment = parse_role(tokens[1])
        repo = parse_repo(tokens[2]) if len(tokens) == 3 else None
        # `user_id`: a member ID, or the `@name` / email typed, which the handler looks up (bot.core.people).
        return Command(name, {"user_id": parse_person(tokens[0]), "role": role, "environment": environment}, repo)

    return parse


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("roles", "/bb roles [REPO]", "who holds which role (on REPO), and the admins", optional_repo("roles"), (), "Admin"),
    CommandSpec("grant", "/bb grant @user ROLE [REPO]", "gives a role (admins only): merger, releaser, deployer[:ENV]", _grant_or_revoke("grant"), (), "Admin"),
    CommandSpec("revoke", "/bb revoke @user ROLE [REPO]", "takes a role back (admins only)", _grant_or_revoke("revoke"), (), "Admin"),
)
