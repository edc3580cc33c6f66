"""The Bitbucket Cloud REST 2.0 client.

One `requests.Session`, pluggable credentials, pagination that follows `next`, retries with backoff and
full jitter, and typed errors that carry Bitbucket's own words. Calls return Bitbucket's JSON as it came;
the pure `from_api` constructors turn what the bot renders into small frozen models.
"""

from __future__ import annotations

import base64
import logging
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote, urljoin, urlsplit

import requests
import urllib3

from bot.core import metrics

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.bitbucket.org/2.0"
OAUTH_TOKEN_URL = "https://bitbucket.org/site/oauth2/access_token"
DEFAULT_TIMEOUT = (3.05, 20)  # (connect, read) seconds

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 555})  # 555: Bitbucket's own "timed out, retry later"
MAX_BACKOFF = 30.0  # ceiling of one exponential-backoff wait, seconds
MAX_RETRY_AFTER = 60.0  # a longer Retry-After is not worth keeping a person waiting for
TOKEN_REFRESH_MARGIN = 60.0  # renew OAuth tokens this many seconds before they expire
DEFAULT_TOKEN_LIFETIME = 3600.0  # Bitbucket's documented lifetime, used if a token response omits expires_in

# Bitbucket answers 400 "Invalid pagelen" above 50 on pull requests (despite its docs saying 100).
PULL_REQUEST_PAGELEN = 50
MAX_PAGELEN = 100
PULL_REQUEST_REVIEW_FIELDS = "+values.reviewers,+values.participants"  # the collection omits them by default
COMMIT_HASH = re.compile(r"[0-9a-fA-F]{7,40}")


def _version() -> str:
    try:
        return metadata.version("bitbucket-chatops")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "dev"


USER_AGENT = f"bitbucket-chatops/{_version()}"

# Path templates, spelled as in Atlassian's swagger.json (a test checks each against it). The pipelines
# collections keep their trailing slash: without it Bitbucket has answered "There is no API hosted at this
# URL". Their single items must not have one.
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


# ---------------------------------------------------------------------------------------------- errors


class BitbucketError(Exception):
    """A failed call. `message` and `detail` are Bitbucket's own words; `str()` is safe to show a person."""

    default_message = "Bitbucket returned an error"

    def __init__(self, status: int | None, message: str | None = None, detail: str | None = None, *,
                 retry_after: float | None = None):
        self.status = status
        self.message = message or self.default_message
        self.detail = detail
        self.retry_after = retry_after  # seconds, from a Retry-After header
        super().__init__(status, self.message, detail)

    def __str__(self) -> str:
        return error_words(self.message, self.detail)


def error_words(message: str, detail: str | None) -> str:
    """Pure: Bitbucket's message, then the parts of its detail that say something more, in parentheses.

    Bitbucket often repeats itself (a field error is both the message and the detail); each thing is said once.
    """

    def plain(text: str) -> str:
        return " ".join(text.split()).rstrip(".").lower()

    parts = [part for part in (detail or "").split("; ") if plain(part) and plain(part) not in plain(message)]
    if not parts:
        return message
    if plain(message) and any(plain(message) in plain(part) for part in parts):
        return "; ".join(parts)  # the detail says it all, and more
    return f"{message} ({'; '.join(parts)})"


class BadRequest(BitbucketError):
    default_message = "Bitbucket rejected the request"


class Unauthorized(BitbucketError):
    default_message = "Bitbucket did not accept the credentials (expired, revoked, or missing a scope)"


class Forbidden(BitbucketError):
    default_message = "The Bitbucket credentials are not allowed to do that"


class NotFound(BitbucketError):
    default_message = "Not found in Bitbucket"


class Conflict(BitbucketError):
    default_message = "Something changed in Bitbucket meanwhile; try again"


class RateLimited(BitbucketError):
    default_message = "Bitbucket's rate limit was reached; try again in a few minutes"


class ServerError(BitbucketError):
    default_message = "Bitbucket is having trouble; try again later"


class NetworkError(BitbucketError):
    """No answer from Bitbucket. `request_sent` is False when the connection never opened."""

    default_message = "Could not reach Bitbucket"

    def __init__(self, status: int | None = None, message: str | None = None, detail: str | None = None, *,
                 request_sent: bool = True):
        super().__init__(status, message, detail)
        self.request_sent = request_sent

    @classmethod
    def from_exception(cls, exc: requests.RequestException, url: str) -> "NetworkError":
        host = urlsplit(url).netloc
        if isinstance(exc, requests.ConnectTimeout):
            return cls(None, f"Timed out connecting to Bitbucket ({host})", request_sent=False)
        if isinstance(exc, requests.Timeout):
            return cls(None, f"Bitbucket ({host}) did not answer in time")
        if _never_connected(exc):
            return cls(None, f"Could not connect to Bitbucket ({host})", request_sent=False)
        return cls(None, f"The connection to Bitbucket ({host}) broke off")


class MergeInProgress(BitbucketError):
    default_message = "The merge is still in progress in Bitbucket; check the pull request again in a minute"


def outcome_unknown(error: Exception) -> bool:
    """After a write: a 5xx, a merge still running, or a connection lost once the request went out leave it open
    whether Bitbucket acted. Such a write must not be repeated blindly, nor reported as not done."""
    return isinstance(error, (ServerError, MergeInProgress)) or (isinstance(error, NetworkError) and error.request_sent)


