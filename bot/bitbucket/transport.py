"""The one way the Bitbucket client talks to Bitbucket.

One `requests.Session`, pluggable credentials, pagination that follows `next`, retries with backoff and
full jitter (honouring Retry-After), and typed errors that carry Bitbucket's own words. The resource
modules (pull requests, refs, pipelines, …) build on `Transport`; `BitbucketClient` combines them.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urljoin, urlsplit

import requests

from bot.core import metrics
from bot.bitbucket.constants import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, MAX_BACKOFF, MAX_RETRY_AFTER, RETRY_STATUSES, USER_AGENT
from bot.bitbucket.credentials import Credentials
from bot.bitbucket.errors import _NETWORK_FAILURES, BitbucketError, NetworkError, RateLimited, ServerError, Unauthorized, error_from_response
from bot.bitbucket.metering import Credential, Meter, current
from bot.bitbucket.paths import expand_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateLimit:
    """The `X-RateLimit-*` headers of the last answer that carried any, for a request budget.

    Bitbucket documents `Limit` (requests allowed per hour, not a remaining count), `Resource` (e.g. "api") and
    `NearLimit` (true close to the limit), and sends them to access tokens; `Remaining` and `Reset` are kept
    too should they come. What a header did not say, or said in a form not understood, is None.
    """

    limit: int | None
    remaining: int | None
    reset: float | None  # as sent
    resource: str | None
    near_limit: bool | None
    seen_at: float  # time.time() when the answer came

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], now: float) -> "RateLimit | None":
        if not any(name.lower().startswith("x-ratelimit-") for name in headers):
            return None
        near = (headers.get("X-RateLimit-NearLimit") or "").strip().lower()
        return cls(
            limit=_whole(headers.get("X-RateLimit-Limit")),
            remaining=_whole(headers.get("X-RateLimit-Remaining")),
            reset=_seconds(headers.get("X-RateLimit-Reset")),
            resource=headers.get("X-RateLimit-Resource") or None,
            near_limit={"true": True, "false": False}.get(near),
            seen_at=now,
        )


def _whole(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value or "")
    except ValueError:
        return None
    return seconds if seconds >= 0 and seconds != float("inf") else None


class Transport:
    """Sending, retrying, paging and error mapping, shared by every resource of `BitbucketClient`."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, auth: Credentials | None = None, *,
                 session: requests.Session | None = None, timeout: tuple[float, float] = DEFAULT_TIMEOUT,
                 max_retries: int = 4, backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = random.random, clock: Callable[[], float] = time.monotonic,
                 meter: Meter | None = None, credential: Credential | None = None):
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self._session = session or requests.Session()
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff = backoff
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._rate_limit: RateLimit | None = None
        # Told of every request sent (a request budget); `credential` names whose allowance it spends.
        self.meter: Meter = meter or Meter()
        self.credential: Credential = credential or Credential()

    @property
    def rate_limit(self) -> RateLimit | None:
        """The `X-RateLimit-*` headers of the last answer that had them (None before any). The client does not act
        on them; its meter is told of them with each answer."""
        return self._rate_limit

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
        tag = current()
        self.meter.before(self.credential, tag)
        started = time.perf_counter()
        try:
            response = self._session.request(method, url, **request_kwargs)
        except _NETWORK_FAILURES as exc:
            metrics.bitbucket_call(method, url, "network_error", time.perf_counter() - started)
            self.meter.after(self.credential, tag, "network_error", None)
            raise NetworkError.from_exception(exc, url) from exc
        metrics.bitbucket_call(method, url, response.status_code, time.perf_counter() - started)
        seen = RateLimit.from_headers(response.headers, time.time())
        self._rate_limit = seen or self._rate_limit
        self.meter.after(self.credential, tag, response.status_code, seen)
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
