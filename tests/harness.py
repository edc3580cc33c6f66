"""The real bot, started on a free port against the simulated Slack and Bitbucket, driven over HTTP."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests

from bot.core.config import Settings
from bot.sandbox.bitbucket import FakeBitbucket
from bot.sandbox.slack import FakeSlack
from tests import slackkit

SIGNING_SECRET = "test-signing-secret"
WEBHOOK_SECRET = "test-webhook-secret"
BOT_TOKEN = "xoxb-test"
BITBUCKET_TOKEN = "bot-access-token"
ADMIN = "UADMIN"


def make_settings(tmp_path, slack: FakeSlack, bitbucket: FakeBitbucket, **overrides) -> Settings:
    base = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        bitbucket_api_url=bitbucket.base_url,
        bitbucket_access_token=BITBUCKET_TOKEN,
        bitbucket_oauth_authorize_url=bitbucket.oauth_authorize_url,
        bitbucket_oauth_token_url=bitbucket.oauth_token_url,
        bitbucket_workspace="acme",
        bitbucket_webhook_secret=WEBHOOK_SECRET,
        database_path=str(tmp_path / "chatops.db"),
        host="127.0.0.1",
        port=0,
        chatops_admins=frozenset({ADMIN}),
    )
    return base.with_overrides(**overrides)


@dataclass
class Sent:
    """A request we sent to the bot, and where its answers will arrive."""

    http: requests.Response
    response_key: str


class RunningBot:
    """`serve`, in this process, on a free port; talked to only over HTTP."""

    def __init__(self, settings: Settings, slack: FakeSlack, *, scheduler: bool = False, clock=None, parts=(), features=None,
                 port: int = 0):
        """`clock` (an aware datetime's) and `parts` (e.g. a deploy follower's pace) go into the services before
        anything starts; `features`: the features it runs (the registry's unless told); `port` 0 takes a free one."""
        from bot import registry
        from bot.app.server import BotServer

        self.settings = settings
        self.slack = slack
        self.services = registry.build_services(settings, features=registry.FEATURES if features is None else features)
        if clock is not None:
            self.services.clock = clock
        for part in parts:
            self.services.provide(part)
        self.server = BotServer(self.services, host="127.0.0.1", port=port, scheduler=scheduler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.port}"
        self._keys = 0
        wait_until_listening(self.url)

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(timeout=10)

    # --- Slack's side ------------------------------------------------------------------------------

    def _key(self) -> str:
        self._keys += 1
        return f"k{self._keys}-{time.monotonic_ns()}"

    def command(self, text: str, *, user_id: str = "U1", channel_id: str = "C1", trigger_id: str = "trig-1") -> Sent:
        key = self._key()
        response_url = self.slack.response_url(key, channel=channel_id, user=user_id)
        body = slackkit.slash_command_body(text, user_id=user_id, channel_id=channel_id, response_url=response_url, trigger_id=trigger_id)
        return Sent(slackkit.post_signed(f"{self.url}/slack/events", body, SIGNING_SECRET), key)

    def click(self, action_id: str, value: str, *, user_id: str = "U1", channel_id: str = "C1", message_ts: str | None = None, message: dict | None = None) -> Sent:
        key = self._key()
        ts = message_ts or slackkit.DEFAULT_MESSAGE_TS
        response_url = self.slack.response_url(key, channel=channel_id, message_ts=message_ts, user=user_id)
        body = slackkit.block_action_body(
            action_id=action_id, value=value, user_id=user_id, channel_id=channel_id, message_ts=ts,
            response_url=response_url, message=message, is_ephemeral=message is None and message_ts is None,
        )
        return Sent(slackkit.post_signed(f"{self.url}/slack/events", body, SIGNING_SECRET), key)

    def choose(self, action_id: str, value: str, *, user_id: str = "U1", channel_id: str = "C1", message_ts: str, message: dict) -> Sent:
        """Choose the option of value `value` in an overflow menu on a message."""
        key = self._key()
        response_url = self.slack.response_url(key, channel=channel_id, message_ts=message_ts, user=user_id)
        body = slackkit.block_action_body(action_id=action_id, value=value, user_id=user_id, channel_id=channel_id, message_ts=message_ts,
                                          response_url=response_url, message=message, element="overflow")
        return Sent(slackkit.post_signed(f"{self.url}/slack/events", body, SIGNING_SECRET), key)

    def shortcut(self, callback_id: str, message: dict, *, user_id: str = "U1", channel_id: str = "C1", trigger_id: str = "trig-4") -> Sent:
        """Use a message shortcut on `message`."""
        key = self._key()
        response_url = self.slack.response_url(key, channel=channel_id, user=user_id)
        body = slackkit.message_shortcut_body(callback_id=callback_id, message=message, channel_id=channel_id, user_id=user_id,
                                              response_url=response_url, trigger_id=trigger_id)
        return Sent(slackkit.post_signed(f"{self.url}/slack/events", body, SIGNING_SECRET), key)

    def submit_view(self, callback_id: str, values: dict, private_metadata: str, *, user_id: str = "U1") -> requests.Response:
        body = slackkit.view_submission_body(callback_id=callback_id, values=values, private_metadata=private_metadata, user_id=user_id)
        return slackkit.post_signed(f"{self.url}/slack/events", body, SIGNING_SECRET)

    def answers(self, sent: Sent, count: int = 1, timeout: float = 10.0) -> list[dict]:
        """The bodies posted to a request's response_url, once at least `count` have arrived."""
        self.slack.wait_for(lambda: len(self.slack.responses_for(sent.response_key)) >= count, timeout=timeout)
        return [post.body for post in self.slack.responses_for(sent.response_key)]

    def answer_text(self, sent: Sent, count: int = 1) -> str:
        return "\n".join(text_of(body) for body in self.answers(sent, count))


def text_of(message: dict) -> str:
    """Fallback text and every piece of block text, for assertions."""
    parts = [message.get("text") or ""]

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return "\n".join(parts)


def buttons_of(message: dict) -> list[dict]:
    found = []
    for block in message.get("blocks") or []:
        if block.get("type") == "actions":
            found += [e for e in block.get("elements", []) if e.get("type") == "button"]
        accessory = block.get("accessory")
        if accessory and accessory.get("type") == "button":
            found.append(accessory)
    return found


def button(message: dict, action_id: str) -> dict:
    matches = [b for b in buttons_of(message) if b["action_id"] == action_id]
    assert matches, f"no {action_id} button in {message}"
    return matches[0]


def wait_until_listening(url: str, timeout: float = 10.0, *, check_alive=None) -> None:
    """Until `/healthz` answers 200; `check_alive()` may raise to give up early (a child process that exited)."""
    deadline = time.monotonic() + timeout
    with requests.Session() as session:
        session.trust_env = False
        while time.monotonic() < deadline:
            if check_alive:
                check_alive()
            try:
                if session.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.02)
    raise AssertionError(f"the bot did not start listening at {url}")
