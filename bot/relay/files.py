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
import time

from bot.bitbucket import BitbucketError, NetworkError, RateLimited
from bot.core.background import PROCESS_OWNER, BackgroundLoop
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


class FilesReader(BackgroundLoop):
    thread_name = "relay-files-reader"
    defers_to_foreground = True  # like the router: while deliveries arrive, their appends come first

    def __init__(self, store, bitbucket, *, clock=time.time):
        super().__init__(_wakeup)
        self.store = store
        self.bitbucket = bitbucket
        self.clock = clock
        self.owner = PROCESS_OWNER
        self._pruned_at = 0.0

    def idle_time(self) -> float:
        return POLL_SECONDS

    def one_pass(self) -> bool:
        now = self.clock()
        if now - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._pruned_at = now
            self._tidy(now)
        job = self._take(now)
        if job is None:
            return False
        try:
            self.read(job)
        except Exception:  # noqa: BLE001 - its lease runs out and it is tried again; the others go on
            log.exception("reading the files of %s failed", job["key"])
        return True

    def _tidy(self, now: float) -> None:
        """Forget old files; hand back any delivery still waiting for files already read (a replica that died
        between the two)."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM relay_files WHERE state != 'pending' AND created_at < ?", (now - KEPT_SECONDS,))
            stuck = db.execute(
                """UPDATE deliveries SET state = 'pending', waiting_for = '' WHERE state = 'waiting'
                   AND waiting_for NOT IN (SELECT key FROM relay_files WHERE state = 'pending')""").rowcount
            if stuck:
                db.after_commit.append(router_wakeup.set)

    def _take(self, now: float) -> dict | None:
        # Looked for without a write transaction first: an idle reader never takes SQLite's write lock.
        due = self.store.query_one("SELECT COUNT(*) AS n FROM relay_files WHERE state = 'pending' AND next_try_at <= ?", (now,))
        if not due["n"]:
            return None
        with self.store.transaction(lock="relay-files") as db:
            rows = list(db.query(
                """UPDATE relay_files SET owner = ?, lease_until = ?, attempts = attempts + 1
                   WHERE key = (SELECT key FROM relay_files WHERE state = 'pending' AND next_try_at <= ?
                                   AND (owner = '' OR lease_until < ?) ORDER BY created_at LIMIT 1)
                     AND state = 'pending' AND (owner = '' OR lease_until < ?)
                   RETURNING key, repo, spec, attempts""",
                (self.owner, now + LEASE_SECONDS, now, now, now),
            ))
        return rows[0] if rows else None

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
            if isinstance(error, (RateLimited, NetworkError)) and job["attempts"] < MAX_ATTEMPTS:
                delay = RETRY_BASE_SECONDS * 2 ** max(0, job["attempts"] - 1)
                self.store.execute("UPDATE relay_files SET owner = '', lease_until = 0, next_try_at = ? WHERE key = ? AND owner = ?",
                                   (self.clock() + delay, job["key"], self.owner))
                return None
            log.info("the files of %s cannot be read (%s): path filters let its events through", job["key"], error)
            return self._finish(job, "unknown", [], True, str(error)[:300])
        return self._finish(job, "known", paths_of(entries), complete, "")

    def _finish(self, job: dict, state: str, paths: list[str], complete: bool, why: str) -> None:
        """The files kept and the deliveries that waited for them handed back: one transaction, under the router's
        lock (so no delivery is set aside for these files after they are read)."""
        with self.store.transaction() as db:
            done = db.execute(
                "UPDATE relay_files SET state = ?, paths = ?, complete = ?, why = ?, owner = '' WHERE key = ? AND state = 'pending' AND owner = ?",
                (state, json.dumps(paths, separators=(",", ":")), int(complete), why, job["key"], self.owner),
            )
            if done.rowcount == 1:
                release_waiting(db, job["key"])


def files_wakeup() -> None:
    """The router asked for files: look now rather than at the next poll."""
    _wakeup.set()
