"""Every path the Bitbucket client calls, and the one function that fills them in.

Templates are spelled as in Atlassian's swagger.json (a test checks each against it). The pipelines
collections keep their trailing slash: without it Bitbucket has answered "There is no API hosted at this
URL". Their single items must not have one.
"""

from __future__ import annotations

from urllib.parse import quote

from bot.bitbucket.errors import InvalidPathSegment

USER = "/user"
WORKSPACE = "/workspaces/{workspace}"
WORKSPACE_MEMBERS = WORKSPACE + "/members"
WORKSPACE_USER_PULL_REQUESTS = WORKSPACE + "/pullrequests/{selected_user}"
WORKSPACE_HOOKS = WORKSPACE + "/hooks"  # fire for every repository of the workspace
WORKSPACE_HOOK = WORKSPACE_HOOKS + "/{uid}"
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
PULL_REQUEST_COMMENTS = PULL_REQUEST + "/comments"
PULL_REQUEST_COMMENT = PULL_REQUEST_COMMENTS + "/{comment_id}"
PULL_REQUEST_DIFF = PULL_REQUEST + "/diff"  # answers 302 to the repository's diff of the two commits
BRANCHES = REPOSITORY + "/refs/branches"
BRANCH = BRANCHES + "/{name}"
BRANCH_RESTRICTIONS = REPOSITORY + "/branch-restrictions"  # needs repository admin
BRANCHING_MODEL = REPOSITORY + "/branching-model"  # development, production and prefixed branch types (read access)
COMMITS = REPOSITORY + "/commits"  # `include=` a ref: like `git log REF`, newest first
PULL_REQUEST_DIFFSTAT = PULL_REQUEST + "/diffstat"  # answers 302 to DIFFSTAT of the pull request's commits
DIFFSTAT = REPOSITORY + "/diffstat/{spec}"
TAGS = REPOSITORY + "/refs/tags"
TAG = TAGS + "/{name}"
COMMIT = REPOSITORY + "/commit/{commit}"
COMMIT_STATUSES = COMMIT + "/statuses"
COMMIT_PULL_REQUESTS = COMMIT + "/pullrequests"  # the pull requests that contain a commit
COMMITS_OF = REPOSITORY + "/commits/{revision}"  # `git log REVISION ^EXCLUDE…`, newest first
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
    ("GET", BRANCHES),
    ("POST", BRANCHES),
    ("POST", PULL_REQUEST_COMMENTS),
    ("GET", PULL_REQUEST_COMMENT),
    ("PUT", PULL_REQUEST_COMMENT),
    ("DELETE", PULL_REQUEST_COMMENT),
    ("GET", PULL_REQUEST_DIFF),
    ("GET", PULL_REQUEST_DIFFSTAT),
    ("GET", DIFFSTAT),
    ("GET", BRANCH),
    ("DELETE", BRANCH),
    ("GET", BRANCH_RESTRICTIONS),
    ("GET", BRANCHING_MODEL),
    ("GET", BRANCH),
    ("GET", COMMITS),
    ("GET", TAG),
    ("POST", TAGS),
    ("GET", COMMIT),
    ("GET", COMMIT_STATUSES),
    ("GET", COMMIT_PULL_REQUESTS),
    ("GET", COMMITS_OF),
    ("GET", HOOKS),
    ("POST", HOOKS),
    ("GET", HOOK),
    ("PUT", HOOK),
    ("DELETE", HOOK),
    ("GET", WORKSPACE_HOOKS),
    ("POST", WORKSPACE_HOOKS),
    ("GET", WORKSPACE_HOOK),
    ("PUT", WORKSPACE_HOOK),
    ("DELETE", WORKSPACE_HOOK),
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
    """Fill a path template, each value percent-encoded as one path segment, so no value can reach another path.

    Every character that is not unreserved is encoded, brace-UUIDs included (`{` becomes `%7B`), non-ASCII as
    UTF-8. Ref names (`{name}`) keep "/" between their parts, as Bitbucket's own links spell them
    (`refs/branches/feature/x`). A value that would not name one thing of its own (empty, "." or "..", which
    HTTP clients and servers fold into the path around them; a "/" in a workspace or slug; an empty, "." or
    ".." part of a ref name) raises `InvalidPathSegment` before anything is sent.
    """
    return template.format(**{key: path_segment(key, value) for key, value in values.items()})


# What each template parameter is, in the words of a refusal.
_WHAT = {
    "workspace": "workspace", "repo_slug": "repository slug", "name": "branch or tag name", "commit": "commit",
    "pipeline_uuid": "pipeline", "step_uuid": "pipeline step", "uid": "webhook", "selected_user": "user",
    "pull_request_id": "pull request number", "revision": "revision", "comment_id": "comment", "spec": "commit or range",
}
_REF_NAMES = frozenset({"name"})  # "/" separates the parts of a ref name; each part is checked and encoded
_WHOLE_NAMES = frozenset({"workspace", "repo_slug"})  # a "/" here is a mistake, never a part of the name
_DOT_SEGMENTS = ("", ".", "..")


def path_segment(key: str, value: object) -> str:
    """`value` encoded as the path segment (or, for a ref name, the segments) of template parameter `key`."""
    text = str(value)
    what = _WHAT.get(key, key.replace("_", " "))
    if key in _WHOLE_NAMES and "/" in text:
        raise InvalidPathSegment.refusing(what, text, 'it has no "/"')
    parts = text.split("/") if key in _REF_NAMES else [text]
    if any(part in _DOT_SEGMENTS for part in parts):
        reason = 'each part between "/" needs a name' if len(parts) > 1 else 'a name of its own is needed, not "", "." or ".."'
        raise InvalidPathSegment.refusing(what, text, reason)
    return "/".join(quote(part, safe="") for part in parts)
