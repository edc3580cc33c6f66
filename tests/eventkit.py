"""Slack's Events API callbacks, the way Slack sends them: JSON, signed, retried with `X-Slack-Retry-Num`."""

from __future__ import annotations

import json
import uuid

import requests

from bot.sandbox.slackkit import sign


def event_callback(event: dict, *, event_id: str | None = None, team_id: str = "T0001") -> dict:
    return {
        "token": "verification-token-unused",
        "team_id": team_id,
        "api_app_id": "A0001",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": 1_700_000_000,
        "authorizations": [{"team_id": team_id, "user_id": "UBOT", "is_bot": True}],
    }


def app_home_opened(user: str, **options) -> dict:
    return event_callback({"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home",
                           "event_ts": "1700000000.000100"}, **options)


def link_shared(urls: list[str], *, channel: str = "C1", user: str = "U1", **options) -> dict:
    return event_callback({
        "type": "link_shared", "channel": channel, "user": user, "message_ts": "1700000000.000200",
        "links": [{"domain": "bitbucket.org", "url": url} for url in urls], "source": "conversations_history",
        "unfurl_id": "C1.1700000000.000200.abc", "event_ts": "1700000000.000300",
    }, **options)


def post_event(url: str, body: dict, secret: str | None, *, retry_num: int | None = None) -> requests.Response:
    """POST a callback to the bot's `/slack/events`; `secret=None` leaves the signature out."""
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(sign(secret, raw) if secret is not None else {})}
    if retry_num is not None:
        headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})
    with requests.Session() as session:
        session.trust_env = False
        return session.post(f"{url}/slack/events", data=raw, headers=headers, timeout=10)
