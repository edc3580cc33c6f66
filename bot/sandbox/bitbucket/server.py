"""The simulated Bitbucket's server: `FakeBitbucket`, composed of one mixin per resource, listening on
127.0.0.1. It records each request, fails it when a test asked for that (`fail_next`), waits `latency`, routes
it to a handler, authenticates the caller, pages collections and applies `fields` to what it answers."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from datetime import datetime
from typing import Any, Callable
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit

from bot.sandbox.bitbucket.activity import ActivityMixin
from bot.sandbox.bitbucket.auth import AuthMixin
from bot.sandbox.bitbucket.builds import STORAGE_PREFIX, BuildsMixin
from bot.sandbox.bitbucket.commits import CommitsMixin
from bot.sandbox.bitbucket.comments import CommentsMixin
from bot.sandbox.bitbucket.deployments import DeploymentsMixin
from bot.sandbox.bitbucket.events import EventsMixin, Listener
from bot.sandbox.bitbucket.diffstat import DiffstatMixin
from bot.sandbox.bitbucket.pipelines import PipelinesMixin
from bot.sandbox.bitbucket.pull_requests import PullRequestsMixin
from bot.sandbox.bitbucket.query import _partial_response
from bot.sandbox.bitbucket.records import (
    RecordedRequest,
    _Failure,
    _MergeTask,
    _OAuthConsumer,
    _OAuthToken,
    _Repository,
    _User,
    _Workspace,
)
from bot.sandbox.bitbucket.refs import RefsMixin
from bot.sandbox.bitbucket.repositories import RepositoriesMixin
from bot.sandbox.bitbucket.restrictions import RestrictionsMixin
from bot.sandbox.bitbucket.routes import _COMPILED_API_ROUTES, _COMPILED_OAUTH_ROUTES
from bot.sandbox.bitbucket.transport import SimulatorHTTPServer
from bot.sandbox.bitbucket.users import UsersMixin
from bot.sandbox.bitbucket.webhooks import WebhooksMixin
from bot.sandbox.bitbucket.wire import (
    DEFAULT_PAGELEN,
    DEFAULT_PAGELEN_MAX,
    NO_API_HERE,
    PUBLIC_API_ROOT,
    RATE_LIMITED_TEXT,
    _ApiError,
    _bad_request,
    _Call,
    _default_error_body,
    _not_found,
    _Response,
    _utc_now,
)


log = logging.getLogger(__name__)


class FakeBitbucket(
    UsersMixin, AuthMixin, RepositoriesMixin, RefsMixin, PullRequestsMixin, CommentsMixin, ActivityMixin, WebhooksMixin,
    PipelinesMixin, BuildsMixin, DeploymentsMixin, EventsMixin, RestrictionsMixin, CommitsMixin, DiffstatMixin,
):
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
        self.listeners: list[Listener] = []  # told of each change made through the API (events.py), as webhooks tell
        self.rate_limit_headers: dict[str, str] = {}  # sent with every answer, e.g. {"X-RateLimit-Limit": "1000"}

        self._lock = threading.RLock()
        self._server: SimulatorHTTPServer | None = None
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
        server = SimulatorHTTPServer((self.host, self.port), self)
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

    # ------------------------------------------------------------------ test controls and inspection

    def fail_next(self, method: str | None, path_regex: str, *, status: int, body=None, headers=None, times=1):
        """Answer the next `times` requests whose path matches `path_regex` (searched) with `status`.

        `body` may be a str (sent as plain text), a dict (JSON), or None: Bitbucket's usual body for that status
        (plain text for 429, the JSON error object otherwise). `method` None matches any method.
        """
        with self._lock:
            self._failures.append(
                _Failure(method and method.upper(), re.compile(path_regex), status, body, dict(headers or {}), times)
            )

    def requests_to(self, method: str | None = None, path_contains: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, filtered by method and by a substring of the path (raw or decoded)."""
        with self._lock:
            return [
                request
                for request in self.requests
                if (method is None or request.method == method.upper())
                and (path_contains is None or path_contains in request.path or path_contains in unquote(request.path))
            ]

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
            except Exception as error:  # a bug here must show up as a 500, not a hung client, and print nothing
                log.debug("simulated Bitbucket: %s %s failed", method, target, exc_info=True)
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
