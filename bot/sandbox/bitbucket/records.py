"""What the simulated Bitbucket holds: users, workspaces, repositories with their commits, refs, pull requests,
webhooks, pipelines and deployments, OAuth grants; and the requests it received (`RecordedRequest`).
Plain data; the resource mixins read and change it under `FakeBitbucket._lock`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MERGE_STRATEGIES = (
    "merge_commit",
    "squash",
    "fast_forward",
    "squash_fast_forward",
    "rebase_fast_forward",
    "rebase_merge",
)
DEFAULT_MERGE_STRATEGIES = ("merge_commit", "squash", "fast_forward")
PULL_REQUEST_STATES = ("OPEN", "MERGED", "DECLINED", "SUPERSEDED")
PIPELINE_RESULTS = ("SUCCESSFUL", "FAILED", "ERROR", "STOPPED", "EXPIRED")
DEPLOYMENT_STATUSES = ("SUCCESSFUL", "FAILED", "STOPPED")
ENVIRONMENT_RANKS = {"Test": 0, "Staging": 1, "Production": 2}

@dataclass
class RecordedRequest:
    """One request as the server received it. `path` is as sent (percent-encoding kept), without the query."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any
    time: datetime


@dataclass(eq=False)
class _User:
    nickname: str
    display_name: str
    uuid: str
    account_id: str
    created_on: datetime
    type: str = "user"  # "app_user" for the pseudo-user behind an access token


@dataclass
class _Commit:
    hash: str
    message: str
    date: datetime
    author: _User | None
    parents: list[str]
    files: tuple[str, ...] = ()  # the paths it changes (what `…/diffstat` lists)


@dataclass
class _Tag:
    name: str
    hash: str
    message: str | None = None  # set for annotated tags only
    date: datetime | None = None
    tagger: _User | None = None


@dataclass(eq=False)
class _Participant:
    user: _User
    role: str  # "REVIEWER" | "PARTICIPANT"
    approved: bool = False
    state: str | None = None  # "approved" | "changes_requested" | None
    participated_on: datetime | None = None


@dataclass(eq=False)
class _PullRequest:
    id: int
    title: str
    description: str
    author: _User
    source: str
    destination: str
    source_hash: str  # frozen when the pull request closes; live branch heads are shown while it is open
    destination_hash: str
    created_on: datetime
    updated_on: datetime
    participants: list[_Participant] = field(default_factory=list)
    state: str = "OPEN"
    draft: bool = False
    close_source_branch: bool = False
    merge_hash: str | None = None
    closed_by: _User | None = None
    reason: str = ""


@dataclass
class _Webhook:
    uuid: str
    url: str
    description: str
    active: bool
    secret: str | None
    events: list[str]
    created_at: datetime


@dataclass
class _PipelineScript:
    """What a pipeline definition in bitbucket-pipelines.yml does when it runs here."""

    outcome: str  # the result it completes with
    steps_seconds: float  # how long it runs when pipelines advance on their own
    environment: str | None  # the environment its `deployment:` step deploys to, if any
    steps: tuple[str, ...] = ("Build",)  # its steps' names
    logs: dict[str, str] = field(default_factory=dict)  # a step's log, by step name


@dataclass(eq=False)
class _Workspace:
    slug: str
    uuid: str
    name: str
    created_on: datetime
    hooks: dict = field(default_factory=dict)  # uuid -> _Webhook: the workspace's webhooks (every repository's events)


@dataclass(eq=False)
class _Environment:
    uuid: str
    name: str
    environment_type: str  # "Test" | "Staging" | "Production"


@dataclass(eq=False)
class _Pipeline:
    uuid: str
    build_number: int
    target: dict  # the target as Bitbucket echoes it back
    commit: str
    script: _PipelineScript
    creator: _User
    created_on: datetime
    variables: list[dict]
    state: str = "PENDING"  # PENDING | IN_PROGRESS | COMPLETED
    result: str | None = None
    started_on: datetime | None = None
    completed_on: datetime | None = None
    deployment: _Deployment | None = None


@dataclass(eq=False)
class _Deployment:
    uuid: str
    environment: _Environment
    commit: str
    release_name: str
    created_on: datetime
    state: str = "COMPLETED"  # IN_PROGRESS | COMPLETED
    status: str | None = "SUCCESSFUL"  # set once COMPLETED
    deployer: _User | None = None
    start_date: datetime | None = None
    completion_date: datetime | None = None
    pipeline: _Pipeline | None = None


@dataclass(eq=False)
class _Repository:
    workspace: _Workspace
    slug: str
    name: str
    uuid: str
    is_private: bool
    main_branch: str
    merge_strategies: list[str]
    default_merge_strategy: str
    created_on: datetime
    commits: dict[str, _Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # name -> full hash
    tags: dict[str, _Tag] = field(default_factory=dict)
    pull_requests: dict[int, _PullRequest] = field(default_factory=dict)
    hooks: dict[str, _Webhook] = field(default_factory=dict)
    pipelines: list[_Pipeline] = field(default_factory=list)
    pipeline_scripts: dict[str | None, _PipelineScript] = field(default_factory=dict)  # None: the default one
    environments: list[_Environment] = field(default_factory=list)
    deployments: list[_Deployment] = field(default_factory=list)
    statuses: dict[str, dict[str, dict]] = field(default_factory=dict)  # commit hash -> key -> build status
    branch_restrictions: list[dict] = field(default_factory=list)  # restrictions.py
    branching_model: dict = field(default_factory=dict)  # restrictions.py: set_branching_model's choices

    @property
    def full_name(self) -> str:
        return f"{self.workspace.slug}/{self.slug}"


@dataclass
class _OAuthConsumer:
    client_id: str
    secret: str
    redirect_uri: str | None
    owner: Any  # a nickname, a user dict, or None (the first user)
    scopes: str


@dataclass(eq=False)
class _OAuthToken:
    access_token: str
    user: _User
    client_id: str
    scopes: str
    expires_at: datetime
    expired: bool = False


@dataclass(eq=False)
class _MergeTask:
    task_id: str
    repo: _Repository
    pull_request: _PullRequest
    parameters: dict
    caller: _User
    polls: int = 0
    merged: bool = False


@dataclass
class _Failure:
    method: str | None
    path: re.Pattern
    status: int
    body: Any
    headers: dict
    remaining: int
