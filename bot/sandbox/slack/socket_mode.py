"""Socket Mode, simulated: `apps.connections.open` (with the app-level token) gives a `ws://127.0.0.1…` URL; a
WebSocket there (RFC 6455, standard library only) says `hello`, then carries envelopes to the app and its acks back.

What Slack documents and slack_sdk's built-in client (`slack_sdk.socket_mode.builtin`) expects, which connects to
it unchanged:
- the handshake answers 101 with `Sec-WebSocket-Accept`; frames from the client are masked, ours are not;
- the first message is `{"type": "hello", "num_connections", "connection_info": {"app_id"}, "debug_info"}`;
- an envelope is `{"envelope_id", "type": "slash_commands" | "interactive" | "events_api", "payload",
  "accepts_response_payload", "retry_attempt", "retry_reason"}`; the app acks with `{"envelope_id", "payload"?}`;
- pings are answered with pongs carrying the same data (the client reconnects when pongs stop); a close frame
  is answered and the connection ends.

Tests (and the sandbox) send with `socket_slash_command`, `socket_block_action`, `socket_event` or
`send_envelope`, and read acks with `wait_for_ack`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field

from bot.sandbox.slack.state import SlackError

SOCKET_PATH = "/link/"
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_FRAME = 1 << 20  # nothing an app acks comes near this; a bigger frame ends the connection


@dataclass(eq=False)
class SocketConnection:
    """One app's WebSocket: where to write, and what it said."""

    ticket: str
    wfile: object
    opened_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    open: bool = True
    received: list = field(default_factory=list)  # every text message the app sent, parsed


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()


