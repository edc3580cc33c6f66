"""Relaying Bitbucket events into Slack channels (its own issue fills this in)."""

from __future__ import annotations

SCHEMA: list[str] = [
    """CREATE TABLE IF NOT EXISTS subscriptions (
        channel_id TEXT NOT NULL,
        repo TEXT NOT NULL,              -- workspace/slug, lower-case
        families TEXT NOT NULL,          -- comma-separated: pullrequests,pushes,tags,builds
        branch_glob TEXT NOT NULL DEFAULT '',
        created_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        broken_reason TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (channel_id, repo)
    )""",
]


def channel_repositories(store, channel_id: str) -> list[str]:
    """The repositories a channel is subscribed to: the default REPO of a command typed there."""
    return [row["repo"] for row in store.query("SELECT repo FROM subscriptions WHERE channel_id = ? ORDER BY repo", (channel_id,))]


def start_background(services, *, scheduler: bool = True) -> list:
    """Start this feature's background work in the serve process; return the functions that stop it."""
    return []
