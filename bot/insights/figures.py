"""The figures of `/bb stats` and the weekly digest: pure functions from a repository's pull requests and its
activity log to counts, medians and percentiles. No I/O, no clock: `now` is always passed in.

Definitions (the README says them in words):
- opened / merged / declined in a period: created, merged, declined at a moment inside [start, end);
- time to first review: for the pull requests opened in the period, from creation to the first approval,
  change request or comment by someone other than the author (those not reviewed yet are left out, and counted);
- time to merge: for the pull requests merged in the period, from creation to the merge;
- median: the middle value (the mean of the two middle ones for an even count); p90: the nearest-rank 90th
  percentile, the smallest value with at least 90% of the values at or below it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Iterable, Mapping, Sequence

from bot.bitbucket import parse_timestamp

REVIEW_KINDS = ("approval", "changes_requested", "comment")
STALE_AFTER = timedelta(hours=48)  # idle this long, an open pull request is stale (the default of `/bb remind`)
AGE_BUCKETS = ((86400, "under 1 day"), (3 * 86400, "1–3 days"), (7 * 86400, "3–7 days"), (30 * 86400, "1–4 weeks"), (None, "over 4 weeks"))


# --- what comes in ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    key: str  # uuid, account_id, nickname or name: whatever identifies them best
    name: str


@dataclass(frozen=True)
class PullRequestFacts:
    id: int
    title: str
    state: str  # OPEN | MERGED | DECLINED | SUPERSEDED
    author: Person
    created_on: datetime
    updated_on: datetime
    url: str = ""
    draft: bool = False
    reviewers: tuple[Person, ...] = ()


@dataclass(frozen=True)
class Event:
    """One item of the activity log: a review (approval, change request, comment) or a state update."""

    pr_id: int
    kind: str  # approval | changes_requested | comment | update
    who: Person
    at: datetime
    state: str = ""  # for updates: OPEN | MERGED | DECLINED


def moment_of(value) -> datetime | None:
    """A Bitbucket timestamp, or None for anything that is not one."""
    try:
        return parse_timestamp(value) if isinstance(value, str) else None
    except ValueError:
        return None


def person(data: Mapping | None) -> Person:
    data = data or {}
    name = data.get("display_name") or data.get("nickname") or "someone"
    key = (data.get("uuid") or "").strip("{}").lower() or data.get("account_id") or data.get("nickname") or name
    return Person(str(key), str(name))


def pull_request_facts(data: Mapping) -> PullRequestFacts | None:
    created, updated = moment_of(data.get("created_on")), moment_of(data.get("updated_on"))
    if created is None or not isinstance(data.get("id"), int):
        return None
    return PullRequestFacts(
        id=data["id"], title=str(data.get("title") or ""), state=str(data.get("state") or ""), author=person(data.get("author")),
        created_on=created, updated_on=updated or created, url=str(((data.get("links") or {}).get("html") or {}).get("href") or ""),
        draft=bool(data.get("draft")), reviewers=tuple(person(r) for r in data.get("reviewers") or ()),
    )


def activity_event(item: Mapping) -> Event | None:
    """An activity item as an Event; None for what the figures do not use (or cannot read)."""
    pr_id = (item.get("pull_request") or {}).get("id")
    if not isinstance(pr_id, int):
        return None
    for kind, data in item.items():
        if kind == "pull_request" or not isinstance(data, Mapping):
            continue
        kind = {"request_changes": "changes_requested", "changes_request": "changes_requested"}.get(kind, kind)
        if kind in ("approval", "changes_requested"):
            at, who = data.get("date"), data.get("user")
        elif kind == "comment":
            at, who = data.get("created_on"), data.get("user")
        elif kind == "update":
            at, who = data.get("date"), data.get("author")
        else:
            continue
        moment = moment_of(at)
        if moment is None:
            return None
        return Event(pr_id, kind, person(who), moment, str(data.get("state") or "") if kind == "update" else "")
    return None


# --- statistics --------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


# --- the figures -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


@dataclass(frozen=True)
class PeriodFigures:
    period: Period
    opened: int
    merged: int
    declined: int
    first_review: list[float]  # seconds, one per pull request opened in the period and reviewed
    not_reviewed: int  # opened in the period, no review yet
    to_merge: list[float]  # seconds, one per pull request merged in the period
    reviews_by: dict[str, int] = field(default_factory=dict)  # person key -> pull requests they reviewed

    @property
    def first_review_median(self) -> float | None:
        return median(self.first_review)

    @property
    def first_review_p90(self) -> float | None:
        return percentile(self.first_review, 90)

    @property
    def merge_median(self) -> float | None:
        return median(self.to_merge)

    @property
    def merge_p90(self) -> float | None:
        return percentile(self.to_merge, 90)


@dataclass(frozen=True)
class ReviewLoad:
    who: Person
    reviewed: int  # pull requests of others they reviewed in the period
    assigned_open: int  # open pull requests with them as a reviewer now


@dataclass(frozen=True)
class Bucket:
    """A bar of the chart: calendar days in the time zone of `now`, from `start` (a midnight) to `end` (the next
    bucket's midnight, or `now` for the last: today so far)."""

    start: datetime
    merged: int
    first_review_median: float | None  # seconds, of the pull requests opened in the bucket
    end: datetime | None = None
    days: int = 1  # calendar days it covers: 1, 7, or fewer than 7 for a short first week


@dataclass(frozen=True)
class Insights:
    repo: str
    days: int
    now: datetime
    current: PeriodFigures
    previous: PeriodFigures
    open_by_age: list[tuple[str, int]]
    oldest_open: list[PullRequestFacts]
    review_load: list[ReviewLoad]
    buckets: list[Bucket]
    covered: int  # pull requests looked at
    capped: bool = False  # the listing stopped at the cap: older pull requests were left out
    activity_capped: bool = False  # the activity log stopped at its cap: older reviews were left out
    stale_open: int = 0  # open, not drafts, not updated for STALE_AFTER


def closed_at(pr: PullRequestFacts, events_by_pr: Mapping[int, list[Event]]) -> datetime | None:
    """When it was merged or declined: the activity log's update to that state, else its last update."""
    if pr.state not in ("MERGED", "DECLINED"):
        return None
    updates = [e.at for e in events_by_pr.get(pr.id, ()) if e.kind == "update" and e.state == pr.state]
    return min(updates) if updates else pr.updated_on


def first_review_at(pr: PullRequestFacts, events_by_pr: Mapping[int, list[Event]]) -> datetime | None:
    reviews = [e.at for e in events_by_pr.get(pr.id, ()) if e.kind in REVIEW_KINDS and e.who.key != pr.author.key and e.at >= pr.created_on]
    return min(reviews) if reviews else None


def by_pull_request(events: Iterable[Event]) -> dict[int, list[Event]]:
    grouped: dict[int, list[Event]] = {}
    for event in events:
        grouped.setdefault(event.pr_id, []).append(event)
    return grouped


def period_figures(prs: Sequence[PullRequestFacts], events_by_pr: Mapping[int, list[Event]], period: Period) -> PeriodFigures:
    opened = [pr for pr in prs if period.holds(pr.created_on)]
    merged = [pr for pr in prs if pr.state == "MERGED" and period.holds(closed_at(pr, events_by_pr))]
    declined = [pr for pr in prs if pr.state == "DECLINED" and period.holds(closed_at(pr, events_by_pr))]
    first_review, not_reviewed = [], 0
    for pr in opened:
        reviewed = first_review_at(pr, events_by_pr)
        if reviewed is None:
            not_reviewed += 1
        else:
            first_review.append((reviewed - pr.created_on).total_seconds())
    to_merge = [(closed_at(pr, events_by_pr) - pr.created_on).total_seconds() for pr in merged]
    authors = {pr.id: pr.author.key for pr in prs}
    reviewed_pairs = {
        (event.who.key, pr_id)
        for pr_id, events in events_by_pr.items() for event in events
        if event.kind in REVIEW_KINDS and period.holds(event.at) and event.who.key != authors.get(pr_id)
    }
    reviews_by: dict[str, int] = {}
    for key, _ in reviewed_pairs:
        reviews_by[key] = reviews_by.get(key, 0) + 1
    return PeriodFigures(period, len(opened), len(merged), len(declined), first_review, not_reviewed, to_merge, reviews_by)


def open_by_age(prs: Sequence[PullRequestFacts], now: datetime) -> list[tuple[str, int]]:
    counts = {label: 0 for _, label in AGE_BUCKETS}
    for pr in prs:
        if pr.state != "OPEN":
            continue
        age = (now - pr.created_on).total_seconds()
        label = next(label for limit, label in AGE_BUCKETS if limit is None or age < limit)
        counts[label] += 1
    return list(counts.items())


def stale_count(prs: Sequence[PullRequestFacts], now: datetime, after: timedelta = STALE_AFTER) -> int:
    """Open pull requests (drafts left out) not updated for `after`."""
    return sum(1 for pr in prs if pr.state == "OPEN" and not pr.draft and pr.updated_on <= now - after)


def review_load(prs: Sequence[PullRequestFacts], events_by_pr: Mapping[int, list[Event]], figures: PeriodFigures) -> list[ReviewLoad]:
    names: dict[str, Person] = {}
    for events in events_by_pr.values():
        for event in events:
            names.setdefault(event.who.key, event.who)
    assigned: dict[str, int] = {}
    for pr in prs:
        if pr.state == "OPEN":
            for reviewer in pr.reviewers:
                names.setdefault(reviewer.key, reviewer)
                assigned[reviewer.key] = assigned.get(reviewer.key, 0) + 1
    keys = set(figures.reviews_by) | set(assigned)
    loads = [ReviewLoad(names[key], figures.reviews_by.get(key, 0), assigned.get(key, 0)) for key in keys]
    return sorted(loads, key=lambda load: (-load.reviewed, -load.assigned_open, load.who.name.lower()))


def buckets(prs: Sequence[PullRequestFacts], events_by_pr: Mapping[int, list[Event]], period: Period, step_days: int) -> list[Bucket]:
    """Merged counts and first-review medians per day or per 7 days, for the chart: calendar days in the time zone
    of `period.end` (now), the last bucket ending with today so far, so a merge shows under the day it happened.
    The period's length in days is covered from its first whole day; a first week that cannot be whole (30 days are
    2 + 4 × 7) is shorter, and says so in `days`."""
    zone, today = period.end.tzinfo, period.end.date()
    length = round((period.end - period.start) / timedelta(days=1))
    found: list[Bucket] = []
    last_day = today
    while (today - last_day).days < length:
        first_day = max(last_day - timedelta(days=step_days - 1), today - timedelta(days=length - 1))
        start = datetime.combine(first_day, time(0), tzinfo=zone)
        end = min(datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone), period.end)
        figures = period_figures(prs, events_by_pr, Period(start, end))
        found.append(Bucket(start, figures.merged, figures.first_review_median, end, (last_day - first_day).days + 1))
        last_day = first_day - timedelta(days=1)
    return found[::-1]


def compute(repo: str, days: int, now: datetime, pull_requests: Sequence[Mapping], activity: Sequence[Mapping], *,
            capped: bool = False, activity_capped: bool = False) -> Insights:
    """Everything `/bb stats REPO {days}d` shows, from Bitbucket's JSON as it came."""
    prs = [facts for facts in map(pull_request_facts, pull_requests) if facts is not None]
    events_by_pr = by_pull_request(event for event in map(activity_event, activity) if event is not None)
    length = timedelta(days=days)
    current, previous = Period(now - length, now), Period(now - 2 * length, now - length)
    current_figures = period_figures(prs, events_by_pr, current)
    open_prs = sorted((pr for pr in prs if pr.state == "OPEN"), key=lambda pr: (pr.created_on, pr.id))
    return Insights(
        repo=repo, days=days, now=now, current=current_figures, previous=period_figures(prs, events_by_pr, previous),
        open_by_age=open_by_age(prs, now), oldest_open=open_prs[:5], review_load=review_load(prs, events_by_pr, current_figures),
        buckets=buckets(prs, events_by_pr, current, 1 if days <= 14 else 7),
        covered=len(prs), capped=capped, activity_capped=activity_capped, stale_open=stale_count(prs, now),
    )
