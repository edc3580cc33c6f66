"""The simulated Bitbucket's diffstats: `GET …/diffstat/{spec}` (one commit: against its first parent; `NEW..OLD`: the
commits NEW has and OLD lacks, Bitbucket's order, the opposite of `git diff`'s) and `GET …/pullrequests/{id}/diffstat`,
which answers 302 to the former with the pull request's commits, as Bitbucket does. Each commit changes the
`files` it was made with (`add_commit(…, files=[…])`); entries are `{type: diffstat, status, lines_added,
lines_removed, old: {path}, new: {path}}`, paginated (`pagelen` up to 500). An unknown commit is a 404."""

from __future__ import annotations

from urllib.parse import quote

from bot.sandbox.bitbucket.wire import _Call, _not_found, _Response

MAX_DIFFSTAT_PAGELEN = 500


class DiffstatMixin:
    """Needs `_repo_for`, `_pull_request_for`, `_resolve_commit`, `_repo_api`, `_page`."""

    def _pull_request_diffstat(self, call: _Call) -> _Response:
        repo, pull_request = self._pull_request_for(call)
        is_open = pull_request.state == "OPEN"
        source = (repo.branches.get(pull_request.source) if is_open else None) or pull_request.source_hash
        destination = (repo.branches.get(pull_request.destination) if is_open else None) or pull_request.destination_hash
        location = f"{self._repo_api(repo)}/diffstat/{quote(source)}..{quote(destination)}?from_pullrequest_id={pull_request.id}&topic=true"
        return _Response(302, None, {"Location": location})

    def _diffstat(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        new, _, old = call.params["spec"].partition("..")
        head = self._resolve_commit(repo, new)
        base = self._resolve_commit(repo, old) if old else None
        if head is None or (old and base is None):
            raise _not_found("Commit not found")
        if base is None:
            commits = [head]
        else:
            excluded = self._ancestors(repo, base)
            commits = [c for c in self._ancestors(repo, head) if c not in excluded]
        paths: list[str] = []
        for commit_hash in commits:
            for path in repo.commits[commit_hash].files:
                if path not in paths:
                    paths.append(path)
        entries = [{"type": "diffstat", "status": "modified", "lines_added": 1, "lines_removed": 1,
                    "old": {"path": path, "type": "commit_file"}, "new": {"path": path, "type": "commit_file"}} for path in paths]
        return _Response(200, self._page(call, entries, max_pagelen=MAX_DIFFSTAT_PAGELEN))

    def _ancestors(self, repo, start: str) -> list[str]:
        seen, order, pending = set(), [], [start]
        while pending:
            current = pending.pop()
            if current in seen or current not in repo.commits:
                continue
            seen.add(current)
            order.append(current)
            pending.extend(repo.commits[current].parents)
        return order
