"""What webhooks said of open pull requests, so the Home tab answers without asking Bitbucket.

The relay hook `on_relayed` keeps the newest state of every open pull request of a followed repository (the state
the relay works out for each `pullrequest:*` event; a closed one is dropped). Webhooks miss what happened before a
repository was followed, or while the bot was down, so the state of a repository counts as fresh for
`RECONCILE_SECONDS` after a reconciliation: one bounded read of its open pull requests (`MAX_OPEN`, two pages).
`Reconciler`, on the replica that leads the scheduler, reconciles the stalest repositories a few a minute while the
budget allows background work; the Home tab reconciles one that was never read, a few at most each time.
"""

from __future__ import annotations

import json
import logging

from bot import relay
from bot.bitbucket import BitbucketError, PullRequest
from bot.bitbucket.metering import BACKGROUND, tagged
from bot.core import meter
from bot.core.store import Migration, Store

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 6 * 3600.0
MAX_OPEN = 100  # open pull requests read in one reconciliation
RECONCILE_EVERY = 60.0  # the reconciler's pace
RECONCILE_PER_PASS = 5  # repositories a pass, at most: 300 repositories cost 300 requests in their first hour, then 50 an hour

MIGRATIONS = [
    Migration("budget", 2, (
        """CREATE TABLE IF NOT EXISTS known_pull_requests (
            repo TEXT NOT NULL,              -- workspace/slug, lower-case
            pr_id INTEGER NOT NULL,
            updated_on TEXT NOT NULL DEFAULT '',
            seen_at REAL NOT NULL,           -- when a webhook or a read told it
            data TEXT NOT NULL,              -- JSON: the relay's slim pull request
            PRIMARY KEY (repo, pr_id)
        )""",
        """CREATE TABLE IF NOT EXISTS reconciled_repositories (
            repo TEXT PRIMARY KEY,
            read_at REAL NOT NULL,
            complete INTEGER NOT NULL        -- 0 when it had more than MAX_OPEN open pull requests
        )""",
    )),
]

_KEEP = """INSERT INTO known_pull_requests (repo, pr_id, updated_on, seen_at, data) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (repo, pr_id) DO UPDATE SET updated_on = excluded.updated_on, seen_at = excluded.seen_at, data = excluded.data
           WHERE known_pull_requests.updated_on <= excluded.updated_on"""
_DROP = "DELETE FROM known_pull_requests WHERE repo = ? AND pr_id = ?"


def _compact(data: dict) -> str:
    return json.dumps(data, separators=(",", ":"))


def on_relayed(event) -> None:
    """Relay hook: a pull request event's newest state (as the relay will store it) kept while it is open."""
    pr = event.pull_request
    if not pr or not isinstance(pr.get("id"), int):
        return
    if pr.get("state") == "OPEN":
        event.writes.append((_KEEP, (event.repo, pr["id"], pr.get("updated_on") or "", event.now, _compact(pr))))
    else:
        event.writes.append((_DROP, (event.repo, pr["id"])))


def reconcile(services, repo: str) -> int:
    """One bounded read of a repository's open pull requests, made the known state; returns how many."""
    workspace, slug = repo.split("/", 1)
    started = services.timestamp()
    page = services.bitbucket.list_pull_requests(workspace, slug, state="OPEN", limit=MAX_OPEN)
    complete = page.total is None or page.total <= len(page.values)
    read = [relay.slim_pull_request("", {"pullrequest": item}) for item in page.values]
    read = [pr for pr in read if isinstance(pr.get("id"), int)]
    with services.store.transaction() as db:
        for pr in read:
            db.execute(_KEEP, (repo, pr["id"], pr.get("updated_on") or "", started, _compact(pr)))
        if complete:  # gone from the listing and not told of since the read began: closed
            ids = {pr["id"] for pr in read}
            for row in db.query("SELECT pr_id FROM known_pull_requests WHERE repo = ? AND seen_at < ?", (repo, started)):
                if row["pr_id"] not in ids:
                    db.execute(_DROP, (repo, row["pr_id"]))
        db.execute("""INSERT INTO reconciled_repositories (repo, read_at, complete) VALUES (?, ?, ?)
                      ON CONFLICT (repo) DO UPDATE SET read_at = excluded.read_at, complete = excluded.complete""",
                   (repo, started, int(complete)))
    return len(read)


def read_at(store: Store, repo: str) -> float | None:
    row = store.query_one("SELECT read_at FROM reconciled_repositories WHERE repo = ?", (repo,))
    return row["read_at"] if row else None


def open_pull_requests(store: Store, repo: str) -> list[PullRequest]:
    rows = store.query("SELECT data FROM known_pull_requests WHERE repo = ? ORDER BY pr_id", (repo,))
    return [PullRequest.from_api(json.loads(row["data"])) for row in rows]


def followed(store: Store) -> list[str]:
    return [repo for repo in relay.subscribed_repositories(store) if "*" not in repo]


def stalest(store: Store, repos: list[str], now: float, count: int) -> list[str]:
    """Up to `count` of `repos` whose state is not fresh, never read first, then the longest ago."""
    read = {row["repo"]: row["read_at"] for row in store.query("SELECT repo, read_at FROM reconciled_repositories")}
    due = [repo for repo in repos if now - read.get(repo, -RECONCILE_SECONDS) >= RECONCILE_SECONDS]
    return sorted(due, key=lambda repo: read.get(repo, 0.0))[:count]


class Reconciler:
    """The scheduler's job (one replica): a few stale repositories reconciled a minute, while the budget allows."""

    def __init__(self, services, scheduler):
        self.services, self.scheduler = services, scheduler

    def start(self) -> "Reconciler":
        self.scheduler.every("budget:reconcile", self.run, RECONCILE_EVERY)
        return self

    def stop(self) -> None:
        self.scheduler.remove("budget:reconcile")

    def run(self) -> int:
        done = 0
        with tagged(BACKGROUND, "reconcile"):
            store = self.services.store
            for repo in stalest(store, followed(store), self.services.timestamp(), RECONCILE_PER_PASS):
                if not meter.allows(self.services, BACKGROUND):
                    break
                try:
                    reconcile(self.services, repo)
                    done += 1
                except BitbucketError as error:
                    log.info("reconciling %s: Bitbucket %s", repo, error.status)
        return done


def start_jobs(services, scheduler) -> Reconciler:
    return Reconciler(services, scheduler).start()
