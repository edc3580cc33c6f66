"""Typed errors of the Bitbucket client, carrying Bitbucket's own words, and how an answer maps to one."""

from __future__ import annotations

import re
from typing import Mapping
from urllib.parse import urlsplit

import requests
import urllib3

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


class InvalidPathSegment(BitbucketError, ValueError):
    """A workspace, slug, ref name or id that cannot be put in a URL as given ("..", ".", empty, a "/" in a slug).

    Raised before anything is sent: such a value would reach another path than the one meant. A `ValueError`
    too, and a `BitbucketError` (status None) so that handlers tell the person in the usual words.
    """

    default_message = "Not a valid name for Bitbucket"

    @classmethod
    def refusing(cls, what: str, value: str, reason: str) -> "InvalidPathSegment":
        shown = value if len(value) <= 80 else value[:79] + "…"
        return cls(None, f'Not a valid {what}: "{shown}" ({reason})')


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
