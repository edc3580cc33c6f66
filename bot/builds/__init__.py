"""Pipelines in chat (issue 11): why a build failed, re-run and stop, and the gates that builds make.

| module | what |
| --- | --- |
| `rules` | pure: the gate a set of build statuses makes, the failing step, an inert log tail, a re-run's target |
| `render` | pure: `/bb builds`, the buttons, statuses in confirmations, the failed step with its log |
| `relay` | pure: what the relay router adds to a failed pipeline's message (buttons, a job to read the log) |
| `logs` | the worker that reads a failed step's log off the request path and updates the message via the outbox |

The Slack side is `handlers/builds.py` (`/bb builds`, Re-run, Stop) and `handlers/merge_gate.py`; the deploy CI
gate is in `handlers/deploys.py`.
"""

from __future__ import annotations

from bot.core.store import Migration

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


def check_lines(store) -> list[tuple[str, str]]:
    from bot.builds.logs import check_lines as lines

    return lines(store)


def start_background(services, *, scheduler: bool = True) -> list:
    from bot.builds.logs import BuildLogReader

    reader = BuildLogReader(services.store, services.bitbucket).start()
    services.provide(reader)
    return [reader.stop]
