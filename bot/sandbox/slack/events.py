"""The simulated Slack's Events API side: people writing, editing and deleting messages, and the `message` events
Slack then sends the app (signed, JSON, like every event callback), plus `reactions.add` / `reactions.remove`.

Events are sent only once a test (or the sandbox) says where: `deliver_events_to(url, signing_secret)`. Then:
- `say(user, channel, text, thread_ts=…)` adds a person's message and sends its `message` event (no subtype;
  `thread_ts` for a reply in a thread, `channel_type` `channel` or `group` for a private channel);
- `edit(channel, ts, text)` sends `message_changed` (`message` holds the edited message, `previous_message` the old);
- `delete(channel, ts)` sends `message_deleted` (`deleted_ts`, `previous_message`);
- the bot's own posts in channels (`chat.postMessage`) are sent too, as Slack does for a modern app's posts:
  `user` is the bot user, with `bot_id`, `app_id` and `bot_profile`, and no subtype.
A person's events are sent before the call returns (the app acks at once); the bot's a moment later, from a thread.
`sent_events` keeps each callback body and the status the app answered; `send_event(body, retry_num=…)` sends one
again as Slack's retries do (`X-Slack-Retry-Num`).

A mixin of `FakeSlack`; needs its `_lock`, `messages`, `channels`, `team_id`, `bot_user_id`, `bot_id`,
`_find_message`, `_next_ts`, `_resolve_channel`, `_channel_to_post_in`.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import requests

from bot.sandbox.slack.state import Message, SlackError
from bot.sandbox.slack.wire import required
from bot.sandbox.slackkit import sign

APP_ID = "A0001"


class EventsMixin:
    events_url: str | None = None
    events_secret: str | None = None

    def deliver_events_to(self, url: str, signing_secret: str) -> None:
        """Send `message` events to the app's Events API URL (`…/slack/events`), signed with its signing secret."""
        with self._lock:
            self.events_url, self.events_secret = url, signing_secret

    # ---- people -----------------------------------------------------------------------------------------

    def say(self, user: str, channel: str, text: str, *, thread_ts: str | None = None) -> Message:
        """`user` writes `text` in `channel` (in the thread of `thread_ts`); the app hears of it."""
        with self._lock:
            channel = self._resolve_channel(channel)
            message = Message(channel, self._next_ts(), text, [], thread_ts, user, team=self.team_id)
            message.via = "person"
            self.messages.setdefault(channel, []).append(message)
            event = {**self._event_of(message), "client_msg_id": str(uuid.uuid4())}
            if thread_ts:
                parent = self._find_message(channel, thread_ts)
                event["parent_user_id"] = parent.user if parent else ""
            body = self.event_callback(event)
        self.send_event(body)
        return message

    def edit(self, channel: str, ts: str, text: str) -> Message:
        """The author edits their message; the app hears `message_changed`."""
        with self._lock:
            channel = self._resolve_channel(channel)
            message = self._find_message(channel, ts)
            if message is None or message.deleted:
                raise KeyError(f"no message {ts} in {channel}")
            previous = self._event_of(message)
            message.replace(text, [])
            edited = {**self._event_of(message), "edited": {"user": message.user, "ts": self._next_ts()}}
            edited.pop("channel", None)
            previous.pop("channel", None)
            event_ts = self._next_ts()
            body = self.event_callback({"type": "message", "subtype": "message_changed", "hidden": True, "channel": channel,
                                   "channel_type": self._channel_type(channel), "ts": event_ts, "event_ts": event_ts,
                                   "message": edited, "previous_message": previous})
        self.send_event(body)
        return message

    def delete(self, channel: str, ts: str) -> None:
        """The author deletes their message; the app hears `message_deleted`."""
        with self._lock:
            channel = self._resolve_channel(channel)
            message = self._find_message(channel, ts)
            if message is None or message.deleted:
                raise KeyError(f"no message {ts} in {channel}")
            message.deleted = True
            previous = self._event_of(message)
            previous.pop("channel", None)
            event_ts = self._next_ts()
            body = self.event_callback({"type": "message", "subtype": "message_deleted", "hidden": True, "channel": channel,
                                   "channel_type": self._channel_type(channel), "ts": event_ts, "event_ts": event_ts,
                                   "deleted_ts": ts, "previous_message": previous})
        self.send_event(body)

    # ---- sending ----------------------------------------------------------------------------------------

    def send_event(self, body: dict, *, retry_num: int | None = None) -> int | None:
        """POST one event callback to the app (signed); the status it answered (None: no app, or no answer)."""
        with self._lock:
            url, secret = self.events_url, self.events_secret
        if not url:
            return None
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **sign(secret or "", raw)}
        if retry_num is not None:
            headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})
        try:
            with requests.Session() as session:
                session.trust_env = False  # the app listens on loopback
                status = session.post(url, data=raw, headers=headers, timeout=10).status_code
        except requests.RequestException:
            status = None
        with self._lock:
            self.__dict__.setdefault("sent_events", []).append((body, status))
        return status

    def events_sent(self, subtype: str | None = "", *, by_bot: bool | None = None) -> list[dict]:
        """The `message` callbacks sent so far ("" subtype: plain messages; None: all), optionally only the bot's."""
        with self._lock:
            bodies = [body for body, _ in self.__dict__.get("sent_events", [])]
        found = []
        for body in bodies:
            event = body.get("event") or {}
            if subtype is not None and (event.get("subtype") or "") != subtype:
                continue
            if by_bot is not None and bool(event.get("bot_id")) != by_bot:
                continue
            found.append(body)
        return found

    def _bot_posted(self, message: Message) -> None:
        """chat.postMessage in a channel: Slack tells the app of its own post too (it must ignore it)."""
        if not self.events_url or not message.channel or message.channel.startswith("D"):
            return
        event = {**self._event_of(message), "bot_id": self.bot_id, "app_id": APP_ID,
                 "bot_profile": {"id": self.bot_id, "app_id": APP_ID, "name": "bitbucket"}}
        body = self.event_callback(event)
        threading.Thread(target=self.send_event, args=(body,), name="fake-slack-event", daemon=True).start()

    def _event_of(self, message: Message) -> dict[str, Any]:
        event: dict[str, Any] = {"type": "message", "channel": message.channel, "channel_type": self._channel_type(message.channel),
                                 "user": message.user, "text": message.text, "ts": message.ts, "event_ts": message.ts,
                                 "team": self.team_id}
        if message.blocks:
            event["blocks"] = message.blocks
        if message.thread_ts:
            event["thread_ts"] = message.thread_ts
        return event

    def _channel_type(self, channel: str | None) -> str:
        known = self.channels.get(channel or "")
        if (channel or "").startswith("D"):
            return "im"
        return "group" if known is not None and known.is_private else "channel"

    def event_callback(self, event: dict) -> dict:
        """`event` in the envelope Slack sends it in (a new `event_id`)."""
        return {"token": "verification-token-unused", "team_id": self.team_id, "api_app_id": APP_ID, "event": event,
                "type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}", "event_time": int(float(event["event_ts"])),
                "authorizations": [{"team_id": self.team_id, "user_id": self.bot_user_id, "is_bot": True}]}

    # ---- reactions (added by reactions.py's `reactions.add`) ---------------------------------------------

    def reactions_on(self, channel: str, ts: str) -> set[str]:
        """The names of the reactions the bot put on a message."""
        with self._lock:
            message = self._find_message(self._resolve_channel(channel), ts)
            return {name for name, users in (message.reactions if message else {}).items() if self.bot_user_id in users}
