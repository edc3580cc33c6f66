"""The simulated Slack's state: what tests read (calls, messages, modals, users, channels), the error a method
handler raises, and the constants of Slack's conventions the fake follows."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from bot.sandbox.slack.blocks import text_of

API_PREFIX = "/api/"
RESPONSE_URL_PREFIX = "/response/"

RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_LIFETIME = 30 * 60  # seconds

FIRST_TS_SECONDS = 1_700_000_000  # message timestamps look like "1700000000.000100"
TS_STEP = 100

SCOPES = (
    "commands,chat:write,chat:write.public,users:read,users:read.email,"
    "channels:read,groups:read,channels:join,im:write,links:read,links:write,files:write,"
    "channels:history,groups:history,reactions:write,usergroups:read"
)

# What an injected failure says when the test gave only a status.
DEFAULT_ERROR_FOR_STATUS = {200: "fatal_error", 429: "ratelimited", 500: "fatal_error", 503: "service_unavailable"}


# --------------------------------------------------------------------------------------------------------
# State the tests look at
# --------------------------------------------------------------------------------------------------------


@dataclass
class RecordedCall:
    """One Web API request as received, and what we answered."""

    method: str
    args: dict  # parsed JSON or form fields; `blocks`/`view`/`attachments` parsed from JSON strings
    headers: dict  # lower-case names
    time: float
    status: int = 200
    response: dict | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response and self.response.get("ok"))


@dataclass
class MessageVersion:
    text: str
    blocks: list
    time: float


@dataclass
class Message:
    """A message in a channel, or an ephemeral one (then `ephemeral_to` is the only user who sees it)."""

    channel: str | None
    ts: str
    text: str
    blocks: list
    thread_ts: str | None = None
    user: str = ""  # the author
    bot_id: str | None = None
    team: str | None = None
    updated_count: int = 0
    history: list[MessageVersion] = field(default_factory=list)  # earlier versions, oldest first
    deleted: bool = False
    ephemeral_to: str | None = None
    via: str = "chat.postMessage"  # the method (or "response_url") that created it
    files: list = field(default_factory=list)  # files shared with it (files.completeUploadExternal)
    reactions: dict = field(default_factory=dict)  # emoji name (no colons) -> the users who reacted, in order

    def replace(self, text: str, blocks: list) -> None:
        self.history.append(MessageVersion(self.text, self.blocks, time.time()))
        self.text, self.blocks = text, blocks
        self.updated_count += 1

    def to_api(self) -> dict:
        """The message as Slack shows it in API answers and in `block_actions` payloads."""
        data: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text, "user": self.user}
        if self.bot_id:
            data["bot_id"] = self.bot_id
        if self.team:
            data["team"] = self.team
        if self.blocks:
            data["blocks"] = self.blocks
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.updated_count:
            data["edited"] = {"user": self.user, "ts": self.ts}
        if self.reactions:
            data["reactions"] = [{"name": name, "users": list(users), "count": len(users)} for name, users in self.reactions.items()]
        return data


@dataclass
class ResponseUrlPost:
    """One POST to a response_url, in arrival order; `status`/`error` say what we answered."""

    key: str
    body: dict
    time: float
    status: int = 200
    error: str | None = None


@dataclass
class OpenedView:
    """A modal opened with views.open / views.push (and later changed by views.update)."""

    id: str
    trigger_id: str
    view: dict
    hash: str
    external_id: str | None = None
    updated_count: int = 0
    history: list[dict] = field(default_factory=list)  # earlier view definitions

    @property
    def callback_id(self) -> str | None:
        return self.view.get("callback_id")

    @property
    def title(self) -> str:
        return text_of(self.view.get("title")) or ""


@dataclass
class SlackUser:
    id: str
    name: str
    real_name: str = ""
    email: str | None = None
    is_admin: bool = False
    is_bot: bool = False
    deleted: bool = False
    tz: str = "UTC"
    display_name: str = ""  # what Slack shows and mentions complete; the `name` (handle) when not set

    def zone_now(self) -> tuple[str, int]:
        """The zone's name for the season and its offset from UTC in seconds, now (Slack's `tz_label`, `tz_offset`)."""
        local = datetime.now(timezone.utc).astimezone(ZoneInfo(self.tz))
        return local.tzname() or self.tz, int(local.utcoffset().total_seconds())

    def to_api(self, team_id: str) -> dict:
        tz_label, tz_offset = self.zone_now()
        profile = {"real_name": self.real_name or self.name, "display_name": self.display_name or self.name}
        if self.email:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "real_name": self.real_name or self.name,
            "deleted": self.deleted,
            "is_bot": self.is_bot,
            "is_admin": self.is_admin,
            "tz": self.tz,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "profile": profile,
        }


@dataclass
class SlackChannel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True
    is_archived: bool = False

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.id.startswith("D"),
            "is_im": self.id.startswith("D"),
            "is_private": self.is_private,
            "is_member": self.is_member,
            "is_archived": self.is_archived,
        }


# --------------------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------------------


class SlackError(Exception):
    """Raised by a method handler: becomes `{"ok": false, "error": error, ...extra}` with `status`."""

    def __init__(self, error: str, *, status: int = 200, messages: list[str] | None = None, extra: dict | None = None):
        super().__init__(error)
        self.error = error
        self.status = status
        self.messages = messages or []
        self.extra = extra or {}  # more fields of the error body (missing_scope: `needed`, `provided`)


@dataclass
class InjectedFailure:
    """One failure `fail_next` queued for a method."""

    status: int
    error: str
    retry_after: float | None


@dataclass
class IssuedResponseUrl:
    """A response_url the fake handed out (or was first posted to), and how often it was used."""

    key: str
    created: float
    channel: str | None = None
    message_ts: str | None = None  # the message the action came from ("original"), if known
    user: str | None = None  # who sees ephemeral responses
    uses: int = 0


@dataclass
class Answer:
    """What the HTTP handler sends back."""

    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
