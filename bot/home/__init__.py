"""The Home tab: the pull requests waiting on your review, your own open pull requests, the environments of the
repositories you deploy to, your settings.

Bitbucket calls stay few: `GET /workspaces/{ws}/pullrequests/{you}` for your own (one a workspace), and one
filtered list a followed repository for your reviews (`reviewers.uuid="…" AND state="OPEN"`); each answer is
kept for `CACHE_SECONDS`. Builds come from the states the relay already stored, with no call. The environments
(locks, freezes, protections, what the bot deployed, whether you may deploy) come from the bot's own records, with
one bounded read: the environments of at most `MAX_DEPLOY_REPOS` repositories. A call that fails becomes a short
notice on the tab: the rest is still shown.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from bot import accounts, notify, relay
from bot.bitbucket import BitbucketError, PullRequest
from bot.deploys import reading, where
from bot.deploys import records as deploy_records
from bot.environments import locks
from bot.reminders import waiting_on

CACHE_SECONDS = 60.0
MAX_PER_CALL = 50
MAX_DEPLOY_REPOS = 3


class TtlCache:
    """Answers kept for `ttl` seconds (errors are not kept: the next look asks again)."""

    def __init__(self, ttl: float = CACHE_SECONDS, clock=time.monotonic):
        self.ttl, self.clock = ttl, clock
        self._items: dict = {}
        self._lock = threading.Lock()

    def get(self, key, fetch):
        now = self.clock()
        with self._lock:
            hit = self._items.get(key)
            if hit and hit[0] > now:
                return hit[1]
        value = fetch()
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[key] = (now + self.ttl, value)
        return value


@dataclass
class HomeData:
    linked: bool
    enabled: set[str] = field(default_factory=set)
    reviews: list[tuple[str, PullRequest]] = field(default_factory=list)  # oldest first
    mine: list[tuple[str, PullRequest]] = field(default_factory=list)
    builds: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)  # (repo, branch) -> [(name, state)]
    environments: list[tuple[str, list]] = field(default_factory=list)  # (repo, [where.EnvironmentState])
    problems: list[str] = field(default_factory=list)  # short notices: what could not be read


class HomeCache(TtlCache):
    """The Home tab's Bitbucket answers, a minute each."""


def _cache(services) -> TtlCache:
    return services.part(HomeCache) or services.provide(HomeCache())


def deploy_repositories(services, slack_user_id: str) -> list[str]:
    """The repositories a person deploys to: their `deployer` grants on one repository, the locks they hold, and
    where they deployed through the bot; at most MAX_DEPLOY_REPOS."""
    found = [g.repo for g in services.permissions.grants_of(slack_user_id) if g.role == "deployer" and g.repo]
    found += [lock.repo for lock in locks.held_by(services.store, slack_user_id, now=services.timestamp())]
    found += deploy_records.repositories_deployed_by(services.store, slack_user_id)
    return list(dict.fromkeys(repo.lower() for repo in found))[:MAX_DEPLOY_REPOS]


def _environments(services, slack_user_id: str, data: HomeData) -> None:
    cache = _cache(services)
    for repo in deploy_repositories(services, slack_user_id):
        try:
            environments = cache.get(("environments", repo), lambda: reading.environments(services, repo))
        except BitbucketError as error:
            data.problems.append(f"The environments of {repo} could not be read ({error.status or 'no answer'}).")
            continue
        data.environments.append((repo, where.states(services, slack_user_id, repo, environments, None)))


def gather(services, slack_user_id: str) -> HomeData:
    store = services.store
    link = accounts.linked_user(store, slack_user_id)
    if link is None:
        data = HomeData(linked=False)
        _environments(services, slack_user_id, data)
        return data
    data = HomeData(linked=True, enabled=notify.enabled_for(store, slack_user_id))
    _environments(services, slack_user_id, data)
    who = link.bitbucket_uuid or link.account_id
    if not who:
        data.problems.append("You are linked by nickname only, which Bitbucket cannot search by: `/bb login` links you fully.")
        return data
    repos = relay.subscribed_repositories(store)
    workspaces = list(dict.fromkeys([w for w in [services.settings.bitbucket_workspace] if w] + [r.split("/", 1)[0] for r in repos]))
    client, cache = services.bitbucket, _cache(services)
    for workspace in workspaces:
        try:
            values = cache.get(("mine", workspace, who), lambda: client.list_user_pull_requests(workspace, who, limit=MAX_PER_CALL).values)
        except BitbucketError as error:
            data.problems.append(f"Your pull requests in {workspace} could not be read ({error.status or 'no answer'}).")
            continue
        for item in values:
            pr = PullRequest.from_api(item)
            data.mine.append((pr.repository or workspace, pr))
    field_name, value = ("uuid", link.bitbucket_uuid) if link.bitbucket_uuid else ("account_id", link.account_id)
    query = f'reviewers.{field_name}="{value}" AND state="OPEN"'
    for repo in repos:
        workspace, slug = repo.split("/", 1)
        try:
            values = cache.get(("reviews", repo, who), lambda: client.list_pull_requests_where(workspace, slug, query, sort="created_on",
                                                                                             limit=MAX_PER_CALL).values)
        except BitbucketError as error:
            data.problems.append(f"Reviews in {repo} could not be read ({error.status or 'no answer'}).")
            continue
        for item in values:
            pr = PullRequest.from_api(item)
            if any(accounts.is_account(account, link) for account in waiting_on(pr)):
                data.reviews.append((repo, pr))
    data.reviews.sort(key=lambda entry: entry[1].created_on.timestamp() if entry[1].created_on else 0.0)
    data.mine.sort(key=lambda entry: entry[1].created_on.timestamp() if entry[1].created_on else 0.0)
    for repo, pr in data.mine:
        data.builds[(repo, pr.source_branch or "")] = relay.build_states(store, repo.lower(), pr.source_branch or "")
    return data
