"""The simulated Slack's modals and Home tab: `views.open` / `views.push` (a trigger_id opens one modal; a second
use answers `exchanged_trigger_id`), `views.update` (by view_id or external_id, with the `hash` check) and
`views.publish` (a `home` view for a user).

A mixin of `FakeSlack`; each method runs under the fake's lock and raises SlackError to fail. Needs FakeSlack's
`views`, `home_views`, `users`, `team_id`, `bot_id`, `_exchanged_triggers`, `_view_counter`, `_echo`.
"""

from __future__ import annotations

from bot.sandbox.slack.state import OpenedView, SlackError
from bot.sandbox.slack.wire import required, view_definition, view_hash


class ViewsMixin:
    def _views_open(self, args: dict) -> dict:
        trigger_id = required(args, "trigger_id", "invalid_arguments")
        view = view_definition(args)
        # A trigger_id may be exchanged for a modal once.
        if trigger_id in self._exchanged_triggers:
            raise SlackError("exchanged_trigger_id")
        self._exchanged_triggers.add(trigger_id)
        self._view_counter += 1
        opened = OpenedView(f"V{self._view_counter:04d}", trigger_id, view, view_hash(view), args.get("external_id"))
        self.views.append(opened)
        self._echo(f"modal {opened.id} opened: {opened.title!r} (callback_id={opened.callback_id})")
        return {"view": self._view_to_api(opened)}

    def _views_update(self, args: dict) -> dict:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise SlackError("invalid_arguments", messages=["[ERROR] view_id or external_id is required"])
        opened = next(
            (v for v in self.views if (view_id and v.id == view_id) or (external_id and v.external_id == external_id)),
            None,
        )
        if opened is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != opened.hash:
            raise SlackError("hash_conflict")
        view = view_definition(args)
        opened.history.append(opened.view)
        opened.view, opened.hash = view, view_hash(view)
        opened.updated_count += 1
        self._echo(f"modal {opened.id} updated: {opened.title!r}")
        return {"view": self._view_to_api(opened)}

    def _views_publish(self, args: dict) -> dict:
        """The Home tab of `user_id` (a view of type `home`, at most 100 blocks)."""
        user_id = required(args, "user_id", "invalid_arguments")
        if user_id not in self.users:
            raise SlackError("user_not_found")
        view = view_definition(args)
        if view.get("type") != "home":
            raise SlackError("invalid_arguments", messages=["[ERROR] a published view must be of type home"])
        self.home_views[user_id] = view
        self._echo(f"home tab of {user_id} published ({len(view.get('blocks') or [])} blocks)")
        return {"view": {"id": f"VH{user_id}", "type": "home", "team_id": self.team_id, **view}}

    def _view_to_api(self, opened: OpenedView) -> dict:
        return {
            "id": opened.id,
            "team_id": self.team_id,
            "type": opened.view.get("type", "modal"),
            "hash": opened.hash,
            "root_view_id": opened.id,
            "previous_view_id": None,
            "external_id": opened.external_id or "",
            "app_id": "A0001",
            "bot_id": self.bot_id,
            "state": {"values": {}},
            "private_metadata": "",
            "callback_id": "",
            **opened.view,
        }

