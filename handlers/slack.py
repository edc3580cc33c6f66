"""Slack's way in: the `/bb` command, button clicks and modal submissions, registered on a Bolt app.

Every listener acks at once. Answers that need no I/O (help, usage) travel in the ack itself; everything
that calls Bitbucket runs on the work pool afterwards and answers through `response_url`.
"""

from __future__ import annotations

import logging
import re

from slack_bolt import App

from bot.core import commands, ids, render
from bot.core.errors import UsageError
from bot.core.services import Services
from bot.accounts import commands as accounts
from bot.roles import commands as admin
from bot.builds import commands as builds
from bot.deploys import commands as deploys
from handlers import events
from bot.freezes import commands as freezes
from bot.insights import commands as insights
from bot.pull_requests import merge_gate, commands as pull_requests
from bot.notify import commands as notify
from bot.relay import commands as relay
from bot.reminders import commands as reminders
from bot.core.invocation import Invocation, run_safely

log = logging.getLogger(__name__)

COMMAND_HANDLERS = {
    "prs": pull_requests.list_open,
    "pr": pull_requests.create,
    "merge": pull_requests.ask_merge,
    "decline": pull_requests.ask_decline,
    "tag": pull_requests.tag,
    "grant": admin.grant,
    "revoke": admin.revoke,
    **relay.COMMAND_HANDLERS,
    **reminders.COMMAND_HANDLERS,
    **deploys.COMMAND_HANDLERS,
    **accounts.COMMAND_HANDLERS,
    **insights.COMMAND_HANDLERS,
    **builds.COMMAND_HANDLERS,
    **freezes.COMMAND_HANDLERS,
    **notify.COMMAND_HANDLERS,
}


ACTION_HANDLERS = {
    ids.ASK_MERGE: pull_requests.ask_merge_button,
    ids.ASK_DECLINE: pull_requests.ask_decline_button,
    ids.CONFIRM_MERGE: pull_requests.confirm_merge,
    ids.CONFIRM_DECLINE: pull_requests.confirm_decline,
    ids.CANCEL: pull_requests.cancel,
    **relay.ACTION_HANDLERS,
    **reminders.ACTION_HANDLERS,
    **deploys.ACTION_HANDLERS,
    **accounts.ACTION_HANDLERS,
    **builds.ACTION_HANDLERS,
    **merge_gate.ACTION_HANDLERS,
    **notify.ACTION_HANDLERS,
}

# Buttons that only open a link still send a click; it needs an ack and nothing else.
LINK_ONLY_ACTIONS = {ids.OPEN_LINK}


def _ack_message(message: render.Message) -> dict:
    return {"text": message.text, "blocks": message.blocks, "response_type": "ephemeral"}


def register(app: App, services: Services) -> None:
    @app.command(ids.SLASH_COMMAND)
    def on_command(ack, body, respond):
        try:
            command = commands.parse(body.get("text") or "")
        except UsageError as error:
            ack(**_ack_message(render.error_message(error)))
            return
        if command.name == "help":
            ack(**_ack_message(render.help_message(command.args.get("topic"))))
            return
        handler = COMMAND_HANDLERS[command.name]  # every parsed command has one (a test holds this)
        ack()
        inv = _invocation(services, body, respond)
        # A trigger_id lives 3 seconds: a form is opened on the quick pool, not behind queued Bitbucket work.
        opens_form = command.name == "pr" and command.args.get("modal")
        services.submit(run_safely, inv, lambda: handler(inv, command), quick=bool(opens_form))

    @app.action(re.compile(r"^bb_"))
    def on_action(ack, body, respond):
        ack()
        action = (body.get("actions") or [{}])[0]
        action_id = action.get("action_id", "")
        if action_id in LINK_ONLY_ACTIONS:
            return
        handler = ACTION_HANDLERS.get(action_id)
        inv = _invocation(services, body, respond)
        if handler is None:
            log.warning("click on an unknown action %r", action_id)
            return

        def work():
            handler(inv, render.decode_value(action.get("value")))

        services.submit(run_safely, inv, work)

    @app.view(ids.CREATE_PR_MODAL)
    def on_create_pr(ack, body, view):
        fields = pull_requests.modal_values(view)
        if not fields["source"]:
            ack(response_action="errors", errors={ids.PR_SOURCE_BLOCK: "Which branch should be pulled?"})
            return
        if not fields["repo"]:
            ack(response_action="errors", errors={ids.PR_SOURCE_BLOCK: "This form lost its repository; run /bb pr again."})
            return
        ack()
        inv = _invocation(services, body, None, channel_id=fields["channel"])
        title = fields["title"] or pull_requests.title_from_branch(fields["source"])

        def work():
            pull_requests.create_and_announce(inv, fields["repo"], fields["source"], fields["destination"], title, fields["description"])

        services.submit(run_safely, inv, work)

    merge_gate.register_views(app, services, _invocation)
    events.register(app, services)  # the Events API: Home tab, unfurls

    @app.error
    def on_error(error, body):
        # Bolt tells the person nothing on an unexpected error; the listeners above answer what they can.
        log.error("unhandled error in a Slack listener", exc_info=error)


def _invocation(services: Services, body: dict, respond, *, channel_id: str | None = None) -> Invocation:
    user = body.get("user_id") or (body.get("user") or {}).get("id") or ""
    channel = channel_id or body.get("channel_id") or (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    team = body.get("team_id") or (body.get("team") or {}).get("id") or ""
    return Invocation(
        services=services, user_id=user, channel_id=channel, team_id=team, respond=respond, trigger_id=body.get("trigger_id"),
        message=body.get("message"),
    )
