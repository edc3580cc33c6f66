"""Slack's way in: the `/bb` command, button clicks, modal submissions and Events API events, registered on a Bolt
app and dispatched to the features through the registry.

Every listener acks at once. Answers that need no I/O (help, usage) travel in the ack itself; everything
that calls Bitbucket runs on the work pool afterwards and answers through `response_url`.
"""

from __future__ import annotations

import logging
import re

from slack_bolt import App

from bot import registry
from bot.bitbucket.metering import BACKGROUND, PERSON, tagged
from bot.core import ids, render
from bot.core.errors import UsageError
from bot.core.invocation import Invocation, run_safely
from bot.core.services import Services
from handlers import events

log = logging.getLogger(__name__)

# The registry's features' tables; `register` builds the same from the features the services run.
COMMANDS = registry.COMMANDS
COMMAND_HANDLERS = registry.command_handlers()
ACTION_HANDLERS = registry.action_handlers()
VIEW_HANDLERS = registry.view_handlers()

# Buttons that only open a link still send a click; it needs an ack and nothing else.
LINK_ONLY_ACTIONS = {ids.OPEN_LINK}


def _ack_message(message: render.Message) -> dict:
    return {"text": message.text, "blocks": message.blocks, "response_type": "ephemeral"}


def register(app: App, services: Services) -> None:
    """The listeners, dispatching to the features the services were built for (`registry.build_services`)."""
    features = registry.features_of(services)
    commands, command_handlers = registry.command_table(features), registry.command_handlers(features)
    action_handlers, view_handlers = registry.action_handlers(features), registry.view_handlers(features)
    # Whose work a request is, for the Bitbucket request budget: a person's commands, clicks and forms come first.
    command_owner, action_owner = _owners(features, "command_handlers"), _owners(features, "actions")

    @app.command(ids.SLASH_COMMAND)
    def on_command(ack, body, respond):
        try:
            command = commands.parse(body.get("text") or "")
        except UsageError as error:
            ack(**_ack_message(render.error_message(error)))
            return
        if command.name == "help":
            ack(**_ack_message(render.help_message(commands, command.args.get("topic"))))
            return
        handler = command_handlers[command.name]  # every parsed command has one (a test holds this)
        ack()
        inv = invocation_for(services, body, respond)
        spec = commands.spec_for(command.name)
        # A trigger_id lives 3 seconds: a form is opened on the quick pool, not behind queued Bitbucket work.
        opens_form = bool(spec and spec.opens_form and spec.opens_form(command))
        with tagged(PERSON, command_owner.get(command.name, "command")):
            services.submit(run_safely, inv, lambda: handler(inv, command), quick=opens_form)

    @app.action(re.compile(r"^bb_"))
    def on_action(ack, body, respond):
        ack()
        action = (body.get("actions") or [{}])[0]
        action_id = action.get("action_id", "")
        if action_id in LINK_ONLY_ACTIONS:
            return
        handler = action_handlers.get(action_id)
        inv = invocation_for(services, body, respond)
        if handler is None:
            log.warning("click on an unknown action %r", action_id)
            return

        def work():
            # A button carries its value; an overflow menu, the value of the option chosen.
            handler(inv, render.decode_value(action.get("value") or (action.get("selected_option") or {}).get("value")))

        with tagged(PERSON, action_owner.get(action_id, "button")):
            services.submit(run_safely, inv, work)

    view_owner = _owners(features, "views")
    for callback_id, view_handler in view_handlers.items():
        _register_view(app, services, callback_id, view_handler, view_owner.get(callback_id, "form"))
    for callback_id, shortcut_handler in registry.shortcut_handlers(features).items():
        _register_shortcut(app, services, callback_id, shortcut_handler)
    # Events: a message typed in a card's thread is a person's comment; the Home tab and unfurls are background work.
    event_tags = {event: (PERSON if event == "message" else BACKGROUND, owner) for event, owner in _owners(features, "events").items()}
    events.register(app, services, registry.event_handlers(features), event_tags)

    @app.error
    def on_error(error, body):
        # Bolt tells the person nothing on an unexpected error; the listeners above answer what they can.
        log.error("unhandled error in a Slack listener", exc_info=error)


def _owners(features, field: str) -> dict:
    """{command name, action id, callback id or event type: the name of the feature that handles it}."""
    return {key: feature.name for feature in features for key in getattr(feature, field)}


def _register_view(app: App, services: Services, callback_id: str, view_handler, owner: str) -> None:
    @app.view(callback_id)
    def on_view(ack, body, view):
        with tagged(PERSON, owner):
            view_handler(services, ack, body, view, lambda channel_id=None: invocation_for(services, body, None, channel_id=channel_id))


def _register_shortcut(app: App, services: Services, callback_id: str, shortcut_handler) -> None:
    @app.shortcut(callback_id)
    def on_shortcut(ack, body, respond):
        ack()
        inv = invocation_for(services, body, respond)
        # A shortcut's trigger_id lives 3 seconds: its work (usually opening a modal) runs on the quick pool.
        services.submit(run_safely, inv, lambda: shortcut_handler(inv, body), quick=True)


def invocation_for(services: Services, body: dict, respond, *, channel_id: str | None = None) -> Invocation:
    user = body.get("user_id") or (body.get("user") or {}).get("id") or ""
    channel = channel_id or body.get("channel_id") or (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    team = body.get("team_id") or (body.get("team") or {}).get("id") or ""
    return Invocation(
        services=services, user_id=user, channel_id=channel, team_id=team, respond=respond, trigger_id=body.get("trigger_id"),
        message=body.get("message"),
    )