_ERRORS_BY_STATUS = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 429: RateLimited}
_NETWORK_FAILURES = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_TEXT_LIMIT = 300
_DETAIL_LIMIT = 600


def _never_connected(exc: requests.RequestException) -> bool:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None  # urllib3's MaxRetryError.reason
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def error_from_response(response: requests.Response) -> BitbucketError:
    """The typed error for a 4xx/5xx answer, with Bitbucket's message and detail."""
    status = response.status_code
    message, detail = _error_words(response)
    error_class = _ERRORS_BY_STATUS.get(status) or (ServerError if status >= 500 else BitbucketError)
    return error_class(status, message, detail, retry_after=_retry_after(response))


def _error_words(response: requests.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:  # 429s come as plain text, proxies answer in HTML, some 401s are empty
        return _trim(_plain_text(response.text), _TEXT_LIMIT), None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):  # {"type": "error", "error": {"message", "detail", "fields", …}}
        return error.get("message"), _trim(_detail_with_fields(error), _DETAIL_LIMIT)
    if isinstance(error, str):  # the OAuth token endpoint: {"error": "invalid_grant", "error_description": …}
        return body.get("error_description") or error, None
    return None, None


def _detail_with_fields(error: Mapping) -> str:
    parts = [error.get("detail") or ""]
    for field, problems in (error.get("fields") or {}).items():
        problems = problems if isinstance(problems, list) else [problems]
        if problems:
            parts.append(f"{field}: {'; '.join(map(str, problems))}")
    return "; ".join(part for part in parts if part)


def _plain_text(text: str) -> str:
    if text.lstrip().startswith("<"):
        text = re.sub(r"<[^>]*>", " ", text)
    return " ".join(text.split())


def _trim(text: str, limit: int) -> str | None:
    text = " ".join(text.split())
    if len(text) > limit:
        return text[: limit - 1] + "…"
    return text or None


def _retry_after(response: requests.Response) -> float | None:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:  # absent, or an HTTP date (Bitbucket sends seconds when it sends anything)
        return None
    return seconds if seconds >= 0 else None


# ------------------------------------------------------------------------------------------ credentials


class Credentials:
    """How requests prove who the bot is. `apply` adds the Authorization header to a request's kwargs."""

    def apply(self, request_kwargs: dict) -> None:
        raise NotImplementedError

    def renew(self) -> bool:
        """After a 401: get fresh credentials if that is possible. True if the request is worth repeating."""
        return False

    def describe(self) -> str:
        """What kind of credential this is, for `bitbucket-chatops check`. Never shows a secret."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.describe()}>"


def _set_authorization(request_kwargs: dict, value: str) -> None:
    request_kwargs.setdefault("headers", {})["Authorization"] = value


def _abbreviate(text: str, keep: int = 4) -> str:
    return text[:keep] + "…"


class BearerToken(Credentials):
    """A workspace, project or repository access token: the bot acts as the token's own pseudo-user."""

    def __init__(self, token: str):
        self._token = token

    def apply(self, request_kwargs: dict) -> None:
        _set_authorization(request_kwargs, f"Bearer {self._token}")

    def describe(self) -> str:
        return "workspace/repository access token (Bearer)"


class BasicApiToken(Credentials):
    """An Atlassian API token, sent as HTTP Basic with the account's email (a username does not work)."""

    def __init__(self, email: str, api_token: str):
        self._email = email
        self._api_token = api_token

    def apply(self, request_kwargs: dict) -> None:
        pair = base64.b64encode(f"{self._email}:{self._api_token}".encode()).decode("ascii")
        _set_authorization(request_kwargs, f"Basic {pair}")

    def describe(self) -> str:
        local, _, domain = self._email.partition("@")
        return f"Atlassian API token for {_abbreviate(local, 1)}@{domain}"


class _OAuthToken(Credentials):
    """An OAuth 2.0 access token from Bitbucket's token endpoint, kept until shortly before it expires.

    The lock makes one thread fetch while the others wait for its token.
    """

    refused_message = "Bitbucket refused the OAuth credentials"

    def __init__(self, client_id: str, client_secret: str, token_url: str, *,
                 session: requests.Session | None, clock: Callable[[], float]):
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_url = token_url
        self._session = session or requests.Session()
        self._clock = clock
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._expires_at = 0.0

    def apply(self, request_kwargs: dict) -> None:
        with self._lock:
            if self._access_token is None or self._clock() >= self._expires_at - TOKEN_REFRESH_MARGIN:
                self._refresh()
            token = self._access_token
        _set_authorization(request_kwargs, f"Bearer {token}")

    def renew(self) -> bool:
        with self._lock:
            self._refresh()
        return True

    def _refresh(self) -> None:
        raise NotImplementedError

    def _request_token(self, form: Mapping[str, str]) -> tuple[str, float, str | None]:
        """POST the token endpoint (HTTP Basic client_id:secret).

        Returns the access token, when it expires (by `clock`) and the refresh token if one came.
        """
        issued_at = self._clock()
        try:
            response = self._session.post(
                self._token_url,
                data=form,
                auth=(self._client_id, self._client_secret),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                timeout=DEFAULT_TIMEOUT,
            )
        except _NETWORK_FAILURES as exc:
            raise NetworkError.from_exception(exc, self._token_url) from exc
        if response.status_code in (400, 401, 403):
            raise Unauthorized(response.status_code, self.refused_message, _error_words(response)[0])
        if response.status_code >= 400:
            raise error_from_response(response)
        body = response.json()
        lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        return body["access_token"], issued_at + lifetime, body.get("refresh_token")


