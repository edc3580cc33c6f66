"""The simulated Slack's reactions and user groups: `reactions.add` and `reactions.remove` (scope reactions:write:
`channel`, `timestamp`, `name` without colons; errors `already_reacted`, `no_reaction`, `message_not_found`,
`invalid_name`), and `usergroups.users.list` (scope usergroups:read: `usergroup`; answers `{"users": [...]}`;
`no_such_subteam` for an unknown group). Tests seed groups with `add_usergroup` and read a message's `reactions`.

A mixin of `FakeSlack`; each method runs under the fake's lock and raises SlackError to fail.
"""

from __future__ import annotations

import re

from bot.sandbox.slack.state import SlackError
from bot.sandbox.slack.wire import required

_NAME = re.compile(r"^[a-z0-9_+'-]{1,100}$")


class ReactionsMixin:
    def add_usergroup(self, group_id: str, handle: str, users) -> None:
        with self._lock:
            self.usergroups[group_id] = {"handle": handle, "users": list(users)}

    def _reacted_message(self, args: dict):
        channel = self._channel_to_post_in(args)
        message = self._find_message(channel, required(args, "timestamp", "no_item_specified"))
        if message is None or message.deleted:
            raise SlackError("message_not_found")
        name = required(args, "name", "invalid_name")
        if not _NAME.match(name):
            raise SlackError("invalid_name")
        return message, name

    def _reactions_add(self, args: dict) -> dict:
        self._require_scope("reactions:write")
        message, name = self._reacted_message(args)
        users = message.reactions.setdefault(name, [])
        if self.bot_user_id in users:
            raise SlackError("already_reacted")
        users.append(self.bot_user_id)
        return {}

    def _reactions_remove(self, args: dict) -> dict:
        self._require_scope("reactions:write")
        message, name = self._reacted_message(args)
        users = message.reactions.get(name) or []
        if self.bot_user_id not in users:
            raise SlackError("no_reaction")
        users.remove(self.bot_user_id)
        if not users:
            del message.reactions[name]
        return {}

    def _usergroups_users_list(self, args: dict) -> dict:
        self._require_scope("usergroups:read")
        group = self.usergroups.get(required(args, "usergroup", "no_such_subteam"))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group["users"])}
