"""`POST /slack/events`: verify, parse, then hand the request to Bolt.

Bolt verifies signatures itself, but it parses the body first and a malformed one becomes a 500; here a
content type Slack never sends is a 415, a body over `SLACK_MAX_BYTES` a 413 (from Content-Length, unread),
a forged or stale request a 401 and a malformed one a 400, all before Bolt sees it.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.core.web import MAX_BODY_BYTES, Request, Response, loads_bounded


# Slack posts forms (commands, interactivity) and JSON (Events API); a missing Content-Type is read as a form.
SLACK_MEDIA_TYPES = ("application/x-www-form-urlencoded", "application/json", "")
# The largest request Slack sends is a view submission: a view is at most 250 kB, and URL-encoding a JSON payload
# can triple it. Anything bigger is not Slack.
SLACK_MAX_BYTES = MAX_BODY_BYTES


def is_well_formed(body: str, content_type: str) -> bool:
    """Pure: a form with the fields of a command or a `payload` holding a JSON object, or a JSON object; JSON
    nested absurdly deep is not (a RecursionError), nor a payload whose shapes Bolt would trip on."""
    try:
        if content_type.startswith("application/json"):
            return not shape_problem(loads_bounded(body))
        form = parse_qs(body, strict_parsing=False, keep_blank_values=True)
        if "payload" in form:
            payload = loads_bounded(form["payload"][0])
            return isinstance(payload, dict) and isinstance(payload.get("type"), str) and not shape_problem(payload)
        return "command" in form or "ssl_check" in form
    except ValueError:
        return False


# What Bolt reads before any listener of ours runs (its context extraction and its matchers), by the shape it
# takes for granted: a payload where these are something else is a 400 here rather than a 500 inside Bolt.
_ID_FIELDS = ("enterprise", "team", "user", "channel")  # a string, or an object whose `id` is a string
_TEXT_FIELDS = ("type", "subtype", "team_id", "user_id", "channel_id", "enterprise_id", "api_app_id", "thread_ts", "callback_id",
                "action_id", "block_id", "trigger_id", "response_url", "command", "tab", "channel_type", "bot_id", "user_team")
_OBJECT_FIELDS = ("view", "message", "previous_message", "container", "state", "item", "assistant_thread", "function_data",
                  "workflow_step")


def shape_problem(payload, where: str = "the payload", depth: int = 0) -> str:
    """Pure: what in `payload` is not the shape Bolt relies on ("" when nothing)."""
    if not isinstance(payload, dict):
        return f"{where} is not an object"
    for name in _ID_FIELDS:
        value = payload.get(name)
        if value is not None and not isinstance(value, str) and not (isinstance(value, dict) and isinstance(value.get("id"), (str, type(None)))):
            return f"{where}.{name} is neither a string nor an object with a string id"
    for name in _TEXT_FIELDS:
        if payload.get(name) is not None and not isinstance(payload[name], str):
            return f"{where}.{name} is not a string"
    if depth > 3:
        return ""
    nested = [(name, payload[name]) for name in _OBJECT_FIELDS if payload.get(name) is not None]
    if "event" in payload:
        nested.append(("event", payload["event"]))  # Bolt reads `payload.get("event", {}).get(...)`: null is not enough
    authorizations = payload.get("authorizations")
    if authorizations is not None:
        if not isinstance(authorizations, list):
            return f"{where}.authorizations is not a list"
        nested += [(f"authorizations[{n}]", item) for n, item in enumerate(authorizations[:10])]
    if payload.get("type") == "block_actions" and depth == 0:
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions:
            return f"{where}.actions is not a list of actions"
        nested += [(f"actions[{n}]", action) for n, action in enumerate(actions[:25])]
        if not all(isinstance(action, dict) and isinstance(action.get("action_id"), str) for action in actions):
            return f"{where}.actions holds an action without a string action_id"
    for name, value in nested:
        problem = shape_problem(value, f"{where}.{name}", depth + 1)
        if problem:
            return problem
    return ""


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
