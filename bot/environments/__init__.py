"""Deploy safety around an environment: locks (`/bb lock`: one person holds it), protections (`/bb protect`: a deploy
there needs N approvals by other deployers) and the requests for those approvals.

Each is a row in the database, so it holds on every replica and outlives a restart. A lock ends by itself at its
time (every read compares `ends_at` with the clock); the scheduler's leader tells its holder ten minutes before
(`jobs`), and closes the requests that waited an hour, each once across replicas (compare-and-set on the row, in the
transaction that queues the message). The other features read them through `locks`, `protections` and `requests`.
"""

from __future__ import annotations

from bot.core.store import Migration

MIGRATIONS = [
    Migration("environments", 1, (
        """CREATE TABLE IF NOT EXISTS environment_locks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            repo TEXT NOT NULL,                 -- workspace/slug, lower-case
            environment TEXT NOT NULL,          -- as Bitbucket spells it
            holder TEXT NOT NULL,               -- Slack user id
            reason TEXT NOT NULL DEFAULT '',
            locked_at REAL NOT NULL,
            ends_at REAL NOT NULL,
            channel_id TEXT NOT NULL DEFAULT '',
            warned INTEGER NOT NULL DEFAULT 0,  -- the holder was told it ends soon
            ended_at REAL,                      -- set when unlocked, or found over
            ended_by TEXT NOT NULL DEFAULT ''
        )""",
        # One lock at a time on an environment: two people locking at once, one of them gets it.
        """CREATE UNIQUE INDEX IF NOT EXISTS environment_locks_one
            ON environment_locks (repo, lower(environment)) WHERE ended_at IS NULL""",
        """CREATE TABLE IF NOT EXISTS environment_protections (
            repo TEXT NOT NULL,                 -- workspace/slug, lower-case
            environment TEXT NOT NULL,          -- as Bitbucket spells it
            env_key TEXT NOT NULL,              -- lower-case
            approvals INTEGER NOT NULL,
            role TEXT NOT NULL DEFAULT 'deployer',  -- who may approve: merger | releaser | deployer
            set_by TEXT NOT NULL,
            set_at REAL NOT NULL,
            PRIMARY KEY (repo, env_key)
        )""",
        """CREATE TABLE IF NOT EXISTS deploy_requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,                 -- deploy | rollback
            repo TEXT NOT NULL,                 -- workspace/slug
            environment TEXT NOT NULL,
            ref_kind TEXT NOT NULL,             -- branch | tag | commit
            ref TEXT NOT NULL,
            commit_hash TEXT NOT NULL,
            rollback_from TEXT NOT NULL DEFAULT '',  -- a rollback: the commit it rolls back from
            requested_by TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            needed INTEGER NOT NULL,
            role TEXT NOT NULL,
            forced INTEGER NOT NULL DEFAULT 0,  -- an admin's --force through a freeze
            anyway INTEGER NOT NULL DEFAULT 0,  -- asked while the commit's builds had failed
            summary TEXT NOT NULL DEFAULT '',   -- what ships, as shown (mrkdwn), so any replica can redraw the card
            state TEXT NOT NULL DEFAULT 'open', -- open | approved | started | failed | rejected | expired | superseded
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            ended_at REAL,
            ended_by TEXT NOT NULL DEFAULT '',
            note TEXT NOT NULL DEFAULT '',      -- a rejection's reason, a failure, the pipeline started
            deploy_id INTEGER                   -- the deploy it became
        )""",
        "CREATE INDEX IF NOT EXISTS deploy_requests_open ON deploy_requests (state, expires_at)",
        """CREATE TABLE IF NOT EXISTS deploy_request_approvals (
            request_id INTEGER NOT NULL,
            user_id TEXT NOT NULL,
            approved_at REAL NOT NULL,
            PRIMARY KEY (request_id, user_id)
        )""",
    )),
]
