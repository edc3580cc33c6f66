"""Pure rules of branches: who may write them, what keeps one from being deleted, and how a glob narrows a listing."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from bot.bitbucket.restrictions import covering
from bot.core.render import escape, link, truncate

# Creating or deleting a branch is a release manager's or a merger's job.
BRANCH_ROLES = ("releaser", "merger")
# Restrictions that keep a branch from being deleted: Bitbucket's "Prevent deletion".
PROTECTING_KINDS = ("delete",)


@dataclass(frozen=True)
class Refusal:
    """Why a branch is not deleted; `forceable`: an admin's `--force` goes past it."""

    text: str
    forceable: bool = True


def matches(glob: str | None, name: str) -> bool:
    return glob is None or fnmatch.fnmatchcase(name, glob)


def name_query(glob: str | None) -> str | None:
    """A BBQL filter that narrows the listing to the glob's literal start (`release/*` → `name ~ "release/"`);
    the glob itself is applied afterwards. None when the glob starts with a wildcard."""
    if not glob:
        return None
    prefix = glob
    for index, character in enumerate(glob):
        if character in "*?[":
            prefix = glob[:index]
            break
    prefix = prefix.replace("\\", "").replace('"', "")
    return f'name ~ "{prefix}"' if prefix else None


def protecting(restrictions: list[dict], name: str) -> list[dict]:
    """The branch restrictions (Bitbucket's JSON) that keep `name` from being deleted. Only glob matchers can be
    read here; a branching-model one is left to Bitbucket, which refuses the delete itself."""
    return covering(restrictions, name, kinds=PROTECTING_KINDS)


def refusals(name: str, main_branch: str, open_prs: list, restrictions: list[dict]) -> list[Refusal]:
    """Everything that keeps `name` from being deleted (empty: nothing)."""
    found = []
    if name == main_branch:
        found.append(Refusal("it is the main branch", forceable=False))
    if open_prs:
        named = ", ".join(link(pr.url, f"#{pr.id} {truncate(pr.title, 80)}") for pr in open_prs)
        found.append(Refusal(f"open pull requests use it: {named}"))
    for restriction in protecting(restrictions, name):
        found.append(Refusal(f"a branch restriction protects `{escape(restriction.get('pattern'))}` from deletion"))
    return found
