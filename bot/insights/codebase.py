"""The repository's side of the seed documents' dashboard: commits per week on the main branch and the number of
branches. A few bounded calls (the repository for its main branch, one page of branches for their count, the
main branch's commits, 100 a page, until they are older than the period, at most `MAX_COMMIT_PAGES`), cached
like `/bb stats` for `CACHE_SECONDS` per repository and period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from bot.bitbucket import Forbidden, NotFound, Repository, Unauthorized
from bot.core import render
from bot.core.errors import UserError
from bot.insights.collect import Cache
from bot.insights.figures import moment_of

MAX_COMMIT_PAGES = 20  # 2,000 commits
COMMIT_FIELDS = "next,values.hash,values.date"


@dataclass(frozen=True)
class Codebase:
    repo: str
    days: int  # the period: `weeks` × 7 (the cache's key, as for `Insights`)
    now: datetime
    main_branch: str
    branches: int | None
    commits_per_week: list[tuple[datetime, int]]  # oldest week first; each week ends where the next starts
    capped: bool = False  # the commit listing stopped at its cap: the oldest weeks may count too few


def commits_per_week(moments: Iterable[datetime], now: datetime, weeks: int) -> list[tuple[datetime, int]]:
    """Pure: how many of `moments` fall in each of the `weeks` seven-day spans that end at `now`, oldest first."""
    starts = [now - timedelta(days=7 * (weeks - number)) for number in range(weeks)]
    counts = [0] * weeks
    for moment in moments:
        if not starts[0] <= moment < now:
            continue
        counts[min(int((moment - starts[0]).total_seconds() // (7 * 86400)), weeks - 1)] += 1
    return list(zip(starts, counts))


def fetch(client, repo: str, now: datetime, weeks: int = 8, *, max_pages: int = MAX_COMMIT_PAGES) -> Codebase:
    workspace, slug = repo.split("/", 1)
    since = now - timedelta(days=7 * weeks)
    try:
        main_branch = Repository.from_api(client.get_repository(workspace, slug)).main_branch or ""
        branches = client.count_branches(workspace, slug)
        moments, capped = [], False
        if main_branch:
            for number, page in enumerate(client.iter_commit_pages(workspace, slug, main_branch, fields=COMMIT_FIELDS), start=1):
                dated = [moment for moment in (moment_of(commit.get("date")) for commit in page) if moment is not None]
                moments += dated
                if not dated or min(dated) < since:
                    break
                if number >= max_pages:
                    capped = True
                    break
    except (NotFound, Forbidden, Unauthorized) as error:
        raise UserError(
            f"I cannot read the commits and branches of {render.code(repo)}: Bitbucket said {render.bitbucket_words(error)}.",
            hint="Check that the bot's Bitbucket credential may read this repository.",
        ) from error
    return Codebase(repo, 7 * weeks, now, main_branch, branches, commits_per_week(moments, now, weeks), capped)


class CodebaseCache(Cache):
    """`Codebase` figures per (repository, days), like the insights' cache."""


def codebase_for(services, repo: str, now: datetime, weeks: int = 8) -> tuple[Codebase, bool]:
    """The figures, from the cache when they are younger than its lifetime; True when they came from it."""
    cache = services.part(CodebaseCache) or services.provide(CodebaseCache())
    cached = cache.get(repo, 7 * weeks)
    if cached is not None:
        return cached, True
    found = fetch(services.bitbucket, repo, now, weeks)
    cache.put(found)
    return found, False
