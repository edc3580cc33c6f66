"""The Bitbucket Cloud REST 2.0 client, one module per resource over one transport.

- `transport`: the one `requests.Session`, retries with backoff and full jitter (honouring Retry-After; writes
  that must not happen twice are not repeated after a 5xx), pagination that follows `next`, typed errors.
- `errors`, `credentials`, `models`, `paths` (every path template and the one function that fills them in).
- Resources: `workspaces` (user, workspace, members, repositories), `pull_requests`, `comments` (a pull request's
  comments and its diff), `refs` (branches, tags,
  commits, `resolve_ref`), `hooks` (webhooks), `pipelines` (pipelines, steps, logs, commit statuses),
  `deployments` (environments, deployments). `client.BitbucketClient` combines them.

Calls return Bitbucket's JSON as it came; the pure `from_api` constructors turn what the bot renders into small
frozen models. Import from here: `from bot.bitbucket import BitbucketClient, PullRequest, NotFound`.
"""

from bot.bitbucket.client import BitbucketClient
from bot.bitbucket.constants import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    DEFAULT_TOKEN_LIFETIME,
    MAX_BACKOFF,
    MAX_PAGELEN,
    MAX_RETRY_AFTER,
    OAUTH_TOKEN_URL,
    PULL_REQUEST_PAGELEN,
    RETRY_STATUSES,
    TOKEN_REFRESH_MARGIN,
    USER_AGENT,
)
from bot.bitbucket.credentials import BasicApiToken, BearerToken, ClientCredentials, Credentials, UserOAuthToken
from bot.bitbucket.errors import (
    BadRequest,
    BitbucketError,
    Conflict,
    Forbidden,
    InvalidPathSegment,
    MergeInProgress,
    NetworkError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    error_from_response,
    error_words,
    outcome_unknown,
)
from bot.bitbucket.models import (
    Account,
    CommitStatus,
    Deployment,
    Environment,
    Page,
    Pipeline,
    PipelineStep,
    PullRequest,
    PullRequestPage,
    Repository,
    ResolvedRef,
    parse_timestamp,
)
from bot.bitbucket.paths import (
    BRANCH,
    BRANCH_RESTRICTIONS,
    BRANCHES,
    BRANCHING_MODEL,
    COMMIT,
    COMMITS,
    COMMIT_PULL_REQUESTS,
    DIFFSTAT,
    PULL_REQUEST_DIFFSTAT,
    COMMIT_STATUSES,
    COMMITS_OF,
    DEPLOYMENTS,
    ENDPOINTS,
    ENVIRONMENTS,
    HOOK,
    HOOKS,
    PIPELINE,
    PIPELINE_STEP_LOG,
    PIPELINE_STEPS,
    PIPELINE_STOP,
    PIPELINES,
    PULL_REQUEST,
    PULL_REQUEST_APPROVE,
    PULL_REQUEST_COMMENT,
    PULL_REQUEST_COMMENTS,
    PULL_REQUEST_DIFF,
    PULL_REQUEST_DECLINE,
    PULL_REQUEST_MERGE,
    PULL_REQUEST_REQUEST_CHANGES,
    PULL_REQUEST_STATUSES,
    PULL_REQUESTS,
    PULL_REQUESTS_ACTIVITY,
    REPOSITORIES,
    REPOSITORY,
    TAG,
    TAGS,
    USER,
    WORKSPACE,
    WORKSPACE_HOOK,
    WORKSPACE_HOOKS,
    WORKSPACE_MEMBERS,
    WORKSPACE_USER_PULL_REQUESTS,
    expand_path,
    path_segment,
)
from bot.bitbucket.pipelines import pipeline_body, pipeline_target_for
from bot.bitbucket.pull_requests import PULL_REQUEST_REVIEW_FIELDS
from bot.bitbucket.refs import COMMIT_HASH
from bot.bitbucket.transport import RateLimit

__all__ = [
    # the client and how it signs in
    "BitbucketClient", "RateLimit", "Credentials", "BearerToken", "BasicApiToken", "ClientCredentials", "UserOAuthToken",
    # errors
    "BitbucketError", "BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict", "RateLimited", "ServerError",
    "NetworkError", "MergeInProgress", "InvalidPathSegment", "error_from_response", "error_words", "outcome_unknown",
    # models and request bodies
    "Account", "PullRequest", "Page", "PullRequestPage", "Repository", "ResolvedRef", "Pipeline", "PipelineStep",
    "CommitStatus", "Environment", "Deployment", "parse_timestamp", "pipeline_target_for", "pipeline_body",
    # settings
    "DEFAULT_BASE_URL", "OAUTH_TOKEN_URL", "DEFAULT_TIMEOUT", "RETRY_STATUSES", "MAX_BACKOFF", "MAX_RETRY_AFTER",
    "TOKEN_REFRESH_MARGIN", "DEFAULT_TOKEN_LIFETIME", "PULL_REQUEST_PAGELEN", "MAX_PAGELEN", "USER_AGENT",
    "PULL_REQUEST_REVIEW_FIELDS", "COMMIT_HASH",
    # paths
    "ENDPOINTS", "expand_path", "path_segment", "USER", "WORKSPACE", "WORKSPACE_MEMBERS", "WORKSPACE_USER_PULL_REQUESTS", "WORKSPACE_HOOKS",
    "WORKSPACE_HOOK", "REPOSITORIES",
    "REPOSITORY", "PULL_REQUESTS", "PULL_REQUEST", "PULL_REQUESTS_ACTIVITY", "PULL_REQUEST_MERGE", "PULL_REQUEST_DECLINE",
    "PULL_REQUEST_APPROVE", "PULL_REQUEST_REQUEST_CHANGES", "PULL_REQUEST_STATUSES", "PULL_REQUEST_COMMENTS", "PULL_REQUEST_COMMENT",
    "PULL_REQUEST_DIFF", "BRANCHES", "BRANCH", "BRANCH_RESTRICTIONS", "BRANCHING_MODEL", "COMMITS", "TAGS", "TAG", "COMMIT",
    "COMMIT_STATUSES", "COMMIT_PULL_REQUESTS", "DIFFSTAT", "PULL_REQUEST_DIFFSTAT", "COMMITS_OF", "HOOKS", "HOOK", "PIPELINES", "PIPELINE", "PIPELINE_STOP", "PIPELINE_STEPS", "PIPELINE_STEP_LOG",
    "ENVIRONMENTS", "DEPLOYMENTS",
]
