"""Branches, tags and commits, and what a ref name stands for."""

from __future__ import annotations

import re
from typing import Iterator

from bot.bitbucket.constants import MAX_PAGELEN
from bot.bitbucket.errors import NotFound
from bot.bitbucket.models import Page, ResolvedRef
from bot.bitbucket.paths import BRANCH, BRANCH_RESTRICTIONS, BRANCHES, BRANCHING_MODEL, COMMIT, COMMIT_PULL_REQUESTS, COMMITS, COMMITS_OF, TAG, TAGS
from bot.bitbucket.transport import Transport


COMMIT_HASH = re.compile(r"[0-9a-fA-F]{7,40}")


class Refs(Transport):
    """Branches, tags and commits."""

    def list_branches(self, ws: str, slug: str, *, q: str | None = None, sort: str = "-target.date",
                      limit: int | None = None) -> Page:
        """Branches, newest commit first (`sort=-target.date`); `q`: a BBQL filter such as `name ~ "release/"`."""
        params: dict = {"sort": sort, "pagelen": MAX_PAGELEN, **({"q": q} if q else {})}
        return Page(*self._collect(self._url(BRANCHES, workspace=ws, repo_slug=slug), params, limit))

    def create_branch(self, ws: str, slug: str, name: str, commit_hash: str) -> dict:
        """A new branch `name` (no `refs/heads/`) at `commit_hash` (a full hash: a short one may be ambiguous)."""
        body = {"name": name, "target": {"hash": commit_hash}}
        return self._call("POST", self._url(BRANCHES, workspace=ws, repo_slug=slug), json=body, idempotent=False)

    def delete_branch(self, ws: str, slug: str, name: str) -> None:
        """204; Bitbucket refuses to delete the main branch (400)."""
        self._call("DELETE", self._url(BRANCH, workspace=ws, repo_slug=slug, name=name))

    def list_branch_restrictions(self, ws: str, slug: str, *, kind: str | None = None) -> list[dict]:
        """The repository's branch restrictions (`kind`: only those, e.g. `delete`). Needs repository admin."""
        params: dict = {"pagelen": MAX_PAGELEN, **({"kind": kind} if kind else {})}
        return self._collect(self._url(BRANCH_RESTRICTIONS, workspace=ws, repo_slug=slug), params)[0]

    def get_branching_model(self, ws: str, slug: str) -> dict:
        """The branching model as applied to the repository: `development`, `production` (when enabled) and the
        enabled `branch_types` with their prefixes; what a `branching_model` branch restriction is matched by."""
        return self._call("GET", self._url(BRANCHING_MODEL, workspace=ws, repo_slug=slug))

    def get_branch(self, ws: str, slug: str, name: str) -> dict:
        return self._call("GET", self._url(BRANCH, workspace=ws, repo_slug=slug, name=name))

    def count_branches(self, ws: str, slug: str) -> int | None:
        """How many branches the repository has (Bitbucket's `size` of the listing; None when it gives none)."""
        page = self._call("GET", self._url(BRANCHES, workspace=ws, repo_slug=slug), params={"pagelen": 1, "fields": "size"})
        size = (page or {}).get("size")
        return size if isinstance(size, int) else None

    def iter_commit_pages(self, ws: str, slug: str, ref: str, *, fields: str | None = None) -> Iterator[list[dict]]:
        """The commits reachable from `ref` (a branch, tag or hash, sent as `include=`: a "/" in a branch name
        needs no path encoding), newest first, one page at a time: stop reading when you have enough."""
        params: dict = {"include": ref, "pagelen": 100, **({"fields": fields} if fields else {})}
        page = self._call("GET", self._url(COMMITS, workspace=ws, repo_slug=slug), params=params)
        seen = set()
        while True:
            yield list((page or {}).get("values") or ())
            next_url = (page or {}).get("next")
            if not next_url or next_url in seen:
                return
            seen.add(next_url)
            page = self._call("GET", self._link(next_url))

    def get_tag(self, ws: str, slug: str, name: str) -> dict:
        return self._call("GET", self._url(TAG, workspace=ws, repo_slug=slug, name=name))

    def get_commit(self, ws: str, slug: str, rev: str) -> dict:
        return self._call("GET", self._url(COMMIT, workspace=ws, repo_slug=slug, commit=rev))

    def list_commits_between(self, ws: str, slug: str, revision: str, exclude: str, *, pagelen: int = 20) -> Page:
        """The first page of the commits reachable from `revision` but not from `exclude` (`git log REV ^EXCLUDE`),
        newest first. Bitbucket gives no count for commits: `total` is the page's length when it is the only page,
        else None (there are more)."""
        page = self._call("GET", self._url(COMMITS_OF, workspace=ws, repo_slug=slug, revision=revision),
                          params={"exclude": exclude, "pagelen": pagelen}) or {}
        values = list(page.get("values") or ())
        return Page(values, None if page.get("next") else len(values))

    def list_commit_pull_requests(self, ws: str, slug: str, commit: str, *, pagelen: int = 10) -> list[dict]:
        """The pull requests that contain `commit` (first page). Bitbucket answers 404 until its "Pull Request
        Commit Links" app has indexed the repository, and 202 while it indexes: callers treat both as none known."""
        page = self._call("GET", self._url(COMMIT_PULL_REQUESTS, workspace=ws, repo_slug=slug, commit=commit),
                          params={"pagelen": pagelen}) or {}
        return list(page.get("values") or ())

    def resolve_ref(self, ws: str, slug: str, ref: str) -> ResolvedRef:
        """What `ref` names: something that looks like a hash is tried as a commit first, then branch, then tag."""
        lookups = [("branch", self.get_branch), ("tag", self.get_tag)]
        if COMMIT_HASH.fullmatch(ref):
            lookups.insert(0, ("commit", self.get_commit))
        for kind, lookup in lookups:
            try:
                found = lookup(ws, slug, ref)
            except NotFound:
                continue
            if kind == "commit":
                return ResolvedRef("commit", ref, found["hash"])
            return ResolvedRef(kind, found.get("name") or ref, found["target"]["hash"])
        raise NotFound(404, f'No branch, tag or commit named "{ref}" in {ws}/{slug}')

    def list_tags(self, ws: str, slug: str, *, q: str | None = None, sort: str | None = None,
                  limit: int | None = None) -> Page:
        """Tags (Bitbucket's order unless `sort`; `sort=name` is natural: 1.2 before 1.10); `q`: a BBQL filter."""
        params: dict = {"pagelen": MAX_PAGELEN, **({"q": q} if q else {}), **({"sort": sort} if sort else {})}
        return Page(*self._collect(self._url(TAGS, workspace=ws, repo_slug=slug), params, limit))

    def tags_on_commits(self, ws: str, slug: str, commits: list[str]) -> dict[str, list[str]]:
        """The names of the tags pointing at each of `commits` (full hashes), by hash: one request, one page of
        at most 100 tags (`q=target.hash = "…" OR …`). Anything that is not a hash is left out of the query."""
        wanted = sorted({c.lower() for c in commits if COMMIT_HASH.fullmatch(c or "")})
        if not wanted:
            return {}
        query = " OR ".join(f'target.hash = "{commit}"' for commit in wanted)
        found: dict[str, list[str]] = {}
        for tag in self.list_tags(ws, slug, q=query, sort="name", limit=MAX_PAGELEN).values:
            commit = ((tag.get("target") or {}).get("hash") or "").lower()
            if commit in wanted and tag.get("name"):
                found.setdefault(commit, []).append(tag["name"])
        return found

    def create_tag(self, ws: str, slug: str, name: str, commit_hash: str, message: str | None = None) -> dict:
        body: dict = {"name": name, "target": {"hash": commit_hash}}
        if message:
            body["message"] = message
        return self._call("POST", self._url(TAGS, workspace=ws, repo_slug=slug), json=body, idempotent=False)
