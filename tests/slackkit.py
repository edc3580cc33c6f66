"""Helpers for tests that talk to our app the way Slack does (the builders live in the package, for the shell)."""

from __future__ import annotations

import requests

from bot.sandbox.slackkit import (  # noqa: F401 - re-exported for the tests
    DEFAULT_MESSAGE_TS,
    block_action_body,
    ensure_no_proxy_for_loopback,
    message_shortcut_body,
    payload_body,
    sign,
    slash_command_body,
    view_submission_body,
)


def post_signed(
    url: str,
    body: bytes,
    signing_secret: str,
    *,
    timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
    timeout: float = 5,
) -> requests.Response:
    """POST `body` to our app with Slack's signature headers."""
    headers = {**sign(signing_secret, body, timestamp), "Content-Type": content_type}
    with requests.Session() as session:
        session.trust_env = False  # the app under test is on loopback; never route it through a proxy
        return session.post(url, data=body, headers=headers, timeout=timeout)
