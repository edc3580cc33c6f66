"""What a feature declares, once, to plug into the bot: the registry (`bot/registry.py`) lists these and the
composition root builds the command table, the help, the Slack dispatch, the migrations, the background work,
the scheduler's jobs and `check` from that list. The core knows this shape, never a feature.

Every field is optional: a feature declares only what it has.

What one feature offers the others at run time (relay hooks, who hears of a channel that refuses the bot, a
channel's repositories) reaches them through `FeatureSet`, which the composition root puts into the services
(`services.part(FeatureSet)`): neither the core nor a feature imports the registry.
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
# handler(invocation, payload): a shortcut (a message shortcut's payload carries the message), on the quick pool after
# the ack, so it may open a modal within its trigger's 3 seconds.
ShortcutHandler = Callable[[Any, dict], None]
# handler(services, event): an Events API event, acted on once per event_id, off the request path.
EventHandler = Callable[[Any, dict], None]
# start(services, *, scheduler) -> [stop functions]: long-lived work in `serve` (and in the shell).
BackgroundStarter = Callable[..., list]
# start(services, scheduler) -> an object with stop(): jobs run by the replica that leads the scheduler.
JobsStarter = Callable[[Any, Any], Any]
# lines(store) -> [(status, text)] for `bitbucket-chatops check`.
CheckLines = Callable[[Store], list]
# handler(db, channel, error_code), inside the transaction that drops an outbox item the channel refused.
ChannelRefused = Callable[[Any, str, str], None]
# repositories(store, channel_id) -> [workspace/slug]: the repositories a channel follows (a command's default REPO).
ChannelRepositories = Callable[[Store, str], list]


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
    # {callback_id: handler(invocation, payload)}: global and message shortcuts (the manifest declares them).
    shortcuts: Mapping[str, ShortcutHandler] = field(default_factory=dict)
    # Relay hooks: called by the relay's router for each routed delivery, inside its transaction (see bot.relay.hooks).
    relay_hooks: Sequence[Callable[..., Any]] = ()
    # Guards on writes (bot.core.actions): guard(services, user_id, write) -> Blocked | None.
    write_guards: Sequence[Callable[..., Any]] = ()
    # Parts the feature gives the services when they are built: provide(services) (e.g. how to act as a person).
    provide: Callable[[Any], None] | None = None
    background: BackgroundStarter | None = None
    jobs: JobsStarter | None = None
    check: CheckLines | None = None
    # The Slack scopes it needs, and why: {"bot": {scope: why}, "user": {scope: why}} (user: Sign in with Slack's
    # token). `check` compares them with the token's and the manifest's (bot/core/manifest.py).
    slack_scopes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # Told by the outbox's worker when Slack refuses a channel (the relay marks its subscriptions broken).
    on_channel_refused: ChannelRefused | None = None
    # The repositories a channel follows: `Invocation.repo` defaults to the one of them (the relay's subscriptions).
    channel_repositories: ChannelRepositories | None = None


@dataclass(frozen=True)
class FeatureSet:
    """The features this process runs, in the registry's order, as the composition root handed them over:
    `registry.build_services` provides it, and the parts that call other features' declarations read it here."""

    features: tuple[Feature, ...]

    def relay_hooks(self) -> tuple:
        return tuple(hook for feature in self.features for hook in feature.relay_hooks)

    def channel_refused_handlers(self) -> tuple:
        return tuple(f.on_channel_refused for f in self.features if f.on_channel_refused is not None)

    def channel_repositories(self, store: Store, channel_id: str) -> list[str]:
        found: list[str] = []
        for feature in self.features:
            if feature.channel_repositories is not None:
                found += [repo for repo in feature.channel_repositories(store, channel_id) if repo not in found]
        return found
