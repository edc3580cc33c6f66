"""Every path the Bitbucket client calls, and the one function that fills them in.

Templates are spelled as in Atlassian's swagger.json (a test checks each against it). The pipelines
collections keep their trailing slash: without it Bitbucket has answered "There is no API hosted at this
URL". Their single items must not have one.
"""

from __future__ import annotations

from urllib.parse import quote

USER = "/user"
WORKSPACE = "/workspaces/{workspace}"
WORKSPACE_MEMBERS = WORKSPACE + "/members"
WORKSPACE_USER_PULL_REQUESTS = WORKSPACE + "/pullrequests/{selected_user}"
REPOSITORIES = "/repositories/{workspace}"
REPOSITORY = REPOSITORIES + "/{repo_slug}"
PULL_REQUESTS = REPOSITORY + "/pullrequests"
PULL_REQUEST = PULL_REQUESTS + "/{pull_request_id}"
PULL_REQUESTS_ACTIVITY = PULL_REQUESTS + "/activity"  # the whole repository's, newest first
PULL_REQUEST_MERGE = PULL_REQUEST + "/merge"
PULL_REQUEST_DECLINE = PULL_REQUEST + "/decline"
PULL_REQUEST_APPROVE = PULL_REQUEST + "/approve"
PULL_REQUEST_REQUEST_CHANGES = PULL_REQUEST + "/request-changes"
PULL_REQUEST_STATUSES = PULL_REQUEST + "/statuses"
BRANCH = REPOSITORY + "/refs/branches/{name}"
TAGS = REPOSITORY + "/refs/tags"
TAG = TAGS + "/{name}"
COMMIT = REPOSITORY + "/commit/{commit}"
COMMIT_STATUSES = COMMIT + "/statuses"
HOOKS = REPOSITORY + "/hooks"
HOOK = HOOKS + "/{uid}"
PIPELINES = REPOSITORY + "/pipelines/"
PIPELINE = REPOSITORY + "/pipelines/{pipeline_uuid}"
PIPELINE_STOP = PIPELINE + "/stopPipeline"
PIPELINE_STEPS = PIPELINE + "/steps/"
PIPELINE_STEP_LOG = PIPELINE + "/steps/{step_uuid}/log"
ENVIRONMENTS = REPOSITORY + "/environments/"
DEPLOYMENTS = REPOSITORY + "/deployments/"

# Every (method, path) the client calls. The merge task-status URL is not here: it is followed as
# Bitbucket hands it over in the Location header.
ENDPOINTS = (
    ("GET", USER),
    ("GET", WORKSPACE),
    ("GET", WORKSPACE_MEMBERS),
    ("GET", WORKSPACE_USER_PULL_REQUESTS),
    ("GET", REPOSITORIES),
    ("GET", REPOSITORY),
    ("GET", PULL_REQUESTS),
    ("POST", PULL_REQUESTS),
    ("GET", PULL_REQUESTS_ACTIVITY),
    ("GET", PULL_REQUEST),
    ("POST", PULL_REQUEST_MERGE),
    ("POST", PULL_REQUEST_DECLINE),
    ("POST", PULL_REQUEST_APPROVE),
    ("DELETE", PULL_REQUEST_APPROVE),
    ("POST", PULL_REQUEST_REQUEST_CHANGES),
    ("DELETE", PULL_REQUEST_REQUEST_CHANGES),
    ("GET", PULL_REQUEST_STATUSES),
    ("GET", BRANCH),
    ("GET", TAG),
    ("POST", TAGS),
    ("GET", COMMIT),
    ("GET", COMMIT_STATUSES),
    ("GET", HOOKS),
    ("POST", HOOKS),
    ("PUT", HOOK),
    ("DELETE", HOOK),
    ("GET", PIPELINES),
    ("POST", PIPELINES),
    ("GET", PIPELINE),
    ("POST", PIPELINE_STOP),
    ("GET", PIPELINE_STEPS),
    ("GET", PIPELINE_STEP_LOG),
    ("GET", ENVIRONMENTS),
    ("GET", DEPLOYMENTS),
)


def expand_path(template: str, **values: object) -> str:
    """Fill a path template, percent-encoding each value as one path segment.

    Ref names (`{name}`) keep "/" literal, as Bitbucket's own links do (`refs/branches/feature/x`); every
    other character that is not unreserved is encoded, brace-UUIDs included (`{` becomes `%7B`).
    """
    encoded = {key: quote(str(value), safe="/" if key == "name" else "") for key, value in values.items()}
    return template.format(**encoded)
