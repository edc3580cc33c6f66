"""The budget's command grammar (pure): `usage`."""

from __future__ import annotations

from bot.core.commands import CommandSpec, no_args

SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("usage", "/bb usage", "the hour's Bitbucket requests by feature, against the budget (admins only)", no_args("usage"), (), "Admin"),
)
