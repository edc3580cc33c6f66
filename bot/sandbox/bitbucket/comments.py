"""The simulated Bitbucket's pull request comments and diffs: `…/pullrequests/{id}/comments` (list, write), one
comment (read, edit, delete), its resolution (`…/resolve`), and `…/pullrequests/{id}/diff` (302 to the repository's
diff, plain text). Every comment records who wrote it (the caller's account), and each change is told to the
repository's webhooks a moment later (`pullrequest:comment_created`, `_updated`, `_deleted`, `_resolved`,
`_reopened`), as Bitbucket does, through `bot.sandbox.deliveries`.

A mixin of `FakeBitbucket`; tests seed comments with `add_comment` (activity.py), the diff of a pull request with
`set_diff`, and read what was written with `comments`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from bot.sandbox import deliveries
from bot.sandbox.bitbucket.records import _PullRequest, _Repository, _User
from bot.sandbox.bitbucket.wire import WEB_ROOT, _ApiError, _bad_request, _Call, _field_error, _iso, _link, _not_found, _rendered, _Response

COMMENT_PAGELEN_MAX = 100


@dataclass(eq=False)
class _Comment:
    id: int
    repo: str  # workspace/slug
    pr_id: int
    user: _User
    raw: str
    created_on: datetime
    updated_on: datetime
    inline: dict | None = None
    parent_id: int | None = None
    deleted: bool = False
    resolved_by: _User | None = None
    resolved_on: datetime | None = None


class CommentsMixin:
    """Needs `_lock`, `_repository`, `_pull_request_for`, `_pull_request_json`, `_repository_json`, `_user`,
    `_user_json`, `_repo_api`, `_page` and `clock`."""

    send_comment_webhooks = True  # tell the repository's webhooks of each change made through the API

    # --- seeding and reading ---------------------------------------------------------------------------

    def _comments(self) -> dict[int, _Comment]:
        return self.__dict__.setdefault("_comment_records", {})

    def _new_comment(self, repo: _Repository, pull_request: _PullRequest, user: _User, raw: str, *, at: datetime | None = None,
                     inline: dict | None = None, parent_id: int | None = None) -> _Comment:
        comments = self._comments()
        moment = at or self.clock()
        comment = _Comment(max(comments, default=1000) + 1, repo.full_name, pull_request.id, user, raw, moment, moment,
                           inline=inline, parent_id=parent_id)
        comments[comment.id] = comment
        return comment

    def comments(self, workspace, slug, pr_id) -> list[dict]:
        """The pull request's comments as the API shows them (deleted ones too), oldest first; `user.nickname` says
        who wrote each."""
        with self._lock:
            repo = self._repository(workspace, slug)
            return [self._comment_json(repo, c) for c in self._comments().values() if (c.repo, c.pr_id) == (repo.full_name, int(pr_id))]

    def set_diff(self, workspace, slug, pr_id, text: str) -> None:
        """What `GET …/pullrequests/{id}/diff` answers for the pull request (a raw git diff)."""
        with self._lock:
            repo = self._repository(workspace, slug)
            self.__dict__.setdefault("_pr_diffs", {})[(repo.full_name, int(pr_id))] = text

    def comment_event(self, workspace, slug, pr_id, comment_id, event_key: str, *, actor) -> list:
        """Tell the repository's webhooks of a comment as it is now (a change made outside the API, say in the web
        page): the deliveries, sent at once."""
        payload = self._comment_payload(workspace, slug, int(pr_id), int(comment_id), self._user(actor) if not isinstance(actor, _User) else actor)
        return deliveries.deliver(self, workspace, slug, event_key, payload)

    def change_comment(self, workspace, slug, pr_id, comment_id, *, text: str | None = None, deleted: bool = False) -> None:
        """The comment's author edits (`text`) or deletes it in the web page (no webhook: see `comment_event`)."""
        with self._lock:
            comment = self._comments()[int(comment_id)]
            if text is not None:
                comment.raw = text
            comment.deleted = comment.deleted or deleted
            comment.updated_on = self.clock()

    def resolve_comment(self, workspace, slug, pr_id, comment_id, who, *, resolved: bool = True) -> None:
        """`who` resolves (or reopens) the comment's thread, as in the web page (no webhook: see `comment_event`)."""
        with self._lock:
            comment = self._comments()[int(comment_id)]
            comment.resolved_by, comment.resolved_on = (self._user(who), self.clock()) if resolved else (None, None)

    # --- what the API shows -------------------------------------------------------------------------------

    def _comment_json(self, repo: _Repository, comment: _Comment) -> dict:
        api = f"{self._repo_api(repo)}/pullrequests/{comment.pr_id}"
        pull_request = repo.pull_requests[comment.pr_id]
        body = {
            "type": "pullrequest_comment",
            "id": comment.id,
            "created_on": _iso(comment.created_on),
            "updated_on": _iso(comment.updated_on),
            "content": _rendered("" if comment.deleted else comment.raw),
            "user": self._user_json(comment.user),
            "deleted": comment.deleted,
            "pending": False,
            "pullrequest": {"type": "pullrequest", "id": pull_request.id, "title": pull_request.title,
                            "links": {"self": _link(api), "html": _link(f"{WEB_ROOT}/{repo.full_name}/pull-requests/{pull_request.id}")}},
            "links": {
                "self": _link(f"{api}/comments/{comment.id}"),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}/pull-requests/{pull_request.id}/_/diff#comment-{comment.id}"),
            },
        }
        if comment.inline:
            body["inline"] = {"from": None, "to": None, **comment.inline}
        if comment.parent_id is not None:
            body["parent"] = {"id": comment.parent_id, "links": {"self": _link(f"{api}/comments/{comment.parent_id}")}}
        if comment.resolved_by is not None:
            body["resolution"] = {"type": "comment_resolution", "user": self._user_json(comment.resolved_by),
                                  "created_on": _iso(comment.resolved_on)}
        return body

    def _comment_payload(self, workspace, slug, pr_id: int, comment_id: int, actor: _User) -> dict:
        with self._lock:
            repo = self._repository(workspace, slug)
            return {"actor": self._user_json(actor), "repository": self._repository_json(repo),
                    "pullrequest": self._pull_request_json(repo, repo.pull_requests[pr_id]),
                    "comment": self._comment_json(repo, self._comments()[comment_id])}

    def _comment_for(self, call: _Call) -> tuple[_Repository, _PullRequest, _Comment]:
        repo, pull_request = self._pull_request_for(call)
        comment = self._comments().get(int(call.params["comment_id"]))
        if comment is None or (comment.repo, comment.pr_id) != (repo.full_name, pull_request.id):
            raise _not_found("Comment not found.")
        return repo, pull_request, comment

    def _tell_webhooks(self, repo: _Repository, pull_request: _PullRequest, comment: _Comment, event_key: str, actor: _User) -> None:
        """After the answer, like Bitbucket: a thread posts the event to the webhooks (it takes the lock itself)."""
        if not self.send_comment_webhooks:
            return
        workspace, slug = repo.full_name.split("/", 1)

        def send():
            payload = self._comment_payload(workspace, slug, pull_request.id, comment.id, actor)
            sent = deliveries.deliver(self, workspace, slug, event_key, payload)
            with self._lock:
                self.__dict__.setdefault("comment_deliveries", []).extend(sent)

        threading.Thread(target=send, name="fake-bitbucket-comment-webhook", daemon=True).start()

    # --- the API ------------------------------------------------------------------------------------------

    def _list_comments(self, call: _Call) -> _Response:
        repo, pull_request = self._pull_request_for(call)
        items = [self._comment_json(repo, c) for c in self._comments().values() if (c.repo, c.pr_id) == (repo.full_name, pull_request.id)]
        return _Response(200, self._page(call, items, max_pagelen=COMMENT_PAGELEN_MAX))

    def _create_comment(self, call: _Call) -> _Response:
        repo, pull_request = self._pull_request_for(call)  # merged and declined pull requests take comments too
        body = call.body_object()
        raw = ((body.get("content") or {}).get("raw") if isinstance(body.get("content"), dict) else None)
        if not isinstance(raw, str) or not raw.strip():
            raise _field_error("content", "This field is required.")
        parent_id = (body.get("parent") or {}).get("id") if isinstance(body.get("parent"), dict) else None
        if parent_id is not None:
            parent = self._comments().get(parent_id) if isinstance(parent_id, int) else None
            if parent is None or (parent.repo, parent.pr_id) != (repo.full_name, pull_request.id):
                raise _bad_request("parent: comment not found on this pull request.")
        inline = body.get("inline") if isinstance(body.get("inline"), dict) else None
        if inline is not None and not isinstance(inline.get("path"), str):
            raise _field_error("inline", "path: This field is required.")
        comment = self._new_comment(repo, pull_request, call.caller, raw, inline=inline, parent_id=parent_id)
        created = self._comment_json(repo, comment)
        self._tell_webhooks(repo, pull_request, comment, "pullrequest:comment_created", call.caller)
        return _Response(201, created, {"Location": created["links"]["self"]["href"]})

    def _get_comment(self, call: _Call) -> _Response:
        repo, _, comment = self._comment_for(call)
        return _Response(200, self._comment_json(repo, comment))

    def _update_comment(self, call: _Call) -> _Response:
        repo, pull_request, comment = self._comment_for(call)
        if comment.user is not call.caller:
            raise _ApiError(403, "You can only edit your own comments.")
        if comment.deleted:
            raise _not_found("Comment not found.")
        content = call.body_object().get("content")
        raw = content.get("raw") if isinstance(content, dict) else None
        if not isinstance(raw, str) or not raw.strip():
            raise _field_error("content", "This field is required.")
        comment.raw, comment.updated_on = raw, self.clock()
        self._tell_webhooks(repo, pull_request, comment, "pullrequest:comment_updated", call.caller)
        return _Response(200, self._comment_json(repo, comment))

    def _delete_comment(self, call: _Call) -> _Response:
        repo, pull_request, comment = self._comment_for(call)
        if comment.user is not call.caller:
            raise _ApiError(403, "You can only delete your own comments.")
        if not comment.deleted:
            comment.deleted, comment.updated_on = True, self.clock()
            self._tell_webhooks(repo, pull_request, comment, "pullrequest:comment_deleted", call.caller)
        return _Response(204)

    def _resolve_comment(self, call: _Call) -> _Response:
        repo, pull_request, comment = self._comment_for(call)
        if comment.parent_id is not None:
            raise _ApiError(403, "Only top-level comments can be resolved.")
        if comment.resolved_by is not None:
            raise _ApiError(409, "This comment is already resolved.")
        comment.resolved_by, comment.resolved_on = call.caller, self.clock()
        self._tell_webhooks(repo, pull_request, comment, "pullrequest:comment_resolved", call.caller)
        return _Response(200, self._comment_json(repo, comment)["resolution"])

    def _reopen_comment(self, call: _Call) -> _Response:
        repo, pull_request, comment = self._comment_for(call)
        if comment.resolved_by is None:
            raise _not_found("This comment is not resolved.")
        comment.resolved_by = comment.resolved_on = None
        self._tell_webhooks(repo, pull_request, comment, "pullrequest:comment_reopened", call.caller)
        return _Response(204)

    def _pull_request_diff(self, call: _Call) -> _Response:
        """302 to the repository's diff of the two commits, as Bitbucket answers."""
        repo, pull_request = self._pull_request_for(call)
        spec = f"{repo.branches.get(pull_request.source, pull_request.source_hash)[:12]}..{pull_request.destination_hash[:12]}"
        location = f"{self._repo_api(repo)}/diff/{quote(spec)}?from_pullrequest_id={pull_request.id}&topic=true"
        return _Response(302, None, {"Location": location})

    def _repository_diff(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        pr_id = call.arg("from_pullrequest_id") or ""
        text = self.__dict__.get("_pr_diffs", {}).get((repo.full_name, int(pr_id) if pr_id.isdigit() else 0), "")
        return _Response(200, text)
