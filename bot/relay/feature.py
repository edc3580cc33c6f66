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
    check=relay.check_lines,
    on_channel_refused=relay.mark_channel_broken,
    channel_repositories=relay.channel_repositories,
)
