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

The pieces, each a mixin of `FakeSlack` or a helper module of this package:
- `server.py` (here): the HTTP server, request recording, the bot token's check, failure injection, and what
  tests read (`calls_to`, `channel_messages`, `wait_for`, `dump`, ...);
- `chat.py`: chat.* methods and response_url posts;  `views.py`: modals and the Home tab;
- `directory.py`: auth.test, users.*, conversations.*, and how a `channel` argument is read;
- `files.py`: file uploads (files.getUploadURLExternal, the upload URL, files.completeUploadExternal);
- `oidc.py`: Sign in with Slack (OpenID Connect), checked against the app's manifest;
- `events.py`: people's messages, edits and deletions sent to the app as signed `message` events; reactions;
- `reactions.py`: reactions.add / reactions.remove, and usergroups.users.list;
- `state.py` (the recorded state), `wire.py` (request parsing), `blocks.py` (Block Kit limits, readable text).

Used by the end-to-end tests, and by `bitbucket-chatops serve --sandbox` when no Slack credentials are set:
then `echo` prints a readable line for each message the bot sends.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import unquote, urlsplit

from bot.sandbox.slack import oidc
from bot.sandbox.slack.blocks import readable
from bot.sandbox.slack.chat import ChatMixin
from bot.sandbox.slack.directory import DirectoryMixin
from bot.sandbox.slack.events import EventsMixin
from bot.sandbox.slack.files import UPLOAD_PREFIX, FilesMixin
from bot.sandbox.slack.oidc import OidcMixin, OidcProvider
from bot.sandbox.slack.socket_mode import SOCKET_PATH, SocketModeMixin
from bot.sandbox.slack.reactions import ReactionsMixin
from bot.sandbox.slack.state import (
    API_PREFIX,
    DEFAULT_ERROR_FOR_STATUS,
    FIRST_TS_SECONDS,
    RESPONSE_URL_PREFIX,
    SCOPES,
    TS_STEP,
    Answer,
    InjectedFailure,
    IssuedResponseUrl,
    Message,
    OpenedView,
    RecordedCall,
    ResponseUrlPost,
    SlackChannel,
    SlackError,
    SlackUser,
)
from bot.sandbox.slack.views import ViewsMixin
from bot.sandbox.slack.wire import bearer_token, clip, parse_args, seconds_text, short, text_answer


# --------------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------------