class ClientCredentials(_OAuthToken):
    """An OAuth consumer's client-credentials grant: the bot acts as the consumer's owner."""

    refused_message = "Bitbucket refused the OAuth consumer's key or secret"

    def __init__(self, client_id: str, client_secret: str, token_url: str = OAUTH_TOKEN_URL, *,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time):
        super().__init__(client_id, client_secret, token_url, session=session, clock=clock)

    def _refresh(self) -> None:
        self._access_token, self._expires_at, _ = self._request_token({"grant_type": "client_credentials"})

    def describe(self) -> str:
        return f"OAuth consumer {_abbreviate(self._client_id)} (client credentials)"


class UserOAuthToken(_OAuthToken):
    """A person's OAuth token (authorization-code grant), refreshed when it expires or is refused.

    `on_refresh` receives `{"access_token", "refresh_token", "expires_at"}` (epoch seconds) so the caller
    can store the new tokens.
    """

    refused_message = "Bitbucket refused to renew your authorization; connect your Bitbucket account again"

    def __init__(self, access_token: str, refresh_token: str, expires_at: float, *, client_id: str,
                 client_secret: str, token_url: str = OAUTH_TOKEN_URL,
                 on_refresh: Callable[[dict], None] | None = None,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time):
        super().__init__(client_id, client_secret, token_url, session=session, clock=clock)
        self._access_token = access_token
        self._refresh_token = refresh_token
        self._expires_at = expires_at
        self._on_refresh = on_refresh

    def _refresh(self) -> None:
        token, expires_at, refresh_token = self._request_token(
            {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
        )
        self._access_token, self._expires_at = token, expires_at
        self._refresh_token = refresh_token or self._refresh_token
        if self._on_refresh:
            self._on_refresh(
                {"access_token": token, "refresh_token": self._refresh_token, "expires_at": expires_at}
            )

    def describe(self) -> str:
        return f"OAuth user token (consumer {_abbreviate(self._client_id)})"


# ----------------------------------------------------------------------------------------------- models


def parse_timestamp(value: str | None) -> datetime | None:
    """Bitbucket's ISO-8601 timestamps as aware datetimes (a naive one is UTC); None for anything else."""
    if not value or not isinstance(value, str):
        return None
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    # Python 3.10's fromisoformat accepts only 3 or 6 fraction digits.
    value = re.sub(r"\.(\d+)", lambda m: "." + m.group(1)[:6].ljust(6, "0"), value, count=1)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# Payloads come from strangers too (webhooks): what should be text, a number or an object is checked on the way in.


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _mappings(value) -> list[Mapping]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, (list, tuple)) else []


def _number(value) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return 0


def _dig(data: Mapping | None, *keys: str) -> Any:
    """`data[k1][k2]…`, or None where a level is missing or null."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _dig_text(data: Mapping | None, *keys: str) -> str | None:
    """`_dig` where the answer must be text: None for anything else."""
    return _text(_dig(data, *keys))


@dataclass(frozen=True)
class Account:
    display_name: str
    nickname: str | None = None
    uuid: str | None = None
    account_id: str | None = None

    @classmethod
    def from_api(cls, data: Mapping) -> "Account":
        data = _mapping(data)
        return cls(
            display_name=_text(data.get("display_name")) or _text(data.get("nickname")) or "unknown user",
            nickname=_text(data.get("nickname")),
            uuid=_text(data.get("uuid")),
            account_id=_text(data.get("account_id")),
        )


def _account_or_none(data: Mapping | None) -> Account | None:
    return Account.from_api(data) if data else None


@dataclass(frozen=True)
class PullRequest:
    id: int
    title: str
    state: str  # OPEN | MERGED | DECLINED | SUPERSEDED
    draft: bool
    author: Account
    source_branch: str | None
    destination_branch: str | None
    repository: str | None  # "workspace/slug" of the destination
    reviewers: tuple[Account, ...]
    approved_by: tuple[Account, ...]
    changes_requested_by: tuple[Account, ...]
    created_on: datetime | None
    updated_on: datetime | None
    url: str | None
    comment_count: int
    merge_commit: str | None

    @classmethod
    def from_api(cls, data: Mapping) -> "PullRequest":
        participants = _mappings(data.get("participants"))
        return cls(
            id=_number(data.get("id")),
            title=_text(data.get("title")) or "",
            state=_text(data.get("state")) or "",
            draft=data.get("draft") is True,
            author=Account.from_api(data.get("author")),
            source_branch=_dig_text(data, "source", "branch", "name"),
            destination_branch=_dig_text(data, "destination", "branch", "name"),
            repository=_dig_text(data, "destination", "repository", "full_name"),
            reviewers=tuple(Account.from_api(user) for user in _mappings(data.get("reviewers"))),
            approved_by=tuple(
                Account.from_api(p.get("user")) for p in participants if p.get("approved") is True or p.get("state") == "approved"
            ),
            changes_requested_by=tuple(
                Account.from_api(p.get("user")) for p in participants if p.get("state") == "changes_requested"
            ),
            created_on=parse_timestamp(data.get("created_on")),
            updated_on=parse_timestamp(data.get("updated_on")),
            url=_dig_text(data, "links", "html", "href"),
            comment_count=_number(data.get("comment_count")),
            merge_commit=_dig_text(data, "merge_commit", "hash"),
        )


@dataclass(frozen=True)
class Page:
    """The first items of a collection, as Bitbucket's JSON objects, and how many there are in all."""

    values: list[dict]
    total: int | None  # Bitbucket's `size`: may exceed len(values) when a limit cut the listing short


