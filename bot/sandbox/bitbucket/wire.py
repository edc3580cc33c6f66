"""The simulated Bitbucket's wire: how an API call arrives (`_Call`) and is answered (`_Response`, or an
`_ApiError` that becomes Bitbucket's `{"type": "error", "error": {...}}` body), and the small helpers every
resource shares (timestamps, UUIDs, links)."""

from __future__ import annotations

import html
import http
import json
import re
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from bot.sandbox.bitbucket.records import _User

WEB_ROOT = "https://bitbucket.org"
PUBLIC_API_ROOT = "https://api.bitbucket.org/2.0"  # used in links until the server has a port

DEFAULT_PAGELEN_MAX = 100
DEFAULT_PAGELEN = 10

NO_API_HERE = (
    "There is no API hosted at this URL.\n\nFor information about our API's, please refer to the "
    "documentation at: https://developer.atlassian.com/bitbucket/api/2/reference/"
)
RATE_LIMITED_TEXT = "Rate limit for this resource has been exceeded"
TOKEN_EXPIRED = "Access token expired. Use your refresh token to obtain a new access token."

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


def quote_ref(name: str) -> str:
    """A branch or tag name in a link: percent-encoded as UTF-8, its `/` kept (`refs/branches/feature/x`)."""
    return quote(name, safe="/")


_PRINTABLE_ASCII = "".join(map(chr, range(0x20, 0x7F)))


def header_value(value: Any) -> str:
    """A header value as HTTP can carry it: printable ASCII kept (percent signs too, so an encoded URL stays as
    it is), anything else percent-encoded as UTF-8 (`Location: …/refs/tags/v1.0-%C3%9F`), line breaks included."""
    text = str(value)
    return text if text.isascii() and text.isprintable() else quote(text, safe=_PRINTABLE_ASCII)


def _slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")

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


def _default_error_body(status: int) -> dict:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Service Unavailable" if status == 555 else "Error"
    return {"type": "error", "error": {"message": phrase}}
