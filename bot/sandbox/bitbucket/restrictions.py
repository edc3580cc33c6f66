"""The simulated Bitbucket's branch restrictions (`…/branch-restrictions`), in the shape of Atlassian's
`branchrestriction`: `{type, id, kind, branch_match_kind, pattern, value, users, groups, links}`. Seeded with
`add_branch_restriction`; a `delete` restriction whose glob matches a branch makes `DELETE …/refs/branches/{name}`
refuse, as Bitbucket's "Prevent deletion" does."""

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


class RestrictionsMixin:
    """Needs `_lock`, `_repository`, `_repo_for`, `_repo_api`, `_user`, `_user_json` and `_page`."""

    def add_branch_restriction(self, workspace, slug, kind: str, pattern: str, *, value: int | None = None,
                               users=()) -> dict:
        """A restriction of `kind` on the branches matching the glob `pattern`."""
        if kind not in RESTRICTION_KINDS:
            raise ValueError(f"kind must be one of {RESTRICTION_KINDS}")
        with self._lock:
            repo = self._repository(workspace, slug)
            restriction = {"id": max((r["id"] for r in repo.branch_restrictions), default=0) + 1, "kind": kind,
                           "branch_match_kind": "glob", "pattern": pattern, "value": value,
                           "users": [self._user(u) for u in users]}
            repo.branch_restrictions.append(restriction)
            return self._restriction_json(repo, restriction)

    def _restriction_json(self, repo, restriction: dict) -> dict:
        return {
            "type": "branchrestriction", "id": restriction["id"], "kind": restriction["kind"],
            "branch_match_kind": restriction["branch_match_kind"], "pattern": restriction["pattern"],
            "value": restriction["value"], "users": [self._user_json(u) for u in restriction["users"]], "groups": [],
            "links": {"self": _link(f"{self._repo_api(repo)}/branch-restrictions/{restriction['id']}")},
        }

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
