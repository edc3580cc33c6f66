"""How many approvals a pull request needs before it is "ready to merge": what the repository's branch
restrictions say (`require_approvals_to_merge` with its `value`, matched to the destination branch by glob or by
the branching model), else one.

Reading the restrictions needs repository admin. Where the bot's credential lacks it (Bitbucket answers 403),
one approval is counted as enough, and the reminder says so beside the number. A repository's restrictions change
rarely: they are kept `KEEP_SECONDS` per repository (a 403 too), and the read is background work in the request
budget (like the Home tab's): when little of the hour is left, what was kept is used, else the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from bot.bitbucket import BitbucketError, Forbidden, NotFound
from bot.bitbucket.metering import BACKGROUND, tagged
from bot.bitbucket.restrictions import branch_types_of, covering  # noqa: F401 - branch_types_of: the tests' name for it
from bot.core import meter
from bot.core.cache import TtlCache

KIND = "require_approvals_to_merge"
DEFAULT = 1  # no rule, or none readable: one approval by someone else
KEEP_SECONDS = 3600.0

READ, NO_RULE, FORBIDDEN, NOT_READ, UNANSWERED = "restrictions", "no rule", "forbidden", "not read", "unanswered"


@dataclass(frozen=True)
class Required:
    """Approvals needed, and where the number comes from (`READ`, `NO_RULE`, `FORBIDDEN`, `NOT_READ` or `UNANSWERED`)."""

    count: int
    source: str
    branch: str = ""

    @property
    def assumed(self) -> bool:
        """The fallback was used because the rules could not be read (not because there are none)."""
        return self.source in (FORBIDDEN, NOT_READ, UNANSWERED)


@dataclass(frozen=True)
class Rules:
    """A repository's approval restrictions as read (None: Bitbucket refused them) and its branching model
    (read only when a restriction is matched by it; None when not read or not readable)."""

    restrictions: tuple[Mapping, ...] | None
    model: Mapping | None = None


# --- pure ------------------------------------------------------------------------------------------------


def required_for(rules: Rules, branch: str) -> Required:
    """Approvals needed to merge into `branch`: the largest `value` of the approval restrictions that cover it
    (Bitbucket enforces each), never fewer than `DEFAULT`."""
    if rules.restrictions is None:
        return Required(DEFAULT, FORBIDDEN, branch)
    values = [int(r.get("value") or 0) for r in covering(rules.restrictions, branch, rules.model, kinds=(KIND,))]
    if not values:
        return Required(DEFAULT, NO_RULE, branch)
    return Required(max(DEFAULT, *values), READ, branch)


# --- read from Bitbucket, kept ----------------------------------------------------------------------------


class RulesCache(TtlCache):
    """Each repository's `Rules`, kept `KEEP_SECONDS` (a day when the budget is low)."""


def _cache(services) -> RulesCache:
    return services.part(RulesCache) or services.provide(RulesCache(KEEP_SECONDS, lambda: services.clock().timestamp()))


def read_rules(client, repo: str) -> Rules:
    """One read of the approval restrictions (and of the branching model, when one of them is matched by it)."""
    workspace, slug = repo.split("/", 1)
    try:
        restrictions = tuple(client.list_branch_restrictions(workspace, slug, kind=KIND))
    except Forbidden:
        return Rules(None)
    if not any(r.get("branch_match_kind") == "branching_model" for r in restrictions):
        return Rules(restrictions)
    try:
        return Rules(restrictions, client.get_branching_model(workspace, slug))
    except (Forbidden, NotFound):  # then only the glob restrictions can be matched
        return Rules(restrictions)


def required(services, repo: str, branch: str) -> Required:
    """Approvals needed to merge into `branch` of `repo`, from the kept rules or one background read."""
    try:
        with tagged(BACKGROUND, "remind-me"):  # the personal reminders, as the scheduler counts them
            kept = _cache(services).get(repo.lower(), lambda: read_rules(services.bitbucket, repo),
                                        may_fetch=meter.allows(services, BACKGROUND))
    except BitbucketError:  # not kept: asked again at the next look; the reminder goes out meanwhile
        return Required(DEFAULT, UNANSWERED, branch)
    if kept is None:
        return Required(DEFAULT, NOT_READ, branch)
    rules, _ = kept
    return required_for(rules, branch)