PullRequestPage = Page  # the name ARCHITECTURE.md gives the pull request listing


@dataclass(frozen=True)
class Repository:
    full_name: str  # "workspace/slug"
    slug: str
    name: str
    uuid: str | None
    is_private: bool
    main_branch: str | None
    project_key: str | None
    url: str | None

    @property
    def workspace(self) -> str:
        return self.full_name.split("/", 1)[0]

    @classmethod
    def from_api(cls, data: Mapping) -> "Repository":
        full_name = data["full_name"]
        return cls(
            full_name=full_name,
            slug=data.get("slug") or full_name.split("/", 1)[-1],
            name=data.get("name") or full_name,
            uuid=data.get("uuid"),
            is_private=bool(data.get("is_private")),
            main_branch=_dig(data, "mainbranch", "name"),
            project_key=_dig(data, "project", "key"),
            url=_dig(data, "links", "html", "href"),
        )


@dataclass(frozen=True)
class ResolvedRef:
    kind: str  # "branch" | "tag" | "commit"
    name: str
    hash: str


@dataclass(frozen=True)
class Pipeline:
    uuid: str
    build_number: int | None
    state: str | None  # PENDING | IN_PROGRESS | COMPLETED
    stage: str | None  # while IN_PROGRESS: RUNNING | PAUSED
    result: str | None  # once COMPLETED: SUCCESSFUL | FAILED | ERROR | STOPPED | EXPIRED
    ref_type: str | None
    ref_name: str | None
    commit: str | None
    pattern: str | None  # the selector pattern, e.g. a custom pipeline's name
    creator: Account | None
    created_on: datetime | None
    completed_on: datetime | None
    url: str | None
    trigger: str | None = None  # PUSH | MANUAL | SCHEDULE | …
    selector_type: str | None = None  # default | branches | tags | custom | pull-requests
    build_seconds: int | None = None
    target: Mapping | None = None  # the target as Bitbucket gave it: what a re-run runs again

    @classmethod
    def from_api(cls, data: Mapping) -> "Pipeline":
        build_number = data.get("build_number")
        repository_url = _dig(data, "repository", "links", "html", "href")
        return cls(
            uuid=data["uuid"],
            build_number=build_number,
            state=_dig(data, "state", "name"),
            stage=_dig(data, "state", "stage", "name"),
            result=_dig(data, "state", "result", "name"),
            ref_type=_dig(data, "target", "ref_type"),
            ref_name=_dig(data, "target", "ref_name"),
            commit=_dig(data, "target", "commit", "hash"),
            pattern=_dig(data, "target", "selector", "pattern"),
            creator=_account_or_none(data.get("creator")),
            created_on=parse_timestamp(data.get("created_on")),
            completed_on=parse_timestamp(data.get("completed_on")),
            # The API has no link to the result page; this is the address Bitbucket's web UI uses.
            url=f"{repository_url}/pipelines/results/{build_number}" if repository_url and build_number else None,
            trigger=_dig(data, "trigger", "name"),
            selector_type=_dig(data, "target", "selector", "type"),
            build_seconds=data.get("build_seconds_used"),
            target=data.get("target") if isinstance(data.get("target"), Mapping) else None,
        )


@dataclass(frozen=True)
class PipelineStep:
    uuid: str
    name: str | None
    state: str | None  # PENDING | READY | IN_PROGRESS | COMPLETED
    result: str | None  # once COMPLETED: SUCCESSFUL | FAILED | ERROR | STOPPED | NOT_RUN | EXPIRED

    @classmethod
    def from_api(cls, data: Mapping) -> "PipelineStep":
        return cls(uuid=data["uuid"], name=data.get("name"), state=_dig(data, "state", "name"),
                   result=_dig(data, "state", "result", "name"))


@dataclass(frozen=True)
class CommitStatus:
    key: str
    name: str
    state: str  # SUCCESSFUL | FAILED | INPROGRESS | STOPPED
    url: str | None
    refname: str | None
    commit: str | None
    updated_on: datetime | None

    @classmethod
    def from_api(cls, data: Mapping) -> "CommitStatus":
        return cls(
            key=str(data.get("key") or ""), name=data.get("name") or str(data.get("key") or "build"),
            state=data.get("state") or "", url=data.get("url"), refname=data.get("refname"),
            commit=_dig(data, "commit", "hash"), updated_on=parse_timestamp(data.get("updated_on") or data.get("created_on")),
        )


@dataclass(frozen=True)
class Environment:
    uuid: str
    name: str
    environment_type: str | None  # Test | Staging | Production
    rank: int | None

    @classmethod
    def from_api(cls, data: Mapping) -> "Environment":
        return cls(
            uuid=data["uuid"],
            name=data.get("name") or "",
            environment_type=_dig(data, "environment_type", "name"),
            rank=_dig(data, "environment_type", "rank"),
        )


