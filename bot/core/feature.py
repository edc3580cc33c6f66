"""What a feature declares, once, to plug into the bot: the registry (`bot/registry.py`) lists these and the
composition root builds the command table, the help, the Slack dispatch, the migrations, the background work,
the scheduler's jobs and `check` from that list. The core knows this shape, never a feature.

Every field is optional: a feature declares only what it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from bot.core.commands import Command, CommandSpec
from bot.core.store import Migration, Store

# handler(invocation, command): a slash command's work, on the work pool after the ack.
CommandHandler = Callable[[Any, Command], None]
# handler(invocation, value): a button's work; `value` is the button's decoded value.
ActionHandler = Callable[[Any, dict], None]
# handler(services, ack, body, view, invocation_for): a modal submission. It acks (with errors, or not) and submits
# its work; invocation_for(body, channel_id) makes the Invocation.
ViewHandler = Callable[..., None]
# handler(services, event): an Events API event, acted on once per event_id, off the request path.
EventHandler = Callable[[Any, dict], None]
# start(services, *, scheduler) -> [stop functions]: long-lived work in `serve` (and in the shell).
BackgroundStarter = Callable[..., list]
# start(services, scheduler) -> an object with stop(): jobs run by the replica that leads the scheduler.
JobsStarter = Callable[[Any, Any], Any]
# lines(store) -> [(status, text)] for `bitbucket-chatops check`.
CheckLines = Callable[[Store], list]


@dataclass(frozen=True)
class Feature:
    name: str
    migrations: Sequence[Migration] = ()
    commands: Sequence[CommandSpec] = ()
    # The parsed command names this feature answers (a spec may parse into several: `remind` -> `remind_off`).
    command_handlers: Mapping[str, CommandHandler] = field(default_factory=dict)
    actions: Mapping[str, ActionHandler] = field(default_factory=dict)
    views: Mapping[str, ViewHandler] = field(default_factory=dict)
    events: Mapping[str, EventHandler] = field(default_factory=dict)
    # Relay hooks: called by the relay's router for each routed delivery, inside its transaction (see bot.relay.hooks).
    relay_hooks: Sequence[Callable[..., Any]] = ()
    background: BackgroundStarter | None = None
    jobs: JobsStarter | None = None
    check: CheckLines | None = None
    # The Slack scopes it needs, and why: {"bot": {scope: why}, "user": {scope: why}} (user: Sign in with Slack's
    # token). `check` compares them with the token's and the manifest's (bot/core/manifest.py).
    slack_scopes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
