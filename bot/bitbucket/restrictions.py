"""Which of a repository's branch restrictions (Bitbucket's JSON, `GET …/branch-restrictions`) cover a branch: pure.

A restriction names its branches by a glob (`pattern`, `branch_match_kind: glob`, the default) or by a type of
Bitbucket's branching model (`branch_match_kind: branching_model`, `branch_type`: `development`, `production`, or
a prefixed kind such as `release`). The second needs the repository's branching model (`GET …/branching-model`);
without it, such a restriction is left to Bitbucket, which enforces it itself.
"""

from __future__ import annotations

import fnmatch
from typing import Iterable, Mapping


def branch_types_of(branch: str, model: Mapping | None) -> set[str]:
    """The branching model's types of a branch: `development`, `production`, or a prefixed kind (`release`, …)."""
    if not isinstance(model, Mapping):
        return set()
    found = {kind for kind in ("development", "production")
             if isinstance(model.get(kind), Mapping) and model[kind].get("name") == branch}
    for branch_type in model.get("branch_types") or ():
        prefix = branch_type.get("prefix") if isinstance(branch_type, Mapping) else None
        if prefix and branch.startswith(prefix):
            found.add(branch_type.get("kind"))
    return found


def covers(restriction: Mapping, branch: str, model: Mapping | None = None) -> bool:
    """Whether `restriction` applies to `branch` (by its glob, or by the branching `model` when one is given)."""
    if (restriction.get("branch_match_kind") or "glob") == "branching_model":
        return restriction.get("branch_type") in branch_types_of(branch, model)
    return fnmatch.fnmatchcase(branch, restriction.get("pattern") or "")


def covering(restrictions: Iterable[Mapping], branch: str, model: Mapping | None = None, *, kinds: Iterable[str] | None = None) -> list:
    """The restrictions (of `kinds`, when given) that apply to `branch`."""
    wanted = None if kinds is None else set(kinds)
    return [r for r in restrictions if (wanted is None or r.get("kind") in wanted) and covers(r, branch, model)]