@dataclass(frozen=True)
class Deployment:
    uuid: str
    environment_uuid: str | None
    state: str | None  # UNDEPLOYED | IN_PROGRESS | COMPLETED
    status: str | None  # once COMPLETED: SUCCESSFUL | FAILED | STOPPED
    release_name: str | None
    commit: str | None
    pipeline_url: str | None
    deployer: Account | None
    started_on: datetime | None
    completed_on: datetime | None
    url: str | None

    @classmethod
    def from_api(cls, data: Mapping) -> "Deployment":
        state = data.get("state") or {}
        return cls(
            uuid=data["uuid"],
            environment_uuid=_dig(data, "environment", "uuid"),
            state=state.get("name"),
            status=_dig(state, "status", "name"),
            release_name=_dig(data, "release", "name"),
            commit=_dig(data, "release", "commit", "hash"),
            pipeline_url=_dig(data, "release", "url"),
            deployer=_account_or_none(state.get("deployer")),
            started_on=parse_timestamp(state.get("start_date")),
            completed_on=parse_timestamp(state.get("completion_date")),
            url=state.get("url"),
        )


def pipeline_target_for(ref: ResolvedRef, pattern: str | None = None) -> dict:
    """The `target` of a pipeline run at `ref`: the custom pipeline `pattern`, or the ref's own pipeline.

    Branches and tags run in their ref's context, pinned to the resolved commit so that what runs is what
    was shown to the person even if the branch moves meanwhile; a bare commit gets a commit target.
    """
    commit = {"type": "commit", "hash": ref.hash}
    if ref.kind == "commit":
        target = {"type": "pipeline_commit_target", "commit": commit}
    else:
        target = {"type": "pipeline_ref_target", "ref_type": ref.kind, "ref_name": ref.name, "commit": commit}
    if pattern:
        target["selector"] = {"type": "custom", "pattern": pattern}
    return target


def pipeline_body(target: Mapping, variables: Mapping[str, str] | None = None) -> dict:
    """The body of `trigger_pipeline`; `variables` reach custom pipelines as environment variables."""
    body: dict = {"target": dict(target)}
    if variables:
        body["variables"] = [{"key": key, "value": value} for key, value in variables.items()]
    return body


# ----------------------------------------------------------------------------------------------- client


