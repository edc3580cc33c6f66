"""A simulated Slack Web API (and `response_url`) server on 127.0.0.1.

`FakeSlack` is a real HTTP server, so the real `slack_sdk.WebClient(base_url=fake.api_url)` and Bolt's
`respond()` (which POSTs JSON to a payload's `response_url`) talk to it unchanged. It keeps state
(messages, ephemerals, modals, users, channels), answers in Slack's documented shapes, records every call
for assertions, and can inject failures: an error body, HTTP 429 with `Retry-After`, a whole outage.

Slack conventions it follows:
- every method is `POST /api/<method>` with `Authorization: Bearer <token>`; slack_sdk sends `chat.*`,
  `views.*` as JSON and `users.*`, `conversations.*`, `auth.test` as forms, so both are accepted (and
  multipart, and query strings);
- errors are HTTP 200 `{"ok": false, "error": "..."}`; rate limiting is HTTP 429 with a `Retry-After`
  header and `{"ok": false, "error": "ratelimited"}`;
- a `response_url` takes JSON, answers `ok` as text/plain, and may be used 5 times within 30 minutes.

File uploads (files.getUploadURLExternal, the upload URL, files.completeUploadExternal) are in `slack_files.py`.

Used by the end-to-end tests, and by `bitbucket-chatops serve --sandbox` when no Slack credentials are set:
then `echo` prints a readable line for each message the bot sends.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from bot.sandbox.slack_files import UPLOAD_PREFIX, FilesMixin
from bot.sandbox import slack_oidc as oidc
from bot.sandbox.slack_oidc import OidcProvider

API_PREFIX = "/api/"
RESPONSE_URL_PREFIX = "/response/"

# Limits Slack enforces that our messages can run into (Block Kit reference, chat.* method pages).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_ID = 255  # block_id, action_id, callback_id
MAX_INPUT_LABEL = 2000
MAX_VIEW_TITLE = 24  # also submit and close
MAX_PRIVATE_METADATA = 3000
MAX_MESSAGE_TEXT = 40_000  # longer `text` is cut, with warning `message_truncated`
MAX_UPDATE_TEXT = 4_000  # chat.update answers `msg_too_long` above this

RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_LIFETIME = 30 * 60  # seconds

FIRST_TS_SECONDS = 1_700_000_000  # message timestamps look like "1700000000.000100"
TS_STEP = 100

SCOPES = (
    "commands,chat:write,chat:write.public,users:read,users:read.email,"
    "channels:read,groups:read,channels:join,im:write,links:read,links:write"
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
        return _text_of(self.view.get("title")) or ""


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

    def to_api(self, team_id: str) -> dict:
        profile = {"real_name": self.real_name or self.name, "display_name": self.name}
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

    def __init__(self, error: str, *, status: int = 200, messages: list[str] | None = None):
        super().__init__(error)
        self.error = error
        self.status = status
        self.messages = messages or []


@dataclass
class _InjectedFailure:
    status: int
    error: str
    retry_after: float | None


@dataclass
class _ResponseUrl:
    key: str
    created: float
    channel: str | None = None
    message_ts: str | None = None  # the message the action came from ("original"), if known
    user: str | None = None  # who sees ephemeral responses
    uses: int = 0


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------------


class FakeSlack(FilesMixin):
    """A stateful Slack Web API on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_token: str = "xoxb-test",
        team_id: str = "T0001",
        bot_user_id: str = "UBOT",
        bot_id: str = "B0001",
        echo: Callable[[str], None] | None = None,
    ):
        self.host, self.port = host, port
        self.bot_token, self.team_id, self.bot_user_id, self.bot_id = bot_token, team_id, bot_user_id, bot_id
        self.echo = echo

        # Switches a test may flip at any time.
        self.outage = False  # every request answers HTTP 503
        self.latency = 0.0  # seconds to wait before answering each request
        self.scopes = SCOPES  # what `x-oauth-scopes` says the token was granted

        # Recorded state (read it through the helpers below, which take the lock).
        self.calls: list[RecordedCall] = []
        self.messages: dict[str, list[Message]] = {}  # channel id -> messages, oldest first (deleted ones flagged)
        self.ephemerals: list[Message] = []
        self.responses: list[ResponseUrlPost] = []
        self.views: list[OpenedView] = []
        self.home_views: dict[str, dict] = {}  # user id -> the Home tab views.publish last gave them
        self.unfurls: list[dict] = []  # what chat.unfurl was given: {channel, ts, unfurl_id, source, unfurls}

        self.users: dict[str, SlackUser] = {}
        self.channels: dict[str, SlackChannel] = {}

        self._lock = threading.RLock()  # re-entrant: predicates given to wait_for call the helpers below
        self._ts_counter = 0
        self._view_counter = 0
        self._response_url_counter = 0
        self._exchanged_triggers: set[str] = set()
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._failures: dict[str, deque[_InjectedFailure]] = {}
        self._channel_errors: dict[str, str] = {}
        self._echo_lines: list[str] = []  # collected under the lock, printed after it is released
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

        self._methods: dict[str, Callable[[dict], dict]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.push": self._views_open,  # same checks; the fake keeps no view stack
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "chat.unfurl": self._chat_unfurl,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "conversations.open": self._conversations_open,
            "files.getUploadURLExternal": self._files_get_upload_url_external,  # bot/sandbox/slack_files.py
            "files.completeUploadExternal": self._files_complete_upload_external,
        }

        # Sign in with Slack (bot/sandbox/slack_oidc.py): who is at the browser, and whether they say no.
        self.oidc = OidcProvider(self)
        self.oidc_user = "U1"
        self.oidc_deny = False

        # The bot, and the people tests/slackkit.py speaks as by default.
        self.add_user(bot_user_id, "bitbucket-chatops", real_name="Bitbucket ChatOps", is_bot=True)
        self.add_user("U1", "alice", real_name="Alice Example", email="alice@example.com")
        self.add_user("U2", "bob", real_name="Bob Example", email="bob@example.com")

    # ---- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        handler = type("FakeSlackRequestHandler", (_RequestHandler,), {"fake": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        # A short poll interval keeps stop() fast; tests start and stop many servers.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="FakeSlack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """What to give `WebClient(base_url=...)`."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def oidc_authorize_url(self) -> str:
        """Sign in with Slack's authorize page here (what SLACK_OIDC_AUTHORIZE_URL names)."""
        return f"{self.base_url}{oidc.AUTHORIZE_PATH}"

    def response_url(
        self, key: str | None = None, *, channel: str | None = None, message_ts: str | None = None,
        user: str | None = None,
    ) -> str:
        """A response_url to put in a slash-command or action payload.

        `channel` and `message_ts` name the message an action came from, so `replace_original` /
        `delete_original` change it; `user` is who sees ephemeral responses. Without a message, the first
        response becomes the "original" that later ones may replace (as for slash commands).
        """
        with self._lock:
            if key is None:
                self._response_url_counter += 1
                key = f"r{self._response_url_counter}"
            channel = self._resolve_channel(channel) if channel else None
            self._response_urls[key] = _ResponseUrl(key, time.time(), channel, message_ts, user)
        return f"{self.base_url}{RESPONSE_URL_PREFIX}{key}"

    # ---- seeding --------------------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, **details: Any) -> SlackUser:
        """Make users.info / users.lookupByEmail know a user (details: real_name, email, is_admin, ...)."""
        with self._lock:
            user = self.users[user_id] = SlackUser(user_id, name, **details)
            return user

    def add_channel(self, channel_id: str, name: str | None = None, **details: Any) -> SlackChannel:
        """Describe a channel (details: is_private, is_member, is_archived). Unknown channels exist too."""
        with self._lock:
            channel = self.channels[channel_id] = SlackChannel(channel_id, name or channel_id.lower(), **details)
            return channel

    def add_message(
        self, channel: str, text: str, *, user: str = "U1", blocks: list | None = None, thread_ts: str | None = None
    ) -> Message:
        """A message somebody else wrote (the bot may not update or delete it)."""
        with self._lock:
            channel = self._resolve_channel(channel)
            message = Message(channel, self._next_ts(), text, blocks or [], thread_ts, user, team=self.team_id)
            message.via = "seed"
            self.messages.setdefault(channel, []).append(message)
            return message

    # ---- failure injection ----------------------------------------------------------------------------

    def fail_next(
        self, method: str, *, error: str | None = None, status: int = 200, retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail.

        `method` is a Web API method, "response_url" for response_url posts, or "*" for any request.
        Examples: fail_next("chat.postMessage", status=429, retry_after=1) (Retry-After is sent only when
        given); fail_next("chat.postMessage", error="channel_not_found"). The error defaults from the
        status (429 -> ratelimited, 503 -> service_unavailable, otherwise fatal_error).
        """
        failure = _InjectedFailure(status, error or DEFAULT_ERROR_FOR_STATUS.get(status, "fatal_error"), retry_after)
        with self._lock:
            self._failures.setdefault(method, deque()).extend([failure] * times)

    def set_channel_error(self, channel: str, error: str | None) -> None:
        """Every post to `channel` answers `error` (channel_not_found, not_in_channel, is_archived); None clears.

        conversations.join clears `not_in_channel`, as joining does in Slack.
        """
        with self._lock:
            if error is None:
                self._channel_errors.pop(channel, None)
            else:
                self._channel_errors[channel] = error

    # ---- reading state --------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[RecordedCall]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def channel_messages(self, channel: str, *, include_deleted: bool = False) -> list[Message]:
        """Messages in a channel (or a user's DM, given the user id), oldest first, thread replies included."""
        with self._lock:
            messages = self.messages.get(self._resolve_channel(channel), [])
            return [m for m in messages if include_deleted or not m.deleted]

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The parent message and its replies, like conversations.replies."""
        with self._lock:
            return [m for m in self.channel_messages(channel) if m.ts == ts or m.thread_ts == ts]

    def message(self, channel: str, ts: str) -> Message | None:
        """A channel message by ts (even a deleted one: check `.deleted`)."""
        with self._lock:
            return self._find_message(self._resolve_channel(channel), ts)

    def responses_for(self, key: str) -> list[ResponseUrlPost]:
        with self._lock:
            return [post for post in self.responses if post.key == key]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, *, interval: float = 0.01) -> Any:
        """Poll `predicate()` under the lock until it returns something truthy, and return that.

        Listeners run on background threads, so tests wait for their effects. On timeout raises
        AssertionError with a dump of everything the fake has seen.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                name = getattr(predicate, "__name__", "predicate")
                raise AssertionError(f"FakeSlack.wait_for({name}) timed out after {timeout}s\n{self.dump()}")
            time.sleep(interval)

    def dump(self) -> str:
        """Everything the fake has seen, readable, for failure messages."""
        with self._lock:
            lines = [f"calls ({len(self.calls)}):"]
            for call in self.calls[-30:]:
                outcome = "ok" if call.ok else (call.response or {}).get("error", "?")
                lines.append(f"  {call.method} {call.status} {outcome} {_short(call.args)}")
            for channel, messages in self.messages.items():
                lines.append(f"messages in {channel}:")
                for m in messages:
                    flags = " (deleted)" if m.deleted else f" (edited x{m.updated_count})" if m.updated_count else ""
                    thread = f" in thread {m.thread_ts}" if m.thread_ts else ""
                    lines.append(f"  {m.ts}{thread} {m.user}{flags}: {_clip(readable(m.text, m.blocks))}")
            if self.ephemerals:
                lines.append("ephemerals:")
                for m in self.ephemerals:
                    lines.append(f"  {m.channel} to {m.ephemeral_to}: {_clip(readable(m.text, m.blocks))}")
            if self.responses:
                lines.append("response_url posts:")
                lines += [f"  {p.key} {p.status} {p.error or ''} {_short(p.body)}" for p in self.responses]
            if self.views:
                lines.append("views:")
                lines += [f"  {v.id} {v.callback_id!r} {v.title!r}" for v in self.views]
            return "\n".join(lines)

    # ---- HTTP entry points (called by the request handler) ---------------------------------------------

    def _serve(self, http_method: str, path: str, query: str, headers: dict, raw_body: bytes) -> _Answer:
        if self.latency:
            time.sleep(self.latency)
        if path == oidc.AUTHORIZE_PATH and http_method == "GET":
            with self._lock:
                status, body, location = self.oidc.authorize(query)
            answer = _Answer(status, body, "text/plain; charset=utf-8", location)
        elif path in (API_PREFIX + oidc.TOKEN_METHOD, API_PREFIX + oidc.USERINFO_METHOD):
            answer = self._serve_oidc_api(path[len(API_PREFIX):], query, headers, raw_body)
        elif path.startswith(API_PREFIX):
            answer = self._serve_api(path[len(API_PREFIX):], query, headers, raw_body)
        elif path.startswith(RESPONSE_URL_PREFIX) and http_method == "POST":
            answer = self._serve_response_url(unquote(path[len(RESPONSE_URL_PREFIX):]), raw_body)
        elif path.startswith(UPLOAD_PREFIX) and http_method == "POST":
            answer = self._serve_upload(path[len(UPLOAD_PREFIX):], raw_body)
        else:
            answer = _text_answer(404, "not_found")
        self._flush_echo()
        return answer

    def _serve_api(self, method: str, query: str, headers: dict, raw_body: bytes) -> _Answer:
        try:
            args = _parse_args(headers.get("content-type", ""), raw_body, query)
            parse_error = None
        except SlackError as error:
            args, parse_error = {}, error
        token = _bearer_token(headers) or args.get("token")  # a `token` argument is the legacy way
        args.pop("token", None)  # never keep a credential in the record
        with self._lock:
            call = RecordedCall(method, args, headers, time.time())
            self.calls.append(call)
            status, body, extra_headers = self._answer_api(method, args, token, parse_error)
            call.status, call.response = status, body
        extra_headers["x-oauth-scopes"] = self.scopes
        return _Answer(status, json.dumps(body).encode(), headers=extra_headers)

    def _serve_oidc_api(self, method: str, query: str, headers: dict, raw_body: bytes) -> _Answer:
        """Sign in with Slack's two methods: a client's id and secret, or a person's token, not the bot's."""
        try:
            args = _parse_args(headers.get("content-type", ""), raw_body, query)
        except SlackError:
            args = {}
        token = _bearer_token(headers) or args.pop("token", None)
        with self._lock:
            failure = None if self.outage else self._take_failure(method)
            if self.outage:
                status, body = 503, {"ok": False, "error": "service_unavailable"}
            elif failure:
                status, body = failure.status, {"ok": False, "error": failure.error}
            elif method == oidc.TOKEN_METHOD:
                status, body = 200, self.oidc.token(args, headers)
            else:
                status, body = 200, self.oidc.user_info(token)
            recorded = {k: v for k, v in args.items() if k not in ("client_secret", "code")}  # no credentials kept
            call = RecordedCall(method, recorded, {k: v for k, v in headers.items() if k != "authorization"}, time.time())
            call.status, call.response = status, body
            self.calls.append(call)
        return _Answer(status, json.dumps(body).encode())

    def _answer_api(self, method: str, args: dict, token: str | None, parse_error: SlackError | None):
        """(status, body, headers) for one API call; runs under the lock."""
        if self.outage:
            return 503, {"ok": False, "error": "service_unavailable"}, {}
        failure = self._take_failure(method)
        if failure:
            headers = {"Retry-After": _seconds(failure.retry_after)} if failure.retry_after is not None else {}
            return failure.status, {"ok": False, "error": failure.error}, headers
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token != self.bot_token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        handler = self._methods.get(method)
        try:
            if parse_error:
                raise parse_error
            body = handler(args) if handler else {}  # Slack has hundreds of methods; the rest just succeed
        except SlackError as error:
            body = {"ok": False, "error": error.error}
            if error.messages:
                body["response_metadata"] = {"messages": error.messages}
            return error.status, body, {}
        return 200, {"ok": True, **body}, {}

    def _take_failure(self, method: str) -> _InjectedFailure | None:
        for name in (method, "*"):
            queue = self._failures.get(name)
            if queue:
                return queue.popleft()
        return None

    # ---- Web API methods (each runs under the lock; raise SlackError to fail) ---------------------------

    def _auth_test(self, args: dict) -> dict:
        return {
            "url": "https://sandbox.slack.com/",
            "team": "Sandbox",
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict) -> dict:
        channel = self._channel_to_post_in(args)
        text, warnings = _message_text(args)
        blocks = _message_blocks(args)
        if not text and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        message = self._new_bot_message(channel, text, blocks, args.get("thread_ts") or None)
        self.messages.setdefault(channel, []).append(message)
        self._echo_message("", message)
        return {"channel": channel, "ts": message.ts, "message": message.to_api(), **warnings}

    def _chat_update(self, args: dict) -> dict:
        channel = self._channel_to_post_in(args)
        message = self._find_message(channel, args.get("ts"))
        if message is None or message.deleted:
            raise SlackError("message_not_found")
        if message.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        text = args.get("text") or ""
        if len(text) > MAX_UPDATE_TEXT:
            raise SlackError("msg_too_long")
        if "text" not in args and "blocks" not in args and "attachments" not in args:
            raise SlackError("no_text")
        # Without `blocks`, Slack drops the old ones: the message becomes the new text.
        message.replace(text, _message_blocks(args))
        self._echo_message("edited ", message)
        return {"channel": channel, "ts": message.ts, "text": text, "message": message.to_api()}

    def _chat_post_ephemeral(self, args: dict) -> dict:
        channel = self._channel_to_post_in(args)
        user = args.get("user")
        if not user:
            raise SlackError("user_not_found")
        text, warnings = _message_text(args)
        blocks = _message_blocks(args)
        if not text and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        message = self._new_bot_message(channel, text, blocks, args.get("thread_ts") or None)
        message.ephemeral_to, message.via = user, "chat.postEphemeral"
        self.ephemerals.append(message)
        self._echo_message("", message)
        return {"message_ts": message.ts, **warnings}

    def _chat_delete(self, args: dict) -> dict:
        channel = self._channel_to_post_in(args)
        message = self._find_message(channel, args.get("ts"))
        if message is None or message.deleted:
            raise SlackError("message_not_found")
        if message.user != self.bot_user_id:
            raise SlackError("cant_delete_message")
        message.deleted = True
        self._echo(f"#{channel} deleted {message.ts}")
        return {"channel": channel, "ts": message.ts}

    def _chat_get_permalink(self, args: dict) -> dict:
        channel = self._api_channel(args)
        ts = _required(args, "message_ts", "message_not_found")
        permalink = f"https://sandbox.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"channel": channel, "permalink": permalink}

    def _views_open(self, args: dict) -> dict:
        trigger_id = _required(args, "trigger_id", "invalid_arguments")
        view = _view_definition(args)
        # A trigger_id may be exchanged for a modal once.
        if trigger_id in self._exchanged_triggers:
            raise SlackError("exchanged_trigger_id")
        self._exchanged_triggers.add(trigger_id)
        self._view_counter += 1
        opened = OpenedView(f"V{self._view_counter:04d}", trigger_id, view, _view_hash(view), args.get("external_id"))
        self.views.append(opened)
        self._echo(f"modal {opened.id} opened: {opened.title!r} (callback_id={opened.callback_id})")
        return {"view": self._view_to_api(opened)}

    def _views_update(self, args: dict) -> dict:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise SlackError("invalid_arguments", messages=["[ERROR] view_id or external_id is required"])
        opened = next(
            (v for v in self.views if (view_id and v.id == view_id) or (external_id and v.external_id == external_id)),
            None,
        )
        if opened is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != opened.hash:
            raise SlackError("hash_conflict")
        view = _view_definition(args)
        opened.history.append(opened.view)
        opened.view, opened.hash = view, _view_hash(view)
        opened.updated_count += 1
        self._echo(f"modal {opened.id} updated: {opened.title!r}")
        return {"view": self._view_to_api(opened)}

    def _views_publish(self, args: dict) -> dict:
        """The Home tab of `user_id` (a view of type `home`, at most 100 blocks)."""
        user_id = _required(args, "user_id", "invalid_arguments")
        if user_id not in self.users:
            raise SlackError("user_not_found")
        view = _view_definition(args)
        if view.get("type") != "home":
            raise SlackError("invalid_arguments", messages=["[ERROR] a published view must be of type home"])
        self.home_views[user_id] = view
        self._echo(f"home tab of {user_id} published ({len(view.get('blocks') or [])} blocks)")
        return {"view": {"id": f"VH{user_id}", "type": "home", "team_id": self.team_id, **view}}

    def _chat_unfurl(self, args: dict) -> dict:
        """Unfurls for the links of a message (`channel` + `ts`, or `unfurl_id` + `source`)."""
        unfurls = args.get("unfurls")
        if isinstance(unfurls, str):
            try:
                unfurls = json.loads(unfurls)
            except ValueError:
                raise SlackError("invalid_unfurls") from None
        if not isinstance(unfurls, dict) or not unfurls:
            raise SlackError("invalid_unfurls")
        if not ((args.get("channel") and args.get("ts")) or (args.get("unfurl_id") and args.get("source"))):
            raise SlackError("invalid_arguments", messages=["[ERROR] channel and ts, or unfurl_id and source, are required"])
        for unfurl in unfurls.values():
            problems = block_problems((unfurl or {}).get("blocks") or [], max_blocks=MAX_MESSAGE_BLOCKS)
            if problems:
                raise SlackError("invalid_unfurls", messages=problems)
        record = {key: args.get(key) for key in ("channel", "ts", "unfurl_id", "source")}
        self.unfurls.append({**record, "unfurls": unfurls})
        self._echo(f"unfurled {', '.join(unfurls)}")
        return {}

    def _users_info(self, args: dict) -> dict:
        user = self.users.get(args.get("user") or "")
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.to_api(self.team_id)}

    def _users_lookup_by_email(self, args: dict) -> dict:
        email_address = (args.get("email") or "").lower()
        user = next((u for u in self.users.values() if u.email and u.email.lower() == email_address), None)
        if user is None or user.deleted:
            raise SlackError("users_not_found")
        return {"user": user.to_api(self.team_id)}

    def _conversations_info(self, args: dict) -> dict:
        channel_id = self._api_channel(args)
        error = self._channel_errors.get(channel_id)
        if error == "channel_not_found":
            raise SlackError(error)
        described = self._channel(channel_id).to_api()
        # Keep the description consistent with what posting there answers.
        described["is_archived"] = described["is_archived"] or error == "is_archived"
        described["is_member"] = described["is_member"] and error != "not_in_channel"
        return {"channel": described}

    def _conversations_join(self, args: dict) -> dict:
        channel_id = self._api_channel(args)
        error = self._channel_errors.get(channel_id)
        if error in ("channel_not_found", "is_archived"):
            raise SlackError(error)
        if error == "not_in_channel":
            del self._channel_errors[channel_id]
        channel = self._channel(channel_id)
        channel.is_member = True
        return {"channel": channel.to_api()}

    def _conversations_open(self, args: dict) -> dict:
        users = [u for u in (args.get("users") or "").split(",") if u]
        if not users and not args.get("channel"):
            raise SlackError("users_list_not_supplied")
        channel_id = self._resolve_channel(args.get("channel") or users[0])
        return {"channel": {"id": channel_id}}

    # ---- response_url ---------------------------------------------------------------------------------

    def _serve_response_url(self, key: str, raw_body: bytes) -> _Answer:
        with self._lock:
            post = ResponseUrlPost(key, _json_object_or_raw(raw_body), time.time())
            self.responses.append(post)
            if self.outage:
                return self._refuse_response(post, 503, "service_unavailable")
            failure = self._take_failure("response_url")
            if failure:
                return self._refuse_response(post, failure.status if failure.status != 200 else 500, failure.error)
            if "raw" in post.body and len(post.body) == 1:
                return self._refuse_response(post, 400, "invalid_payload")
            url = self._response_urls.setdefault(key, _ResponseUrl(key, time.time()))  # hand-made URLs work too
            if url.uses >= RESPONSE_URL_MAX_USES:
                return self._refuse_response(post, 404, "used_url")
            if time.time() - url.created > RESPONSE_URL_LIFETIME:
                return self._refuse_response(post, 404, "expired_url")
            try:
                self._apply_response(url, post.body)
            except SlackError as error:
                return self._refuse_response(post, 400, error.error)
            url.uses += 1
            return _text_answer(200, "ok")

    def _refuse_response(self, post: ResponseUrlPost, status: int, error: str) -> _Answer:
        post.status, post.error = status, error
        return _text_answer(status, error)

    def _apply_response(self, url: _ResponseUrl, body: dict) -> None:
        """Show a response_url post: replace or delete the original message, or add a new one."""
        original = self._response_original(url)
        if _truthy(body.get("delete_original")):
            if original is not None:
                original.deleted = True
                self._echo(f"#{original.channel} deleted {original.ts} (response_url)")
            return
        text, _ = _message_text(body)
        blocks = _message_blocks(body)
        if not text and not blocks and not body.get("attachments"):
            raise SlackError("no_text")
        if _truthy(body.get("replace_original")) and original is not None:
            original.replace(text, blocks)
            self._echo_message("replaced ", original)
            return
        message = self._new_bot_message(url.channel, text, blocks, body.get("thread_ts") or None)
        message.via = "response_url"
        if body.get("response_type") == "in_channel" and url.channel:
            self.messages.setdefault(url.channel, []).append(message)
        else:  # Slack's default response_type is ephemeral
            message.ephemeral_to = url.user or "?"
            self.ephemerals.append(message)
        if url.message_ts is None:  # a slash command's first response becomes its "original"
            url.channel, url.message_ts = message.channel, message.ts
        self._echo_message("", message)

    def _response_original(self, url: _ResponseUrl) -> Message | None:
        if url.message_ts is None:
            return None
        candidates = self.messages.get(url.channel or "", []) + self.ephemerals
        return next((m for m in candidates if m.ts == url.message_ts and not m.deleted), None)

    # ---- helpers ----------------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        self._ts_counter += TS_STEP
        seconds, micros = divmod(self._ts_counter, 1_000_000)
        return f"{FIRST_TS_SECONDS + seconds}.{micros:06d}"

    def _new_bot_message(self, channel: str | None, text: str, blocks: list, thread_ts: str | None) -> Message:
        return Message(
            channel, self._next_ts(), text, blocks, thread_ts, self.bot_user_id, bot_id=self.bot_id, team=self.team_id
        )

    def _resolve_channel(self, channel: str) -> str:
        """Posting to a user id posts in the DM with that user; "#name" finds a channel by name."""
        if channel[:1] in ("U", "W"):
            return f"D{channel}"
        if channel.startswith("#"):
            found = next((c for c in self.channels.values() if c.name == channel[1:]), None)
            return found.id if found else channel  # "#unknown" then matches no message
        return channel

    def _api_channel(self, args: dict) -> str:
        """The `channel` argument resolved to a channel id, or Slack's channel_not_found."""
        channel = self._resolve_channel(_required(args, "channel", "channel_not_found"))
        if channel.startswith("#"):
            raise SlackError("channel_not_found")
        return channel

    def _channel(self, channel_id: str) -> SlackChannel:
        """Every well-formed channel id exists; add_channel only changes how it is described."""
        if channel_id not in self.channels:
            is_private = channel_id.startswith("G")
            self.channels[channel_id] = SlackChannel(channel_id, channel_id.lower(), is_private=is_private)
        return self.channels[channel_id]

    def _channel_to_post_in(self, args: dict) -> str:
        channel = self._api_channel(args)
        error = self._channel_errors.get(channel) or self._channel_errors.get(args["channel"])
        if error:
            raise SlackError(error)
        return channel

    def _find_message(self, channel: str, ts: str | None) -> Message | None:
        return next((m for m in self.messages.get(channel, []) if m.ts == ts), None)

    def _view_to_api(self, opened: OpenedView) -> dict:
        return {
            "id": opened.id,
            "team_id": self.team_id,
            "type": opened.view.get("type", "modal"),
            "hash": opened.hash,
            "root_view_id": opened.id,
            "previous_view_id": None,
            "external_id": opened.external_id or "",
            "app_id": "A0001",
            "bot_id": self.bot_id,
            "state": {"values": {}},
            "private_metadata": "",
            "callback_id": "",
            **opened.view,
        }

    def _echo_message(self, verb: str, message: Message) -> None:
        where = f"#{message.channel}" if message.channel else "(no channel)"
        if message.ephemeral_to:
            where += f" only for {message.ephemeral_to}"
        if message.thread_ts:
            where += f" in thread {message.thread_ts}"
        body = readable(message.text, message.blocks).replace("\n", "\n    ")
        self._echo(f"{where} {verb}{message.ts}:\n    {body}")

    def _echo(self, line: str) -> None:
        if self.echo is not None:
            self._echo_lines.append(line)

    def _flush_echo(self) -> None:
        with self._lock:
            lines, self._echo_lines = self._echo_lines, []
        for line in lines:
            if self.echo is not None:
                self.echo(line)


# --------------------------------------------------------------------------------------------------------
# The HTTP handler
# --------------------------------------------------------------------------------------------------------


class _RequestHandler(BaseHTTPRequestHandler):
    fake: FakeSlack  # set on the subclass FakeSlack.start builds

    def do_POST(self) -> None:
        self._handle("POST")

    def do_GET(self) -> None:
        self._handle("GET")

    def _handle(self, http_method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.fake._serve(http_method, url.path, url.query, headers, raw_body)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the fake records calls itself; stderr noise would drown test output


# --------------------------------------------------------------------------------------------------------
# Parsing and validation
# --------------------------------------------------------------------------------------------------------

JSON_ARGS = ("blocks", "view", "attachments", "metadata")  # may arrive as JSON strings in form mode


def _parse_args(content_type: str, raw_body: bytes, query: str) -> dict:
    args: dict[str, Any] = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/json":
        try:
            body = json.loads(raw_body or b"{}")
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        args.update(body)
    elif media_type == "multipart/form-data":
        args.update(_parse_multipart(content_type, raw_body))
    elif raw_body:
        form = parse_qs(raw_body.decode("utf-8", "replace"), keep_blank_values=True)
        args.update({key: values[-1] for key, values in form.items()})
    for name in JSON_ARGS:
        if isinstance(args.get(name), str):
            try:
                args[name] = json.loads(args[name])
            except ValueError:
                raise SlackError("invalid_blocks_format" if name == "blocks" else "invalid_arguments") from None
    return args


def _parse_multipart(content_type: str, raw_body: bytes) -> dict:
    document = f"Content-Type: {content_type}\r\n\r\n".encode() + raw_body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(document)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True) or b""
            fields[name] = payload if part.get_filename() else payload.decode("utf-8", "replace")
    return fields


def _json_object_or_raw(raw_body: bytes) -> dict:
    """A response_url body: the JSON object, or {"raw": text} when it is not one (Slack says invalid_payload)."""
    try:
        body = json.loads(raw_body or b"{}")
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {"raw": raw_body.decode("utf-8", "replace")}


def _bearer_token(headers: dict) -> str | None:
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


def _required(args: dict, name: str, error: str) -> str:
    value = args.get(name)
    if not value:
        raise SlackError(error)
    return value


def _truthy(value: Any) -> bool:
    return value is True or value == 1 or (isinstance(value, str) and value.lower() in ("1", "true"))


def _message_text(args: dict) -> tuple[str, dict]:
    """The message text, cut at Slack's limit, and the warning Slack adds when it cuts."""
    text = args.get("text") or ""
    if not isinstance(text, str):
        text = str(text)
    if len(text) <= MAX_MESSAGE_TEXT:
        return text, {}
    warning = {"warning": "message_truncated", "response_metadata": {"warnings": ["message_truncated"]}}
    return text[:MAX_MESSAGE_TEXT], warning


def _message_blocks(args: dict) -> list:
    blocks = args.get("blocks")
    if blocks is None:
        return []
    problems = block_problems(blocks, max_blocks=MAX_MESSAGE_BLOCKS)
    if problems:
        raise SlackError("invalid_blocks", messages=problems)
    return blocks


def _view_definition(args: dict) -> dict:
    view = args.get("view")
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", messages=["[ERROR] missing required field: view"])
    problems = view_problems(view)
    if problems:
        raise SlackError("invalid_arguments", messages=problems)
    return view


def _view_hash(view: dict) -> str:
    digest = hashlib.sha1(json.dumps(view, sort_keys=True).encode()).hexdigest()
    return f"{FIRST_TS_SECONDS}.{digest[:8]}"


def _text_of(text_object: Any) -> str | None:
    if isinstance(text_object, dict):
        value = text_object.get("text")
        return value if isinstance(value, str) else None
    return None


def _too_long(text_object: Any, limit: int) -> bool:
    return len(_text_of(text_object) or "") > limit


def block_problems(blocks: Any, *, max_blocks: int) -> list[str]:
    """Slack-style `[ERROR] ... [json-pointer:...]` messages for the Block Kit limits we can hit."""
    if not isinstance(blocks, list):
        return ["[ERROR] must be an array [json-pointer:/blocks]"]
    problems = []
    if len(blocks) > max_blocks:
        problems.append(f"[ERROR] no more than {max_blocks} items allowed [json-pointer:/blocks]")
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"/blocks/{index}"
        if not isinstance(block, dict) or not block.get("type"):
            problems.append(f"[ERROR] missing required field: type [json-pointer:{where}]")
            continue
        found: list[tuple[str, str]] = []  # (message, pointer below the block)
        block_id = block.get("block_id")
        if block_id is not None:
            if len(str(block_id)) > MAX_ID:
                found.append((_must_be_shorter(MAX_ID), "/block_id"))
            if str(block_id) in block_ids:
                found.append(("block_id must be unique", "/block_id"))
            block_ids.add(str(block_id))
        check = BLOCK_CHECKS.get(block["type"])
        if check is not None:
            found += check(block)
        problems += [f"[ERROR] {message} [json-pointer:{where}{pointer}]" for message, pointer in found]
    return problems


def _section_problems(block: dict) -> list[tuple[str, str]]:
    found = []
    text, fields = block.get("text"), block.get("fields")
    if text is None and not fields:
        found.append(("must provide either text or fields", ""))
    if text is not None and not (_text_of(text) or "").strip():
        found.append(("must be more than 0 characters", "/text/text"))
    if _too_long(text, MAX_SECTION_TEXT):
        found.append((_must_be_shorter(MAX_SECTION_TEXT), "/text/text"))
    if isinstance(fields, list):
        if len(fields) > MAX_SECTION_FIELDS:
            found.append((f"no more than {MAX_SECTION_FIELDS} items allowed", "/fields"))
        found += [(_must_be_shorter(MAX_FIELD_TEXT), f"/fields/{n}/text")
                  for n, item in enumerate(fields) if _too_long(item, MAX_FIELD_TEXT)]
    if block.get("accessory") is not None:
        found += _element_problems(block["accessory"], "/accessory")
    return found


def _header_problems(block: dict) -> list[tuple[str, str]]:
    text = block.get("text")
    if not isinstance(text, dict) or text.get("type") != "plain_text":
        return [("must be a plain_text object", "/text")]
    if _too_long(text, MAX_HEADER_TEXT):
        return [(_must_be_shorter(MAX_HEADER_TEXT), "/text/text")]
    return []


def _actions_problems(block: dict) -> list[tuple[str, str]]:
    found = []
    elements = block.get("elements") or []
    if not elements:
        found.append(("must provide at least 1 item", "/elements"))
    if len(elements) > MAX_ACTIONS_ELEMENTS:
        found.append((f"no more than {MAX_ACTIONS_ELEMENTS} items allowed", "/elements"))
    action_ids = [e.get("action_id") for e in elements if isinstance(e, dict) and e.get("action_id")]
    if len(action_ids) != len(set(map(str, action_ids))):
        found.append(("action_id must be unique within the block", "/elements"))
    for n, element in enumerate(elements):
        found += _element_problems(element, f"/elements/{n}")
    return found


def _context_problems(block: dict) -> list[tuple[str, str]]:
    elements = block.get("elements") or []
    if not elements or len(elements) > MAX_CONTEXT_ELEMENTS:
        return [(f"must provide 1 to {MAX_CONTEXT_ELEMENTS} items", "/elements")]
    return []


def _input_problems(block: dict) -> list[tuple[str, str]]:
    found = []
    if _too_long(block.get("label"), MAX_INPUT_LABEL):
        found.append((_must_be_shorter(MAX_INPUT_LABEL), "/label/text"))
    if not isinstance(block.get("element"), dict):
        found.append(("missing required field: element", ""))
    return found


def _element_problems(element: Any, where: str) -> list[tuple[str, str]]:
    """Problems of an interactive element (a button, a select, ...) at `where` below its block."""
    if not isinstance(element, dict) or not element.get("type"):
        return [("missing required field: type", where)]
    found = []
    if len(str(element.get("action_id") or "")) > MAX_ID:
        found.append((_must_be_shorter(MAX_ID), f"{where}/action_id"))
    if element["type"] == "button":
        if _too_long(element.get("text"), MAX_BUTTON_TEXT):
            found.append((_must_be_shorter(MAX_BUTTON_TEXT), f"{where}/text/text"))
        if len(str(element.get("value") or "")) > MAX_BUTTON_VALUE:
            found.append((_must_be_shorter(MAX_BUTTON_VALUE), f"{where}/value"))
        if len(str(element.get("url") or "")) > MAX_URL:
            found.append((_must_be_shorter(MAX_URL), f"{where}/url"))
    return found


# Block type -> its checks; other block types are accepted as they are.
BLOCK_CHECKS: dict[str, Callable[[dict], list[tuple[str, str]]]] = {
    "section": _section_problems,
    "header": _header_problems,
    "actions": _actions_problems,
    "context": _context_problems,
    "input": _input_problems,
}


def _must_be_shorter(limit: int) -> str:
    return f"must be less than {limit + 1} characters"  # Slack's wording


def _too_long_error(limit: int, pointer: str) -> str:
    return f"[ERROR] {_must_be_shorter(limit)} [json-pointer:{pointer}]"


def view_problems(view: dict) -> list[str]:
    """The modal checks Slack makes that our modals can run into."""
    problems = []
    if view.get("type") not in ("modal", "home"):
        problems.append("[ERROR] must be one of modal, home [json-pointer:/view/type]")
    if view.get("type") == "modal":
        title = view.get("title")
        if not _text_of(title):
            problems.append("[ERROR] missing required field: title [json-pointer:/view/title]")
        for name in ("title", "submit", "close"):
            if _too_long(view.get(name), MAX_VIEW_TITLE):
                problems.append(_too_long_error(MAX_VIEW_TITLE, f"/view/{name}/text"))
    if len(view.get("private_metadata") or "") > MAX_PRIVATE_METADATA:
        problems.append(_too_long_error(MAX_PRIVATE_METADATA, "/view/private_metadata"))
    if len(view.get("callback_id") or "") > MAX_ID:
        problems.append(_too_long_error(MAX_ID, "/view/callback_id"))
    problems += [p.replace("[json-pointer:/blocks", "[json-pointer:/view/blocks")
                 for p in block_problems(view.get("blocks", []), max_blocks=MAX_VIEW_BLOCKS)]
    return problems


# --------------------------------------------------------------------------------------------------------
# Readable output
# --------------------------------------------------------------------------------------------------------


def readable(text: str, blocks: list) -> str:
    """A plain-text picture of a message: its blocks when it has them, else its text."""
    if not blocks:
        return text or "(empty)"
    lines = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {_text_of(block.get('text'))} ==")
        elif kind == "section":
            if _text_of(block.get("text")):
                lines.append(_text_of(block["text"]))
            lines += [f"  {_text_of(f)}" for f in block.get("fields") or [] if _text_of(f)]
            if isinstance(block.get("accessory"), dict) and _text_of(block["accessory"].get("text")):
                lines.append(f"  [{_text_of(block['accessory']['text'])}]")
        elif kind == "context":
            lines.append(" | ".join(_text_of(e) or "" for e in block.get("elements") or []))
        elif kind == "actions":
            lines.append(" ".join(f"[{_text_of(e.get('text')) or e.get('type')}]" for e in block.get("elements") or []))
        elif kind == "divider":
            lines.append("---")
        else:
            lines.append(f"({kind})")
    return "\n".join(lines)


def _text_answer(status: int, text: str) -> _Answer:
    return _Answer(status, text.encode(), content_type="text/plain; charset=utf-8")


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _clip(text: str, limit: int = 120) -> str:
    text = text.replace("\n", " / ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(data: dict) -> str:
    return _clip(json.dumps(data, default=str), 160)
