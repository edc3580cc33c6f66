"""`POST /slack/events`: verify, parse, then hand the request to Bolt.

Bolt verifies signatures itself, but it parses the body first and a malformed one becomes a 500; here a
content type Slack never sends is a 415, a body over `SLACK_MAX_BYTES` a 413 (from Content-Length, unread),
a forged or stale request a 401 and a malformed one a 400, all before Bolt sees it.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.core.web import MAX_BODY_BYTES, Request, Response


# Slack posts forms (commands, interactivity) and JSON (Events API); a missing Content-Type is read as a form.
SLACK_MEDIA_TYPES = ("application/x-www-form-urlencoded", "application/json", "")
# The largest request Slack sends is a view submission: a view is at most 250 kB, and URL-encoding a JSON payload
# can triple it. Anything bigger is not Slack.
SLACK_MAX_BYTES = MAX_BODY_BYTES


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
        if request.media_type not in SLACK_MEDIA_TYPES:
            return Response.json({"error": "Content-Type must be application/x-www-form-urlencoded or application/json"}, 415)
        raw = request.read_body(SLACK_MAX_BYTES)
        headers = {
            "x-slack-request-timestamp": request.header("X-Slack-Request-Timestamp") or "",
            "x-slack-signature": request.header("X-Slack-Signature") or "",
        }
        try:
            verified = verifier.is_valid(raw, headers["x-slack-request-timestamp"], headers["x-slack-signature"])
        except (ValueError, TypeError):  # a non-numeric timestamp; a signature that is not ASCII (compare_digest)
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
