"""A few lines of WSGI plumbing: a request with a bounded body, a response, and a route table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Callable
from urllib.parse import parse_qs

MAX_BODY_BYTES = 1024 * 1024  # Bitbucket caps deliveries at 256 KB and Slack's payloads are small


MAX_JSON_DEPTH = 64  # Bitbucket's deliveries nest about 8 deep, Slack's payloads under 20


class BodyTooLarge(Exception):
    pass


def loads_bounded(data, max_depth: int = MAX_JSON_DEPTH):
    """`json.loads`, but JSON nested deeper than `max_depth` (arrays and objects) is a ValueError like any other
    malformed JSON: the parser's RecursionError is caught, and what parsed is measured without recursion, so
    nothing downstream (Bolt, a renderer, `json.dumps`) recurses into it."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > max_depth:
                    raise ValueError("JSON nested too deeply")
                stack.append((child, depth + 1))
    return value


@dataclass
class Request:
    environ: dict

    @property
    def method(self) -> str:
        return self.environ.get("REQUEST_METHOD", "GET").upper()

    @property
    def path(self) -> str:
        return self.environ.get("PATH_INFO", "/") or "/"

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.environ.get("QUERY_STRING", "")).items()}

    def header(self, name: str) -> str | None:
        key = "HTTP_" + name.upper().replace("-", "_")
        if name.lower() == "content-type":
            key = "CONTENT_TYPE"
        return self.environ.get(key)

    @property
    def media_type(self) -> str:
        """The Content-Type without its parameters, lower case ("" when none was sent)."""
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def read_body(self, limit: int = MAX_BODY_BYTES) -> bytes:
        """Refuses a body over `limit` from its Content-Length, before reading it."""
        try:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            raise BodyTooLarge()
        stream = self.environ["wsgi.input"]
        body = stream.read(length) if length else stream.read(limit + 1)
        if len(body) > limit:
            raise BodyTooLarge()
        return body


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, data, status: int = 200) -> "Response":
        return cls(status, json.dumps(data).encode(), [("Content-Type", "application/json")])

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> "Response":
        return cls(status, text.encode(), [("Content-Type", content_type)])

    def __call__(self, start_response) -> list[bytes]:
        phrase = HTTPStatus(self.status).phrase if self.status in HTTPStatus._value2member_map_ else ""
        headers = self.headers + [("Content-Length", str(len(self.body)))]
        start_response(f"{self.status} {phrase}", headers)
        return [self.body]


Handler = Callable[[Request], Response]


class Router:
    """Exact-path routes; 404 for unknown paths, 405 for a known path with another method. A WSGI application
    may be mounted at a prefix: it answers the paths below it that no exact route takes (exact routes are looked
    up first, so mounting one costs them nothing)."""

    def __init__(self):
        self.routes: dict[str, dict[str, Callable]] = {}
        self.mounts: list[tuple[str, Callable]] = []

    def add(self, method: str, path: str, handler: Handler) -> None:
        self.routes.setdefault(path, {})[method.upper()] = handler

    def mount(self, prefix: str, app: Callable) -> None:
        """`app` (WSGI) answers `prefix` and every path below it, as given (PATH_INFO unchanged)."""
        self.mounts.append((prefix.rstrip("/"), app))

    def __call__(self, environ, start_response):
        request = Request(environ)
        methods = self.routes.get(request.path)
        if methods is None:
            for prefix, app in self.mounts:
                if request.path == prefix or request.path.startswith(prefix + "/"):
                    return app(environ, start_response)
            return Response.json({"error": "not found"}, 404)(start_response)
        handler = methods.get(request.method) or (methods.get("GET") if request.method == "HEAD" else None)
        if handler is None:
            response = Response.json({"error": "method not allowed"}, 405)
            response.headers.append(("Allow", ", ".join(sorted(methods))))
            return response(start_response)
        try:
            response = handler(request)
            if request.method == "HEAD":
                response = Response(response.status, b"", response.headers)  # a HEAD answer carries no body
            return response(start_response)
        except BodyTooLarge:
            return Response.json({"error": "request body too large"}, 413)(start_response)
