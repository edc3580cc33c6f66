"""The simulated Bitbucket's pull requests: seeding (`add_pull_request`), listing (per repository and per
author), creating, merging (at once, or as a task to poll), declining, and reviews (approve, request changes,
and their withdrawal). Their activity log is in `activity.py`, their build statuses in `builds.py`."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from bot.sandbox.bitbucket.query import _filtered, _sorted
from bot.sandbox.bitbucket.records import (
    MERGE_STRATEGIES,
    PULL_REQUEST_STATES,
    _MergeTask,
    _Participant,
    _PullRequest,
    _Repository,
    _User,
)
from bot.sandbox.bitbucket.wire import (
    WEB_ROOT,
    _bad_request,
    _Call,
    _field_error,
    _iso,
    _link,
    _not_found,
    _rendered,
    _Response,
    _same_uuid,
)

PULL_REQUEST_PAGELEN_MAX = 50  # what Bitbucket enforces, although its docs say 100


class PullRequestsMixin:
    """Needs `_lock`, `_repository`, `_repo_for`, `_workspace_for`, `_user`, `_users`, `_repositories`,
    `_new_commit`, `_is_ancestor`, `_commit_stub`, `_repository_stub`, `_repo_api`, `_user_json`, `_page` and `clock`."""

    def add_pull_request(
        self,
        workspace,
        slug,
        *,
        title,
        source,
        destination=None,
        author,
        reviewers=(),
        approved_by=(),
        changes_requested_by=(),
        draft=False,
        created_on=None,
        updated_on=None,
        description="",
        close_source_branch=False,
        state="OPEN",
    ) -> dict:
        """A pull request as if people had already worked on it. A missing source branch is created."""
        with self._lock:
            repo = self._repository(workspace, slug)
            destination = destination or repo.main_branch
            if source not in repo.branches:
                self.add_branch(workspace, slug, source, author=author)
            created_on = created_on or self.clock()
            pull_request = _PullRequest(
                id=max(repo.pull_requests, default=0) + 1,
                title=title,
                description=description,
                author=self._user(author),
                source=source,
                destination=destination,
                source_hash=repo.branches[source],
                destination_hash=repo.branches[destination],
                created_on=created_on,
                updated_on=updated_on or created_on,
                draft=draft,
                close_source_branch=close_source_branch,
            )
            for reviewer in reviewers:
                pull_request.participants.append(_Participant(self._user(reviewer), "REVIEWER"))
            for person in approved_by:
                self._review(pull_request, self._user(person), "approved", pull_request.updated_on)
            for person in changes_requested_by:
                self._review(pull_request, self._user(person), "changes_requested", pull_request.updated_on)
            repo.pull_requests[pull_request.id] = pull_request
            if state == "MERGED":
                self._merge(repo, pull_request, pull_request.author, {}, at=pull_request.updated_on)
            elif state != "OPEN":
                pull_request.state, pull_request.closed_by = state, pull_request.author
            return self._pull_request_json(repo, pull_request)

    def pull_request(self, workspace, slug, pr_id) -> dict:
        with self._lock:
            repo = self._repository(workspace, slug)
            return self._pull_request_json(repo, repo.pull_requests[int(pr_id)])

    def _participant(self, pull_request: _PullRequest, user: _User) -> _Participant:
        for participant in pull_request.participants:
            if participant.user is user:
                return participant
        participant = _Participant(user, "PARTICIPANT")
        pull_request.participants.append(participant)
        return participant

    def _review(self, pull_request: _PullRequest, user: _User, verdict: str | None, at: datetime) -> _Participant:
        """Record an approval, a change request, or (None) the withdrawal of either."""
        participant = self._participant(pull_request, user)
        participant.approved = verdict == "approved"
        participant.state = verdict
        participant.participated_on = at
        return participant

    def _merge(self, repo, pull_request, caller, parameters: dict, *, at: datetime) -> None:
        source_head = repo.branches.get(pull_request.source, pull_request.source_hash)
        destination_head = repo.branches.get(pull_request.destination, pull_request.destination_hash)
        strategy = parameters.get("merge_strategy") or repo.default_merge_strategy
        if strategy == "fast_forward":
            merge_hash = source_head
        else:
            message = parameters.get("message") or (
                f"Merged in {pull_request.source} (pull request #{pull_request.id})\n\n{pull_request.title}"
            )
            parents = [destination_head] if "squash" in strategy else [destination_head, source_head]
            merge_hash = self._new_commit(repo, message, parents, caller)
        repo.branches[pull_request.destination] = merge_hash
        pull_request.source_hash, pull_request.destination_hash = source_head, destination_head
        pull_request.state = "MERGED"
        pull_request.merge_hash = merge_hash
        pull_request.closed_by = caller
        pull_request.updated_on = at
        close_source = parameters.get("close_source_branch", pull_request.close_source_branch)
        if close_source and pull_request.source != repo.main_branch:
            repo.branches.pop(pull_request.source, None)

    def _participant_json(self, participant: _Participant) -> dict:
        return {
            "type": "participant",
            "user": self._user_json(participant.user),
            "role": participant.role,
            "approved": participant.approved,
            "state": participant.state,
            "participated_on": _iso(participant.participated_on),
        }

    def _pull_request_json(self, repo: _Repository, pull_request: _PullRequest) -> dict:
        api = f"{self._repo_api(repo)}/pullrequests/{pull_request.id}"
        is_open = pull_request.state == "OPEN"
        source_hash = repo.branches.get(pull_request.source, pull_request.source_hash) if is_open else None
        destination_hash = repo.branches.get(pull_request.destination) if is_open else None
        source_hash = source_hash or pull_request.source_hash
        destination_hash = destination_hash or pull_request.destination_hash
        spec = f"{repo.full_name}:{source_hash[:12]}%0D{destination_hash[:12]}"
        return {
            "type": "pullrequest",
            "id": pull_request.id,
            "title": pull_request.title,
            "description": pull_request.description,
            "summary": _rendered(pull_request.description),
            "state": pull_request.state,
            "draft": pull_request.draft,
            "queued": False,
            "author": self._user_json(pull_request.author),
            "source": {
                "branch": {"name": pull_request.source},
                "commit": self._commit_stub(repo, source_hash),
                "repository": self._repository_stub(repo),
            },
            "destination": {
                "branch": {
                    "name": pull_request.destination,
                    "merge_strategies": list(repo.merge_strategies),
                    "default_merge_strategy": repo.default_merge_strategy,
                },
                "commit": self._commit_stub(repo, destination_hash),
                "repository": self._repository_stub(repo),
            },
            "merge_commit": self._commit_stub(repo, pull_request.merge_hash) if pull_request.merge_hash else None,
            "close_source_branch": pull_request.close_source_branch,
            "closed_by": self._user_json(pull_request.closed_by) if pull_request.closed_by else None,
            "reason": pull_request.reason,
            "created_on": _iso(pull_request.created_on),
            "updated_on": _iso(pull_request.updated_on),
            "comment_count": sum(1 for c in self.__dict__.get("_comment_records", {}).values()
                                 if (c.repo, c.pr_id) == (repo.full_name, pull_request.id) and not getattr(c, "deleted", False)),
            "task_count": self.__dict__.get("_pr_tasks", {}).get((repo.full_name, pull_request.id), 0),
            "reviewers": [self._user_json(p.user) for p in pull_request.participants if p.role == "REVIEWER"],
            "participants": [self._participant_json(p) for p in pull_request.participants],
            "links": {
                "self": _link(api),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}/pull-requests/{pull_request.id}"),
                "commits": _link(f"{api}/commits"),
                "approve": _link(f"{api}/approve"),
                "request-changes": _link(f"{api}/request-changes"),
                "diff": _link(f"{self._repo_api(repo)}/diff/{spec}?from_pullrequest_id={pull_request.id}&topic=true"),
                "diffstat": _link(
                    f"{self._repo_api(repo)}/diffstat/{spec}?from_pullrequest_id={pull_request.id}&topic=true"
                ),
                "comments": _link(f"{api}/comments"),
                "activity": _link(f"{api}/activity"),
                "merge": _link(f"{api}/merge"),
                "decline": _link(f"{api}/decline"),
                "statuses": _link(f"{api}/statuses"),
            },
        }

    def _pull_request_for(self, call: _Call) -> tuple[_Repository, _PullRequest]:
        repo = self._repo_for(call)
        pull_request = repo.pull_requests.get(int(call.params["pr_id"]))
        if pull_request is None:
            raise _not_found("Pull request not found.")
        return repo, pull_request

    def _list_pull_requests(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        states = [state.upper() for state in call.query.get("state", [])] or ["OPEN"]  # no state: OPEN only
        for state in states:
            if state not in PULL_REQUEST_STATES:
                raise _bad_request(f"Invalid state: {state}")
        items = [self._pull_request_json(repo, pr) for pr in repo.pull_requests.values() if pr.state in states]
        items = _sorted(_filtered(items, call.arg("q")), call.arg("sort") or "-updated_on")
        body = self._page(call, items, max_pagelen=PULL_REQUEST_PAGELEN_MAX)
        # The collection leaves these out unless `fields` asks for them (`+values.reviewers`).
        return _Response(200, body, hidden=("values.reviewers", "values.participants"))

    def _list_user_pull_requests(self, call: _Call) -> _Response:
        """`GET /workspaces/{ws}/pullrequests/{selected_user}`: what the user (uuid or account_id) authored."""
        workspace = self._workspace_for(call)
        wanted = call.params["selected_user"]
        user = next((u for u in self._users.values() if _same_uuid(u.uuid, wanted) or u.account_id == wanted), None)
        if user is None:
            raise _not_found(f"User {wanted} not found")
        states = [state.upper() for state in call.query.get("state", [])] or ["OPEN"]
        items = [
            self._pull_request_json(repo, pr)
            for repo in self._repositories.values() if repo.workspace is workspace
            for pr in repo.pull_requests.values() if pr.author is user and pr.state in states
        ]
        items = _sorted(_filtered(items, call.arg("q")), call.arg("sort") or "-updated_on")
        body = self._page(call, items, max_pagelen=PULL_REQUEST_PAGELEN_MAX)
        return _Response(200, body, hidden=("values.reviewers", "values.participants"))

    def _get_pull_request(self, call: _Call) -> _Response:
        repo, pull_request = self._pull_request_for(call)
        return _Response(200, self._pull_request_json(repo, pull_request))

    def _create_pull_request(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        body = call.body_object()
        title = (body.get("title") or "").strip()
        if not title:
            raise _field_error("title", "This field is required.")
        source = ((body.get("source") or {}).get("branch") or {}).get("name")
        if not source:
            raise _field_error("source", "This field is required.")
        if source not in repo.branches:
            raise _field_error("source", f"branch not found: {source}")
        destination = ((body.get("destination") or {}).get("branch") or {}).get("name") or repo.main_branch
        if destination not in repo.branches:
            raise _field_error("destination", f"branch not found: {destination}")
        source_head, destination_head = repo.branches[source], repo.branches[destination]
        if source == destination or self._is_ancestor(repo, source_head, destination_head):
            raise _field_error("source", "There are no changes to be pulled")
        for existing in repo.pull_requests.values():
            if existing.state == "OPEN" and (existing.source, existing.destination) == (source, destination):
                raise _field_error(
                    "source",
                    f"There is already an open pull request from {source} to {destination} (#{existing.id}).",
                )
        reviewers = [self._reviewer_from_body(reference, call.caller) for reference in body.get("reviewers") or []]
        now = self.clock()
        pull_request = _PullRequest(
            id=max(repo.pull_requests, default=0) + 1,
            title=title,
            description=body.get("description") or "",
            author=call.caller,
            source=source,
            destination=destination,
            source_hash=source_head,
            destination_hash=destination_head,
            created_on=now,
            updated_on=now,
            participants=[_Participant(user, "REVIEWER") for user in reviewers],
            draft=bool(body.get("draft", False)),
            close_source_branch=bool(body.get("close_source_branch", False)),
        )
        repo.pull_requests[pull_request.id] = pull_request
        self._tell(repo, "pullrequest:created", call.caller, pull_request=pull_request)
        created = self._pull_request_json(repo, pull_request)
        return _Response(201, created, {"Location": created["links"]["self"]["href"]})

    def _reviewer_from_body(self, reference: Any, author: _User) -> _User:
        wanted = reference if isinstance(reference, dict) else {}
        for user in self._users.values():
            if (wanted.get("uuid") and _same_uuid(wanted["uuid"], user.uuid)) or (
                wanted.get("account_id") and wanted["account_id"] == user.account_id
            ):
                if user is author:
                    raise _field_error(
                        "reviewers", f"{user.display_name} is the author and cannot be included as a reviewer."
                    )
                return user
        raise _field_error("reviewers", f"Malformed reviewers list: {json.dumps(reference)} is not a known user.")

    def _merge_pull_request(self, call: _Call) -> _Response:
        repo, pull_request = self._pull_request_for(call)
        parameters = call.body_object()
        self._check_mergeable(repo, pull_request, parameters)
        if self.merge_mode == "async" or (call.arg("async") or "").lower() == "true":
            task = _MergeTask(secrets.token_hex(16), repo, pull_request, parameters, call.caller)
            self._merge_tasks[task.task_id] = task
            location = f"{self._repo_api(repo)}/pullrequests/{pull_request.id}/merge/task-status/{task.task_id}"
            return _Response(202, None, {"Location": location})
        self._merge(repo, pull_request, call.caller, parameters, at=self.clock())
        self._tell(repo, "pullrequest:fulfilled", call.caller, pull_request=pull_request)
        return _Response(200, self._pull_request_json(repo, pull_request))

    def _check_mergeable(self, repo: _Repository, pull_request: _PullRequest, parameters: dict) -> None:
        if pull_request.state != "OPEN":
            raise _bad_request("You can't merge a pull request that is not open.")
        if pull_request.draft:
            raise _bad_request("You can't merge a draft pull request.")
        strategy = parameters.get("merge_strategy")
        if strategy is not None and strategy not in MERGE_STRATEGIES:
            raise _field_error("merge_strategy", f'"{strategy}" is not a valid choice.')
        if strategy is not None and strategy not in repo.merge_strategies:
            allowed = ", ".join(repo.merge_strategies)
            raise _bad_request(
                f"The merge strategy {strategy} is not allowed on {pull_request.destination}.",
                detail=f"Allowed merge strategies: {allowed}.",
            )

    def _get_merge_task(self, call: _Call) -> _Response:
        repo, pull_request = self._pull_request_for(call)
        task = self._merge_tasks.get(call.params["task_id"])
        if task is None or task.pull_request is not pull_request:
            raise _bad_request("The provided task ID does not relate to this pull request.")
        here = f"{self._repo_api(repo)}/pullrequests/{pull_request.id}/merge/task-status/{task.task_id}"
        self_link = {"self": _link(here)}
        task.polls += 1
        if task.polls == 1:  # the first poll always finds the merge still running
            return _Response(200, {"task_status": "PENDING", "links": self_link})
        if not task.merged:
            self._check_mergeable(repo, pull_request, task.parameters)
            self._merge(repo, pull_request, task.caller, task.parameters, at=self.clock())
            task.merged = True
            self._tell(repo, "pullrequest:fulfilled", task.caller, pull_request=pull_request)
        merged = self._pull_request_json(repo, pull_request)
        return _Response(200, {"task_status": "SUCCESS", "links": self_link, "merge_result": merged})

    def _decline_pull_request(self, call: _Call) -> _Response:
        repo, pull_request = self._pull_request_for(call)
        if pull_request.state != "OPEN":
            raise _bad_request("You can't decline a pull request that is not open.")
        pull_request.source_hash = repo.branches.get(pull_request.source, pull_request.source_hash)
        pull_request.destination_hash = repo.branches.get(pull_request.destination, pull_request.destination_hash)
        pull_request.state, pull_request.closed_by = "DECLINED", call.caller
        pull_request.reason = call.body_object().get("message") or ""
        pull_request.updated_on = self.clock()
        self._tell(repo, "pullrequest:rejected", call.caller, pull_request=pull_request)
        return _Response(200, self._pull_request_json(repo, pull_request))

    def _approve(self, call: _Call) -> _Response:
        return self._review_by_caller(call, "approved")

    def _request_changes(self, call: _Call) -> _Response:
        return self._review_by_caller(call, "changes_requested")

    def _unapprove(self, call: _Call) -> _Response:
        return self._withdraw_review_by_caller(call, "approved")

    def _remove_request_changes(self, call: _Call) -> _Response:
        return self._withdraw_review_by_caller(call, "changes_requested")

    def _review_by_caller(self, call: _Call, verdict: str) -> _Response:
        repo, pull_request = self._pull_request_for(call)
        action = "approve" if verdict == "approved" else "request changes on"
        if pull_request.state != "OPEN":
            raise _bad_request(f"You can't {action} a pull request that is not open.")
        if pull_request.author is call.caller:
            raise _bad_request(f"You can't {action} your own pull request.")
        now = self.clock()
        participant = self._review(pull_request, call.caller, verdict, now)
        pull_request.updated_on = now
        what = {"date": _iso(now), "user": self._user_json(call.caller)}
        if verdict == "approved":
            self._tell(repo, "pullrequest:approved", call.caller, pull_request=pull_request, approval=what)
        else:
            self._tell(repo, "pullrequest:changes_request_created", call.caller, pull_request=pull_request, changes_request=what)
        return _Response(200, self._participant_json(participant))

    def _withdraw_review_by_caller(self, call: _Call, verdict: str) -> _Response:
        repo, pull_request = self._pull_request_for(call)
        if pull_request.state != "OPEN":
            action = "unapprove" if verdict == "approved" else "remove a change request from"
            raise _bad_request(f"You can't {action} a pull request that is not open.")
        for participant in pull_request.participants:
            if participant.user is call.caller and participant.state == verdict:
                now = self.clock()
                self._review(pull_request, call.caller, None, now)
                pull_request.updated_on = now
                what = {"date": _iso(now), "user": self._user_json(call.caller)}
                if verdict == "approved":
                    self._tell(repo, "pullrequest:unapproved", call.caller, pull_request=pull_request, approval=what)
                else:
                    self._tell(repo, "pullrequest:changes_request_removed", call.caller, pull_request=pull_request,
                               changes_request=what)
        return _Response(204)
