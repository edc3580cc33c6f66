"""A simulated Bitbucket Cloud REST API 2.0 server, for the sandbox and for end-to-end tests.

`FakeBitbucket` is a real HTTP server on 127.0.0.1 (an ephemeral port, one thread per connection) that keeps
its state in memory and answers in the shapes Bitbucket Cloud documents and really sends: paginated envelopes
with opaque `next` links, `{"type": "error", "error": {...}}` bodies, users with `uuid`/`account_id`/`nickname`,
twelve-character commit hashes inside pull requests, ISO-8601 dates with `+00:00`, and the product's quirks:

* the pull-request list leaves out `reviewers` and `participants` unless `fields` asks for them;
* `pagelen` above 50 on pull requests (100 elsewhere) is refused with 400 "Invalid pagelen", never clamped;
* the pipelines, environments and deployments collections need their trailing slash;
* merges may answer 202 with a `Location` to poll;
* a 429 is plain text without `Retry-After` (through `fail_next`).

Tests seed it (`add_user`, `add_repository`, `add_pull_request`, `add_review`, `add_comment` (`activity.py`, which
serves the repository-wide `pullrequests/activity`), ...), point our real client at `base_url`, then
read what was asked of it (`requests`, `requests_to`) and what it now holds (`pull_request`, `webhooks`, ...).
They can inject failures (`fail_next`), latency (`latency`), asynchronous merges (`merge_mode`) and drive
pipelines by hand (`advance_pipeline`). The sandbox seeds it with `demo_workspace` and lets pipelines run on
their own (`auto_advance_pipelines`).

Standard library only.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import http
import json
import re
import secrets
import threading
import time
import traceback
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlencode, urlsplit

from bot.sandbox.activity import ActivityMixin

__all__ = ["FakeBitbucket", "RecordedRequest", "demo_workspace"]

from bot.sandbox.bitbucket_builds import STORAGE_PREFIX, BuildsMixin  # noqa: E402 - it reads this module's helpers
from bot.sandbox.bitbucket_builds import routes as builds_routes  # noqa: E402

WEB_ROOT = "https://bitbucket.org"
PUBLIC_API_ROOT = "https://api.bitbucket.org/2.0"  # used in links until the server has a port

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

PIPELINE_FILTERS = (
    "target.ref_type",
    "target.ref_name",
    "target.branch",
    "target.commit.hash",
    "target.selector.type",
    "target.selector.pattern",
    "creator.uuid",
)  # the query parameters GET …/pipelines/ filters on (it takes no BBQL)

PULL_REQUEST_PAGELEN_MAX = 50  # what Bitbucket enforces, although its docs say 100
DEFAULT_PAGELEN_MAX = 100
DEFAULT_PAGELEN = 10

NO_API_HERE = (
    "There is no API hosted at this URL.\n\nFor information about our API's, please refer to the "
    "documentation at: https://developer.atlassian.com/bitbucket/api/2/reference/"
)
RATE_LIMITED_TEXT = "Rate limit for this resource has been exceeded"
TOKEN_EXPIRED = "Access token expired. Use your refresh token to obtain a new access token."
SELECTOR_NOT_FOUND = "Requested selector is not found in bitbucket-pipelines.yml."


# --------------------------------------------------------------------------------------------- small helpers


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    """Bitbucket's timestamps: always microseconds, always `+00:00` (so they also sort as strings)."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _parse_datetime(text: Any) -> datetime | None:
    if not isinstance(text, str) or not re.match(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _braced_uuid() -> str:
    return "{%s}" % uuidlib.uuid4()


def _same_uuid(a: str, b: str) -> bool:
    """UUIDs arrive with or without their braces."""
    return a.strip("{}").lower() == b.strip("{}").lower()


def _link(href: str) -> dict:
    return {"href": href}


def _rendered(text: str) -> dict:
    body = f"<p>{html.escape(text)}</p>" if text else ""
    return {"type": "rendered", "raw": text, "markup": "markdown", "html": body}


def _slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# --------------------------------------------------------------------------------------------- records


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


@dataclass
class _Response:
    status: int
    body: Any = None  # dict/list -> JSON, str -> plain text, None -> empty
    headers: dict = field(default_factory=dict)
    hidden: tuple[str, ...] = ()  # fields left out unless `fields` asks for them

    def encode(self) -> tuple[bytes, str | None]:
        if self.body is None:
            return b"", None
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json; charset=utf-8"


class _ApiError(Exception):
    """A refusal, answered with Bitbucket's error body."""

    def __init__(self, status, message, *, detail=None, fields=None, data=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail
        self.fields = fields
        self.data = data
        self.headers = headers or {}

    def response(self) -> _Response:
        error: dict[str, Any] = {"message": self.message}
        for key in ("detail", "fields", "data"):
            if getattr(self, key) is not None:
                error[key] = getattr(self, key)
        return _Response(self.status, {"type": "error", "error": error}, dict(self.headers))


def _not_found(message: str, **extra) -> _ApiError:
    return _ApiError(404, message, **extra)


def _bad_request(message: str, **extra) -> _ApiError:
    return _ApiError(400, message, **extra)


def _field_error(name: str, problem: str) -> _ApiError:
    """A validation failure on one field of a POSTed body, as Bitbucket words them."""
    return _ApiError(400, f"{name}: {problem}", fields={name: [problem]})


@dataclass
class _Call:
    """One API call being answered."""

    method: str
    path: str  # decoded
    raw_path: str  # as sent
    query_pairs: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    json: Any
    params: dict[str, str] = field(default_factory=dict)  # from the route's pattern
    caller: _User | None = None

    @property
    def query(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for key, value in self.query_pairs:
            found.setdefault(key, []).append(value)
        return found

    def arg(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.query_pairs:
            if key == name:
                return value
        return default

    def body_object(self) -> dict:
        """The JSON object sent; an empty body counts as `{}`."""
        if not self.body.strip():
            return {}
        if not isinstance(self.json, dict):
            raise _bad_request("Bad request", detail="The request body must be a JSON object.")
        return self.json


# --------------------------------------------------------------------------------------------- partial responses


def _split_path(path: str) -> list[str]:
    return [part for part in path.split(".") if part]


def _reveals(requested: list[str], hidden: list[str]) -> bool:
    """Whether a requested field path names a hidden one (`values.reviewers`, `values.*`, `*`)."""
    for index, hidden_part in enumerate(hidden):
        if index >= len(requested):
            return bool(requested) and requested[-1] == "*"
        if requested[index] not in (hidden_part, "*"):
            return False
    return True


def _drop(value: Any, path: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _drop(item, path)
        return
    if not isinstance(value, dict) or not path:
        return
    head, rest = path[0], path[1:]
    keys = list(value) if head == "*" else [head] if head in value else []
    for key in keys:
        if rest:
            _drop(value[key], rest)
        else:
            del value[key]


def _keep_only(value: Any, paths: list[list[str]]) -> Any:
    if any(not path for path in paths):
        return value
    if isinstance(value, list):
        return [_keep_only(item, paths) for item in value]
    if not isinstance(value, dict):
        return value
    kept = {}
    for key, item in value.items():
        deeper = [path[1:] for path in paths if path[0] in (key, "*")]
        if deeper:
            kept[key] = _keep_only(item, deeper)
    return kept


def _partial_response(body: dict, spec: str, hidden: tuple[str, ...]) -> dict:
    """Bitbucket's `fields`: `-a.b` drops a field, `+a.b` adds a hidden one, plain `a.b` keeps only what is listed.

    A raw `+` in a query string decodes to a space; like Bitbucket we then read the field as a plain one.
    """
    items = [item.strip() for item in spec.split(",") if item.strip()]
    added = [_split_path(item[1:]) for item in items if item.startswith("+")]
    removed = [_split_path(item[1:]) for item in items if item.startswith("-")]
    only = [_split_path(item) for item in items if item[0] not in "+-"]
    body = copy.deepcopy(body)
    for hidden_path in map(_split_path, hidden):
        if not any(_reveals(requested, hidden_path) for requested in added + only):
            _drop(body, hidden_path)
    if only:
        body = _keep_only(body, only)
    for path in removed:
        _drop(body, path)
    return body


# --------------------------------------------------------------------------------------------- BBQL (q and sort)


def _values_at(obj: Any, path: list[str]) -> list:
    """Every value at a dotted path; lists along the way fan out (`reviewers.uuid`)."""
    values = [obj]
    for part in path:
        found = []
        for value in values:
            if isinstance(value, list):
                found.extend(item.get(part) for item in value if isinstance(item, dict))
            elif isinstance(value, dict):
                found.append(value.get(part))
        values = found
    flat = []
    for value in values:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


_BBQL_TOKEN = re.compile(r'\s*(?:(\()|(\))|("(?:[^"\\]|\\.)*")|(!=|>=|<=|!~|=|~|>|<)|([^\s()=!~<>"]+))')


class _Query:
    """A subset of BBQL: `field op value` joined by AND / OR, with parentheses.

    Values are "strings", numbers, null, true, false and unquoted ISO-8601 datetimes.
    """

    def __init__(self, text: str):
        self.text = text
        self.tokens = self._tokenize(text)
        self.position = 0
        self.predicate = self._expression()
        if self.position != len(self.tokens):
            self._fail("unexpected text after the end of the query")

    def matches(self, item: dict) -> bool:
        return self.predicate(item)

    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while text[position:].strip():
            match = _BBQL_TOKEN.match(text, position)
            if not match:
                self._fail(f"cannot read {text[position:].strip()!r}")
            index = next(i for i in range(5) if match.group(i + 1) is not None)
            tokens.append((("(", ")", "string", "operator", "word")[index], match.group(index + 1)))
            position = match.end()
        return tokens

    def _fail(self, why: str):
        raise _bad_request("Invalid query", detail=f"{why}: {self.text}")

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, kind: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token is None or (kind and token[0] != kind):
            self._fail(f"expected {kind or 'more'}")
        self.position += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token and token[0] == "word" and token[1].upper() == word:
            self.position += 1
            return True
        return False

    def _expression(self) -> Callable[[dict], bool]:
        left = self._conjunction()
        while self._keyword("OR"):
            right, before = self._conjunction(), left
            left = lambda item, a=before, b=right: a(item) or b(item)
        return left

    def _conjunction(self) -> Callable[[dict], bool]:
        left = self._comparison()
        while self._keyword("AND"):
            right, before = self._comparison(), left
            left = lambda item, a=before, b=right: a(item) and b(item)
        return left

    def _comparison(self) -> Callable[[dict], bool]:
        if self._peek() and self._peek()[0] == "(":
            self._take("(")
            inner = self._expression()
            self._take(")")
            return inner
        path = _split_path(self._take("word")[1])
        operator = self._take("operator")[1]
        expected = self._value()
        return lambda item: _compare_any(_values_at(item, path), operator, expected)

    def _value(self) -> Any:
        kind, text = self._take()
        if kind == "string":
            return json.loads(text)
        if kind != "word":
            self._fail("expected a value")
        constants = {"null": None, "true": True, "false": False}
        if text.lower() in constants:
            return constants[text.lower()]
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return float(text)
        moment = _parse_datetime(text)
        if moment is None:
            self._fail(f"{text!r} is not a value")
        return moment


def _compare_any(actual_values: list, operator: str, expected: Any) -> bool:
    if operator in ("!=", "!~"):
        positive = {"!=": "=", "!~": "~"}[operator]
        return not any(_compare(value, positive, expected) for value in actual_values)
    return any(_compare(value, operator, expected) for value in actual_values)


def _compare(actual: Any, operator: str, expected: Any) -> bool:
    if isinstance(expected, datetime):
        actual = _parse_datetime(actual)
    if operator == "~":
        return actual is not None and str(expected).lower() in str(actual).lower()
    if operator == "=":
        return actual == expected
    if actual is None or expected is None:
        return False
    try:
        return {">": actual > expected, ">=": actual >= expected, "<": actual < expected, "<=": actual <= expected}[
            operator
        ]
    except TypeError:
        return False


def _sort_key(value: Any) -> tuple:
    moment = _parse_datetime(value)
    if moment is not None:
        return (0, moment.timestamp())
    if isinstance(value, (int, float)):
        return (0, value)
    return (0 if value is not None else 1, str(value))


def _sorted(items: list[dict], sort: str | None) -> list[dict]:
    """Bitbucket sorts on one field; `-field` is descending. Missing values go last."""
    if not sort:
        return items
    descending = sort.startswith("-")
    path = _split_path(sort.lstrip("-"))

    def key(item):
        values = _values_at(item, path)
        return _sort_key(values[0] if values else None)

    present = [item for item in items if key(item)[0] == 0]
    missing = [item for item in items if key(item)[0] == 1]
    return sorted(present, key=key, reverse=descending) + missing


def _filtered(items: list[dict], q: str | None) -> list[dict]:
    if not q:
        return items
    query = _Query(q)
    return [item for item in items if query.matches(item)]


# --------------------------------------------------------------------------------------------- routes

_WS = r"/repositories/(?P<ws>[^/]+)"
_REPO = _WS + r"/(?P<slug>[^/]+)"
_PR = _REPO + r"/pullrequests/(?P<pr_id>\d+)"

# (method, path below /2.0, handler). Paths are matched decoded, so `%7B…%7D` and `%2F` arrive as `{…}` and `/`.
API_ROUTES = [
    ("GET", r"/user", "_get_current_user"),
    ("GET", r"/workspaces/(?P<ws>[^/]+)", "_get_workspace"),
    ("GET", r"/workspaces/(?P<ws>[^/]+)/members", "_list_workspace_members"),
    ("GET", r"/workspaces/(?P<ws>[^/]+)/pullrequests/(?P<selected_user>[^/]+)", "_list_user_pull_requests"),
    ("GET", _WS, "_list_repositories"),
    ("GET", _REPO, "_get_repository"),
    ("GET", _REPO + r"/pullrequests", "_list_pull_requests"),
    ("POST", _REPO + r"/pullrequests", "_create_pull_request"),
    ("GET", _REPO + r"/pullrequests/activity", "_list_activity"),  # bot/sandbox/activity.py
    ("GET", _PR, "_get_pull_request"),
    ("POST", _PR + r"/merge", "_merge_pull_request"),
    ("GET", _PR + r"/merge/task-status/(?P<task_id>[^/]+)", "_get_merge_task"),
    ("POST", _PR + r"/decline", "_decline_pull_request"),
    ("POST", _PR + r"/approve", "_approve"),
    ("DELETE", _PR + r"/approve", "_unapprove"),
    ("POST", _PR + r"/request-changes", "_request_changes"),
    ("DELETE", _PR + r"/request-changes", "_remove_request_changes"),
    ("GET", _REPO + r"/refs/branches", "_list_branches"),
    ("GET", _REPO + r"/refs/branches/(?P<name>.+)", "_get_branch"),
    ("GET", _REPO + r"/refs/tags", "_list_tags"),
    ("POST", _REPO + r"/refs/tags", "_create_tag"),
    ("GET", _REPO + r"/refs/tags/(?P<name>.+)", "_get_tag"),
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
    *builds_routes(_REPO, _PR),
]

OAUTH_ROUTES = [
    ("GET", r"/site/oauth2/authorize", "_oauth_authorize"),
    ("POST", r"/site/oauth2/access_token", "_oauth_access_token"),
]

_COMPILED_API_ROUTES = [(method, re.compile(pattern), name) for method, pattern, name in API_ROUTES]
_COMPILED_OAUTH_ROUTES = [(method, re.compile(pattern), name) for method, pattern, name in OAUTH_ROUTES]


# --------------------------------------------------------------------------------------------- the server


class FakeBitbucket(ActivityMixin, BuildsMixin):
    """A Bitbucket Cloud that lives on 127.0.0.1 for as long as a test (or the sandbox) needs it."""

    oauth_token_lifetime = 7200  # seconds, as `expires_in` says
    auto_pending_seconds = 1.0  # how long an auto-advancing pipeline waits before it runs

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, clock: Callable[[], datetime] | None = None):
        self.host = host
        self.port = port
        self.clock = clock or _utc_now
        self.requests: list[RecordedRequest] = []
        self.latency = 0.0  # seconds added to every response
        self.merge_mode = "sync"  # "async": merges answer 202 and a task to poll
        self.auto_advance_pipelines = False  # True: pipelines run by themselves over a few seconds
        self.consent_user: str | None = None  # who says yes on the OAuth consent page; None: the first user
        self.deny_consent = False  # True: the consent page answers `error=access_denied`

        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._hash_sequence = 0
        self._users: dict[str, _User] = {}  # by nickname
        self._workspaces: dict[str, _Workspace] = {}
        self._repositories: dict[tuple[str, str], _Repository] = {}
        self._bearer_tokens: dict[str, _User] = {}
        self._basic_credentials: dict[tuple[str, str], _User] = {}
        self._consumers: dict[str, _OAuthConsumer] = {}
        self._access_tokens: dict[str, _OAuthToken] = {}
        self._refresh_tokens: dict[str, tuple[str, _User, str]] = {}  # token -> (client_id, user, scopes)
        self._authorization_codes: dict[str, tuple[str, _User, str | None]] = {}  # code -> (client_id, user, uri)
        self._failures: list[_Failure] = []
        self._merge_tasks: dict[str, _MergeTask] = {}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeBitbucket:
        server = ThreadingHTTPServer((self.host, self.port), _HTTPHandler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-bitbucket", daemon=True
        )  # a short poll interval makes stop() quick, which keeps test suites fast
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeBitbucket:
        return self.start() if self._server is None else self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeBitbucket is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + "/2.0"

    @property
    def oauth_authorize_url(self) -> str:
        return self.origin + "/site/oauth2/authorize"

    @property
    def oauth_token_url(self) -> str:
        return self.origin + "/site/oauth2/access_token"

    @property
    def _api_root(self) -> str:
        """Where links point: this server once it listens, so following `links.self` works."""
        return self.base_url if self._server is not None else PUBLIC_API_ROOT

    # ------------------------------------------------------------------ credentials

    def allow_bearer(self, token: str, *, user: Any = None, name: str = "Access token") -> dict:
        """Accept `Authorization: Bearer <token>`. Without `user` it acts as its own app user called `name`,
        as a repository or workspace access token does."""
        with self._lock:
            if user is None:
                actor = self._new_user(f"access-token-{len(self._bearer_tokens) + 1}", name, "app_user")
            else:
                actor = self._user(user)
            self._bearer_tokens[token] = actor
            return self._user_json(actor)

    def allow_basic(self, email: str, api_token: str, *, user: Any = None) -> dict:
        """Accept HTTP Basic with an Atlassian account email and API token, acting as `user`."""
        with self._lock:
            actor = self._user(user) if user is not None else self._user(email.split("@")[0])
            self._basic_credentials[(email, api_token)] = actor
            return self._user_json(actor)

    def add_oauth_consumer(
        self,
        client_id: str,
        secret: str,
        *,
        redirect_uri: str | None = None,
        owner: Any = None,
        scopes: str = "account pullrequest:write repository:write pipeline:write webhook",
    ) -> None:
        """An OAuth consumer. Client-credentials tokens act as `owner` (default: the first user)."""
        with self._lock:
            self._consumers[client_id] = _OAuthConsumer(client_id, secret, redirect_uri, owner, scopes)

    def expire_token(self, access_token: str) -> None:
        """From now on the token is answered 401, as an expired one is."""
        with self._lock:
            self._access_tokens[access_token].expired = True

    # ------------------------------------------------------------------ seeding

    def add_user(self, nickname: str, display_name: str | None = None) -> dict:
        with self._lock:
            if nickname in self._users:
                raise ValueError(f"user {nickname!r} already exists")
            return self._user_json(self._new_user(nickname, display_name or nickname.title()))

    def add_workspace(self, slug: str, name: str | None = None) -> dict:
        with self._lock:
            return self._workspace_json(self._workspace_or_new(slug, name))

    def add_repository(
        self,
        workspace: str,
        slug: str,
        *,
        main_branch: str = "main",
        branches: tuple[str, ...] | list[str] = ("main",),
        private: bool = True,
        merge_strategies: tuple[str, ...] | list[str] = DEFAULT_MERGE_STRATEGIES,
        default_merge_strategy: str | None = None,
        name: str | None = None,
    ) -> dict:
        """A repository with an initial commit on its main branch, a default pipeline, and the named branches."""
        with self._lock:
            if (workspace, slug) in self._repositories:
                raise ValueError(f"repository {workspace}/{slug} already exists")
            repo = _Repository(
                workspace=self._workspace_or_new(workspace),
                slug=slug,
                name=name or slug,
                uuid=_braced_uuid(),
                is_private=private,
                main_branch=main_branch,
                merge_strategies=list(merge_strategies),
                default_merge_strategy=default_merge_strategy or list(merge_strategies)[0],
                created_on=self.clock(),
            )
            self._repositories[(workspace, slug)] = repo
            repo.branches[main_branch] = self._new_commit(repo, "Initial commit", parents=[])
            repo.pipeline_scripts[None] = _PipelineScript("SUCCESSFUL", 3.0, None)
            for branch in branches:
                if branch not in repo.branches:
                    repo.branches[branch] = self._new_commit(repo, f"Work on {branch}", [repo.branches[main_branch]])
            return self._repository_json(repo)

    def add_branch(self, workspace, slug, name, *, commit=None, message=None, author=None) -> str:
        """Create (or move) a branch. Without `commit` it gets a new commit on top of the main branch."""
        with self._lock:
            repo = self._repository(workspace, slug)
            if commit is None:
                author_user = self._user(author) if author is not None else None
                parent = repo.branches[repo.main_branch]
                commit_hash = self._new_commit(repo, message or f"Work on {name}", [parent], author_user)
            else:
                commit_hash = self._resolve_or_fail(repo, commit)
            repo.branches[name] = commit_hash
            return commit_hash

    def add_commit(self, workspace, slug, branch, *, message="More work", author=None) -> str:
        """A push: one new commit on top of `branch`."""
        with self._lock:
            repo = self._repository(workspace, slug)
            author_user = self._user(author) if author is not None else None
            repo.branches[branch] = self._new_commit(repo, message, [repo.branches[branch]], author_user)
            return repo.branches[branch]

    def add_tag(self, workspace, slug, name, *, commit=None, message=None, tagger=None, date=None) -> str:
        """A tag on `commit` (a hash or ref; default: the main branch head). A `message` makes it annotated."""
        with self._lock:
            repo = self._repository(workspace, slug)
            commit_hash = self._resolve_or_fail(repo, commit or repo.main_branch)
            tag = _Tag(name, commit_hash)
            if message is not None:
                tag.message = message
                tag.date = date or self.clock()
                tag.tagger = self._user(tagger) if tagger is not None else None
            repo.tags[name] = tag
            return commit_hash

    def add_pull_request(
        self,
        workspace,
        slug,
        *,
        title,
        source,
        destination=None,
        author,
        reviewers=(),
        approved_by=(),
        changes_requested_by=(),
        draft=False,
        created_on=None,
        updated_on=None,
        description="",
        close_source_branch=False,
        state="OPEN",
    ) -> dict:
        """A pull request as if people had already worked on it. A missing source branch is created."""
        with self._lock:
            repo = self._repository(workspace, slug)
            destination = destination or repo.main_branch
            if source not in repo.branches:
                self.add_branch(workspace, slug, source, author=author)
            created_on = created_on or self.clock()
            pull_request = _PullRequest(
                id=max(repo.pull_requests, default=0) + 1,
                title=title,
                description=description,
                author=self._user(author),
                source=source,
                destination=destination,
                source_hash=repo.branches[source],
                destination_hash=repo.branches[destination],
                created_on=created_on,
                updated_on=updated_on or created_on,
                draft=draft,
                close_source_branch=close_source_branch,
            )
            for reviewer in reviewers:
                pull_request.participants.append(_Participant(self._user(reviewer), "REVIEWER"))
            for person in approved_by:
                self._review(pull_request, self._user(person), "approved", pull_request.updated_on)
            for person in changes_requested_by:
                self._review(pull_request, self._user(person), "changes_requested", pull_request.updated_on)
            repo.pull_requests[pull_request.id] = pull_request
            if state == "MERGED":
                self._merge(repo, pull_request, pull_request.author, {}, at=pull_request.updated_on)
            elif state != "OPEN":
                pull_request.state, pull_request.closed_by = state, pull_request.author
            return self._pull_request_json(repo, pull_request)

    def add_environment(self, workspace, slug, name, *, environment_type=None) -> dict:
        """A deployment environment; its type defaults to its name when that is Test, Staging or Production."""
        with self._lock:
            repo = self._repository(workspace, slug)
            kind = environment_type or (name if name in ENVIRONMENT_RANKS else "Test")
            if kind not in ENVIRONMENT_RANKS:
                raise ValueError(f"environment_type must be one of {sorted(ENVIRONMENT_RANKS)}")
            environment = _Environment(_braced_uuid(), name, kind)
            repo.environments.append(environment)
            return self._environment_json(environment)

    def add_deployment(
        self,
        workspace,
        slug,
        environment_name,
        *,
        commit,
        release_name,
        state="COMPLETED",
        status="SUCCESSFUL",
        completed_on=None,
        deployer=None,
    ) -> dict:
        """A past deployment (history for the deployments list)."""
        with self._lock:
            repo = self._repository(workspace, slug)
            environment = self._environment_named(repo, environment_name)
            if environment is None:
                raise KeyError(f"no environment {environment_name!r} in {repo.full_name}")
            completed_on = completed_on or self.clock()
            deployment = _Deployment(
                uuid=_braced_uuid(),
                environment=environment,
                commit=self._resolve_commit(repo, commit) or commit,
                release_name=release_name,
                created_on=completed_on - timedelta(minutes=3),
                state=state,
                status=status if state == "COMPLETED" else None,
                deployer=self._user(deployer) if deployer is not None else None,
                start_date=completed_on - timedelta(minutes=3),
                completion_date=completed_on if state == "COMPLETED" else None,
            )
            repo.deployments.append(deployment)
            return self._deployment_json(repo, deployment)

    def set_pipeline_script(
        self,
        workspace,
        slug,
        pattern: str | None,
        outcome: str = "SUCCESSFUL",
        *,
        steps_seconds: float = 3.0,
        deployment: str | None = None,
        steps: tuple[str, ...] = ("Build",),
        logs: dict[str, str] | None = None,
    ) -> None:
        """Declare a pipeline in the repository's bitbucket-pipelines.yml.

        `pattern` is a custom pipeline's name (None: the default pipeline). It completes with `outcome`. A pattern
        `deploy-to-<env>` deploys to the environment named <env> (any case) unless `deployment` names another.
        `steps` are its steps' names; `logs` what a step's log says (by step name; a failed pipeline fails in its last).
        """
        if outcome not in PIPELINE_RESULTS:
            raise ValueError(f"outcome must be one of {PIPELINE_RESULTS}")
        with self._lock:
            repo = self._repository(workspace, slug)
            if deployment is None and pattern and pattern.startswith("deploy-to-"):
                deployment = pattern[len("deploy-to-") :]
            repo.pipeline_scripts[pattern] = _PipelineScript(outcome, steps_seconds, deployment, tuple(steps), dict(logs or {}))

    # ------------------------------------------------------------------ test controls

    def fail_next(self, method: str | None, path_regex: str, *, status: int, body=None, headers=None, times=1):
        """Answer the next `times` requests whose path matches `path_regex` (searched) with `status`.

        `body` may be a str (sent as plain text), a dict (JSON), or None: Bitbucket's usual body for that status
        (plain text for 429, the JSON error object otherwise). `method` None matches any method.
        """
        with self._lock:
            self._failures.append(
                _Failure(method and method.upper(), re.compile(path_regex), status, body, dict(headers or {}), times)
            )

    def advance_pipeline(self, workspace, slug, pipeline_uuid, state, result=None) -> dict:
        """Move a pipeline to PENDING, IN_PROGRESS or COMPLETED (with `result`, default SUCCESSFUL)."""
        with self._lock:
            repo = self._repository(workspace, slug)
            pipeline = self._pipeline(repo, pipeline_uuid)
            now = self.clock()
            if state == "PENDING":
                pipeline.state, pipeline.result = "PENDING", None
            elif state == "IN_PROGRESS":
                self._start_pipeline(repo, pipeline, now)
            elif state == "COMPLETED":
                self._complete_pipeline(repo, pipeline, result or "SUCCESSFUL", now)
            else:
                raise ValueError("state must be PENDING, IN_PROGRESS or COMPLETED")
            return self._pipeline_json(repo, pipeline)

    # ------------------------------------------------------------------ inspection

    def requests_to(self, method: str | None = None, path_contains: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, filtered by method and by a substring of the path (raw or decoded)."""
        with self._lock:
            return [
                request
                for request in self.requests
                if (method is None or request.method == method.upper())
                and (path_contains is None or path_contains in request.path or path_contains in unquote(request.path))
            ]

    def user(self, nickname: str) -> dict:
        with self._lock:
            return self._user_json(self._users[nickname])

    def pull_request(self, workspace, slug, pr_id) -> dict:
        with self._lock:
            repo = self._repository(workspace, slug)
            return self._pull_request_json(repo, repo.pull_requests[int(pr_id)])

    def branches(self, workspace, slug) -> dict[str, str]:
        with self._lock:
            return dict(self._repository(workspace, slug).branches)

    def tags(self, workspace, slug) -> list[dict]:
        with self._lock:
            repo = self._repository(workspace, slug)
            return [self._tag_json(repo, tag) for tag in sorted(repo.tags.values(), key=lambda tag: tag.name)]

    def webhooks(self, workspace, slug) -> list[dict]:
        """The repository's webhooks, each with its `secret` (which the API never shows)."""
        with self._lock:
            repo = self._repository(workspace, slug)
            return [{**self._webhook_json(repo, hook), "secret": hook.secret} for hook in repo.hooks.values()]

    def pipelines(self, workspace, slug) -> list[dict]:
        with self._lock:
            repo = self._repository(workspace, slug)
            self._advance_pipelines_by_clock(repo)
            return [self._pipeline_json(repo, pipeline) for pipeline in repo.pipelines]

    def deployments(self, workspace, slug) -> list[dict]:
        with self._lock:
            repo = self._repository(workspace, slug)
            self._advance_pipelines_by_clock(repo)
            return [self._deployment_json(repo, deployment) for deployment in self._newest_deployments(repo)]

    # ------------------------------------------------------------------ state helpers

    def _new_user(self, nickname: str, display_name: str, kind: str = "user") -> _User:
        user = _User(nickname, display_name, _braced_uuid(), f"557058:{uuidlib.uuid4()}", self.clock(), kind)
        self._users[nickname] = user
        return user

    def _user(self, ref: Any) -> _User:
        """A user from a nickname or a user dict (as returned by `add_user`); unknown nicknames are created."""
        if isinstance(ref, _User):
            return ref
        if isinstance(ref, dict):
            for user in self._users.values():
                if ref.get("uuid") == user.uuid or ref.get("nickname") == user.nickname:
                    return user
            raise KeyError(f"unknown user {ref!r}")
        return self._users.get(ref) or self._new_user(ref, ref.title())

    def _first_user(self) -> _User:
        people = [user for user in self._users.values() if user.type == "user"]
        return people[0] if people else self._new_user("sandbox-user", "Sandbox User")

    def _workspace_or_new(self, slug: str, name: str | None = None) -> _Workspace:
        if slug not in self._workspaces:
            self._workspaces[slug] = _Workspace(slug, _braced_uuid(), name or slug.title(), self.clock())
        return self._workspaces[slug]

    def _repository(self, workspace: str, slug: str) -> _Repository:
        try:
            return self._repositories[(workspace, slug)]
        except KeyError:
            raise KeyError(f"no repository {workspace}/{slug}") from None

    def _new_commit(self, repo, message, parents, author: _User | None = None) -> str:
        self._hash_sequence += 1  # hashes are deterministic, so seeded data looks the same every run
        commit_hash = hashlib.sha1(f"fake-bitbucket:{self._hash_sequence}:{message}".encode()).hexdigest()
        repo.commits[commit_hash] = _Commit(commit_hash, message, self.clock(), author, list(parents))
        return commit_hash

    def _resolve_commit(self, repo: _Repository, revision: str) -> str | None:
        """A branch, a tag, a full hash, or an unambiguous prefix of at least 7 hex digits."""
        if revision in repo.branches:
            return repo.branches[revision]
        if revision in repo.tags:
            return repo.tags[revision].hash
        if revision in repo.commits:
            return revision
        if re.fullmatch(r"[0-9a-f]{7,40}", revision):
            found = [commit_hash for commit_hash in repo.commits if commit_hash.startswith(revision)]
            if len(found) == 1:
                return found[0]
        return None

    def _resolve_or_fail(self, repo: _Repository, revision: str) -> str:
        commit_hash = self._resolve_commit(repo, revision)
        if commit_hash is None:
            raise KeyError(f"no commit {revision!r} in {repo.full_name}")
        return commit_hash

    def _is_ancestor(self, repo: _Repository, ancestor: str, descendant: str) -> bool:
        seen, pending = set(), [descendant]
        while pending:
            current = pending.pop()
            if current == ancestor:
                return True
            if current in seen or current not in repo.commits:
                continue
            seen.add(current)
            pending.extend(repo.commits[current].parents)
        return False

    def _environment_named(self, repo: _Repository, name: str) -> _Environment | None:
        return next((env for env in repo.environments if env.name.lower() == name.lower()), None)

    def _participant(self, pull_request: _PullRequest, user: _User) -> _Participant:
        for participant in pull_request.participants:
            if participant.user is user:
                return participant
        participant = _Participant(user, "PARTICIPANT")
        pull_request.participants.append(participant)
        return participant

    def _review(self, pull_request: _PullRequest, user: _User, verdict: str | None, at: datetime) -> _Participant:
        """Record an approval, a change request, or (None) the withdrawal of either."""
        participant = self._participant(pull_request, user)
        participant.approved = verdict == "approved"
        participant.state = verdict
        participant.participated_on = at
        return participant

    def _merge(self, repo, pull_request, caller, parameters: dict, *, at: datetime) -> None:
        source_head = repo.branches.get(pull_request.source, pull_request.source_hash)
        destination_head = repo.branches.get(pull_request.destination, pull_request.destination_hash)
        strategy = parameters.get("merge_strategy") or repo.default_merge_strategy
        if strategy == "fast_forward":
            merge_hash = source_head
        else:
            message = parameters.get("message") or (
                f"Merged in {pull_request.source} (pull request #{pull_request.id})\n\n{pull_request.title}"
            )
            parents = [destination_head] if "squash" in strategy else [destination_head, source_head]
            merge_hash = self._new_commit(repo, message, parents, caller)
        repo.branches[pull_request.destination] = merge_hash
        pull_request.source_hash, pull_request.destination_hash = source_head, destination_head
        pull_request.state = "MERGED"
        pull_request.merge_hash = merge_hash
        pull_request.closed_by = caller
        pull_request.updated_on = at
        close_source = parameters.get("close_source_branch", pull_request.close_source_branch)
        if close_source and pull_request.source != repo.main_branch:
            repo.branches.pop(pull_request.source, None)

    # pipelines move through their states here, by hand (advance_pipeline) or by the clock

    def _start_pipeline(self, repo: _Repository, pipeline: _Pipeline, at: datetime) -> None:
        pipeline.state, pipeline.result, pipeline.started_on = "IN_PROGRESS", None, at
        self._pipeline_status(repo, pipeline)
        environment = pipeline.script.environment and self._environment_named(repo, pipeline.script.environment)
        if environment and pipeline.deployment is None:
            # Like a step with `deployment: <env>`: the deployment exists while the step runs.
            pipeline.deployment = _Deployment(
                uuid=_braced_uuid(),
                environment=environment,
                commit=pipeline.commit,
                release_name=f"#{pipeline.build_number}",
                created_on=at,
                state="IN_PROGRESS",
                status=None,
                deployer=pipeline.creator,
                start_date=at,
                pipeline=pipeline,
            )
            repo.deployments.append(pipeline.deployment)

    def _complete_pipeline(self, repo: _Repository, pipeline: _Pipeline, result: str, at: datetime) -> None:
        if result not in PIPELINE_RESULTS:
            raise ValueError(f"result must be one of {PIPELINE_RESULTS}")
        if pipeline.state == "PENDING" and result != "STOPPED":
            self._start_pipeline(repo, pipeline, at)
        pipeline.state, pipeline.result, pipeline.completed_on = "COMPLETED", result, at
        self._pipeline_status(repo, pipeline)
        if pipeline.deployment is not None:
            deployment = pipeline.deployment
            deployment.state, deployment.completion_date = "COMPLETED", at
            deployment.status = result if result in DEPLOYMENT_STATUSES else "FAILED"

    def _advance_pipelines_by_clock(self, repo: _Repository) -> None:
        """Sandbox mode: a pipeline waits a second, runs for its script's seconds, then completes."""
        if not self.auto_advance_pipelines:
            return
        now = self.clock()
        for pipeline in repo.pipelines:
            starts = pipeline.created_on + timedelta(seconds=self.auto_pending_seconds)
            if pipeline.state == "PENDING" and now >= starts:
                self._start_pipeline(repo, pipeline, starts)
            ends = starts + timedelta(seconds=pipeline.script.steps_seconds)
            if pipeline.state == "IN_PROGRESS" and now >= ends:
                self._complete_pipeline(repo, pipeline, pipeline.script.outcome, ends)

    def _pipeline(self, repo: _Repository, reference: str) -> _Pipeline:
        """By UUID (with or without braces) or, as Bitbucket also allows, by build number."""
        for pipeline in repo.pipelines:
            if reference.isdigit() and pipeline.build_number == int(reference):
                return pipeline
            if not reference.isdigit() and _same_uuid(pipeline.uuid, reference):
                return pipeline
        if reference.isdigit():
            raise _not_found(
                "Not found",
                detail=f"Pipeline with build number '{reference}' not found in repository {repo.uuid}",
                data={"key": "result-service.pipeline-id.not-found"},
            )
        raise _not_found(
            "Not found",
            detail=f"Pipeline with UUID {reference} not found in repository {repo.uuid}",
            data={"key": "result-service.pipeline.not-found"},
        )

    def _newest_deployments(self, repo: _Repository) -> list[_Deployment]:
        return sorted(repo.deployments, key=lambda d: d.completion_date or d.start_date or d.created_on, reverse=True)

    # ------------------------------------------------------------------ JSON shapes

    def _repo_api(self, repo: _Repository) -> str:
        return f"{self._api_root}/repositories/{repo.full_name}"

    def _user_json(self, user: _User, *, full: bool = False) -> dict:
        braced = quote(user.uuid)
        initials = "".join(word[0] for word in user.display_name.split()[:2]).upper() or "U"
        body = {
            "display_name": user.display_name,
            "links": {
                "self": _link(f"{self._api_root}/users/{braced}"),
                "avatar": _link(
                    "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/initials/"
                    f"{initials}-0.png"
                ),
                "html": _link(f"{WEB_ROOT}/{braced}/"),
            },
            "type": user.type,
            "uuid": user.uuid,
            "account_id": user.account_id,
            "nickname": user.nickname,
        }
        if full:
            body.update(
                {
                    "created_on": _iso(user.created_on),
                    "is_staff": False,
                    "account_status": "active",
                    "has_2fa_enabled": None,
                    "location": None,
                    "username": user.nickname,
                }
            )
        return body

    def _workspace_json(self, workspace: _Workspace) -> dict:
        api = f"{self._api_root}/workspaces/{workspace.slug}"
        return {
            "type": "workspace",
            "uuid": workspace.uuid,
            "name": workspace.name,
            "slug": workspace.slug,
            "is_private": True,
            "created_on": _iso(workspace.created_on),
            "links": {
                "self": _link(api),
                "html": _link(f"{WEB_ROOT}/{workspace.slug}/"),
                "avatar": _link(f"{WEB_ROOT}/workspaces/{workspace.slug}/avatar/?ts=1"),
                "members": _link(f"{api}/members"),
                "owners": _link(f"{api}/members?q=permission%3D%22owner%22"),
                "hooks": _link(f"{api}/hooks"),
                "projects": _link(f"{api}/projects"),
                "repositories": _link(f"{self._api_root}/repositories/{workspace.slug}"),
                "snippets": _link(f"{self._api_root}/snippets/{workspace.slug}"),
            },
        }

    def _repository_stub(self, repo: _Repository) -> dict:
        return {
            "type": "repository",
            "full_name": repo.full_name,
            "links": {
                "self": _link(self._repo_api(repo)),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}"),
                "avatar": _link(f"https://bytebucket.org/ravatar/{quote(repo.uuid)}?ts=default"),
            },
            "name": repo.name,
            "uuid": repo.uuid,
        }

    def _repository_json(self, repo: _Repository) -> dict:
        api, workspace = self._repo_api(repo), repo.workspace
        body = self._repository_stub(repo)
        body["links"].update(
            {
                "pullrequests": _link(f"{api}/pullrequests"),
                "commits": _link(f"{api}/commits"),
                "forks": _link(f"{api}/forks"),
                "watchers": _link(f"{api}/watchers"),
                "branches": _link(f"{api}/refs/branches"),
                "tags": _link(f"{api}/refs/tags"),
                "downloads": _link(f"{api}/downloads"),
                "source": _link(f"{api}/src"),
                "hooks": _link(f"{api}/hooks"),
                "clone": [
                    {"name": "https", "href": f"https://bitbucket.org/{repo.full_name}.git"},
                    {"name": "ssh", "href": f"git@bitbucket.org:{repo.full_name}.git"},
                ],
            }
        )
        body.update(
            {
                "slug": repo.slug,
                "description": "",
                "scm": "git",
                "website": None,
                "is_private": repo.is_private,
                "fork_policy": "no_public_forks" if repo.is_private else "allow_forks",
                "language": "",
                "size": 4096 * len(repo.commits),
                "has_issues": False,
                "has_wiki": False,
                "created_on": _iso(repo.created_on),
                "updated_on": _iso(max(c.date for c in repo.commits.values())),
                "mainbranch": {"type": "branch", "name": repo.main_branch},
                "workspace": {
                    "type": "workspace",
                    "uuid": workspace.uuid,
                    "name": workspace.name,
                    "slug": workspace.slug,
                    "links": {
                        "self": _link(f"{self._api_root}/workspaces/{workspace.slug}"),
                        "html": _link(f"{WEB_ROOT}/{workspace.slug}/"),
                        "avatar": _link(f"{WEB_ROOT}/workspaces/{workspace.slug}/avatar/?ts=1"),
                    },
                },
                "project": {
                    "type": "project",
                    "key": "PROJ",
                    "uuid": "{%s}" % uuidlib.uuid5(uuidlib.NAMESPACE_URL, workspace.uuid),
                    "name": "Main",
                },
                "override_settings": {"default_merge_strategy": False, "branching_model": False},
                "parent": None,
                "enforced_signed_commits": None,
            }
        )
        return body

    def _commit_stub(self, repo: _Repository, commit_hash: str) -> dict:
        """How pull requests refer to commits: twelve hex digits."""
        short = commit_hash[:12]
        return {
            "hash": short,
            "type": "commit",
            "links": {
                "self": _link(f"{self._repo_api(repo)}/commit/{short}"),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}/commits/{short}"),
            },
        }

    def _author_json(self, user: _User | None) -> dict:
        if user is None:
            return {"type": "author", "raw": "Sandbox CI <ci@example.com>"}
        return {
            "type": "author",
            "raw": f"{user.display_name} <{user.nickname}@example.com>",
            "user": self._user_json(user),
        }

    def _commit_json(self, repo: _Repository, commit: _Commit) -> dict:
        api = f"{self._repo_api(repo)}/commit/{commit.hash}"
        return {
            "type": "commit",
            "hash": commit.hash,
            "date": _iso(commit.date),
            "author": self._author_json(commit.author),
            "message": commit.message,
            "summary": _rendered(commit.message),
            "links": {
                "self": _link(api),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}/commits/{commit.hash}"),
                "diff": _link(f"{self._repo_api(repo)}/diff/{commit.hash}"),
                "patch": _link(f"{self._repo_api(repo)}/patch/{commit.hash}"),
                "comments": _link(f"{api}/comments"),
                "approve": _link(f"{api}/approve"),
                "statuses": _link(f"{api}/statuses"),
            },
            "parents": [
                {
                    "hash": parent,
                    "type": "commit",
                    "links": {
                        "self": _link(f"{self._repo_api(repo)}/commit/{parent}"),
                        "html": _link(f"{WEB_ROOT}/{repo.full_name}/commits/{parent}"),
                    },
                }
                for parent in commit.parents
            ],
            "repository": self._repository_stub(repo),
        }

    def _branch_json(self, repo: _Repository, name: str) -> dict:
        return {
            "type": "branch",
            "name": name,
            "target": self._commit_json(repo, repo.commits[repo.branches[name]]),
            "links": {
                "self": _link(f"{self._repo_api(repo)}/refs/branches/{name}"),
                "commits": _link(f"{self._repo_api(repo)}/commits/{name}"),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}/branch/{name}"),
            },
            "merge_strategies": list(repo.merge_strategies),
            "default_merge_strategy": repo.default_merge_strategy,
        }

    def _tag_json(self, repo: _Repository, tag: _Tag) -> dict:
        return {
            "type": "tag",
            "name": tag.name,
            "target": self._commit_json(repo, repo.commits[tag.hash]),
            "message": tag.message,
            "date": _iso(tag.date),
            "tagger": self._author_json(tag.tagger) if tag.message is not None else None,
            "links": {
                "self": _link(f"{self._repo_api(repo)}/refs/tags/{tag.name}"),
                "commits": _link(f"{self._repo_api(repo)}/commits/{tag.name}"),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}/commits/tag/{tag.name}"),
            },
        }

    def _participant_json(self, participant: _Participant) -> dict:
        return {
            "type": "participant",
            "user": self._user_json(participant.user),
            "role": participant.role,
            "approved": participant.approved,
            "state": participant.state,
            "participated_on": _iso(participant.participated_on),
        }

    def _pull_request_json(self, repo: _Repository, pull_request: _PullRequest) -> dict:
        api = f"{self._repo_api(repo)}/pullrequests/{pull_request.id}"
        is_open = pull_request.state == "OPEN"
        source_hash = repo.branches.get(pull_request.source, pull_request.source_hash) if is_open else None
        destination_hash = repo.branches.get(pull_request.destination) if is_open else None
        source_hash = source_hash or pull_request.source_hash
        destination_hash = destination_hash or pull_request.destination_hash
        spec = f"{repo.full_name}:{source_hash[:12]}%0D{destination_hash[:12]}"
        return {
            "type": "pullrequest",
            "id": pull_request.id,
            "title": pull_request.title,
            "description": pull_request.description,
            "summary": _rendered(pull_request.description),
            "state": pull_request.state,
            "draft": pull_request.draft,
            "queued": False,
            "author": self._user_json(pull_request.author),
            "source": {
                "branch": {"name": pull_request.source},
                "commit": self._commit_stub(repo, source_hash),
                "repository": self._repository_stub(repo),
            },
            "destination": {
                "branch": {
                    "name": pull_request.destination,
                    "merge_strategies": list(repo.merge_strategies),
                    "default_merge_strategy": repo.default_merge_strategy,
                },
                "commit": self._commit_stub(repo, destination_hash),
                "repository": self._repository_stub(repo),
            },
            "merge_commit": self._commit_stub(repo, pull_request.merge_hash) if pull_request.merge_hash else None,
            "close_source_branch": pull_request.close_source_branch,
            "closed_by": self._user_json(pull_request.closed_by) if pull_request.closed_by else None,
            "reason": pull_request.reason,
            "created_on": _iso(pull_request.created_on),
            "updated_on": _iso(pull_request.updated_on),
            "comment_count": 0,
            "task_count": 0,
            "reviewers": [self._user_json(p.user) for p in pull_request.participants if p.role == "REVIEWER"],
            "participants": [self._participant_json(p) for p in pull_request.participants],
            "links": {
                "self": _link(api),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}/pull-requests/{pull_request.id}"),
                "commits": _link(f"{api}/commits"),
                "approve": _link(f"{api}/approve"),
                "request-changes": _link(f"{api}/request-changes"),
                "diff": _link(f"{self._repo_api(repo)}/diff/{spec}?from_pullrequest_id={pull_request.id}&topic=true"),
                "diffstat": _link(
                    f"{self._repo_api(repo)}/diffstat/{spec}?from_pullrequest_id={pull_request.id}&topic=true"
                ),
                "comments": _link(f"{api}/comments"),
                "activity": _link(f"{api}/activity"),
                "merge": _link(f"{api}/merge"),
                "decline": _link(f"{api}/decline"),
                "statuses": _link(f"{api}/statuses"),
            },
        }

    def _webhook_json(self, repo: _Repository, hook: _Webhook) -> dict:
        return {
            "type": "webhook_subscription",
            "uuid": hook.uuid,
            "url": hook.url,
            "description": hook.description,
            "subject_type": "repository",
            "subject": self._repository_stub(repo),
            "active": hook.active,
            "created_at": hook.created_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "events": sorted(hook.events),
            "secret_set": bool(hook.secret),
            "read_only": False,
            "skip_cert_verification": False,
            "source": None,
            "links": {"self": _link(f"{self._repo_api(repo)}/hooks/{quote(hook.uuid)}")},
        }

    def _pipeline_state_json(self, pipeline: _Pipeline) -> dict:
        if pipeline.state == "PENDING":
            return {"type": "pipeline_state_pending", "name": "PENDING"}
        if pipeline.state == "IN_PROGRESS":
            return {
                "type": "pipeline_state_in_progress",
                "name": "IN_PROGRESS",
                "stage": {"type": "pipeline_state_in_progress_running", "name": "RUNNING"},
            }
        result = pipeline.result or "SUCCESSFUL"
        return {
            "type": "pipeline_state_completed",
            "name": "COMPLETED",
            "result": {"type": f"pipeline_state_completed_{result.lower()}", "name": result},
        }

    def _pipeline_json(self, repo: _Repository, pipeline: _Pipeline) -> dict:
        api = f"{self._repo_api(repo)}/pipelines/{quote(pipeline.uuid)}"
        body = {
            "type": "pipeline",
            "uuid": pipeline.uuid,
            "build_number": pipeline.build_number,
            "creator": self._user_json(pipeline.creator),
            "repository": self._repository_stub(repo),
            "target": copy.deepcopy(pipeline.target),
            "trigger": {"type": "pipeline_trigger_manual", "name": "MANUAL"},
            "state": self._pipeline_state_json(pipeline),
            "variables": [
                {"type": "pipeline_variable", "key": v["key"], "secured": bool(v.get("secured"))}
                | ({} if v.get("secured") else {"value": v.get("value")})
                for v in pipeline.variables
            ],
            "created_on": _iso(pipeline.created_on),
            "build_seconds_used": 0,
            "has_variables": bool(pipeline.variables),
            "expired": False,
            "links": {"self": _link(api), "steps": _link(f"{api}/steps/")},
        }
        if pipeline.completed_on is not None:
            body["completed_on"] = _iso(pipeline.completed_on)
            started = pipeline.started_on or pipeline.completed_on
            body["build_seconds_used"] = int((pipeline.completed_on - started).total_seconds())
        return body

    def _environment_json(self, environment: _Environment) -> dict:
        rank = ENVIRONMENT_RANKS[environment.environment_type]
        return {
            "type": "deployment_environment",
            "uuid": environment.uuid,
            "name": environment.name,
            "slug": _slugify(environment.name),
            "rank": rank,
            "environment_type": {
                "type": "deployment_environment_type",
                "name": environment.environment_type,
                "rank": rank,
            },
            "hidden": False,
            "environment_lock_enabled": True,
            "lock": {"type": "deployment_environment_lock_open", "name": "OPEN"},
            "restrictions": {"type": "deployments_restrictions_configuration", "admin_only": False},
            "deployment_gate_enabled": False,
        }

    def _deployment_json(self, repo: _Repository, deployment: _Deployment) -> dict:
        pipeline = deployment.pipeline
        results_url = f"{WEB_ROOT}/{repo.full_name}/pipelines/results/{pipeline.build_number}" if pipeline else None
        commit = {
            "type": "commit",
            "hash": deployment.commit,
            "links": {
                "self": _link(f"{self._repo_api(repo)}/commit/{deployment.commit}"),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}/commits/{deployment.commit}"),
            },
        }
        if deployment.state == "COMPLETED":
            state = {
                "type": "deployment_state_completed",
                "name": "COMPLETED",
                "status": {
                    "type": f"deployment_state_completed_status_{(deployment.status or 'SUCCESSFUL').lower()}",
                    "name": deployment.status or "SUCCESSFUL",
                },
                "start_date": _iso(deployment.start_date),
                "completion_date": _iso(deployment.completion_date),
            }
        else:
            state = {
                "type": "deployment_state_in_progress",
                "name": "IN_PROGRESS",
                "start_date": _iso(deployment.start_date),
            }
        if deployment.deployer is not None:
            state["deployer"] = self._user_json(deployment.deployer)
        if results_url:
            state["url"] = results_url
        body = {
            "type": "deployment",
            "uuid": deployment.uuid,
            "environment": {"type": "deployment_environment", "uuid": deployment.environment.uuid},
            "state": state,
            "release": {
                "type": "deployment_release_pipeline",
                "uuid": "{%s}" % uuidlib.uuid5(uuidlib.NAMESPACE_URL, deployment.uuid),
                "name": deployment.release_name,
                "url": results_url,
                "commit": commit,
                "created_on": _iso(deployment.created_on),
            },
        }
        if pipeline is not None:
            body["deployable"] = {
                "type": "deployment_deployable_pipeline",
                "uuid": body["release"]["uuid"],
                "pipeline": {"type": "pipeline", "uuid": pipeline.uuid},
                "name": deployment.release_name,
                "url": results_url,
                "commit": commit,
                "created_on": _iso(deployment.created_on),
            }
        return body

    # ------------------------------------------------------------------ HTTP plumbing

    def _serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Response:
        """Answer one request: record it, maybe fail it, wait `latency`, then route it."""
        parts = urlsplit(target)
        query_pairs = parse_qsl(parts.query, keep_blank_values=True)
        parsed_json = None
        if body and "json" in headers.get("content-type", "json"):
            try:
                parsed_json = json.loads(body)
            except ValueError:
                parsed_json = None
        call = _Call(method, unquote(parts.path), parts.path, query_pairs, headers, body, parsed_json)
        with self._lock:
            query = parse_qs(parts.query, keep_blank_values=True)
            self.requests.append(RecordedRequest(method, parts.path, query, headers, body, parsed_json, self.clock()))
            failure = self._take_failure(method, call.path)
        if self.latency:
            time.sleep(self.latency)  # outside the lock, so slow answers do not hold up other requests
        if failure is not None:
            return failure
        with self._lock:
            try:
                return self._dispatch(call)
            except _ApiError as refusal:
                return refusal.response()
            except Exception as error:  # a bug here must show up as a 500, not a hung client
                traceback.print_exc()
                return _ApiError(500, "Something went wrong", detail=repr(error)).response()

    def _take_failure(self, method: str, path: str) -> _Response | None:
        for failure in self._failures:
            if failure.remaining > 0 and failure.method in (None, "*", method) and failure.path.search(path):
                failure.remaining -= 1
                body = failure.body
                if body is None:
                    body = RATE_LIMITED_TEXT if failure.status == 429 else _default_error_body(failure.status)
                return _Response(failure.status, body, dict(failure.headers))
        return None

    def _dispatch(self, call: _Call) -> _Response:
        if call.path.startswith("/site/oauth2/"):
            handler = self._route(_COMPILED_OAUTH_ROUTES, call, call.path)
            return handler(call)
        if call.path.startswith(STORAGE_PREFIX):
            return self._serve_log_storage(call)
        if not call.path.startswith("/2.0/"):
            raise _not_found("Resource not found", detail=NO_API_HERE)
        handler = self._route(_COMPILED_API_ROUTES, call, call.path[len("/2.0") :])
        call.caller = self._authenticate(call)
        response = handler(call)
        if 200 <= response.status < 300 and isinstance(response.body, dict):
            response.body = _partial_response(response.body, call.arg("fields", "") or "", response.hidden)
        return response

    def _route(self, routes, call: _Call, path: str) -> Callable[[_Call], _Response]:
        path_exists = False
        for method, pattern, name in routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            path_exists = True
            if method == call.method:
                call.params = match.groupdict()
                return getattr(self, name)
        if path_exists:
            raise _ApiError(405, "Method not allowed", detail=f"{call.method} is not supported on this resource.")
        raise _not_found("Resource not found", detail=NO_API_HERE)

    def _authenticate(self, call: _Call) -> _User:
        authorization = call.headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" or (not authorization and call.arg("access_token")):
            return self._bearer_user(credentials.strip() if authorization else call.arg("access_token"))
        if scheme.lower() == "basic":
            try:
                email, _, api_token = base64.b64decode(credentials.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise _unauthorized() from None
            user = self._basic_credentials.get((email, api_token))
            if user is not None:
                return user
        raise _unauthorized()

    def _bearer_user(self, token: str) -> _User:
        if token in self._bearer_tokens:
            return self._bearer_tokens[token]
        issued = self._access_tokens.get(token)
        if issued is None:
            raise _unauthorized()
        if issued.expired or self.clock() >= issued.expires_at:
            raise _unauthorized(TOKEN_EXPIRED)
        return issued.user

    def _page(self, call: _Call, items: list, *, max_pagelen: int = DEFAULT_PAGELEN_MAX) -> dict:
        """Bitbucket's page envelope. Too large a `pagelen` is refused, not clamped."""
        try:
            pagelen = int(call.arg("pagelen") or DEFAULT_PAGELEN)
        except ValueError:
            raise _bad_request("Invalid pagelen") from None
        if not 1 <= pagelen <= max_pagelen:
            raise _bad_request("Invalid pagelen")
        try:
            page = int(call.arg("page") or 1)
        except ValueError:
            raise _bad_request("Invalid page") from None
        if page < 1:
            raise _bad_request("Invalid page")
        start = (page - 1) * pagelen
        body: dict[str, Any] = {"pagelen": pagelen, "size": len(items), "values": items[start : start + pagelen]}
        body["page"] = page
        if start + pagelen < len(items):
            body["next"] = self._same_url_at_page(call, page + 1)
        if page > 1:
            body["previous"] = self._same_url_at_page(call, page - 1)
        return body

    def _same_url_at_page(self, call: _Call, page: int) -> str:
        pairs = [(key, value) for key, value in call.query_pairs if key != "page"] + [("page", str(page))]
        return f"{self.origin}{call.raw_path}?{urlencode(pairs)}"

    # ------------------------------------------------------------------ lookups for handlers

    def _workspace_for(self, call: _Call) -> _Workspace:
        wanted = call.params["ws"]
        for workspace in self._workspaces.values():
            if workspace.slug == wanted or _same_uuid(workspace.uuid, wanted):
                return workspace
        raise _not_found(f"No workspace with identifier '{wanted}'.")

    def _repo_for(self, call: _Call) -> _Repository:
        ws, slug = call.params["ws"], call.params["slug"]
        for repo in self._repositories.values():
            if (repo.workspace.slug == ws or _same_uuid(repo.workspace.uuid, ws)) and (
                repo.slug == slug or _same_uuid(repo.uuid, slug)
            ):
                self._advance_pipelines_by_clock(repo)
                return repo
        raise _not_found(f"Repository {ws}/{slug} not found")

    def _pull_request_for(self, call: _Call) -> tuple[_Repository, _PullRequest]:
        repo = self._repo_for(call)
        pull_request = repo.pull_requests.get(int(call.params["pr_id"]))
        if pull_request is None:
            raise _not_found("Pull request not found.")
        return repo, pull_request

    # ------------------------------------------------------------------ handlers: account and repositories

    def _get_current_user(self, call: _Call) -> _Response:
        return _Response(200, self._user_json(call.caller, full=True))

    def _get_workspace(self, call: _Call) -> _Response:
        return _Response(200, self._workspace_json(self._workspace_for(call)))

    def _list_workspace_members(self, call: _Call) -> _Response:
        workspace = self._workspace_for(call)
        members = [
            {
                "type": "workspace_membership",
                "user": self._user_json(user),
                "workspace": {
                    "type": "workspace",
                    "uuid": workspace.uuid,
                    "slug": workspace.slug,
                    "name": workspace.name,
                },
                "links": {"self": _link(f"{self._api_root}/workspaces/{workspace.slug}/members/{quote(user.uuid)}")},
            }
            for user in self._users.values()
            if user.type == "user"
        ]
        return _Response(200, self._page(call, _filtered(members, call.arg("q"))))

    def _list_repositories(self, call: _Call) -> _Response:
        workspace = self._workspace_for(call)
        repos = [self._repository_json(r) for r in self._repositories.values() if r.workspace is workspace]
        repos = _sorted(_filtered(repos, call.arg("q")), call.arg("sort") or "slug")
        return _Response(200, self._page(call, repos))

    def _get_repository(self, call: _Call) -> _Response:
        return _Response(200, self._repository_json(self._repo_for(call)))

    # ------------------------------------------------------------------ handlers: pull requests

    def _list_pull_requests(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        states = [state.upper() for state in call.query.get("state", [])] or ["OPEN"]  # no state: OPEN only
        for state in states:
            if state not in PULL_REQUEST_STATES:
                raise _bad_request(f"Invalid state: {state}")
        items = [self._pull_request_json(repo, pr) for pr in repo.pull_requests.values() if pr.state in states]
        items = _sorted(_filtered(items, call.arg("q")), call.arg("sort") or "-updated_on")
        body = self._page(call, items, max_pagelen=PULL_REQUEST_PAGELEN_MAX)
        # The collection leaves these out unless `fields` asks for them (`+values.reviewers`).
        return _Response(200, body, hidden=("values.reviewers", "values.participants"))

    def _list_user_pull_requests(self, call: _Call) -> _Response:
        """`GET /workspaces/{ws}/pullrequests/{selected_user}`: what the user (uuid or account_id) authored."""
        workspace = self._workspace_for(call)
        wanted = call.params["selected_user"]
        user = next((u for u in self._users.values() if _same_uuid(u.uuid, wanted) or u.account_id == wanted), None)
        if user is None:
            raise _not_found(f"User {wanted} not found")
        states = [state.upper() for state in call.query.get("state", [])] or ["OPEN"]
        items = [
            self._pull_request_json(repo, pr)
            for repo in self._repositories.values() if repo.workspace is workspace
            for pr in repo.pull_requests.values() if pr.author is user and pr.state in states
        ]
        items = _sorted(_filtered(items, call.arg("q")), call.arg("sort") or "-updated_on")
        body = self._page(call, items, max_pagelen=PULL_REQUEST_PAGELEN_MAX)
        return _Response(200, body, hidden=("values.reviewers", "values.participants"))

    def _get_pull_request(self, call: _Call) -> _Response:
        repo, pull_request = self._pull_request_for(call)
        return _Response(200, self._pull_request_json(repo, pull_request))

    def _create_pull_request(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        body = call.body_object()
        title = (body.get("title") or "").strip()
        if not title:
            raise _field_error("title", "This field is required.")
        source = ((body.get("source") or {}).get("branch") or {}).get("name")
        if not source:
            raise _field_error("source", "This field is required.")
        if source not in repo.branches:
            raise _field_error("source", f"branch not found: {source}")
        destination = ((body.get("destination") or {}).get("branch") or {}).get("name") or repo.main_branch
        if destination not in repo.branches:
            raise _field_error("destination", f"branch not found: {destination}")
        source_head, destination_head = repo.branches[source], repo.branches[destination]
        if source == destination or self._is_ancestor(repo, source_head, destination_head):
            raise _field_error("source", "There are no changes to be pulled")
        for existing in repo.pull_requests.values():
            if existing.state == "OPEN" and (existing.source, existing.destination) == (source, destination):
                raise _field_error(
                    "source",
                    f"There is already an open pull request from {source} to {destination} (#{existing.id}).",
                )
        reviewers = [self._reviewer_from_body(reference, call.caller) for reference in body.get("reviewers") or []]
        now = self.clock()
        pull_request = _PullRequest(
            id=max(repo.pull_requests, default=0) + 1,
            title=title,
            description=body.get("description") or "",
            author=call.caller,
            source=source,
            destination=destination,
            source_hash=source_head,
            destination_hash=destination_head,
            created_on=now,
            updated_on=now,
            participants=[_Participant(user, "REVIEWER") for user in reviewers],
            draft=bool(body.get("draft", False)),
            close_source_branch=bool(body.get("close_source_branch", False)),
        )
        repo.pull_requests[pull_request.id] = pull_request
        created = self._pull_request_json(repo, pull_request)
        return _Response(201, created, {"Location": created["links"]["self"]["href"]})

    def _reviewer_from_body(self, reference: Any, author: _User) -> _User:
        wanted = reference if isinstance(reference, dict) else {}
        for user in self._users.values():
            if (wanted.get("uuid") and _same_uuid(wanted["uuid"], user.uuid)) or (
                wanted.get("account_id") and wanted["account_id"] == user.account_id
            ):
                if user is author:
                    raise _field_error(
                        "reviewers", f"{user.display_name} is the author and cannot be included as a reviewer."
                    )
                return user
        raise _field_error("reviewers", f"Malformed reviewers list: {json.dumps(reference)} is not a known user.")

    def _merge_pull_request(self, call: _Call) -> _Response:
        repo, pull_request = self._pull_request_for(call)
        parameters = call.body_object()
        self._check_mergeable(repo, pull_request, parameters)
        if self.merge_mode == "async" or (call.arg("async") or "").lower() == "true":
            task = _MergeTask(secrets.token_hex(16), repo, pull_request, parameters, call.caller)
            self._merge_tasks[task.task_id] = task
            location = f"{self._repo_api(repo)}/pullrequests/{pull_request.id}/merge/task-status/{task.task_id}"
            return _Response(202, None, {"Location": location})
        self._merge(repo, pull_request, call.caller, parameters, at=self.clock())
        return _Response(200, self._pull_request_json(repo, pull_request))

    def _check_mergeable(self, repo: _Repository, pull_request: _PullRequest, parameters: dict) -> None:
        if pull_request.state != "OPEN":
            raise _bad_request("You can't merge a pull request that is not open.")
        if pull_request.draft:
            raise _bad_request("You can't merge a draft pull request.")
        strategy = parameters.get("merge_strategy")
        if strategy is not None and strategy not in MERGE_STRATEGIES:
            raise _field_error("merge_strategy", f'"{strategy}" is not a valid choice.')
        if strategy is not None and strategy not in repo.merge_strategies:
            allowed = ", ".join(repo.merge_strategies)
            raise _bad_request(
                f"The merge strategy {strategy} is not allowed on {pull_request.destination}.",
                detail=f"Allowed merge strategies: {allowed}.",
            )

    def _get_merge_task(self, call: _Call) -> _Response:
        repo, pull_request = self._pull_request_for(call)
        task = self._merge_tasks.get(call.params["task_id"])
        if task is None or task.pull_request is not pull_request:
            raise _bad_request("The provided task ID does not relate to this pull request.")
        here = f"{self._repo_api(repo)}/pullrequests/{pull_request.id}/merge/task-status/{task.task_id}"
        self_link = {"self": _link(here)}
        task.polls += 1
        if task.polls == 1:  # the first poll always finds the merge still running
            return _Response(200, {"task_status": "PENDING", "links": self_link})
        if not task.merged:
            self._check_mergeable(repo, pull_request, task.parameters)
            self._merge(repo, pull_request, task.caller, task.parameters, at=self.clock())
            task.merged = True
        merged = self._pull_request_json(repo, pull_request)
        return _Response(200, {"task_status": "SUCCESS", "links": self_link, "merge_result": merged})

    def _decline_pull_request(self, call: _Call) -> _Response:
        repo, pull_request = self._pull_request_for(call)
        if pull_request.state != "OPEN":
            raise _bad_request("You can't decline a pull request that is not open.")
        pull_request.source_hash = repo.branches.get(pull_request.source, pull_request.source_hash)
        pull_request.destination_hash = repo.branches.get(pull_request.destination, pull_request.destination_hash)
        pull_request.state, pull_request.closed_by = "DECLINED", call.caller
        pull_request.reason = call.body_object().get("message") or ""
        pull_request.updated_on = self.clock()
        return _Response(200, self._pull_request_json(repo, pull_request))

    def _approve(self, call: _Call) -> _Response:
        return self._review_by_caller(call, "approved")

    def _request_changes(self, call: _Call) -> _Response:
        return self._review_by_caller(call, "changes_requested")

    def _unapprove(self, call: _Call) -> _Response:
        return self._withdraw_review_by_caller(call, "approved")

    def _remove_request_changes(self, call: _Call) -> _Response:
        return self._withdraw_review_by_caller(call, "changes_requested")

    def _review_by_caller(self, call: _Call, verdict: str) -> _Response:
        _, pull_request = self._pull_request_for(call)
        action = "approve" if verdict == "approved" else "request changes on"
        if pull_request.state != "OPEN":
            raise _bad_request(f"You can't {action} a pull request that is not open.")
        if pull_request.author is call.caller:
            raise _bad_request(f"You can't {action} your own pull request.")
        now = self.clock()
        participant = self._review(pull_request, call.caller, verdict, now)
        pull_request.updated_on = now
        return _Response(200, self._participant_json(participant))

    def _withdraw_review_by_caller(self, call: _Call, verdict: str) -> _Response:
        _, pull_request = self._pull_request_for(call)
        if pull_request.state != "OPEN":
            action = "unapprove" if verdict == "approved" else "remove a change request from"
            raise _bad_request(f"You can't {action} a pull request that is not open.")
        for participant in pull_request.participants:
            if participant.user is call.caller and participant.state == verdict:
                now = self.clock()
                self._review(pull_request, call.caller, None, now)
                pull_request.updated_on = now
        return _Response(204)

    # ------------------------------------------------------------------ handlers: refs and commits

    def _list_branches(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        items = [self._branch_json(repo, name) for name in sorted(repo.branches)]
        items = _sorted(_filtered(items, call.arg("q")), call.arg("sort"))
        return _Response(200, self._page(call, items))

    def _get_branch(self, call: _Call) -> _Response:
        repo, name = self._repo_for(call), call.params["name"]
        if name not in repo.branches:
            raise _not_found(f'Branch "{name}" not found', data={"key": "BRANCH_NOT_FOUND"})
        return _Response(200, self._branch_json(repo, name))

    def _list_tags(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        items = [self._tag_json(repo, repo.tags[name]) for name in sorted(repo.tags)]
        items = _sorted(_filtered(items, call.arg("q")), call.arg("sort"))
        return _Response(200, self._page(call, items))

    def _get_tag(self, call: _Call) -> _Response:
        repo, name = self._repo_for(call), call.params["name"]
        if name not in repo.tags:
            raise _not_found(f'Tag "{name}" not found', data={"key": "TAG_NOT_FOUND"})
        return _Response(200, self._tag_json(repo, repo.tags[name]))

    def _create_tag(self, call: _Call) -> _Response:
        repo, body = self._repo_for(call), call.body_object()
        name = body.get("name")
        if not name:
            raise _field_error("name", "This field is required.")
        if not _valid_ref_name(name):
            raise _field_error("name", f'"{name}" is not a valid tag name.')
        wanted_hash = (body.get("target") or {}).get("hash")
        if not wanted_hash:
            raise _field_error("target", "This field is required.")
        if name in repo.tags:
            raise _bad_request(f'Tag "{name}" already exists.', data={"key": "TAG_ALREADY_EXISTS"})
        is_hash = re.fullmatch(r"[0-9a-f]{7,40}", wanted_hash)  # a hash, not a branch or tag name
        commit_hash = self._resolve_commit(repo, wanted_hash) if is_hash else None
        if commit_hash is None:
            raise _field_error("target", f"Commit {wanted_hash} not found.")
        tag = _Tag(name, commit_hash)
        if body.get("message"):
            tag.message, tag.date, tag.tagger = body["message"], self.clock(), call.caller
        repo.tags[name] = tag
        created = self._tag_json(repo, tag)
        return _Response(201, created, {"Location": created["links"]["self"]["href"]})

    def _get_commit(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        commit_hash = self._resolve_commit(repo, call.params["rev"])
        if commit_hash is None:
            raise _not_found("Commit not found", detail=f"No commit matches '{call.params['rev']}'.")
        return _Response(200, self._commit_json(repo, repo.commits[commit_hash]))

    # ------------------------------------------------------------------ handlers: webhooks

    def _list_webhooks(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        return _Response(200, self._page(call, [self._webhook_json(repo, hook) for hook in repo.hooks.values()]))

    def _create_webhook(self, call: _Call) -> _Response:
        repo, body = self._repo_for(call), call.body_object()
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

    def _webhook_for(self, call: _Call) -> tuple[_Repository, _Webhook]:
        repo = self._repo_for(call)
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

    # ------------------------------------------------------------------ handlers: pipelines and deployments

    def _list_pipelines(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        items = [self._pipeline_json(repo, pipeline) for pipeline in repo.pipelines]
        for key in PIPELINE_FILTERS:
            wanted = call.arg(key)
            if wanted:
                path = _split_path("target.ref_name" if key == "target.branch" else key)
                # ref_type and selector.type are documented in upper case and echoed in lower case
                items = [item for item in items if wanted.lower() in [str(v).lower() for v in _values_at(item, path)]]
        items = _sorted(items, call.arg("sort") or "created_on")  # oldest first unless asked otherwise
        return _Response(200, self._page(call, items))

    def _trigger_pipeline(self, call: _Call) -> _Response:
        repo, body = self._repo_for(call), call.body_object()
        target = body.get("target")
        if not isinstance(target, dict):
            raise _bad_request("Bad request", detail="target: This field is required.")
        commit_hash, rendered_target = self._pipeline_target(repo, target)
        selector = target.get("selector") or {}
        pattern = selector.get("pattern") if selector.get("type") == "custom" else None
        script = repo.pipeline_scripts.get(pattern)
        if script is None:
            raise _bad_request(
                "Bad request", detail=SELECTOR_NOT_FOUND, data={"key": "result-service.pipeline.selector-not-found"}
            )
        pipeline = _Pipeline(
            uuid=_braced_uuid(),
            build_number=len(repo.pipelines) + 1,
            target=rendered_target,
            commit=commit_hash,
            script=script,
            creator=call.caller,
            created_on=self.clock(),
            variables=[dict(v) for v in body.get("variables") or []],
        )
        repo.pipelines.append(pipeline)
        created = self._pipeline_json(repo, pipeline)
        return _Response(201, created, {"Location": created["links"]["self"]["href"]})

    def _pipeline_target(self, repo: _Repository, target: dict) -> tuple[str, dict]:
        """Resolve a trigger's target to a commit, and the target as Bitbucket echoes it."""
        selector = target.get("selector")
        wanted_hash = (target.get("commit") or {}).get("hash")
        if target.get("type") == "pipeline_ref_target":
            ref_type, ref_name = target.get("ref_type"), target.get("ref_name")
            if ref_type not in ("branch", "tag", "named_branch", "bookmark") or not ref_name:
                raise _bad_request("Bad request", detail="target: ref_type and ref_name are required.")
            refs = {name: tag.hash for name, tag in repo.tags.items()} if ref_type == "tag" else repo.branches
            head = refs.get(ref_name)
            commit_hash = self._resolve_commit(repo, wanted_hash) if wanted_hash else head
            if head is None or commit_hash is None:
                raise _not_found("Not found", detail="Could not find the revision")
            rendered = {"type": "pipeline_ref_target", "ref_type": ref_type, "ref_name": ref_name}
        elif target.get("type") == "pipeline_commit_target":
            commit_hash = self._resolve_commit(repo, wanted_hash) if wanted_hash else None
            if commit_hash is None:
                raise _not_found("Not found", detail="Could not find the revision")
            rendered = {"type": "pipeline_commit_target"}
        else:
            raise _bad_request("Bad request", detail=f"target: unsupported target type {target.get('type')!r}.")
        links = self._commit_stub(repo, commit_hash)["links"]
        rendered["commit"] = {"type": "commit", "hash": commit_hash, "links": links}
        rendered["selector"] = dict(selector) if selector else {"type": "default"}
        return commit_hash, rendered

    def _get_pipeline(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        return _Response(200, self._pipeline_json(repo, self._pipeline(repo, call.params["pipeline"])))

    def _stop_pipeline(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        pipeline = self._pipeline(repo, call.params["pipeline"])
        if pipeline.state == "COMPLETED":
            raise _bad_request("Bad request", detail="The pipeline has already completed and cannot be stopped.")
        self._complete_pipeline(repo, pipeline, "STOPPED", self.clock())
        return _Response(204)

    def _list_environments(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        ordered = sorted(repo.environments, key=lambda env: ENVIRONMENT_RANKS[env.environment_type])
        return _Response(200, self._page(call, [self._environment_json(env) for env in ordered]))

    def _list_deployments(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        items = [self._deployment_json(repo, deployment) for deployment in self._newest_deployments(repo)]
        return _Response(200, self._page(call, items))

    # ------------------------------------------------------------------ handlers: OAuth 2.0

    def _oauth_authorize(self, call: _Call) -> _Response:
        """The consent page, already answered: redirect back with a code for `consent_user`."""
        consumer = self._consumers.get(call.arg("client_id") or "")
        if consumer is None:
            return _Response(400, "Invalid client_id")
        redirect_uri = call.arg("redirect_uri") or consumer.redirect_uri
        if not redirect_uri or (consumer.redirect_uri and redirect_uri != consumer.redirect_uri):
            return _Response(400, "The redirect_uri does not match the consumer's callback URL")
        answer: list[tuple[str, str]]
        if call.arg("response_type") != "code":
            answer = [("error", "unsupported_response_type")]
        elif self.deny_consent:
            answer = [("error", "access_denied"), ("error_description", "The user denied access")]
        else:
            user = self._user(self.consent_user) if self.consent_user else self._first_user()
            code = secrets.token_urlsafe(18)
            self._authorization_codes[code] = (consumer.client_id, user, call.arg("redirect_uri"))
            answer = [("code", code)]
        if call.arg("state") is not None:
            answer.append(("state", call.arg("state")))
        separator = "&" if "?" in redirect_uri else "?"
        return _Response(302, None, {"Location": f"{redirect_uri}{separator}{urlencode(answer)}"})

    def _oauth_access_token(self, call: _Call) -> _Response:
        form = dict(parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True))
        consumer = self._oauth_client(call, form)
        if consumer is None:
            return _Response(401, {"error": "invalid_client", "error_description": "Invalid OAuth client credentials"})
        grant = form.get("grant_type")
        if grant == "client_credentials":
            owner = self._user(consumer.owner) if consumer.owner is not None else self._first_user()
            return self._issue_token(consumer, owner, consumer.scopes, grant)
        if grant == "authorization_code":
            found = self._authorization_codes.pop(form.get("code", ""), None)  # a code works once
            if found is None or found[0] != consumer.client_id:
                return _oauth_error("invalid_grant", "The authorization code is invalid or has already been used.")
            return self._issue_token(consumer, found[1], consumer.scopes, grant)
        if grant == "refresh_token":
            found_refresh = self._refresh_tokens.get(form.get("refresh_token", ""))
            if found_refresh is None or found_refresh[0] != consumer.client_id:
                return _oauth_error("invalid_grant", "Invalid refresh_token")
            return self._issue_token(consumer, found_refresh[1], found_refresh[2], grant, form["refresh_token"])
        return _oauth_error("unsupported_grant_type", f"Unsupported grant type: {grant}")

    def _oauth_client(self, call: _Call, form: dict) -> _OAuthConsumer | None:
        scheme, _, credentials = call.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(credentials.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        consumer = self._consumers.get(client_id)
        return consumer if consumer is not None and secrets.compare_digest(consumer.secret, secret) else None

    def _issue_token(self, consumer, user, scopes, grant, refresh_token=None) -> _Response:
        access_token = secrets.token_urlsafe(32)
        expires_at = self.clock() + timedelta(seconds=self.oauth_token_lifetime)
        self._access_tokens[access_token] = _OAuthToken(access_token, user, consumer.client_id, scopes, expires_at)
        refresh_token = refresh_token or secrets.token_urlsafe(24)  # Bitbucket keeps the same refresh token
        self._refresh_tokens[refresh_token] = (consumer.client_id, user, scopes)
        return _Response(
            200,
            {
                "access_token": access_token,
                "scopes": scopes,
                "expires_in": self.oauth_token_lifetime,
                "refresh_token": refresh_token,
                "token_type": "bearer",
                "state": grant,
            },
        )


def _unauthorized(message: str = "Unauthorized") -> _ApiError:
    return _ApiError(401, message, headers={"WWW-Authenticate": 'Basic realm="Bitbucket.org HTTP"'})


def _oauth_error(error: str, description: str) -> _Response:
    return _Response(400, {"error": error, "error_description": description})


def _default_error_body(status: int) -> dict:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Service Unavailable" if status == 555 else "Error"
    return {"type": "error", "error": {"message": phrase}}


def _valid_ref_name(name: str) -> bool:
    """Git's rules for ref names, roughly."""
    return not (
        re.search(r"[\s~^:?*\[\\]|\.\.|@\{|//", name)
        or name.startswith(("/", "-", "."))
        or name.endswith(("/", ".", ".lock"))
    )


class _HTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as `requests` expects
    disable_nagle_algorithm = True  # headers and body go out in separate writes; don't stall 40 ms between them
    server_version = "FakeBitbucket"
    sys_version = ""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.fake._serve(self.command, self.path, headers, body)  # type: ignore[attr-defined]
        payload, content_type = response.encode()
        self.send_response(response.status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # tests read `requests`; stderr stays quiet


def demo_workspace(fake: FakeBitbucket) -> None:
    """Seed the sandbox's demo workspace (see `bot.sandbox.demo`)."""
    from bot.sandbox.demo import demo_workspace as seed

    seed(fake)
