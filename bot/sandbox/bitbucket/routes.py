"""Which handler (a method of `FakeBitbucket`, by name) answers which method and path."""

from __future__ import annotations

import re

_WS = r"/repositories/(?P<ws>[^/]+)"
_REPO = _WS + r"/(?P<slug>[^/]+)"
_PR = _REPO + r"/pullrequests/(?P<pr_id>\d+)"

# (method, path below /2.0, handler). Paths are matched decoded, so `%7B…%7D` and `%2F` arrive as `{…}` and `/`.
API_ROUTES = [
    ("GET", r"/user", "_get_current_user"),
    ("GET", r"/workspaces/(?P<ws>[^/]+)", "_get_workspace"),
    ("GET", r"/workspaces/(?P<ws>[^/]+)/members", "_list_workspace_members"),
    ("GET", r"/workspaces/(?P<ws>[^/]+)/pullrequests/(?P<selected_user>[^/]+)", "_list_user_pull_requests"),
    ("GET", r"/workspaces/(?P<ws>[^/]+)/hooks", "_list_webhooks"),  # webhooks.py: a workspace's
    ("POST", r"/workspaces/(?P<ws>[^/]+)/hooks", "_create_webhook"),
    ("GET", r"/workspaces/(?P<ws>[^/]+)/hooks/(?P<uid>[^/]+)", "_get_webhook"),
    ("PUT", r"/workspaces/(?P<ws>[^/]+)/hooks/(?P<uid>[^/]+)", "_update_webhook"),
    ("DELETE", r"/workspaces/(?P<ws>[^/]+)/hooks/(?P<uid>[^/]+)", "_delete_webhook"),
    ("GET", _WS, "_list_repositories"),
    ("GET", _REPO, "_get_repository"),
    ("GET", _REPO + r"/pullrequests", "_list_pull_requests"),
    ("POST", _REPO + r"/pullrequests", "_create_pull_request"),
    ("GET", _REPO + r"/pullrequests/activity", "_list_activity"),  # activity.py
    ("GET", _PR, "_get_pull_request"),
    ("POST", _PR + r"/merge", "_merge_pull_request"),
    ("GET", _PR + r"/merge/task-status/(?P<task_id>[^/]+)", "_get_merge_task"),
    ("POST", _PR + r"/decline", "_decline_pull_request"),
    ("POST", _PR + r"/approve", "_approve"),
    ("DELETE", _PR + r"/approve", "_unapprove"),
    ("POST", _PR + r"/request-changes", "_request_changes"),
    ("DELETE", _PR + r"/request-changes", "_remove_request_changes"),
    ("GET", _PR + r"/comments", "_list_comments"),  # comments.py
    ("POST", _PR + r"/comments", "_create_comment"),
    ("GET", _PR + r"/comments/(?P<comment_id>\d+)", "_get_comment"),
    ("PUT", _PR + r"/comments/(?P<comment_id>\d+)", "_update_comment"),
    ("DELETE", _PR + r"/comments/(?P<comment_id>\d+)", "_delete_comment"),
    ("POST", _PR + r"/comments/(?P<comment_id>\d+)/resolve", "_resolve_comment"),
    ("DELETE", _PR + r"/comments/(?P<comment_id>\d+)/resolve", "_reopen_comment"),
    ("GET", _PR + r"/diff", "_pull_request_diff"),
    ("GET", _REPO + r"/diff/(?P<spec>[^/]+)", "_repository_diff"),
    ("GET", _REPO + r"/refs/branches", "_list_branches"),
    ("POST", _REPO + r"/refs/branches", "_create_branch"),
    ("GET", _REPO + r"/refs/branches/(?P<name>.+)", "_get_branch"),
    ("DELETE", _REPO + r"/refs/branches/(?P<name>.+)", "_delete_branch"),
    ("GET", _REPO + r"/branch-restrictions", "_list_branch_restrictions"),  # restrictions.py
    ("GET", _REPO + r"/branching-model", "_get_branching_model"),  # restrictions.py
    ("GET", _REPO + r"/refs/tags", "_list_tags"),
    ("POST", _REPO + r"/refs/tags", "_create_tag"),
    ("GET", _REPO + r"/refs/tags/(?P<name>.+)", "_get_tag"),
    ("GET", _REPO + r"/commits", "_list_commits"),
    ("GET", _REPO + r"/commit/(?P<rev>[^/]+)", "_get_commit"),  # like Bitbucket, no `/` in the revision
    ("GET", _REPO + r"/hooks", "_list_webhooks"),
    ("POST", _REPO + r"/hooks", "_create_webhook"),
    ("GET", _REPO + r"/hooks/(?P<uid>[^/]+)", "_get_webhook"),
    ("PUT", _REPO + r"/hooks/(?P<uid>[^/]+)", "_update_webhook"),
    ("DELETE", _REPO + r"/hooks/(?P<uid>[^/]+)", "_delete_webhook"),
    ("GET", _REPO + r"/pipelines/", "_list_pipelines"),  # the trailing slash is required, as on Bitbucket
    ("POST", _REPO + r"/pipelines/", "_trigger_pipeline"),
    ("GET", _REPO + r"/pipelines/(?P<pipeline>[^/]+)", "_get_pipeline"),
    ("POST", _REPO + r"/pipelines/(?P<pipeline>[^/]+)/stopPipeline", "_stop_pipeline"),
    ("GET", _REPO + r"/environments/", "_list_environments"),
    ("GET", _REPO + r"/deployments/", "_list_deployments"),
    ("GET", _PR + r"/statuses", "_list_pull_request_statuses"),  # builds.py
    ("GET", _PR + r"/diffstat", "_pull_request_diffstat"),  # diffstat.py
    ("GET", _REPO + r"/diffstat/(?P<spec>[^/]+)", "_diffstat"),
    ("GET", _REPO + r"/commit/(?P<rev>[^/]+)/statuses", "_list_commit_statuses"),
    ("GET", _REPO + r"/commit/(?P<rev>[^/]+)/pullrequests", "_list_commit_pull_requests"),  # commits.py
    ("GET", _REPO + r"/commits/(?P<revision>[^/]+)", "_list_commits"),
    ("GET", _REPO + r"/pipelines/(?P<pipeline>[^/]+)/steps/?", "_list_pipeline_steps"),
    ("GET", _REPO + r"/pipelines/(?P<pipeline>[^/]+)/steps/(?P<step>[^/]+)/log", "_get_step_log"),
]

OAUTH_ROUTES = [
    ("GET", r"/site/oauth2/authorize", "_oauth_authorize"),
    ("POST", r"/site/oauth2/access_token", "_oauth_access_token"),
]

_COMPILED_API_ROUTES = [(method, re.compile(pattern), name) for method, pattern, name in API_ROUTES]
_COMPILED_OAUTH_ROUTES = [(method, re.compile(pattern), name) for method, pattern, name in OAUTH_ROUTES]
