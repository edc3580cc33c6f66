"""The relay: Bitbucket's webhooks into channels, through subscriptions."""

from bot import relay
from bot.core.feature import Feature
from bot.relay import commands, grammar

FEATURE = Feature(
    "relay",
    migrations=relay.MIGRATIONS,
    commands=grammar.SPECS,
    command_handlers=commands.COMMAND_HANDLERS,
    background=relay.start_background,
    check=relay.relay_check_lines,
    on_channel_refused=relay.mark_channel_broken,
    channel_repositories=relay.channel_repositories,
    slack_scopes={"bot": {"reactions:write": "builds:reactions: a build's state as a reaction on its pull request's card"}},
)
