"""Pipelines in chat (issue 11): why a build failed, re-run and stop, and the gates that builds make.

| module | what |
| --- | --- |
| `rules` | pure: the gate a set of build statuses makes, the failing step, an inert log tail, a re-run's target |
| `render` | pure: `/bb builds`, the buttons, statuses in confirmations, the failed step with its log |
| `relay` | the builds' relay hook: what the relay router adds to a failed pipeline's message (buttons, a job to read the log) |
| `logs` | the worker that reads a failed step's log off the request path and updates the message via the outbox |

The Slack side is `commands` (`/bb builds`, Re-run, Stop); the merge gate is `bot/pull_requests/merge_gate.py`, the
deploy CI gate is in `bot/deploys/commands.py`. The build state on a relayed pull request's card is stored by the
relay (`rules.keep_builds`, `rules.with_status` say what it becomes; `render.builds_line` draws it).
"""

from __future__ import annotations

from bot.builds.logs import check_lines, start_background
from bot.core.store import Migration

__all__ = ["MIGRATIONS", "check_lines", "start_background"]

MIGRATIONS = [
    Migration("builds", 1, (
        # A failed pipeline's relayed message waits for its step and log: read by the worker, not the router.
        """CREATE TABLE IF NOT EXISTS build_log_jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            repo TEXT NOT NULL,              -- workspace/slug
            build_number INTEGER NOT NULL,   -- the pipeline's number
            results_url TEXT NOT NULL DEFAULT '',
            targets TEXT NOT NULL,           -- JSON: [{channel, key, anchor, message}] the messages to update
            state TEXT NOT NULL DEFAULT 'pending',  -- pending | done
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try_at REAL NOT NULL DEFAULT 0,
            owner TEXT NOT NULL DEFAULT '',
            lease_until REAL NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS build_log_jobs_due ON build_log_jobs (state, next_try_at)",
    )),
]
