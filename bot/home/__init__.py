"""The Home tab: the pull requests waiting on your review, your own open pull requests, the environments of the
repositories you deploy to, your settings.

Bitbucket calls stay few. Reviews come from what webhooks said of the followed repositories' open pull requests
(`bot.budget.state`, reconciled with one bounded read a repository every few hours, by the scheduler's replica;
a repository never read is read here, a few at most a tab). Your own pull requests come from one call a workspace
(`GET /workspaces/{ws}/pullrequests/{you}`, anywhere in it), kept for `CACHE_SECONDS`. Builds come from the states
the relay stored, with no call. When little of the hour's Bitbucket budget is left, nothing is asked: the tab
shows what was kept and says how old it is. A call that fails becomes a short notice: the rest is still shown.
The environments (locks, freezes, protections, what the bot deployed, whether you may deploy) come from the bot's
own records, with one bounded read: the environments of at most `MAX_DEPLOY_REPOS` repositories.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bot import accounts, notify, relay
from bot.bitbucket import BitbucketError, PullRequest
from bot.deploys import reading, where
from bot.deploys import records as deploy_records
from bot.environments import locks
from bot.bitbucket.metering import BACKGROUND
from bot.budget import state
from bot.budget.render import figures_from
from bot.core import meter
from bot.core.cache import TtlCache
from bot.reminders import waiting_on

CACHE_SECONDS = 300.0
KEEP_SECONDS = 24 * 3600.0  # kept answers are served this long when the budget is low
MAX_PER_CALL = 50
MAX_DEPLOY_REPOS = 3
RECONCILE_PER_VIEW = 3  # repositories never read that one tab reads, at most


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
    """The Home tab's Bitbucket answers, `CACHE_SECONDS` each (kept `KEEP_SECONDS` for when the budget is low)."""

    def __init__(self, ttl: float = CACHE_SECONDS, clock=time.monotonic, keep: float = KEEP_SECONDS):
        super().__init__(ttl, clock, keep)


def _cache(services) -> TtlCache:
    return services.part(HomeCache) or services.provide(HomeCache())


def deploy_repositories(services, slack_user_id: str) -> list[str]:
    """The repositories a person deploys to: their `deployer` grants on one repository, the locks they hold, and
    where they deployed through the bot; at most MAX_DEPLOY_REPOS."""
    found = [g.repo for g in services.permissions.grants_of(slack_user_id) if g.role == "deployer" and g.repo]
    found += [lock.repo for lock in locks.held_by(services.store, slack_user_id, now=services.timestamp())]
    found += deploy_records.repositories_deployed_by(services.store, slack_user_id)
    return list(dict.fromkeys(repo.lower() for repo in found))[:MAX_DEPLOY_REPOS]


def _kept(services, data: HomeData, key: tuple, fetch, what: str) -> tuple | None:
    """The cached answer for `key` and its age (fetched when the hour's budget allows); None, with a notice in `data`
    naming `what` was not shown, when Bitbucket failed or was not asked."""
    try:
        kept = _cache(services).get(key, fetch, may_fetch=meter.allows(services, BACKGROUND))
    except BitbucketError as error:
        data.problems.append(f"{what} could not be read ({error.status or 'no answer'}).")
        return None
    if kept is None:
        data.problems.append(f"{what} are not shown: the bot is saving its Bitbucket requests this hour.")
    return kept


def _environments(services, slack_user_id: str, data: HomeData) -> None:
    for repo in deploy_repositories(services, slack_user_id):
        kept = _kept(services, data, ("environments", repo), lambda: reading.environments(services, repo), f"The environments of {repo}")
        if kept is None:
            continue
        environments, _ = kept
        data.environments.append((repo, where.states(services, slack_user_id, repo, environments, None)))


def gather(services, slack_user_id: str) -> HomeData:
    store = services.store
    link = accounts.linked_user(store, slack_user_id)
    data = HomeData(linked=False) if link is None else HomeData(linked=True, enabled=notify.enabled_for(store, slack_user_id))
    _environments(services, slack_user_id, data)
    if link is None:
        return data
    who = link.bitbucket_uuid or link.account_id
    if not who:
        data.problems.append("You are linked by nickname only, which Bitbucket cannot search by: `/bb login` links you fully.")
        return data
    repos = state.followed(store)
    workspaces = list(dict.fromkeys([w for w in [services.settings.bitbucket_workspace] if w] + [r.split("/", 1)[0] for r in repos]))
    client = services.bitbucket
    for workspace in workspaces:
        kept = _kept(services, data, ("mine", workspace, who),
                     lambda: client.list_user_pull_requests(workspace, who, limit=MAX_PER_CALL).values, f"Your pull requests in {workspace}")
        if kept is None:
            continue
        values, age = kept
        if age >= CACHE_SECONDS:
            data.problems.append(f"Your pull requests in {workspace}: {figures_from(age)} (the bot is saving its Bitbucket requests).")
        for item in values:
            pr = PullRequest.from_api(item)
            data.mine.append((pr.repository or workspace, pr))
    _reviews(services, data, link, repos)
    data.reviews.sort(key=_created)
    data.mine.sort(key=_created)
    for repo, pr in data.mine:
        data.builds[(repo, pr.source_branch or "")] = relay.build_states(store, repo.lower(), pr.source_branch or "")
    return data


def _created(entry: tuple[str, PullRequest]) -> float:
    """Sorts (repository, pull request) pairs oldest first."""
    return entry[1].created_on.timestamp() if entry[1].created_on else 0.0


def _reviews(services, data: HomeData, link, repos: list[str]) -> None:
    """The open pull requests of the followed repositories that wait on the person, from the webhook-fed state."""
    store, now = services.store, services.timestamp()
    read, unread, oldest = 0, [], 0.0
    for repo in repos:
        read_at = state.read_at(store, repo)
        if read_at is None:
            if read >= RECONCILE_PER_VIEW or not meter.allows(services, BACKGROUND):
                unread.append(repo)
                continue
            read += 1
            try:
                state.reconcile(services, repo)
            except BitbucketError as error:
                data.problems.append(f"Reviews in {repo} could not be read ({error.status or 'no answer'}).")
                continue
        elif now - read_at >= state.RECONCILE_SECONDS:
            oldest = max(oldest, now - read_at)  # webhooks kept it since; the scheduler reads it again soon
        for pr in state.open_pull_requests(store, repo):
            if any(accounts.is_account(account, link) for account in waiting_on(pr)):
                data.reviews.append((repo, pr))
    if unread:
        data.problems.append(f"Reviews in {len(unread)} followed repositor{'y' if len(unread) == 1 else 'ies'} not read yet "
                             f"({', '.join(unread[:3])}{'…' if len(unread) > 3 else ''}): they are shown once the bot has read them.")
    if oldest:
        data.problems.append(f"Reviews: {figures_from(oldest)}, kept up to date by webhooks since.")
