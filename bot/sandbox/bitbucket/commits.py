"""The simulated Bitbucket's commit history: `GET …/commits/{revision}` and `GET …/commits?include=…` (`git log
REVISION ^EXCLUDE…`, newest
first, paged without a `size`, as Bitbucket answers it) and `GET …/commit/{commit}/pullrequests` (the pull requests
that contain a commit: 404 while "Pull Request Commit Links" has not indexed the repository, as documented)."""

from __future__ import annotations

from bot.sandbox.bitbucket.records import _Repository
from bot.sandbox.bitbucket.wire import _Call, _not_found, _Response

COMMITS_PAGELEN_MAX = 100


class CommitsMixin:
    """Needs `_repo_for`, `_resolve_commit`, `_commit_json`, `_pull_request_json`, `_page`; `commit_links_indexed`
    (False: the pull requests of a commit answer 404, as before Bitbucket's app has indexed them)."""

    commit_links_indexed = True

    def _reachable(self, repo: _Repository, heads: list[str]) -> set[str]:
        seen, pending = set(), list(heads)
        while pending:
            current = pending.pop()
            if current in seen or current not in repo.commits:
                continue
            seen.add(current)
            pending.extend(repo.commits[current].parents)
        return seen

    def _revision_or_404(self, repo: _Repository, revision: str) -> str:
        found = self._resolve_commit(repo, revision)
        if found is None:
            raise _not_found("Commit not found", detail=f"No commit matches '{revision}'.")
        return found

    def _list_commits(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        query = call.query
        # `…/commits/{revision}`, or `…/commits?include=…` (every branch when neither names one)
        include = [self._revision_or_404(repo, call.params["revision"])] if call.params.get("revision") else []
        include += [self._revision_or_404(repo, rev) for rev in query.get("include", [])]
        if not include:
            include = list(repo.branches.values())
        excluded = self._reachable(repo, [self._revision_or_404(repo, rev) for rev in query.get("exclude", [])])
        hashes = [h for h in self._reachable(repo, include) if h not in excluded]
        order = {h: n for n, h in enumerate(repo.commits)}  # creation order breaks ties of equal dates
        hashes.sort(key=lambda h: (repo.commits[h].date, order[h]), reverse=True)
        body = self._page(call, [self._commit_json(repo, repo.commits[h]) for h in hashes], max_pagelen=COMMITS_PAGELEN_MAX)
        body.pop("size", None)  # Bitbucket does not count commits
        return _Response(200, body)

    def _list_commit_pull_requests(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        if not self.commit_links_indexed:
            raise _not_found("Either the repository does not exist, or pull request commit links have not yet been indexed.")
        commit = self._revision_or_404(repo, call.params["rev"])
        containing = []
        for pull_request in sorted(repo.pull_requests.values(), key=lambda pr: pr.id):
            head = repo.branches.get(pull_request.source, pull_request.source_hash) if pull_request.state == "OPEN" else pull_request.source_hash
            base = repo.branches.get(pull_request.destination, pull_request.destination_hash) if pull_request.state == "OPEN" else pull_request.destination_hash
            if commit in self._reachable(repo, [head]) - self._reachable(repo, [base]):
                containing.append(self._pull_request_json(repo, pull_request))
        return _Response(200, self._page(call, containing))
