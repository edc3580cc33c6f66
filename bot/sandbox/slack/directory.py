"""The simulated Slack's people and conversations: `auth.test` (the bot's identity), `users.info`,
`users.lookupByEmail`, `users.list` (cursor pagination), `conversations.info`, `conversations.join`, `conversations.open`, and how a `channel`
argument is read (a user id posts in the DM with that user; "#name" finds a channel by name; every well-formed
channel id exists).

A mixin of `FakeSlack`; each method runs under the fake's lock and raises SlackError to fail. Needs FakeSlack's
`_lock`, `users`, `channels`, `team_id`, `bot_user_id`, `bot_id`, `_channel_errors`.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from bot.sandbox.slack.state import SlackChannel, SlackError, SlackUser
from bot.sandbox.slack.wire import required


class DirectoryMixin:
    # ---- seeding --------------------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, **details: Any) -> SlackUser:
        """Make users.info / users.lookupByEmail know a user (details: real_name, email, is_admin, ...)."""
        with self._lock:
            user = self.users[user_id] = SlackUser(user_id, name, **details)
            return user

    def add_channel(self, channel_id: str, name: str | None = None, **details: Any) -> SlackChannel:
        """Describe a channel (details: is_private, is_member, is_archived). Unknown channels exist too."""
        with self._lock:
            channel = self.channels[channel_id] = SlackChannel(channel_id, name or channel_id.lower(), **details)
            return channel

    # ---- Web API methods --------------------------------------------------------------------------------

    def _auth_test(self, args: dict) -> dict:
        return {
            "url": "https://sandbox.slack.com/",
            "team": "Sandbox",
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _users_info(self, args: dict) -> dict:
        user = self.users.get(args.get("user") or "")
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.to_api(self.team_id)}

    def _users_list(self, args: dict) -> dict:
        """Every member, deleted and bots included, in pages: `limit` (at most 1,000; none: all, which a team of
        more than 1,000 refuses with limit_required) and `cursor` (a previous page's
        `response_metadata.next_cursor`, which is "" on the last page)."""
        self._require_scope("users:read")
        members = list(self.users.values())
        try:
            limit = min(int(args.get("limit") or 0), 1000)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None
        if limit <= 0:
            if len(members) > 1000:
                raise SlackError("limit_required")
            limit = len(members) or 1
        start = 0
        if args.get("cursor"):
            start = next((i for i, user in enumerate(members) if _cursor_for(user.id) == args["cursor"]), -1)
            if start < 0:
                raise SlackError("invalid_cursor")
        page = members[start : start + limit]
        following = members[start + limit] if start + limit < len(members) else None
        return {
            "members": [user.to_api(self.team_id) for user in page],
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": _cursor_for(following.id) if following else ""},
        }

    def _require_scope(self, scope: str) -> None:
        """Slack's answer to a token without the method's scope: missing_scope, with `needed` and `provided`."""
        if scope not in self.scopes.replace(" ", "").split(","):
            raise SlackError("missing_scope", extra={"needed": scope, "provided": self.scopes})

    def _users_lookup_by_email(self, args: dict) -> dict:
        self._require_scope("users:read.email")
        email_address = (args.get("email") or "").lower()
        user = next((u for u in self.users.values() if u.email and u.email.lower() == email_address), None)
        if user is None or user.deleted:
            raise SlackError("users_not_found")
        return {"user": user.to_api(self.team_id)}

    def _conversations_info(self, args: dict) -> dict:
        channel_id = self._api_channel(args)
        error = self._channel_errors.get(channel_id)
        if error == "channel_not_found":
            raise SlackError(error)
        described = self._channel(channel_id).to_api()
        # Keep the description consistent with what posting there answers.
        described["is_archived"] = described["is_archived"] or error == "is_archived"
        described["is_member"] = described["is_member"] and error != "not_in_channel"
        return {"channel": described}

    def _conversations_join(self, args: dict) -> dict:
        channel_id = self._api_channel(args)
        error = self._channel_errors.get(channel_id)
        if error in ("channel_not_found", "is_archived"):
            raise SlackError(error)
        if error == "not_in_channel":
            del self._channel_errors[channel_id]
        channel = self._channel(channel_id)
        channel.is_member = True
        return {"channel": channel.to_api()}

    def _conversations_open(self, args: dict) -> dict:
        users = [u for u in (args.get("users") or "").split(",") if u]
        if not users and not args.get("channel"):
            raise SlackError("users_list_not_supplied")
        channel_id = self._resolve_channel(args.get("channel") or users[0])
        return {"channel": {"id": channel_id}}

    # ---- the channel argument --------------------------------------------------------------------------

    def _resolve_channel(self, channel: str) -> str:
        """Posting to a user id posts in the DM with that user; "#name" finds a channel by name."""
        if channel[:1] in ("U", "W"):
            return f"D{channel}"
        if channel.startswith("#"):
            found = next((c for c in self.channels.values() if c.name == channel[1:]), None)
            return found.id if found else channel  # "#unknown" then matches no message
        return channel

    def _api_channel(self, args: dict) -> str:
        """The `channel` argument resolved to a channel id, or Slack's channel_not_found."""
        channel = self._resolve_channel(required(args, "channel", "channel_not_found"))
        if channel.startswith("#"):
            raise SlackError("channel_not_found")
        return channel

    def _channel(self, channel_id: str) -> SlackChannel:
        """Every well-formed channel id exists; add_channel only changes how it is described."""
        if channel_id not in self.channels:
            is_private = channel_id.startswith("G")
            self.channels[channel_id] = SlackChannel(channel_id, channel_id.lower(), is_private=is_private)
        return self.channels[channel_id]

    def _channel_to_post_in(self, args: dict) -> str:
        channel = self._api_channel(args)
        error = self._channel_errors.get(channel) or self._channel_errors.get(args["channel"])
        if error:
            raise SlackError(error)
        return channel


def _cursor_for(user_id: str) -> str:
    """Slack's cursors look like base64 of `user:U…` (its documented example is `dXNlcjpVMDYxTkZUVDI=`)."""
    return base64.b64encode(f"user:{user_id}".encode()).decode()
