"""What the bot's own deploy records say about a repository (read by `/bb where` and the Home tab)."""

from __future__ import annotations

from bot.deploys import DeployRecord


def last_successful(store, repo: str) -> dict[str, DeployRecord]:
    """The newest deploy or rollback the bot saw succeed, per environment (lower-case name) of `repo`."""
    rows = store.query(
        "SELECT * FROM deploys WHERE lower(repo) = lower(?) AND phase = 'COMPLETED' AND result = 'SUCCESSFUL' ORDER BY finished_at, id",
        (repo,),
    )
    return {row["environment"].lower(): DeployRecord(**row) for row in rows}


def repositories_deployed_by(store, user_id: str, *, limit: int = 5) -> list[str]:
    """The repositories `user_id` deployed to through the bot, most recent first."""
    rows = store.query("SELECT repo, MAX(created_at) AS latest FROM deploys WHERE user_id = ? GROUP BY repo ORDER BY latest DESC LIMIT ?",
                       (user_id, limit))
    return [row["repo"] for row in rows]
