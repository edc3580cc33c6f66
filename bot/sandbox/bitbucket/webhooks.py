"""The simulated Bitbucket's webhooks: `…/repositories/{ws}/{slug}/hooks` to list, create, read, update and delete a
repository's webhooks, and `…/workspaces/{ws}/hooks` the same for a workspace's (they fire for every repository in
it; on Bitbucket only a workspace owner may add one: a test refuses with `fail_next(…, status=403)`). The API never
shows a webhook's secret (only `secret_set`); `webhooks()` and `workspace_webhooks()` show it to tests, and
`bot.sandbox.deliveries` uses it to sign what it sends."""

from __future__ import annotations

import re
from datetime import timezone
from urllib.parse import quote

from bot.sandbox.bitbucket.records import _Repository, _Webhook, _Workspace
from bot.sandbox.bitbucket.wire import _braced_uuid, _Call, _field_error, _link, _not_found, _Response, _same_uuid


WEBHOOK_EVENTS = frozenset(
    {
        "issue:comment_created", "issue:created", "issue:updated", "project:updated",
        "pullrequest:approved", "pullrequest:changes_request_created", "pullrequest:changes_request_removed",
        "pullrequest:comment_created", "pullrequest:comment_deleted", "pullrequest:comment_reopened",
        "pullrequest:comment_resolved", "pullrequest:comment_updated", "pullrequest:created",
        "pullrequest:fulfilled", "pullrequest:push", "pullrequest:rejected", "pullrequest:unapproved",
        "pullrequest:updated", "repo:commit_comment_created", "repo:commit_status_created",
        "repo:commit_status_updated", "repo:created", "repo:deleted", "repo:fork", "repo:imported",
        "repo:push", "repo:transfer", "repo:updated",
    }
)  # the swagger's enum

class WebhooksMixin:
    """Needs `_lock`, `_repository`, `_repo_for`, `_workspace_for`, `_workspace_or_new`, `_workspace_json`,
    `_repository_stub`, `_repo_api`, `_api_root`, `_page` and `clock`."""

    def webhooks(self, workspace, slug) -> list[dict]:
        """The repository's webhooks, each with its `secret` (which the API never shows)."""
        with self._lock:
            repo = self._repository(workspace, slug)
            return [{**self._webhook_json(repo, hook), "secret": hook.secret} for hook in repo.hooks.values()]

    def workspace_webhooks(self, workspace) -> list[dict]:
        """The workspace's webhooks, each with its `secret`."""
        with self._lock:
            owner = self._workspace_or_new(workspace)
            return [{**self._webhook_json(owner, hook), "secret": hook.secret} for hook in owner.hooks.values()]

    def _webhook_json(self, repo: _Repository | _Workspace, hook: _Webhook) -> dict:
        if isinstance(repo, _Workspace):
            subject_type, subject, api = "workspace", self._workspace_json(repo), f"{self._api_root}/workspaces/{repo.slug}"
        else:
            subject_type, subject, api = "repository", self._repository_stub(repo), self._repo_api(repo)
        return {
            "type": "webhook_subscription",
            "uuid": hook.uuid,
            "url": hook.url,
            "description": hook.description,
            "subject_type": subject_type,
            "subject": subject,
            "active": hook.active,
            "created_at": hook.created_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "events": sorted(hook.events),
            "secret_set": bool(hook.secret),
            "read_only": False,
            "skip_cert_verification": False,
            "source": None,
            "links": {"self": _link(f"{api}/hooks/{quote(hook.uuid)}")},
        }

    def _hooks_owner(self, call: _Call) -> _Repository | _Workspace:
        """The repository of `…/repositories/{ws}/{slug}/hooks`, or the workspace of `…/workspaces/{ws}/hooks`."""
        return self._repo_for(call) if "slug" in call.params else self._workspace_for(call)

    def _list_webhooks(self, call: _Call) -> _Response:
        repo = self._hooks_owner(call)
        return _Response(200, self._page(call, [self._webhook_json(repo, hook) for hook in repo.hooks.values()]))

    def _create_webhook(self, call: _Call) -> _Response:
        repo, body = self._hooks_owner(call), call.body_object()
        url = body.get("url") or ""
        if not re.match(r"https?://[^/\s]+", url):
            raise _field_error("url", "Enter a valid URL.")
        events = body.get("events") or []
        if not events:
            raise _field_error("events", "This field is required.")
        unknown = sorted(set(events) - WEBHOOK_EVENTS)
        if unknown:
            raise _field_error("events", f"Invalid event: {unknown[0]}")
        secret = body.get("secret")
        if secret is not None and len(secret) > 128:
            raise _field_error("secret", "Ensure this value has at most 128 characters.")
        hook = _Webhook(
            uuid=_braced_uuid(),
            url=url,
            description=body.get("description") or "",
            active=bool(body.get("active", True)),
            secret=secret or None,
            events=list(dict.fromkeys(events)),
            created_at=self.clock(),
        )
        repo.hooks[hook.uuid] = hook
        created = self._webhook_json(repo, hook)
        return _Response(201, created, {"Location": created["links"]["self"]["href"]})

    def _webhook_for(self, call: _Call) -> tuple[_Repository | _Workspace, _Webhook]:
        repo = self._hooks_owner(call)
        for hook in repo.hooks.values():
            if _same_uuid(hook.uuid, call.params["uid"]):
                return repo, hook
        raise _not_found("Webhook not found.")

    def _get_webhook(self, call: _Call) -> _Response:
        repo, hook = self._webhook_for(call)
        return _Response(200, self._webhook_json(repo, hook))

    def _update_webhook(self, call: _Call) -> _Response:
        """PUT …/hooks/{uid}: description, url, secret, active and events may change; a secret left out stays,
        a null or empty one is removed (swagger: "Update a webhook for a repository")."""
        repo, hook = self._webhook_for(call)
        body = call.body_object()
        if "url" in body:
            if not re.match(r"https?://[^/\s]+", body.get("url") or ""):
                raise _field_error("url", "Enter a valid URL.")
            hook.url = body["url"]
        if "events" in body:
            events = body.get("events") or []
            unknown = sorted(set(events) - WEBHOOK_EVENTS)
            if not events or unknown:
                raise _field_error("events", f"Invalid event: {unknown[0]}" if unknown else "This field is required.")
            hook.events = list(dict.fromkeys(events))
        if "secret" in body:
            secret = body.get("secret")
            if secret is not None and len(secret) > 128:
                raise _field_error("secret", "Ensure this value has at most 128 characters.")
            hook.secret = secret or None
        if "description" in body:
            hook.description = body.get("description") or ""
        if "active" in body:
            hook.active = bool(body.get("active"))
        return _Response(200, self._webhook_json(repo, hook))

    def _delete_webhook(self, call: _Call) -> _Response:
        repo, hook = self._webhook_for(call)
        del repo.hooks[hook.uuid]
        return _Response(204)
