"""Slack entry points of the accounts feature (its own issue fills this in)."""

from __future__ import annotations

COMMAND_HANDLERS: dict = {}  # command name -> handler(inv, command)
ACTION_HANDLERS: dict = {}  # action_id -> handler(inv, value)
