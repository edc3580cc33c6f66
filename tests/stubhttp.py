"""A scripted HTTP server on 127.0.0.1 for client tests: real sockets, canned answers, recorded requests.

    stub.reply("GET", "/repositories/acme/api", Reply(200, {...}), Reply(503, "busy"))

Answers queue per (method, raw path without the query) and are used once each, in order. A request with
nothing queued gets a 599 naming it, so a test that forgot a reply fails loudly.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list: JSON; str: plain text; None: empty
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (to provoke client timeouts)

    def encoded(self) -> tuple[bytes, str]:
        if self.body is None:
            return b"", "text/plain"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


@dataclass
class Recorded:
    method: str
    path: str  # raw, as sent: percent-encoding intact
    query: str  # raw
    headers: dict
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class StubServer:
    def __init__(self):
        self.requests: list[Recorded] = []
        self._replies: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reply(self, method: str, path: str, *replies: Reply) -> None:
        with self._lock:
            self._replies[(method, path)].extend(replies)

    def requests_to(self, path: str) -> list[Recorded]:
        return [request for request in self.requests if request.path == path]

    def start(self) -> "StubServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, request: Recorded) -> Reply:
        with self._lock:
            self.requests.append(request)
            queue = self._replies.get((request.method, request.path))
            if queue:
                return queue.popleft()
        return Reply(599, f"stub: nothing queued for {request.method} {request.path}")

    def _handler_class(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                reply = stub._answer(Recorded(self.command, path, query, dict(self.headers), body))
                time.sleep(reply.delay)
                payload, content_type = reply.encoded()
                self.send_response(reply.status)
                headers = {"Content-Type": content_type, "Content-Length": str(len(payload)), **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout test)
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format, *args):  # keep test output quiet
                pass

        return Handler