def frame(opcode: int, payload: bytes) -> bytes:
    """A whole, unmasked frame (a server's)."""
    head = bytes([0x80 | opcode])
    if len(payload) < 126:
        head += bytes([len(payload)])
    elif len(payload) < 1 << 16:
        head += bytes([126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([127]) + struct.pack("!Q", len(payload))
    return head + payload


def read_frame(rfile) -> tuple[bool, int, bytes] | None:
    """(fin, opcode, payload) of the next frame, unmasked; None when the connection ended."""
    head = rfile.read(2)
    if len(head) < 2:
        return None
    fin, opcode, masked, length = bool(head[0] & 0x80), head[0] & 0x0F, bool(head[1] & 0x80), head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", rfile.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", rfile.read(8))[0]
    if length > MAX_FRAME:
        return None
    mask = rfile.read(4) if masked else b""
    payload = rfile.read(length)
    if len(payload) < length:
        return None
    if masked:
        payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return fin, opcode, payload


class SocketModeMixin:
    """Needs `_lock`, `host`, `port`, `team_id`, `app_token`, `_echo`, `_flush_echo` (FakeSlack)."""

    app_id = "A0001"

    def _init_socket_mode(self) -> None:
        self.socket_connections: list[SocketConnection] = []
        self.socket_acks: dict[str, dict] = {}  # envelope id -> the app's ack
        self.socket_envelopes: list[dict] = []  # what was sent, oldest first
        self._socket_tickets: set[str] = set()

    # ---- apps.connections.open ------------------------------------------------------------------------

    def _apps_connections_open(self, args: dict) -> dict:
        ticket = secrets.token_hex(16)
        self._socket_tickets.add(ticket)
        return {"url": f"ws://{self.host}:{self.port}{SOCKET_PATH}?ticket={ticket}"}

    def _check_app_token(self, token: str | None) -> None:
        if not token:
            raise SlackError("not_authed")
        if token.startswith("xoxb-"):
            raise SlackError("not_allowed_token_type")  # a bot token cannot open a connection: an app-level one can
        if token != self.app_token:
            raise SlackError("invalid_auth")

    # ---- the WebSocket ----------------------------------------------------------------------------------

    def _serve_websocket(self, handler, query: str) -> None:
        """Run one connection on the request handler's thread until it ends."""
        ticket = dict(part.split("=", 1) for part in query.split("&") if "=" in part).get("ticket", "")
        key = handler.headers.get("Sec-WebSocket-Key", "")
        with self._lock:
            known = ticket in self._socket_tickets
            self._socket_tickets.discard(ticket)  # a URL is good for one connection
        if not known or not key or (handler.headers.get("Upgrade") or "").lower() != "websocket":
            handler.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        handler.wfile.write(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n".encode()
        )
        handler.wfile.flush()
        connection = SocketConnection(ticket, handler.wfile, time.time())
        with self._lock:
            self.socket_connections.append(connection)
            count = sum(c.open for c in self.socket_connections)
            self._echo(f"socket mode: an app connected ({count} open)")
        self._flush_echo()
        self._send_json(connection, {"type": "hello", "num_connections": count, "connection_info": {"app_id": self.app_id},
                                     "debug_info": {"host": "applink-sandbox", "build_number": 1,
                                                    "approximate_connection_time": 3600}})
        try:
            self._read_loop(connection, handler.rfile)
        finally:
            connection.open = False

    def _read_loop(self, connection: SocketConnection, rfile) -> None:
        pieces: list[bytes] = []
        while connection.open:
            try:
                got = read_frame(rfile)
            except (OSError, ValueError, struct.error):
                return
            if got is None:
                return
            fin, opcode, payload = got
            if opcode == OP_PING:
                self._send(connection, OP_PONG, payload)
            elif opcode == OP_CLOSE:
                self._send(connection, OP_CLOSE, payload[:2])
                return
            elif opcode in (OP_TEXT, OP_CONTINUATION):
                pieces.append(payload)
                if fin:
                    self._on_text(connection, b"".join(pieces))
                    pieces = []

    def _on_text(self, connection: SocketConnection, data: bytes) -> None:
        try:
            message = json.loads(data.decode("utf-8"))
        except ValueError:
            return
        with self._lock:
            connection.received.append(message)
            if isinstance(message, dict) and message.get("envelope_id"):
                self.socket_acks[str(message["envelope_id"])] = message

    def _send(self, connection: SocketConnection, opcode: int, payload: bytes) -> bool:
        with connection.lock:
            if not connection.open:
                return False
            try:
                connection.wfile.write(frame(opcode, payload))
                connection.wfile.flush()
                return True
            except (OSError, ValueError):
                connection.open = False
                return False

    def _send_json(self, connection: SocketConnection, message: dict) -> bool:
        return self._send(connection, OP_TEXT, json.dumps(message).encode())

    def _close_sockets(self) -> None:
        for connection in list(getattr(self, "socket_connections", [])):
            self._send(connection, OP_CLOSE, struct.pack("!H", 1001) + b"going away")
            connection.open = False

    # ---- what tests send ----------------------------------------------------------------------------------

    def send_envelope(self, kind: str, payload: dict, *, accepts_response_payload: bool | None = None) -> str:
        """Send an envelope to the newest open connection; its id. AssertionError when no app is connected."""
        with self._lock:
            live = [c for c in self.socket_connections if c.open]
        if not live:
            raise AssertionError("no app is connected over Socket Mode")
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": kind != "events_api" if accepts_response_payload is None else accepts_response_payload,
                    "retry_attempt": 0, "retry_reason": ""}
        with self._lock:
            self.socket_envelopes.append(envelope)
        if not self._send_json(live[-1], envelope):
            raise AssertionError("the Socket Mode connection closed")
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict:
        """The app's ack of an envelope (Slack wants it within 3 seconds)."""
        return self.wait_for(lambda: self.socket_acks.get(envelope_id), timeout=timeout)

    def wait_for_socket(self, timeout: float = 10.0) -> SocketConnection:
        return self.wait_for(lambda: next((c for c in self.socket_connections if c.open), None), timeout=timeout)

    def socket_slash_command(self, text: str, *, user_id: str = "U1", channel_id: str = "C1", command: str = "/bb",
                             response_url: str | None = None, trigger_id: str = "trig-socket") -> str:
        payload = {
            "token": "unused", "team_id": self.team_id, "team_domain": "sandbox", "channel_id": channel_id,
            "channel_name": "general", "user_id": user_id, "user_name": "someone", "command": command, "text": text,
            "api_app_id": self.app_id, "is_enterprise_install": "false",
            "response_url": response_url or self.response_url(channel=channel_id, user=user_id), "trigger_id": trigger_id,
        }
        return self.send_envelope("slash_commands", payload)

    def socket_block_action(self, action_id: str, value: str, *, user_id: str = "U1", channel_id: str = "C1",
                            message: dict | None = None, message_ts: str | None = None, response_url: str | None = None) -> str:
        ts = message_ts or (message or {}).get("ts") or "1700000000.000100"
        payload = {
            "type": "block_actions", "team": {"id": self.team_id, "domain": "sandbox"}, "api_app_id": self.app_id,
            "user": {"id": user_id, "username": "someone", "team_id": self.team_id}, "trigger_id": "trig-socket-action",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel_id, "is_ephemeral": message is None},
            "channel": {"id": channel_id, "name": "general"},
            "response_url": response_url or self.response_url(channel=channel_id, message_ts=ts, user=user_id),
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                         "action_ts": f"{time.time():.6f}"}],
            **({"message": message} if message else {}),
        }
        return self.send_envelope("interactive", payload)

    def socket_event(self, event: dict) -> str:
        payload = {"token": "unused", "team_id": self.team_id, "api_app_id": self.app_id, "event": event,
                   "type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}", "event_time": int(time.time()),
                   "authorizations": [{"team_id": self.team_id, "user_id": self.bot_user_id, "is_bot": True}]}
        return self.send_envelope("events_api", payload)
