"""`POST /slack/events`: verify, parse, then hand the request to Bolt.

Bolt verifies signatures itself, but it parses the body first and a malformed one becomes a 500; here a
forged or stale request is refused with 401 and a malformed one with 400 before Bolt sees it.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.web import Request, Response


def is_well_formed(body: str, content_type: str) -> bool:
    """Pure: a form with the fields of a command or a `payload` holding a JSON object, or a JSON object."""
    try:
        if content_type.startswith("application/json"):
            return isinstance(json.loads(body), dict)
        form = parse_qs(body, strict_parsing=False, keep_blank_values=True)
        if "payload" in form:
            payload = json.loads(form["payload"][0])
            return isinstance(payload, dict) and isinstance(payload.get("type"), str)
        return "command" in form or "ssl_check" in form
    except ValueError:
        return False


def make_handler(bolt_app: App, signing_secret: str):
    if not signing_secret:
        # Socket Mode: Slack's requests come over the WebSocket; nothing unsigned is taken over HTTP.
        return lambda request: Response.json({"error": "this bot takes Slack requests over Socket Mode"}, 401)
    verifier = SignatureVerifier(signing_secret)

    def handle(request: Request) -> Response:
        raw = request.read_body()
        headers = {
            "x-slack-request-timestamp": request.header("X-Slack-Request-Timestamp") or "",
            "x-slack-signature": request.header("X-Slack-Signature") or "",
        }
        try:
            verified = verifier.is_valid(raw, headers["x-slack-request-timestamp"], headers["x-slack-signature"])
        except ValueError:  # a non-numeric timestamp
            verified = False
        if not verified:
            return Response.json({"error": "invalid request"}, 401)
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Response.json({"error": "body is not UTF-8"}, 400)
        content_type = request.header("Content-Type") or "application/x-www-form-urlencoded"
        if not is_well_formed(body, content_type):
            return Response.json({"error": "malformed request"}, 400)
        bolt_request = BoltRequest(
            body=body,
            query=request.environ.get("QUERY_STRING", ""),
            headers={**headers, "content-type": content_type},
        )
        result = bolt_app.dispatch(bolt_request)
        response_headers = [(name, value) for name, values in result.headers.items() for value in values if name.lower() != "content-length"]
        return Response(result.status, (result.body or "").encode(), response_headers)

    return handle
