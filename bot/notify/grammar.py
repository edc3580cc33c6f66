"""The personal notifications' command grammar (pure): `notify`."""

from __future__ import annotations

from bot.core.commands import Command, CommandSpec, code_of, did_you_mean
from bot.core.errors import UsageError


NOTIFY_KINDS = ("reviews", "mine", "mentions", "builds", "deploys", "owners")


def _parse_notify(tokens: list[str]) -> Command:
    """`notify` · `notify on|off` · `notify KIND on|off`."""
    words = [t.lower() for t in tokens]
    if not words:
        return Command("notify", {"kinds": (), "on": None})
    if len(words) == 1 and words[0] in ("on", "off"):
        return Command("notify", {"kinds": NOTIFY_KINDS, "on": words[0] == "on"})
    if len(words) == 2 and words[1] in ("on", "off"):
        if words[0] not in NOTIFY_KINDS:
            raise UsageError(f"`{code_of(tokens[0])}` is not a kind of notification: use {', '.join(f'`{k}`' for k in NOTIFY_KINDS)}."
                             + did_you_mean(words[0], NOTIFY_KINDS))
        return Command("notify", {"kinds": (words[0],), "on": words[1] == "on"})
    raise UsageError("Write `/bb notify`, `/bb notify on|off` or `/bb notify KIND on|off`.")


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("notify", "/bb notify [on|off] · /bb notify KIND on|off", "your direct messages: reviews, mine, mentions, builds, deploys, owners", _parse_notify, ("notifications",), "You"),
)