class FakeSlack(ChatMixin, ViewsMixin, DirectoryMixin, FilesMixin, OidcMixin, SocketModeMixin, ReactionsMixin, EventsMixin):
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
        manifest: Mapping | str | Path | None = None,
        app_token: str = "xapp-test",
    ):
        """`manifest`: the Slack app's manifest, parsed or a path (the repository's `slack-app-manifest.yml` by
        default); Sign in with Slack grants only the user scopes it declares."""
        self.host, self.port = host, port
        self.bot_token, self.team_id, self.bot_user_id, self.bot_id = bot_token, team_id, bot_user_id, bot_id
        self.app_token = app_token  # the app-level token `apps.connections.open` takes (Socket Mode: socket_mode.py)
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
        self.usergroups: dict[str, dict] = {}  # S… -> {"handle", "users"} (reactions.py)

        self._lock = threading.RLock()  # re-entrant: predicates given to wait_for call the helpers below
        self._ts_counter = 0
        self._view_counter = 0
        self._response_url_counter = 0
        self._exchanged_triggers: set[str] = set()
        self._response_urls: dict[str, IssuedResponseUrl] = {}
        self._failures: dict[str, deque[InjectedFailure]] = {}
        self._channel_errors: dict[str, str] = {}
        self._echo_lines: list[str] = []  # collected under the lock, printed after it is released
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._init_socket_mode()

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
            "reactions.add": self._reactions_add,  # reactions.py
            "reactions.remove": self._reactions_remove,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.list": self._users_list,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "conversations.open": self._conversations_open,
            "files.getUploadURLExternal": self._files_get_upload_url_external,  # files.py
            "files.completeUploadExternal": self._files_complete_upload_external,
            "apps.connections.open": self._apps_connections_open,  # socket_mode.py; takes the app-level token
            "usergroups.users.list": self._usergroups_users_list,  # reactions.py
        }

        # Sign in with Slack (oidc.py): the app's configuration, who is at the browser, and whether they say no.
        self.oidc = OidcProvider(self, manifest)
        self.oidc_user = "U1"
        self.oidc_deny = False
        self.oidc_team_id: str | None = None  # the workspace Sign in with Slack says the person is in (None: team_id)

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
        self._close_sockets()  # an open WebSocket would outlive the server otherwise
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
            self._response_urls[key] = IssuedResponseUrl(key, time.time(), channel, message_ts, user)
        return f"{self.base_url}{RESPONSE_URL_PREFIX}{key}"

    # ---- seeding (people and channels: directory.py) --------------------------------------------------

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
        failure = InjectedFailure(status, error or DEFAULT_ERROR_FOR_STATUS.get(status, "fatal_error"), retry_after)
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
                lines.append(f"  {call.method} {call.status} {outcome} {short(call.args)}")
            for channel, messages in self.messages.items():
                lines.append(f"messages in {channel}:")
                for m in messages:
                    flags = " (deleted)" if m.deleted else f" (edited x{m.updated_count})" if m.updated_count else ""
                    thread = f" in thread {m.thread_ts}" if m.thread_ts else ""
                    lines.append(f"  {m.ts}{thread} {m.user}{flags}: {clip(readable(m.text, m.blocks))}")
            if self.ephemerals:
                lines.append("ephemerals:")
                for m in self.ephemerals:
                    lines.append(f"  {m.channel} to {m.ephemeral_to}: {clip(readable(m.text, m.blocks))}")
            if self.responses:
                lines.append("response_url posts:")
                lines += [f"  {p.key} {p.status} {p.error or ''} {short(p.body)}" for p in self.responses]
            if self.views:
                lines.append("views:")
                lines += [f"  {v.id} {v.callback_id!r} {v.title!r}" for v in self.views]
            return "\n".join(lines)

    # ---- HTTP entry points (called by the request handler) ---------------------------------------------

    def _serve(self, http_method: str, path: str, query: str, headers: dict, raw_body: bytes) -> Answer:
        if self.latency:
            time.sleep(self.latency)
        if path == oidc.AUTHORIZE_PATH and http_method == "GET":
            with self._lock:
                status, body, location = self.oidc.authorize(query)
            answer = Answer(status, body, "text/plain; charset=utf-8", location)
        elif path in (API_PREFIX + oidc.TOKEN_METHOD, API_PREFIX + oidc.USERINFO_METHOD):
            answer = self._serve_oidc_api(path[len(API_PREFIX):], query, headers, raw_body)
        elif path.startswith(API_PREFIX):
            answer = self._serve_api(path[len(API_PREFIX):], query, headers, raw_body)
        elif path.startswith(RESPONSE_URL_PREFIX) and http_method == "POST":
            answer = self._serve_response_url(unquote(path[len(RESPONSE_URL_PREFIX):]), raw_body)
        elif path.startswith(UPLOAD_PREFIX) and http_method == "POST":
            answer = self._serve_upload(path[len(UPLOAD_PREFIX):], raw_body)
        else:
            answer = text_answer(404, "not_found")
        self._flush_echo()
        return answer

    def _serve_api(self, method: str, query: str, headers: dict, raw_body: bytes) -> Answer:
        try:
            args = parse_args(headers.get("content-type", ""), raw_body, query)
            parse_error = None
        except SlackError as error:
            args, parse_error = {}, error
        token = bearer_token(headers) or args.get("token")  # a `token` argument is the legacy way
        args.pop("token", None)  # never keep a credential in the record
        with self._lock:
            call = RecordedCall(method, args, headers, time.time())
            self.calls.append(call)
            status, body, extra_headers = self._answer_api(method, args, token, parse_error)
            call.status, call.response = status, body
        extra_headers["x-oauth-scopes"] = self.scopes
        return Answer(status, json.dumps(body).encode(), headers=extra_headers)

    def _answer_api(self, method: str, args: dict, token: str | None, parse_error: SlackError | None):
        """(status, body, headers) for one API call; runs under the lock."""
        if self.outage:
            return 503, {"ok": False, "error": "service_unavailable"}, {}
        failure = self._take_failure(method)
        if failure:
            headers = {"Retry-After": seconds_text(failure.retry_after)} if failure.retry_after is not None else {}
            return failure.status, {"ok": False, "error": failure.error}, headers
        if method == "apps.connections.open":
            try:
                self._check_app_token(token)
            except SlackError as error:
                return 200, {"ok": False, "error": error.error}, {}
            return 200, {"ok": True, **self._apps_connections_open(args)}, {}
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
            body = {"ok": False, "error": error.error, **error.extra}
            if error.messages:
                body["response_metadata"] = {"messages": error.messages}
            return error.status, body, {}
        return 200, {"ok": True, **body}, {}

    def _take_failure(self, method: str) -> InjectedFailure | None:
        for name in (method, "*"):
            queue = self._failures.get(name)
            if queue:
                return queue.popleft()
        return None

    # ---- helpers ----------------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        self._ts_counter += TS_STEP
        seconds, micros = divmod(self._ts_counter, 1_000_000)
        return f"{FIRST_TS_SECONDS + seconds}.{micros:06d}"

    def _new_bot_message(self, channel: str | None, text: str, blocks: list, thread_ts: str | None) -> Message:
        return Message(
            channel, self._next_ts(), text, blocks, thread_ts, self.bot_user_id, bot_id=self.bot_id, team=self.team_id
        )

    def _find_message(self, channel: str, ts: str | None) -> Message | None:
        return next((m for m in self.messages.get(channel, []) if m.ts == ts), None)

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
        url = urlsplit(self.path)
        if url.path == SOCKET_PATH:  # Socket Mode: this thread serves the WebSocket until it ends
            self.close_connection = True
            self.fake._serve_websocket(self, url.query)
            return
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

