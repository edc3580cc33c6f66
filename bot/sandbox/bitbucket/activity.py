"""The simulated Bitbucket's pull request activity: `GET …/pullrequests/activity`, the log of a whole repository.

Bitbucket answers it newest first, paged, each item one of `{"comment": …}`, `{"approval": …}`,
`{"changes_requested": …}` or `{"update": …}` (a state change: OPEN when created, MERGED, DECLINED), with a
`pull_request` stub. Here it is drawn from what the fake holds: each pull request's creation, its reviews
(approvals and change requests, at the moment they were given), its comments, and its merge or decline.
A mixin of `FakeBitbucket`; `add_review` and `add_comment` seed history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.sandbox.bitbucket.wire import _iso, _Response

ACTIVITY_PAGELEN_MAX = 50


class ActivityMixin:
    """Needs FakeBitbucket's `_lock`, `_repository`, `_repo_for`, `_user`, `_review`, `_user_json`, `_page`,
    `_repo_api` and `clock`."""

    def add_review(self, workspace, slug, pr_id: int, who: str, verdict: str = "approved", *, at: datetime | None = None) -> None:
        """`who` approved (`approved`) or asked for changes (`changes_requested`) at `at`."""
        with self._lock:
            pull_request = self._repository(workspace, slug).pull_requests[int(pr_id)]
            self._review(pull_request, self._user(who), verdict, at or self.clock())

    def add_comment(self, workspace, slug, pr_id: int, who: str, text: str = "Looks good", *, at: datetime | None = None) -> None:
        with self._lock:
            repo = self._repository(workspace, slug)
            comments = self.__dict__.setdefault("_pr_comments", {}).setdefault((repo.full_name, int(pr_id)), [])
            comments.append((self._user(who), text, at or self.clock(), len(comments) + 1))

    def set_open_tasks(self, workspace, slug, pr_id: int, count: int) -> None:
        """How many tasks are open on the pull request (its `task_count`)."""
        with self._lock:
            repo = self._repository(workspace, slug)
            self.__dict__.setdefault("_pr_tasks", {})[(repo.full_name, int(pr_id))] = int(count)

    def _list_activity(self, call) -> Any:
        repo = self._repo_for(call)
        items = []
        for pull_request in repo.pull_requests.values():
            items += self._activity_of(repo, pull_request)
        items.sort(key=lambda pair: pair[0], reverse=True)
        return _Response(200, self._page(call, [item for _, item in items], max_pagelen=ACTIVITY_PAGELEN_MAX))

    def _activity_of(self, repo, pull_request) -> list[tuple[datetime, dict]]:
        api = f"{self._repo_api(repo)}/pullrequests/{pull_request.id}"
        stub = {"type": "pullrequest", "id": pull_request.id, "title": pull_request.title,
                "links": {"self": {"href": api}}}

        def update(state: str, at: datetime, author) -> tuple[datetime, dict]:
            return at, {"update": {"state": state, "date": _iso(at), "title": pull_request.title,
                                   "author": self._user_json(author)}, "pull_request": stub}

        found = [update("OPEN", pull_request.created_on, pull_request.author)]
        for participant in pull_request.participants:
            if participant.state in ("approved", "changes_requested") and participant.participated_on:
                kind = "approval" if participant.state == "approved" else "changes_requested"
                found.append((participant.participated_on, {
                    kind: {"date": _iso(participant.participated_on), "user": self._user_json(participant.user), "pullrequest": stub},
                    "pull_request": stub,
                }))
        for user, text, at, number in self.__dict__.get("_pr_comments", {}).get((repo.full_name, pull_request.id), ()):
            found.append((at, {"comment": {"id": pull_request.id * 1000 + number, "type": "pullrequest_comment",
                                           "content": {"raw": text, "markup": "markdown", "type": "rendered"},
                                           "created_on": _iso(at), "updated_on": _iso(at),
                                           "user": self._user_json(user), "pullrequest": stub}, "pull_request": stub}))
        if pull_request.state in ("MERGED", "DECLINED"):
            found.append(update(pull_request.state, pull_request.updated_on, pull_request.closed_by or pull_request.author))
        return found

