"""Pull requests: listing, reading, opening, merging, declining and reviewing them."""

from __future__ import annotations

from typing import Iterator, Sequence

from bot.bitbucket.constants import PULL_REQUEST_PAGELEN
from bot.bitbucket.errors import BitbucketError, MergeInProgress
from bot.bitbucket.models import Page, _dig
from bot.bitbucket.paths import (
    DIFFSTAT, PULL_REQUEST, PULL_REQUEST_APPROVE, PULL_REQUEST_DIFFSTAT, PULL_REQUEST_DECLINE, PULL_REQUEST_MERGE, PULL_REQUEST_REQUEST_CHANGES, PULL_REQUESTS,
    PULL_REQUESTS_ACTIVITY, WORKSPACE_USER_PULL_REQUESTS,
)
from bot.bitbucket.transport import Transport


PULL_REQUEST_REVIEW_FIELDS = "+values.reviewers,+values.participants"  # the collection omits them by default
DIFFSTAT_PAGELEN = 100


class PullRequests(Transport):
    """Pull requests of a repository, and a person's across the workspace."""

    def list_pull_requests(self, ws: str, slug: str, *, state: str | Sequence[str] = "OPEN",
                           with_reviewers: bool = True, limit: int | None = None, sort: str | None = None,
                           q: str | None = None, fields: str | None = None) -> Page:
        """Pull requests in `state` (several states: a list). Without a state Bitbucket lists only OPEN ones.
        `sort`: one field, `-` for descending (`-created_on`: newest first). `q`: a BBQL filter; `fields`: the
        fields to return instead of the defaults (with reviewers and participants unless `with_reviewers` is off)."""
        params: dict = {"state": state, "pagelen": PULL_REQUEST_PAGELEN}
        if sort:
            params["sort"] = sort
        if q:
            params["q"] = q
        if fields or with_reviewers:
            params["fields"] = fields or PULL_REQUEST_REVIEW_FIELDS  # requests sends "+" as %2B, as Bitbucket needs
        return Page(*self._collect(self._url(PULL_REQUESTS, workspace=ws, repo_slug=slug), params, limit))

    def iter_activity_pages(self, ws: str, slug: str, *, fields: str | None = None) -> Iterator[list[dict]]:
        """The repository's pull request activity (comments, approvals, change requests, state updates across
        all its pull requests), newest first, one page of 50 at a time: stop reading when you have enough."""
        params: dict = {"pagelen": PULL_REQUEST_PAGELEN, **({"fields": fields} if fields else {})}
        page = self._call("GET", self._url(PULL_REQUESTS_ACTIVITY, workspace=ws, repo_slug=slug), params=params)
        seen = set()
        while True:
            yield list(page.get("values") or ())
            next_url = page.get("next")
            if not next_url or next_url in seen:
                return
            seen.add(next_url)
            page = self._call("GET", self._link(next_url))

    def list_user_pull_requests(self, ws: str, user: str, *, limit: int | None = None) -> Page:
        """The open pull requests `user` (uuid or account_id) authored anywhere in the workspace."""
        params = {"state": "OPEN", "pagelen": PULL_REQUEST_PAGELEN, "fields": PULL_REQUEST_REVIEW_FIELDS}
        return Page(*self._collect(self._url(WORKSPACE_USER_PULL_REQUESTS, workspace=ws, selected_user=user), params, limit))

    def list_pull_requests_where(self, ws: str, slug: str, q: str, *, sort: str | None = None, limit: int | None = None) -> Page:
        """Pull requests matching the BBQL filter `q` (for example `reviewers.uuid="{…}" AND state="OPEN"`)."""
        params: dict = {"q": q, "pagelen": PULL_REQUEST_PAGELEN, "fields": PULL_REQUEST_REVIEW_FIELDS}
        if sort:
            params["sort"] = sort
        return Page(*self._collect(self._url(PULL_REQUESTS, workspace=ws, repo_slug=slug), params, limit))

    def get_pull_request(self, ws: str, slug: str, pr_id: int) -> dict:
        return self._call("GET", self._pr_url(PULL_REQUEST, ws, slug, pr_id))

    def create_pull_request(self, ws: str, slug: str, *, title: str, source: str, destination: str | None = None,
                            description: str = "", close_source_branch: bool = True) -> dict:
        """Open a pull request from branch `source`; without `destination` Bitbucket targets the main branch."""
        body: dict = {
            "title": title,
            "description": description,
            "source": {"branch": {"name": source}},
            "close_source_branch": close_source_branch,
        }
        if destination:
            body["destination"] = {"branch": {"name": destination}}
        return self._call("POST", self._url(PULL_REQUESTS, workspace=ws, repo_slug=slug), json=body, idempotent=False)

    def merge_pull_request(self, ws: str, slug: str, pr_id: int, *, strategy: str | None = None,
                           message: str | None = None, close_source_branch: bool | None = None,
                           poll_interval: float = 1.0, poll_timeout: float = 60) -> dict:
        """Merge and return the merged pull request. A slow merge answers 202 with a task-status URL in
        `Location`; it is polled until the merge is done or `poll_timeout` runs out (`MergeInProgress`)."""
        body: dict = {"type": "pullrequest_merge_parameters"}
        for key, value in (("merge_strategy", strategy), ("message", message),
                           ("close_source_branch", close_source_branch)):
            if value is not None:
                body[key] = value
        url = self._pr_url(PULL_REQUEST_MERGE, ws, slug, pr_id)
        response = self._request("POST", url, json=body, idempotent=False)
        if response.status_code == 202:
            return self._await_merge(response.headers.get("Location"), poll_interval, poll_timeout)
        return response.json()

    def decline_pull_request(self, ws: str, slug: str, pr_id: int) -> dict:
        return self._call("POST", self._pr_url(PULL_REQUEST_DECLINE, ws, slug, pr_id))

    def approve_pull_request(self, ws: str, slug: str, pr_id: int) -> dict:
        return self._call("POST", self._pr_url(PULL_REQUEST_APPROVE, ws, slug, pr_id))

    def unapprove_pull_request(self, ws: str, slug: str, pr_id: int) -> None:
        self._call("DELETE", self._pr_url(PULL_REQUEST_APPROVE, ws, slug, pr_id))

    def request_changes(self, ws: str, slug: str, pr_id: int) -> dict:
        return self._call("POST", self._pr_url(PULL_REQUEST_REQUEST_CHANGES, ws, slug, pr_id))

    def remove_request_changes(self, ws: str, slug: str, pr_id: int) -> None:
        self._call("DELETE", self._pr_url(PULL_REQUEST_REQUEST_CHANGES, ws, slug, pr_id))

    def _await_merge(self, location: str | None, poll_interval: float, poll_timeout: float) -> dict:
        if not location:
            raise MergeInProgress(202)
        url = self._link(location)
        deadline = self._clock() + poll_timeout
        while self._clock() < deadline:
            self._sleep(poll_interval)
            task = self._call("GET", url)  # a failed merge answers with an error body, raised from here
            if task.get("type") == "error":
                raise BitbucketError(200, _dig(task, "error", "message"), _dig(task, "error", "detail"))
            if task.get("task_status") == "SUCCESS":
                return task["merge_result"]
        raise MergeInProgress(202)

    # The files a change touches (`{status, old: {path}, new: {path}, lines_added, lines_removed}` each).

    def pull_request_diffstat(self, ws: str, slug: str, pr_id: int, *, max_files: int = 1000) -> tuple[list[dict], bool]:
        """The files a pull request changes (Bitbucket redirects to the diffstat of its commits), at most `max_files`
        of them: (entries, complete)."""
        url = self._pr_url(PULL_REQUEST_DIFFSTAT, ws, slug, pr_id)
        items, _ = self._collect(url, {"pagelen": DIFFSTAT_PAGELEN}, limit=max_files + 1)
        return items[:max_files], len(items) <= max_files

    def diffstat(self, ws: str, slug: str, spec: str) -> tuple[list[dict], bool]:
        """The first page of the files `spec` changes (`NEW..OLD`: what NEW has that OLD lacks; one commit: against
        its first parent): (entries, complete)."""
        page = self._call("GET", self._url(DIFFSTAT, workspace=ws, repo_slug=slug, spec=spec), params={"pagelen": DIFFSTAT_PAGELEN})
        return list((page or {}).get("values") or []), not (page or {}).get("next")

