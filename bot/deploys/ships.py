"""What a deploy ships: the commits between what runs in the environment and the commit it would deploy.

What runs there is the environment's newest successful deployment in Bitbucket (`…/deployments/`). The commits are
`GET …/commits/{commit}?exclude={deployed}` (first page, up to `MAX_SHOWN`), each with the pull request that merged
it: read from the merge or squash commit's own message (Bitbucket writes `(pull request #N)` there), else asked of
`GET …/commit/{hash}/pullrequests` (Bitbucket answers 404 until its commit-links app indexed the repository: then
no more are asked). The other way round, `GET …/commits/{deployed}?exclude={commit}`: commits that run there and
the deploy would take out (a downgrade, a rollback).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot import deploys
from bot.bitbucket import BitbucketError, Deployment, Environment, NotFound
from bot.core.render import bitbucket_words
from bot.core.invocation import split_repo

MAX_SHOWN = 20
MERGED_BY = re.compile(r"\(pull request #(\d+)\)")


@dataclass(frozen=True)
class ShippedCommit:
    hash: str
    summary: str  # the message's first line
    author: str
    url: str | None
    pull_request: int | None = None
    pull_request_title: str = ""
    pull_request_url: str | None = None


@dataclass(frozen=True)
class Shipment:
    repo: str
    environment: str
    commit: str  # what would be deployed
    deployed: Deployment | None  # what runs there now (None: nothing deployed yet)
    commits: tuple[ShippedCommit, ...] = ()  # newest first
    more: bool = False  # Bitbucket has more than the first page
    removed: tuple[ShippedCommit, ...] = ()  # what runs there and this commit lacks
    removed_more: bool = False
    trouble: str = ""  # why the commits could not be read

    @property
    def same(self) -> bool:
        return self.deployed is not None and same_commit(self.deployed.commit, self.commit)

    @property
    def downgrade(self) -> bool:
        return bool(self.removed)


def same_commit(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    n = min(len(a), len(b))
    return a[:n].lower() == b[:n].lower()


def commit_of(repo: str, data: dict) -> ShippedCommit:
    author = data.get("author") or {}
    name = (author.get("user") or {}).get("display_name") or (author.get("raw") or "someone").split("<")[0].strip()
    message = (data.get("message") or "").strip()
    found = MERGED_BY.search(message)
    pr = int(found.group(1)) if found else None
    return ShippedCommit(
        data.get("hash") or "", message.splitlines()[0] if message else "", name,
        ((data.get("links") or {}).get("html") or {}).get("href"),
        pr, "", f"https://bitbucket.org/{repo}/pull-requests/{pr}" if pr else None,
    )


def _with_pull_requests(client, repo: str, commits: list[ShippedCommit]) -> list[ShippedCommit]:
    """Each commit with the merged pull request that contains it, where the message did not already say."""
    workspace, slug = split_repo(repo)
    out, asking = [], True
    for commit in commits:
        if commit.pull_request is None and asking:
            try:
                found = client.list_commit_pull_requests(workspace, slug, commit.hash)
            except (NotFound, BitbucketError):  # 404: not indexed (yet); the messages are all there is
                asking, found = False, []
            merged = next((pr for pr in found if pr.get("state") == "MERGED"), None)
            if merged is not None:
                commit = ShippedCommit(commit.hash, commit.summary, commit.author, commit.url, merged.get("id"),
                                       merged.get("title") or "", ((merged.get("links") or {}).get("html") or {}).get("href"))
        out.append(commit)
    return out


def what_ships(services, repo: str, environment: Environment, commit: str, history: list[Deployment]) -> Shipment:
    """What a deploy of `commit` to `environment` ships, from the deployments already read (`history`)."""
    current, _ = deploys.choose_rollback(history, environment)
    shipment = Shipment(repo, environment.name, commit, current)
    if current is None or shipment.same:
        return shipment
    workspace, slug = split_repo(repo)
    client = services.bitbucket
    try:
        ahead = client.list_commits_between(workspace, slug, commit, current.commit, pagelen=MAX_SHOWN)
        behind = client.list_commits_between(workspace, slug, current.commit, commit, pagelen=MAX_SHOWN)
    except BitbucketError as error:
        return Shipment(repo, environment.name, commit, current, trouble=bitbucket_words(error))
    commits = _with_pull_requests(client, repo, [commit_of(repo, c) for c in ahead.values[:MAX_SHOWN]])
    return Shipment(repo, environment.name, commit, current, tuple(commits), ahead.total is None,
                    tuple(commit_of(repo, c) for c in behind.values[:MAX_SHOWN]), behind.total is None)
