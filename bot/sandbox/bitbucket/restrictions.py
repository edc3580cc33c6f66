"""The simulated Bitbucket's branch restrictions (`…/branch-restrictions`), in the shape of Atlassian's
`branchrestriction`: `{type, id, kind, branch_match_kind, pattern, value, users, groups, links}`. Seeded with
`add_branch_restriction`; a `delete` restriction whose glob matches a branch makes `DELETE …/refs/branches/{name}`
refuse, as Bitbucket's "Prevent deletion" does. A restriction may name a `branch_type` of the branching model instead of
a glob (`branch_match_kind` `branching_model`); the model itself (`…/branching-model`, in the shape of Atlassian's
`branching_model`) is set with `set_branching_model`: by default the development branch is the main branch, there
is no production branch, and the four branch types have their usual prefixes."""

from __future__ import annotations

import fnmatch

from bot.sandbox.bitbucket.wire import _ApiError, _Call, _link, _Response

RESTRICTION_KINDS = (
    "push", "delete", "force", "restrict_merges", "require_tasks_to_be_completed", "require_approvals_to_merge",
    "require_review_group_approvals_to_merge", "require_default_reviewer_approvals_to_merge", "require_no_changes_requested",
    "require_passing_builds_to_merge", "require_commits_behind", "reset_pullrequest_approvals_on_change",
    "smart_reset_pullrequest_approvals", "reset_pullrequest_changes_requested_on_change", "require_all_dependencies_merged",
    "enforce_merge_checks", "allow_auto_merge_when_builds_pass", "require_all_comments_resolved",
)
BRANCH_TYPES = ("feature", "bugfix", "release", "hotfix", "development", "production")
DEFAULT_PREFIXES = {"feature": "feature/", "bugfix": "bugfix/", "release": "release/", "hotfix": "hotfix/"}


class RestrictionsMixin:
    """Needs `_lock`, `_repository`, `_repo_for`, `_repo_api`, `_user`, `_user_json` and `_page`."""

    def add_branch_restriction(self, workspace, slug, kind: str, pattern: str = "", *, value: int | None = None,
                               users=(), branch_type: str | None = None) -> dict:
        """A restriction of `kind` on the branches matching the glob `pattern`, or on those of `branch_type` in
        the branching model (then `pattern` is empty, as Bitbucket answers it)."""
        if kind not in RESTRICTION_KINDS:
            raise ValueError(f"kind must be one of {RESTRICTION_KINDS}")
        if branch_type is not None and (branch_type not in BRANCH_TYPES or pattern):
            raise ValueError(f"branch_type must be one of {BRANCH_TYPES}, without a pattern")
        with self._lock:
            repo = self._repository(workspace, slug)
            restriction = {"id": max((r["id"] for r in repo.branch_restrictions), default=0) + 1, "kind": kind,
                           "branch_match_kind": "branching_model" if branch_type else "glob", "pattern": pattern,
                           "branch_type": branch_type, "value": value, "users": [self._user(u) for u in users]}
            repo.branch_restrictions.append(restriction)
            return self._restriction_json(repo, restriction)

    def _restriction_json(self, repo, restriction: dict) -> dict:
        body = {
            "type": "branchrestriction", "id": restriction["id"], "kind": restriction["kind"],
            "branch_match_kind": restriction["branch_match_kind"], "pattern": restriction["pattern"],
            "value": restriction["value"], "users": [self._user_json(u) for u in restriction["users"]], "groups": [],
            "links": {"self": _link(f"{self._repo_api(repo)}/branch-restrictions/{restriction['id']}")},
        }
        if restriction.get("branch_type"):
            body["branch_type"] = restriction["branch_type"]
        return body

    def set_branching_model(self, workspace, slug, *, development: str | None = None, production: str | None = None,
                            prefixes: dict[str, str] | None = None) -> None:
        """The repository's branching model: `development` (None: the main branch), `production` (None: disabled),
        and the enabled branch types with their prefixes (None: all four, with their usual prefixes)."""
        with self._lock:
            self._repository(workspace, slug).branching_model = {
                "development": development, "production": production,
                "prefixes": dict(DEFAULT_PREFIXES if prefixes is None else prefixes)}

    def _get_branching_model(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        model = repo.branching_model or {"prefixes": DEFAULT_PREFIXES}
        body = {"type": "branching_model",
                "development": self._model_branch(repo, model.get("development")),
                "branch_types": [{"kind": kind, "prefix": prefix} for kind, prefix in model["prefixes"].items()],
                "links": {"self": _link(f"{self._repo_api(repo)}/branching-model")}}
        if model.get("production"):
            body["production"] = self._model_branch(repo, model["production"])
        return _Response(200, body)

    def _model_branch(self, repo, name: str | None) -> dict:
        """A branch of the model: `branch` is there only when the branch exists, as on Bitbucket."""
        found = {"name": name or repo.main_branch, "use_mainbranch": name is None}
        if found["name"] in repo.branches:
            found["branch"] = {"type": "branch", "name": found["name"]}
        return found

    def _restricted(self, repo, kind: str, branch: str) -> dict | None:
        return next((r for r in repo.branch_restrictions
                     if r["kind"] == kind and fnmatch.fnmatchcase(branch, r["pattern"])), None)

    def _check_deletable(self, repo, name: str) -> None:
        if name == repo.main_branch:
            raise _ApiError(400, "You can't delete the main branch.", detail=f"{name} is the main branch of {repo.full_name}.")
        if self._restricted(repo, "delete", name):
            raise _ApiError(403, f"You can't delete {name}: a branch restriction prevents its deletion.")

    def _list_branch_restrictions(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        kind, pattern = call.arg("kind"), call.arg("pattern")
        items = [self._restriction_json(repo, r) for r in repo.branch_restrictions
                 if (not kind or r["kind"] == kind) and (not pattern or r["pattern"] == pattern)]
        return _Response(200, self._page(call, items))
