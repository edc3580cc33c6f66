"""What waits on one person: the open pull requests they should review, and their own that are ready to merge.

Waiting on their review: open, not a draft nor work in progress, not theirs, they are a reviewer, and they have
neither approved nor asked for changes since the last push (their verdict is older than the source commit).
Ready to merge: theirs, open, not a draft nor work in progress, approved by as many other people as the
destination branch requires (`approvals`: Bitbucket's branch restrictions, else one), no changes asked, builds
green (none failed or running).

Bitbucket calls stay few: one listing per 50 open pull requests of each repository the bot follows (a channel
subscription or reminder), kept a minute so that everyone reminded at the same time shares it; a commit's date
only where a reviewer's verdict may predate a push (kept, commits do not change); build statuses only for the
person's own pull requests that are approved and otherwise ready; the approval restrictions only for a repository
where the person has one approved (kept an hour).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping

from bot import accounts, reminders
from bot.bitbucket import Account, BitbucketError, CommitStatus, PullRequest, parse_timestamp
from bot.builds import rules as build_rules
from bot.reminders import approvals, snooze
from bot.relay import noise
from bot.relay.subscriptions import followed_repositories

LISTING_SECONDS = 60.0
MAX_KEPT = 10_000


# --- pure ------------------------------------------------------------------------------------------------


def is_person(account: Account, person) -> bool:
    return accounts.slack_user_for(account, [person]) == person.slack_user_id


def verdict(pull_request: Mapping, person) -> tuple[str | None, datetime | None]:
    """The person's review state on a pull request (`approved`, `changes_requested` or None) and since when."""
    for participant in pull_request.get("participants") or ():
        if isinstance(participant, Mapping) and is_person(Account.from_api(participant.get("user") or {}), person):
            state = participant.get("state") or ("approved" if participant.get("approved") is True else None)
            return state, parse_timestamp(participant.get("participated_on"))
    return None, None


def out_of_reminders(pull_request: Mapping) -> bool:
    """Closed, a draft, or work in progress: no one is reminded of it."""
    return pull_request.get("state") != "OPEN" or noise.noise(pull_request) in ("draft", "wip")


def waits_on(pull_request: Mapping, person, last_push: Callable[[], datetime | None]) -> bool:
    """Whether the pull request waits on the person's review; `last_push()` is asked only when it matters."""
    if out_of_reminders(pull_request):
        return False
    pr = PullRequest.from_api(pull_request)
    if is_person(pr.author, person) or not any(is_person(reviewer, person) for reviewer in pr.reviewers):
        return False
    state, since = verdict(pull_request, person)
    if state not in ("approved", "changes_requested"):
        return True
    pushed = last_push()
    return bool(pushed and since and pushed > since)


def approved_enough(pull_request: Mapping, person, required: int = approvals.DEFAULT) -> bool:
    """The person's own open pull request, approved by `required` others, with no changes asked (builds aside)."""
    if out_of_reminders(pull_request):
        return False
    pr = PullRequest.from_api(pull_request)
    if not is_person(pr.author, person) or pr.changes_requested_by:
        return False
    return sum(1 for account in pr.approved_by if not is_person(account, person)) >= required


# --- the Bitbucket answers, kept a while --------------------------------------------------------------------


class Listings:
    """Open pull requests of a repository (a minute) and commits' dates (for good), shared by a process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._listings: dict[str, tuple[float, list[dict]]] = {}
        self._dates: dict[tuple[str, str], datetime | None] = {}

    def open_pull_requests(self, client, repo: str, *, fresh: bool = False) -> list[dict]:
        now = self.clock()
        with self._lock:
            kept = self._listings.get(repo)
            if kept and kept[0] > now and not fresh:
                return kept[1]
        workspace, slug = repo.split("/", 1)
        values = list(client.list_pull_requests(workspace, slug, with_reviewers=True).values)
        with self._lock:
            if len(self._listings) > MAX_KEPT:
                self._listings.clear()
            self._listings[repo] = (now + LISTING_SECONDS, values)
        return values

    def commit_date(self, client, repo: str, commit: str) -> datetime | None:
        key = (repo, commit)
        with self._lock:
            if key in self._dates:
                return self._dates[key]
        workspace, slug = repo.split("/", 1)
        found = parse_timestamp(client.get_commit(workspace, slug, commit).get("date"))
        with self._lock:
            if len(self._dates) > MAX_KEPT:
                self._dates.clear()
            self._dates[key] = found
        return found


def listings(services) -> Listings:
    """The process's answers, timed on the bot's clock."""
    return services.part(Listings) or services.provide(Listings(lambda: services.clock().timestamp()))


def watched_repositories(store) -> list[str]:
    """The repositories the bot follows: subscribed to in a channel, or reminded of."""
    return sorted({repo.lower() for repo in followed_repositories(store)} | {s.repo for s in reminders.all_schedules(store)})


# --- one person's inbox -----------------------------------------------------------------------------------


@dataclass
class Inbox:
    reviews: list[tuple[str, PullRequest, str]] = field(default_factory=list)  # (repo, pull request, source commit), oldest first
    ready: list[tuple[str, PullRequest, approvals.Required]] = field(default_factory=list)  # with the approvals it needed
    snoozed: int = 0
    problems: list[str] = field(default_factory=list)  # repositories that could not be read, in words

    @property
    def empty(self) -> bool:
        return not self.reviews and not self.ready


def gather(services, person, now: datetime, *, fresh: bool = False) -> Inbox:
    """`fresh`: listings read again, not kept ones (someone asked now). Bitbucket's passing trouble (429, 5xx, network) is raised, to be tried again; a repository that cannot be
    read any more (gone, no access) is named in `problems` and the others are still read."""
    inbox, kept, client = Inbox(), listings(services), services.bitbucket
    held = snooze.of_person(services.store, person.slack_user_id)
    for repo in watched_repositories(services.store):
        try:
            values = kept.open_pull_requests(client, repo, fresh=fresh)
        except BitbucketError as error:
            if reminders.transient(error):
                raise
            inbox.problems.append(f"{repo} ({error.status or 'no answer'})")
            continue
        for item in values:
            head = reminders.source_hash(item)
            if waits_on(item, person, lambda: kept.commit_date(client, repo, head) if head else None):
                pr = PullRequest.from_api(item)
                snoozed = held.get((repo, pr.id))
                if snoozed is not None and snoozed.holds(now, head):
                    inbox.snoozed += 1
                    continue
                inbox.reviews.append((repo, pr, head))
            elif approved_enough(item, person):  # by one other at least: only then are the restrictions read
                pr = PullRequest.from_api(item)
                needed = approvals.required(services, repo, pr.destination_branch or "")
                if approved_enough(item, person, needed.count) and _builds_green(client, repo, item):
                    inbox.ready.append((repo, pr, needed))
    inbox.reviews.sort(key=lambda entry: (_opened(entry[1]), entry[0], entry[1].id))
    inbox.ready.sort(key=lambda entry: (_opened(entry[1]), entry[0], entry[1].id))
    return inbox


def _builds_green(client, repo: str, pull_request: Mapping) -> bool:
    workspace, slug = repo.split("/", 1)
    statuses = client.list_pull_request_statuses(workspace, slug, pull_request.get("id"))
    return not build_rules.gate([CommitStatus.from_api(s) for s in statuses]).red


def _opened(pr: PullRequest) -> float:
    return pr.created_on.timestamp() if pr.created_on else 0.0
