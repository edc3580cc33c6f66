"""How the simulated Bitbucket speaks HTTP: a threading server on 127.0.0.1 whose handler hands each request to
`FakeBitbucket._serve` and writes the answer back.

A simulator never prints into the console: what `http.server` would print (each request, a failed request's
traceback) goes to logging at DEBUG instead, and a failure while answering still reaches the client, as a 500
with Bitbucket's error body. Header values are sent as ASCII (anything else percent-encoded as UTF-8, as a
`Location` to a ref with a non-ASCII name must be), and a request target sent with raw non-ASCII bytes is read
as if they had been percent-encoded.
"""

from __future__ import annotations

import logging
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.sandbox.bitbucket.wire import _ApiError, _Response, header_value

log = logging.getLogger(__name__)

_RAW_BYTE = re.compile(r"[^\x21-\x7e]")  # http.server hands over the request target decoded as Latin-1


class SimulatorHTTPServer(ThreadingHTTPServer):
    """One thread per connection; `fake` answers the requests."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: Any):
        self.fake = fake
        super().__init__(address, _HTTPHandler)

    def handle_error(self, request, client_address) -> None:
        """A request that failed outside any handler (the client went away, say): logged, never printed."""
        log.debug("simulated Bitbucket: the request from %s failed", client_address, exc_info=True)


def request_target(raw: str) -> str:
    """The request target with any byte outside printable ASCII percent-encoded (so it decodes as UTF-8)."""
    return _RAW_BYTE.sub(lambda match: "%{:02X}".format(ord(match.group()) & 0xFF), raw)


def wire_form(response: _Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers (ASCII-safe values) and body of an answer, all computed before anything is written."""
    payload, content_type = response.encode()
    headers = [("Content-Type", content_type)] if content_type else []
    headers += [(str(name), header_value(value)) for name, value in response.headers.items()]
    headers.append(("Content-Length", str(len(payload))))
    return response.status, headers, payload


class _HTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as `requests` expects
    disable_nagle_algorithm = True  # headers and body go out in separate writes; don't stall 40 ms between them
    server_version = "FakeBitbucket"
    sys_version = ""

    def _handle(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            response = self.server.fake._serve(self.command, request_target(self.path), headers, body)  # type: ignore[attr-defined]
            status, header_list, payload = wire_form(response)
        except Exception as error:  # a bug here must show up as a 500, not a broken connection
            log.debug("simulated Bitbucket: answering %s %s failed", self.command, self.path, exc_info=True)
            failure = _ApiError(500, "Something went wrong", detail=repr(error)).response()
            status, header_list, payload = wire_form(failure)
        self.send_response(status)
        # `X-RateLimit-*` as Bitbucket sends them to access tokens, when the fake was told to (`rate_limit_headers`).
        header_list = [*header_list, *getattr(self.server.fake, "rate_limit_headers", {}).items()]  # type: ignore[attr-defined]
        for name, value in header_list:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """What http.server would print to stderr (each request, its errors): logging at DEBUG instead."""
        if log.isEnabledFor(logging.DEBUG):
            # Queries carry OAuth states and codes: the line is logged without them.
            log.debug("simulated Bitbucket: %s - %s", self.address_string(), re.sub(r"\?[^ \"]*", "?…", format % args))