class BitbucketClient:
    """Bitbucket Cloud's REST API 2.0. `ws` is a workspace slug (or `{uuid}`), `slug` a repository slug.

    Calls return Bitbucket's JSON (None for an empty answer); parse it with the models' `from_api`.
    """

    def __init__(self, base_url: str = DEFAULT_BASE_URL, auth: Credentials | None = None, *,
                 session: requests.Session | None = None, timeout: tuple[float, float] = DEFAULT_TIMEOUT,
                 max_retries: int = 4, backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = random.random, clock: Callable[[], float] = time.monotonic):
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self._session = session or requests.Session()
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff = backoff
        self._sleep = sleep
        self._rand = rand
        self._clock = clock

    def __repr__(self) -> str:
        return f"<BitbucketClient {self.base_url} auth={self.auth!r}>"

    # accounts and repositories

    def get_current_user(self) -> dict:
        return self._call("GET", self._url(USER))

    def get_workspace(self, ws: str) -> dict:
        return self._call("GET", self._url(WORKSPACE, workspace=ws))

    def list_workspace_members(self, ws: str) -> list[dict]:
        """`workspace_membership` objects, each with its `user` (nickname, uuid, account_id, display_name)."""
        return self._collect(self._url(WORKSPACE_MEMBERS, workspace=ws), {"pagelen": MAX_PAGELEN})[0]

    def list_repositories(self, ws: str, *, limit: int | None = None) -> Page:
        """The workspace's repositories the credential can read, most recently updated first."""
        params = {"sort": "-updated_on", "pagelen": MAX_PAGELEN}
        return Page(*self._collect(self._url(REPOSITORIES, workspace=ws), params, limit))

    def get_repository(self, ws: str, slug: str) -> dict:
        return self._call("GET", self._url(REPOSITORY, workspace=ws, repo_slug=slug))

    # pull requests

    def list_pull_requests(self, ws: str, slug: str, *, state: str | Sequence[str] = "OPEN",
                           with_reviewers: bool = True, limit: int | None = None, sort: str | None = None,
                           q: str | None = None, fields: str | None = None) -> Page:
        """Pull requests in `state` (several states: a list). Without a state Bitbucket lists only OPEN ones.
        `sort`: one field, `-` for descending (`-created_on`: newest first). `q`: a BBQL filter; `fields`: the
        fields to return instead of the defaults (with reviewers and participants unless `with_reviewers` is off)."""
        params: dict = {"state": state, "pagelen": PULL_REQUEST_PAGELEN}
        if sort:
            params["sort"] = sort
        if q:
            params["q"] = q
        if fields or with_reviewers:
            params["fields"] = fields or PULL_REQUEST_REVIEW_FIELDS  # requests sends "+" as %2B, as Bitbucket needs
        return Page(*self._collect(self._url(PULL_REQUESTS, workspace=ws, repo_slug=slug), params, limit))

    def iter_activity_pages(self, ws: str, slug: str, *, fields: str | None = None) -> Iterator[list[dict]]:
        """The repository's pull request activity (comments, approvals, change requests, state updates across
        all its pull requests), newest first, one page of 50 at a time: stop reading when you have enough."""
        params: dict = {"pagelen": PULL_REQUEST_PAGELEN, **({"fields": fields} if fields else {})}
        page = self._call("GET", self._url(PULL_REQUESTS_ACTIVITY, workspace=ws, repo_slug=slug), params=params)
        seen = set()
        while True:
            yield list(page.get("values") or ())
            next_url = page.get("next")
            if not next_url or next_url in seen:
                return
            seen.add(next_url)
            page = self._call("GET", self._link(next_url))

    def list_user_pull_requests(self, ws: str, user: str, *, limit: int | None = None) -> Page:
        """The open pull requests `user` (uuid or account_id) authored anywhere in the workspace."""
        params = {"state": "OPEN", "pagelen": PULL_REQUEST_PAGELEN, "fields": PULL_REQUEST_REVIEW_FIELDS}
        return Page(*self._collect(self._url(WORKSPACE_USER_PULL_REQUESTS, workspace=ws, selected_user=user), params, limit))

    def list_pull_requests_where(self, ws: str, slug: str, q: str, *, sort: str | None = None, limit: int | None = None) -> Page:
        """Pull requests matching the BBQL filter `q` (for example `reviewers.uuid="{…}" AND state="OPEN"`)."""
        params: dict = {"q": q, "pagelen": PULL_REQUEST_PAGELEN, "fields": PULL_REQUEST_REVIEW_FIELDS}
        if sort:
            params["sort"] = sort
        return Page(*self._collect(self._url(PULL_REQUESTS, workspace=ws, repo_slug=slug), params, limit))

    def get_pull_request(self, ws: str, slug: str, pr_id: int) -> dict:
        return self._call("GET", self._pr_url(PULL_REQUEST, ws, slug, pr_id))

    def create_pull_request(self, ws: str, slug: str, *, title: str, source: str, destination: str | None = None,
                            description: str = "", close_source_branch: bool = True) -> dict:
        """Open a pull request from branch `source`; without `destination` Bitbucket targets the main branch."""
        body: dict = {
            "title": title,
            "description": description,
            "source": {"branch": {"name": source}},
            "close_source_branch": close_source_branch,
        }
        if destination:
            body["destination"] = {"branch": {"name": destination}}
        return self._call("POST", self._url(PULL_REQUESTS, workspace=ws, repo_slug=slug), json=body, idempotent=False)

    def merge_pull_request(self, ws: str, slug: str, pr_id: int, *, strategy: str | None = None,
                           message: str | None = None, close_source_branch: bool | None = None,
                           poll_interval: float = 1.0, poll_timeout: float = 60) -> dict:
        """Merge and return the merged pull request. A slow merge answers 202 with a task-status URL in
        `Location`; it is polled until the merge is done or `poll_timeout` runs out (`MergeInProgress`)."""
        body: dict = {"type": "pullrequest_merge_parameters"}
        for key, value in (("merge_strategy", strategy), ("message", message),
                           ("close_source_branch", close_source_branch)):
            if value is not None:
                body[key] = value
        url = self._pr_url(PULL_REQUEST_MERGE, ws, slug, pr_id)
        response = self._request("POST", url, json=body, idempotent=False)
        if response.status_code == 202:
            return self._await_merge(response.headers.get("Location"), poll_interval, poll_timeout)
        return response.json()

    def decline_pull_request(self, ws: str, slug: str, pr_id: int) -> dict:
        return self._call("POST", self._pr_url(PULL_REQUEST_DECLINE, ws, slug, pr_id))

    def approve_pull_request(self, ws: str, slug: str, pr_id: int) -> dict:
        return self._call("POST", self._pr_url(PULL_REQUEST_APPROVE, ws, slug, pr_id))

    def unapprove_pull_request(self, ws: str, slug: str, pr_id: int) -> None:
        self._call("DELETE", self._pr_url(PULL_REQUEST_APPROVE, ws, slug, pr_id))

    def request_changes(self, ws: str, slug: str, pr_id: int) -> dict:
        return self._call("POST", self._pr_url(PULL_REQUEST_REQUEST_CHANGES, ws, slug, pr_id))

    def remove_request_changes(self, ws: str, slug: str, pr_id: int) -> None:
        self._call("DELETE", self._pr_url(PULL_REQUEST_REQUEST_CHANGES, ws, slug, pr_id))

    # refs and commits

    def get_branch(self, ws: str, slug: str, name: str) -> dict:
        return self._call("GET", self._url(BRANCH, workspace=ws, repo_slug=slug, name=name))

    def get_tag(self, ws: str, slug: str, name: str) -> dict:
        return self._call("GET", self._url(TAG, workspace=ws, repo_slug=slug, name=name))

    def get_commit(self, ws: str, slug: str, rev: str) -> dict:
        return self._call("GET", self._url(COMMIT, workspace=ws, repo_slug=slug, commit=rev))

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

    def create_tag(self, ws: str, slug: str, name: str, commit_hash: str, message: str | None = None) -> dict:
        body: dict = {"name": name, "target": {"hash": commit_hash}}
        if message:
            body["message"] = message
        return self._call("POST", self._url(TAGS, workspace=ws, repo_slug=slug), json=body, idempotent=False)

    # webhooks

    def list_webhooks(self, ws: str, slug: str) -> list[dict]:
        url = self._url(HOOKS, workspace=ws, repo_slug=slug)
        return self._collect(url, {"pagelen": MAX_PAGELEN})[0]

    def create_webhook(self, ws: str, slug: str, *, url: str, events: Iterable[str], secret: str,
                       description: str, active: bool = True) -> dict:
        """Subscribe `url` to `events`; Bitbucket signs each delivery with `secret` (X-Hub-Signature)."""
        body = {"url": url, "events": list(events), "secret": secret, "description": description, "active": active}
        return self._call("POST", self._url(HOOKS, workspace=ws, repo_slug=slug), json=body, idempotent=False)

    def update_webhook(self, ws: str, slug: str, uid: str, **fields) -> dict:
        """PUT the fields that change (`url`, `secret`, `events`, `active`, `description`); the rest stays."""
        return self._call("PUT", self._url(HOOK, workspace=ws, repo_slug=slug, uid=uid), json=fields)

    def delete_webhook(self, ws: str, slug: str, uid: str) -> None:
        self._call("DELETE", self._url(HOOK, workspace=ws, repo_slug=slug, uid=uid))

    # pipelines and deployments

    def trigger_pipeline(self, ws: str, slug: str, body: Mapping) -> dict:
        """Run a pipeline; build `body` with `pipeline_body(pipeline_target_for(…))`."""
        url = self._url(PIPELINES, workspace=ws, repo_slug=slug)
        return self._call("POST", url, json=dict(body), idempotent=False)

    def get_pipeline(self, ws: str, slug: str, uuid: str) -> dict:
        return self._call("GET", self._url(PIPELINE, workspace=ws, repo_slug=slug, pipeline_uuid=uuid))

    def list_pipelines(self, ws: str, slug: str, *, filters: Mapping[str, str] | None = None,
                       sort: str = "-created_on", limit: int | None = 20) -> list[dict]:
        """Newest first. `filters` are Bitbucket's query parameters, e.g. {"target.ref_name": "main"}."""
        params = {**(filters or {}), "sort": sort, "pagelen": MAX_PAGELEN}
        return self._collect(self._url(PIPELINES, workspace=ws, repo_slug=slug), params, limit)[0]

    def stop_pipeline(self, ws: str, slug: str, uuid: str) -> None:
        self._call("POST", self._url(PIPELINE_STOP, workspace=ws, repo_slug=slug, pipeline_uuid=uuid))

    def list_pipeline_steps(self, ws: str, slug: str, uuid: str) -> list[dict]:
        return self._collect(self._url(PIPELINE_STEPS, workspace=ws, repo_slug=slug, pipeline_uuid=uuid))[0]

    def get_step_log_tail(self, ws: str, slug: str, uuid: str, step_uuid: str, *, max_bytes: int = 16384) -> str:
        """The end of a step's log (a Range request for its last `max_bytes`), as text. A finished step's log
        answers 307 to its storage; `requests` follows it (and drops our credentials on the way)."""
        url = self._url(PIPELINE_STEP_LOG, workspace=ws, repo_slug=slug, pipeline_uuid=uuid, step_uuid=step_uuid)
        try:
            response = self._request("GET", url, headers={"Range": f"bytes=-{int(max_bytes)}", "Accept": "*/*"})
        except BitbucketError as error:
            if error.status == 416:  # an empty log has no last bytes
                return ""
            raise
        content = response.content
        if response.status_code == 200 and len(content) > max_bytes:  # the Range was not honoured
            content = content[-max_bytes:]
        return content.decode("utf-8", errors="replace")

    def list_pull_request_statuses(self, ws: str, slug: str, pr_id: int, *, limit: int | None = 100) -> list[dict]:
        """Commit statuses (builds) of a pull request, newest first."""
        params = {"sort": "-updated_on", "pagelen": MAX_PAGELEN}
        return self._collect(self._pr_url(PULL_REQUEST_STATUSES, ws, slug, pr_id), params, limit)[0]

    def list_commit_statuses(self, ws: str, slug: str, commit: str, *, limit: int | None = 100) -> list[dict]:
        """Commit statuses (builds) of a commit, newest first."""
        params = {"sort": "-updated_on", "pagelen": MAX_PAGELEN}
        return self._collect(self._url(COMMIT_STATUSES, workspace=ws, repo_slug=slug, commit=commit), params, limit)[0]

    def list_environments(self, ws: str, slug: str) -> list[dict]:
        # No pagelen: swagger documents none for environments or deployments, and Bitbucket rejects
        # page lengths it does not allow instead of clamping them.
        return self._collect(self._url(ENVIRONMENTS, workspace=ws, repo_slug=slug))[0]

    def list_deployments(self, ws: str, slug: str, *, limit: int | None = None) -> list[dict]:
        """Deployments of every environment; filter by `environment.uuid` yourself (Bitbucket has no filter)."""
        return self._collect(self._url(DEPLOYMENTS, workspace=ws, repo_slug=slug), limit=limit)[0]

    # plumbing

    def _url(self, template: str, **values: object) -> str:
        return self.base_url + expand_path(template, **values)

    def _pr_url(self, template: str, ws: str, slug: str, pr_id: int) -> str:
        return self._url(template, workspace=ws, repo_slug=slug, pull_request_id=int(pr_id))

    def _link(self, link: str) -> str:
        """A URL Bitbucket handed over (`next`, `Location`), followed as given, but only to our Bitbucket."""
        url = urljoin(self.base_url + "/", link)
        if _origin(url) != _origin(self.base_url):
            # Our credentials go to the configured Bitbucket and nowhere else.
            raise BitbucketError(None, f"Bitbucket pointed to another host ({urlsplit(url).netloc}); not following it")
        return url

    def _collect(self, url: str, params: Mapping | None = None,
                 limit: int | None = None) -> tuple[list[dict], int | None]:
        """The items of a paginated collection (the first `limit` of them), de-duplicated by id or uuid, and
        its size: Bitbucket's `size` when given, else the count once every page was read."""
        items: list[dict] = []
        seen_ids: set = set()
        seen_pages = {url}
        page = self._call("GET", url, params=params)
        size = page.get("size")
        while True:
            for item in page.get("values") or ():
                identity = item.get("id", item.get("uuid"))
                if identity is not None:
                    if identity in seen_ids:  # pages shift when items change between requests
                        continue
                    seen_ids.add(identity)
                items.append(item)
                if limit is not None and len(items) >= limit:
                    return items, size
            next_url = page.get("next")
            if not next_url or next_url in seen_pages:
                return items, size if size is not None else len(items)
            seen_pages.add(next_url)
            page = self._call("GET", self._link(next_url))  # `next` already carries every query parameter

    def _await_merge(self, location: str | None, poll_interval: float, poll_timeout: float) -> dict:
        if not location:
            raise MergeInProgress(202)
        url = self._link(location)
        deadline = self._clock() + poll_timeout
        while self._clock() < deadline:
            self._sleep(poll_interval)
            task = self._call("GET", url)  # a failed merge answers with an error body, raised from here
            if task.get("type") == "error":
                raise BitbucketError(200, _dig(task, "error", "message"), _dig(task, "error", "detail"))
            if task.get("task_status") == "SUCCESS":
                return task["merge_result"]
        raise MergeInProgress(202)

    def _call(self, method: str, url: str, *, params: Mapping | None = None, json: Any = None,
              idempotent: bool = True) -> Any:
        response = self._request(method, url, params=params, json=json, idempotent=idempotent)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:  # a proxy's HTML page or a cut-off body, under a 2xx
            raise ServerError(response.status_code, "Bitbucket sent an answer that is not JSON") from None

    def _request(self, method: str, url: str, *, params: Mapping | None = None, json: Any = None,
                 idempotent: bool = True, headers: Mapping[str, str] | None = None) -> requests.Response:
        """Send, retrying what is safe to retry.

        `idempotent=False` marks writes that must not happen twice (create a pull request or tag, merge,
        run a pipeline, add a webhook). They are repeated only when Bitbucket cannot have acted on them: a
        429 (refused) or a connection that never opened. Never after a 5xx or a read timeout, when the
        write may already have been applied. The other writes (approve, decline, request changes, stop,
        delete) set a state, so doing them twice is harmless and they are retried like reads.
        """
        attempt = 0
        auth_renewed = False
        while True:
            request_kwargs = self._request_kwargs(params, json)  # may fetch an OAuth token; its failures are final
            if headers:
                request_kwargs["headers"].update(headers)
            try:
                return self._send(method, url, request_kwargs)
            except Unauthorized:
                # An OAuth token can expire early or be revoked: get a fresh one and try once more.
                if auth_renewed or self.auth is None or not self.auth.renew():
                    raise
                auth_renewed = True
            except BitbucketError as error:
                if attempt >= self._max_retries or not _may_repeat(error, idempotent):
                    raise
                delay = self._retry_delay(attempt, error.retry_after)
                if isinstance(error, RateLimited):
                    metrics.RATE_LIMIT_WAITS.labels("bitbucket").inc()
                log.warning("Bitbucket %s %s: %s; retrying in %.1f s", method, urlsplit(url).path,
                            error.status or error.message, delay)
                self._sleep(delay)
                attempt += 1

    def _request_kwargs(self, params: Mapping | None, json: Any) -> dict:
        request_kwargs: dict = {
            "params": params,
            "json": json,
            "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
            "timeout": self._timeout,
        }
        if self.auth is not None:
            self.auth.apply(request_kwargs)
        return request_kwargs

    def _send(self, method: str, url: str, request_kwargs: dict) -> requests.Response:
        started = time.perf_counter()
        try:
            response = self._session.request(method, url, **request_kwargs)
        except _NETWORK_FAILURES as exc:
            metrics.bitbucket_call(method, url, "network_error", time.perf_counter() - started)
            raise NetworkError.from_exception(exc, url) from exc
        metrics.bitbucket_call(method, url, response.status_code, time.perf_counter() - started)
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        # Full jitter: anywhere up to the exponential ceiling, so clients that failed together spread out.
        return self._rand() * min(MAX_BACKOFF, self._backoff * 2**attempt)


def _may_repeat(error: BitbucketError, idempotent: bool) -> bool:
    if isinstance(error, RateLimited):
        return True  # refused outright, nothing was done
    if isinstance(error, NetworkError):
        return idempotent or not error.request_sent
    if isinstance(error, ServerError):
        return idempotent and error.status in RETRY_STATUSES
    return False


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc
