"""The owners' command grammar (pure): `/bb owners REPO GLOB… @person|@group|#channel…`, `/bb owners REPO`,
`/bb owners REPO off GLOB`."""

from __future__ import annotations

from bot.core.commands import Command, CommandSpec, code_of, parse_repo
from bot.core.errors import UsageError
from bot.core.globs import glob_problem
from bot.owners.rules import MAX_RULES, parse_target

USAGE = "/bb owners REPO GLOB… @person|@group|#channel… · /bb owners REPO · /bb owners REPO off GLOB"


def _parse_owners(tokens: list[str]) -> Command:
    if not tokens:
        raise UsageError(f"`owners` needs a repository: `{USAGE}`.")
    repo = parse_repo(tokens[0])
    rest = tokens[1:]
    if not rest:
        return Command("owners_list", repo=repo)
    if rest[0].lower() == "off":
        globs = rest[1:]
        if not globs:
            raise UsageError("`owners REPO off` needs the pattern to remove, like `/bb owners acme/api off src/billing/**`.")
        return Command("owners_off", {"globs": tuple(globs)}, repo)
    globs, targets = [], []
    for token in rest:
        target = parse_target(token)
        if target is not None:
            targets.append(target)
        elif token.startswith(("@", "#", "<")):
            raise UsageError(f"`{code_of(token)}` is not a person, a user group or a channel Slack knows: pick them from "
                             "Slack's autocomplete (`@name`, `@group`, `#channel`).")
        elif targets:
            raise UsageError(f"Patterns come before the owners: `{USAGE}`.")
        else:
            problem = glob_problem(token)
            if problem:
                raise UsageError(f"`{code_of(token[:60])}`: {problem}. Nothing was changed.")
            globs.append(token)
    if not globs or not targets:
        raise UsageError(f"Name the paths and their owners: `{USAGE}`, like `/bb owners acme/api src/billing/** @ann #billing`.")
    if len(globs) * len(targets) > MAX_RULES:
        raise UsageError(f"A repository may have at most {MAX_RULES} owners rules. Nothing was changed.")
    return Command("owners_add", {"globs": tuple(dict.fromkeys(globs)), "targets": tuple(dict.fromkeys(targets))}, repo)


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("owners", USAGE, "owners of paths hear of pull requests that change them", _parse_owners, ("codeowners",), "Channel"),
)
