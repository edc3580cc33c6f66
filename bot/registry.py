"""The features of the bot, in one list: their migrations, their background work, their `check` lines.

The store imports no feature; whoever opens a store for the bot asks this module for the migrations.
"""

from __future__ import annotations

from bot import accounts, builds, deploys, freezes, insights, notify, relay, reminders
from bot.core import audit, outbox, permissions, slack_events
from bot.core.store import Store, open_store

# In the order their tables may refer to each other and their background work should start.
FEATURES = (permissions, audit, outbox, relay, reminders, deploys, accounts, freezes, builds, insights, notify, slack_events)


def migrations() -> list:
    return [migration for feature in FEATURES for migration in getattr(feature, "MIGRATIONS", ())]


def open_migrated(target: str) -> Store:
    """The bot's store at `target` (a SQLite path or a postgresql:// URL), with every migration applied."""
    store = open_store(target)
    try:
        return store.migrate(migrations())
    except BaseException:
        store.close()
        raise


def check_lines(store: Store) -> list[tuple[str, str]]:
    lines = []
    for feature in FEATURES:
        if hasattr(feature, "check_lines"):
            lines += feature.check_lines(store)
    return lines
