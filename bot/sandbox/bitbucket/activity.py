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
    `_repo_api`, `clock` and the comments' `_comments`, `_new_comment`, `_comment_json`."""

    def add_review(self, workspace, slug, pr_id: int, who: str, verdict: str = "approved", *, at: datetime | None = None) -> None:
        """`who` approved (`approved`) or asked for changes (`changes_requested`) at `at`."""
        with self._lock:
            pull_request = self._repository(workspace, slug).pull_requests[int(pr_id)]
            self._review(pull_request, self._user(who), verdict, at or self.clock())

    def add_comment(self, workspace, slug, pr_id: int, who: str, text: str = "Looks good", *, at: datetime | None = None,
                    inline: dict | None = None, parent_id: int | None = None) -> dict:
        """`who` commented (on a line: `inline` {path, to | from}; a reply: `parent_id`), without telling the webhooks
        (`comment_event` does); the comment as the API shows it."""
        with self._lock:
            repo = self._repository(workspace, slug)
            comment = self._new_comment(repo, repo.pull_requests[int(pr_id)], self._user(who), text, at=at, inline=inline,
                                        parent_id=parent_id)
            return self._comment_json(repo, comment)

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
        for comment in self._comments().values():
            if (comment.repo, comment.pr_id) == (repo.full_name, pull_request.id) and not comment.deleted:
                at = comment.created_on
                found.append((at, {"comment": {"id": comment.id, "type": "pullrequest_comment",
                                               "content": {"raw": comment.raw, "markup": "markdown", "type": "rendered"},
                                               "created_on": _iso(at), "updated_on": _iso(comment.updated_on),
                                               "user": self._user_json(comment.user), "pullrequest": stub}, "pull_request": stub}))
        if pull_request.state in ("MERGED", "DECLINED"):
            found.append(update(pull_request.state, pull_request.updated_on, pull_request.closed_by or pull_request.author))
        return found

