"""Bitbucket in, `Insights` out, in a few bounded calls, never one per pull request:

1. one filtered listing, 50 a page, only the fields the figures read: every pull request updated since the
   start of the previous period, and every open one (`q=updated_on >= … OR state = "OPEN"`), most recently
   updated first, at most `MAX_PULL_REQUESTS` of them;
2. the repository-wide activity log (`pullrequests/activity`, newest first, 50 a page), read until it reaches
   the start of the previous period, at most `MAX_ACTIVITY_PAGES` pages.

So a repository costs (pull requests ÷ 50) + (activity items ÷ 50) requests, capped at 20 + 40. Results are kept
for `CACHE_SECONDS` per repository and period in this process.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from bot.core import render
from dataclasses import dataclass

from bot.bitbucket import Forbidden, NotFound, Unauthorized
from bot.bitbucket.metering import BACKGROUND
from bot.core import meter
from bot.core.errors import UserError
from bot.insights.figures import Insights, compute, moment_of

MAX_PULL_REQUESTS = 1000  # 20 pages of 50
MAX_ACTIVITY_PAGES = 40  # 2,000 activity items
CACHE_SECONDS = 600.0
KEEP_SECONDS = 24 * 3600.0  # figures served, with their age, while the request budget is low

_PERSON = ("display_name", "nickname", "uuid", "account_id")
PULL_REQUEST_FIELDS = ",".join(
    ["next", "size"]
    + [f"values.{name}" for name in ("id", "title", "state", "draft", "created_on", "updated_on", "links.html.href")]
    + [f"values.{who}.{part}" for who in ("author", "reviewers") for part in _PERSON]
)
ACTIVITY_FIELDS = ",".join(
    ["next", "values.pull_request.id", "values.update.date", "values.update.state", "values.comment.created_on"]
    + [f"values.{kind}.date" for kind in ("approval", "changes_requested", "request_changes")]
    + [f"values.{kind}.{who}.{part}" for kind, who in (("approval", "user"), ("changes_requested", "user"), ("request_changes", "user"),
                                                         ("comment", "user"), ("update", "author")) for part in _PERSON[:3]]
)


def bbql_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def fetch(client, repo: str, days: int, now: datetime, *, max_pull_requests: int = MAX_PULL_REQUESTS,
          max_activity_pages: int = MAX_ACTIVITY_PAGES) -> Insights:
    """The figures of `repo` over the last `days` (and the `days` before), from Bitbucket."""
    workspace, slug = repo.split("/", 1)
    since = now - timedelta(days=2 * days)
    try:
        page = client.list_pull_requests(
            workspace, slug, state=["OPEN", "MERGED", "DECLINED"], q=f'updated_on >= {bbql_time(since)} OR state = "OPEN"',
            sort="-updated_on", fields=PULL_REQUEST_FIELDS, limit=max_pull_requests,
        )
        activity, activity_capped = [], False
        for number, items in enumerate(client.iter_activity_pages(workspace, slug, fields=ACTIVITY_FIELDS), start=1):
            activity += items
            if _oldest(items) is not None and _oldest(items) < since:
                break
            if number >= max_activity_pages:
                activity_capped = True
                break
    except (NotFound, Forbidden, Unauthorized) as error:
        raise UserError(
            f"I cannot read the pull requests of {render.code(repo)}: Bitbucket said {render.bitbucket_words(error)}.",
            hint="Check the name, and that the bot's Bitbucket credential may read this repository and its pull requests.",
        ) from error
    capped = len(page.values) >= max_pull_requests and (page.total is None or page.total > len(page.values))
    return compute(repo, days, now, page.values, activity, capped=capped, activity_capped=activity_capped)


def _oldest(items: list[dict]) -> datetime | None:
    moments = []
    for item in items:
        for kind, data in item.items():
            if kind != "pull_request" and isinstance(data, dict):
                moment = moment_of(data.get("date") or data.get("created_on"))
                if moment is not None:
                    moments.append(moment)
    return min(moments) if moments else None


class Cache:
    """Insights per (repository, days), fresh for CACHE_SECONDS on the monotonic clock; kept a day longer, to be
    served (saying how old they are) while the Bitbucket request budget is low."""

    def __init__(self, seconds: float = CACHE_SECONDS, clock=time.monotonic, keep: float = KEEP_SECONDS):
        self.seconds, self.clock, self.keep = seconds, clock, keep
        self._items: dict[tuple[str, int], tuple[float, Insights]] = {}  # key -> (put at, insights)
        self._lock = threading.Lock()

    def get(self, repo: str, days: int) -> Insights | None:
        with self._lock:
            found = self._items.get((repo, days))
            if found and self.clock() - found[0] < self.seconds:
                return found[1]
            return None

    def kept(self, repo: str, days: int) -> tuple[Insights, float] | None:
        """The figures however old (within a day), and their age in seconds."""
        with self._lock:
            found = self._items.get((repo, days))
            age = self.clock() - found[0] if found else None
            return (found[1], age) if found and age < self.keep else None

    def put(self, insights: Insights) -> None:
        with self._lock:
            if len(self._items) > 1000:
                self._items.clear()
            self._items[(insights.repo, insights.days)] = (self.clock(), insights)


@dataclass(frozen=True)
class Limits:
    """The caps of one collection (tests lower them): `services.provide(Limits(max_pull_requests=…))`."""

    max_pull_requests: int = MAX_PULL_REQUESTS
    max_activity_pages: int = MAX_ACTIVITY_PAGES


def limits_of(services) -> dict:
    limits = services.part(Limits) or Limits()
    return {"max_pull_requests": limits.max_pull_requests, "max_activity_pages": limits.max_activity_pages}


def insights_for(services, repo: str, days: int, now: datetime) -> tuple[Insights, bool, float]:
    """The figures, from the cache when they are younger than 10 minutes (True when they came from it) or, while
    little of the hour's Bitbucket budget is left, however old they are; and their age in seconds."""
    cache = services.part(Cache) or services.provide(Cache())
    cached = cache.get(repo, days)
    if cached is not None:
        return cached, True, 0.0
    if not meter.allows(services, BACKGROUND):
        kept = cache.kept(repo, days)
        if kept is not None:
            return kept[0], True, kept[1]
        raise UserError("The bot is saving its Bitbucket requests: little of this hour's budget is left. "
                        "Ask again in a while, and the figures will be read.")
    insights = fetch(services.bitbucket, repo, days, now, **limits_of(services))
    cache.put(insights)
    return insights, False, 0.0
