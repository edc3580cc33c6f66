"""Requests as Slack sends them: signed, form-encoded slash commands, clicks and modal submissions.

Used by the local shell (`bitbucket-chatops shell`) and by the tests.

Bodies follow the shapes Slack sends (slash commands as plain forms; interactivity as a form with one
`payload` field holding JSON). Pair them with `bot.sandbox.slack.FakeSlack`, whose `response_url()`
gives the URL to put in them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from urllib.parse import urlencode

DEFAULT_MESSAGE_TS = "1700000000.000100"  # the first ts FakeSlack hands out


def ensure_no_proxy_for_loopback() -> None:
    """slack_sdk (urllib) and requests honour HTTP(S)_PROXY; keep loopback traffic off any proxy."""
    proxy_names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")
    if any(os.environ.get(name) for name in proxy_names):
        for name in ("NO_PROXY", "no_proxy"):
            hosts = [h for h in os.environ.get(name, "").split(",") if h]
            os.environ[name] = ",".join(hosts + [h for h in ("127.0.0.1", "localhost") if h not in hosts])


def sign(signing_secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack adds: v0=HMAC-SHA256(signing secret, "v0:{timestamp}:{body}")."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    basestring = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), basestring, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def slash_command_body(
    text: str,
    *,
    user_id: str = "U1",
    user_name: str = "alice",
    channel_id: str = "C1",
    channel_name: str = "general",
    team_id: str = "T0001",
    response_url: str,
    trigger_id: str = "trig-1",
    command: str = "/bb",
) -> bytes:
    """A slash command as Slack posts it (application/x-www-form-urlencoded)."""
    return urlencode(
        {
            "token": "verification-token-unused",
            "team_id": team_id,
            "team_domain": "sandbox",
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": "A0001",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    ).encode()


def payload_body(payload: dict) -> bytes:
    """An interactivity request: a form with a single `payload` field holding JSON."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def block_action_body(
    *,
    action_id: str,
    value: str,
    user_id: str = "U1",
    user_name: str = "alice",
    channel_id: str = "C1",
    channel_name: str = "general",
    message_ts: str = DEFAULT_MESSAGE_TS,
    response_url: str,
    team_id: str = "T0001",
    block_id: str = "b",
    message: dict | None = None,
    trigger_id: str = "trig-2",
    is_ephemeral: bool = False,
    element: str = "button",
) -> bytes:
    """A button click (`block_actions`) on a message, as Slack posts it; with `element="overflow"`, the choice of an
    overflow menu's option whose value is `value` (Slack sends it as `selected_option`, without a `value`).

    `message` is the full original message (e.g. `fake.message(channel, ts).to_api()`); Slack omits it
    when the message was ephemeral.
    """
    if message is None and not is_ephemeral:
        message = {"type": "message", "ts": message_ts, "text": "", "user": "UBOT", "bot_id": "B0001", "blocks": []}
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": "A0001",
        "token": "verification-token-unused",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        },
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": "sandbox"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [_action(element, action_id, block_id, value)],
    }
    if message is not None:
        payload["message"] = message
    return payload_body(payload)


def _action(element: str, action_id: str, block_id: str, value: str) -> dict:
    action = {"type": element, "action_id": action_id, "block_id": block_id, "action_ts": f"{int(time.time())}.000000"}
    if element == "overflow":
        action["selected_option"] = {"text": {"type": "plain_text", "text": action_id, "emoji": True}, "value": value}
    else:
        action.update({"value": value, "text": {"type": "plain_text", "text": action_id, "emoji": True}})
    return action


def message_shortcut_body(
    *,
    callback_id: str,
    message: dict,
    channel_id: str = "C1",
    channel_name: str = "general",
    user_id: str = "U1",
    user_name: str = "alice",
    team_id: str = "T0001",
    response_url: str,
    trigger_id: str = "trig-4",
) -> bytes:
    """A message shortcut (`message_action`) used on `message`, as Slack posts it."""
    payload = {
        "type": "message_action",
        "token": "verification-token-unused",
        "action_ts": f"{int(time.time())}.000000",
        "team": {"id": team_id, "domain": "sandbox"},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "channel": {"id": channel_id, "name": channel_name},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "response_url": response_url,
        "message_ts": message.get("ts"),
        "message": message,
    }
    return payload_body(payload)


def view_submission_body(
    *,
    callback_id: str,
    values: dict,
    private_metadata: str = "",
    user_id: str = "U1",
    user_name: str = "alice",
    team_id: str = "T0001",
    view_id: str = "V0001",
    trigger_id: str = "trig-3",
) -> bytes:
    """A modal submission (`view_submission`), as Slack posts it.

    `values` is `{block_id: {action_id: state}}` like `view.state.values`; a plain string as `state` is
    shorthand for a plain_text_input holding that string.
    """
    state_values = {
        block_id: {
            action_id: {"type": "plain_text_input", "value": state} if isinstance(state, str) else state
            for action_id, state in actions.items()
        }
        for block_id, actions in values.items()
    }
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "sandbox"},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": "A0001",
        "token": "verification-token-unused",
        "trigger_id": trigger_id,
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": state_values},
            "hash": "1700000000.abcdef12",
            "title": {"type": "plain_text", "text": "Modal", "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": "A0001",
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": "B0001",
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return payload_body(payload)


def app_home_opened_body(user_id: str, *, team_id: str = "T0001", event_id: str | None = None) -> bytes:
    """An Events API callback: `user_id` opened the bot's Home tab (JSON, like every event callback)."""
    return json.dumps({
        "type": "event_callback", "team_id": team_id, "api_app_id": "A0001",
        "event_id": event_id or f"Ev{os.urandom(6).hex().upper()}", "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": user_id, "channel": f"D{user_id}", "tab": "home", "event_ts": f"{time.time():.6f}"},
    }).encode()


def link_shared_body(urls: list[str], *, channel: str, user: str, message_ts: str, team_id: str = "T0001") -> bytes:
    """An Events API callback: `user` posted a message in `channel` with these links of a domain the app unfurls."""
    domain_of = {url: url.split("/")[2] if url.count("/") >= 2 else "" for url in urls}
    return json.dumps({
        "type": "event_callback", "team_id": team_id, "api_app_id": "A0001",
        "event_id": f"Ev{os.urandom(6).hex().upper()}", "event_time": int(time.time()),
        "event": {"type": "link_shared", "channel": channel, "user": user, "message_ts": message_ts,
                  "links": [{"domain": domain_of[url], "url": url} for url in urls], "source": "conversations_history",
                  "unfurl_id": f"{channel}.{message_ts}.{os.urandom(3).hex()}", "event_ts": f"{time.time():.6f}"},
    }).encode()
