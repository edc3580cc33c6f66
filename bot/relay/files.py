"""The files reader: the files a pull request update (or a push) changes, read from Bitbucket off the webhook's path
and outside the router's transaction, for the deliveries that wait for them (path filters, owners of paths).

The router sets such a delivery aside (`state = 'waiting'`, `waiting_for` the files' key) and asks for the files
(a `relay_files` row, `pending`); this reader takes each row with a lease (one replica reads it; a dead one's is
taken over), asks Bitbucket once, keeps what it said (cached per pull request update), and hands the waiting
deliveries back to the router, in one transaction. Bitbucket's passing troubles (429, no answer) are tried again;
a diffstat it cannot give (404, 5xx, too many files) is kept as unknown: the path filters then let the event
through, marked "files unknown".
"""

from __future__ import annotations

import json
import logging
import threading

from bot.bitbucket import BitbucketError, NetworkError, RateLimited
from bot.core.background import LeasedJobReader
from bot.relay.intake import router_wakeup

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
LEASE_SECONDS = 120.0
MAX_ATTEMPTS = 4
RETRY_BASE_SECONDS = 2.0
MAX_FILES = 1000  # a pull request changing more is "too many files": unknown
KEPT_SECONDS = 7 * 86400
PRUNE_EVERY_SECONDS = 3600.0

_wakeup = threading.Event()


def paths_of(entries: list[dict]) -> list[str]:
    """Pure: each changed file's path (a rename counts both its old and its new path)."""
    paths: list[str] = []
    for entry in entries:
        for side in ("new", "old"):
            path = ((entry or {}).get(side) or {}).get("path")
            if isinstance(path, str) and path not in paths:
                paths.append(path)
    return paths


def release_waiting(db, key: str) -> int:
    """The deliveries waiting for `key`'s files go back to the router."""
    count = db.execute("UPDATE deliveries SET state = 'pending', waiting_for = '', outcome = '' WHERE state = 'waiting' AND waiting_for = ?",
                       (key,)).rowcount
    if count:
        db.after_commit.append(router_wakeup.set)
    return count


def check_lines(store) -> list[tuple[str, str]]:
    waiting = store.query_one("SELECT COUNT(*) AS n FROM relay_files WHERE state = 'pending'")["n"]
    return [("ok " if not waiting else " - ", f"changed files: {waiting} diffstat(s) waiting to be read for path filters and owners")]


class FilesReader(LeasedJobReader):
    thread_name = "relay-files-reader"
    defers_to_foreground = True  # like the router: while deliveries arrive, their appends come first
    table = "relay_files"
    key_columns = ("key",)
    lock = "relay-files"
    returning = "key, repo, spec, attempts"
    poll_seconds = POLL_SECONDS
    lease_seconds = LEASE_SECONDS
    retry_base_seconds = RETRY_BASE_SECONDS
    max_attempts = MAX_ATTEMPTS
    transient_errors = (RateLimited, NetworkError)  # a 5xx is an answer: the files are kept as unknown
    prune_every_seconds = PRUNE_EVERY_SECONDS
    kept_seconds = KEPT_SECONDS
    wakeup_event = _wakeup

    def describe(self, job: dict) -> str:
        return f"reading the files of {job['key']}"

    def tidy(self, now: float) -> None:
        """Forget old files; hand back any delivery still waiting for files already read (a replica that died
        between the two)."""
        with self.store.transaction() as db:
            self.forget_finished(db, now=now)
            stuck = db.execute(
                """UPDATE deliveries SET state = 'pending', waiting_for = '' WHERE state = 'waiting'
                   AND waiting_for NOT IN (SELECT key FROM relay_files WHERE state = 'pending')""").rowcount
            if stuck:
                db.after_commit.append(router_wakeup.set)

    def read(self, job: dict) -> None:
        workspace, slug = job["repo"].split("/", 1)
        kind, _, what = job["spec"].partition(":")
        try:
            if kind == "pr":
                entries, complete = self.bitbucket.pull_request_diffstat(workspace, slug, int(what), max_files=MAX_FILES)
                if not complete:
                    return self._finish(job, "unknown", [], True, f"more than {MAX_FILES} files")
            else:
                entries, complete = self.bitbucket.diffstat(workspace, slug, what)
        except BitbucketError as error:
            if self.retried(job, error):
                return None
            log.info("the files of %s cannot be read (%s): path filters let its events through", job["key"], error)
            return self._finish(job, "unknown", [], True, str(error)[:300])
        return self._finish(job, "known", paths_of(entries), complete, "")

    def _finish(self, job: dict, state: str, paths: list[str], complete: bool, why: str) -> None:
        """The files kept and the deliveries that waited for them handed back: one transaction, under the router's
        lock (so no delivery is set aside for these files after they are read)."""
        with self.store.transaction() as db:
            if self.mark_done(db, job, state=state, paths=json.dumps(paths, separators=(",", ":")), complete=int(complete), why=why):
                release_waiting(db, job["key"])


def files_wakeup() -> None:
    """The router asked for files: look now rather than at the next poll."""
    _wakeup.set()
