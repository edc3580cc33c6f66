"""The log reader: for each failed pipeline the relay told a channel about, the failing step and the end of its
log, read from Bitbucket off the request path (never in the webhook's intake, never in the router's
transaction), then the relayed message updated through the outbox. A log that cannot be read gets a link.

Jobs live in the store: a replica takes one with a lease, so each is read once and a dead replica's is taken
over; Bitbucket's passing troubles (429, 5xx, no answer) are tried again a few times with backoff.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from bot.core import outbox
from bot.core.background import PROCESS_OWNER, BackgroundLoop
from bot.bitbucket import BitbucketError, NetworkError, Pipeline, PipelineStep, RateLimited, ServerError
from bot.builds import render as builds_render
from bot.builds import rules

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # the router does not wake this reader: it looks this often
LEASE_SECONDS = 120.0
MAX_ATTEMPTS = 5
RETRY_BASE_SECONDS = 2.0
DONE_RETENTION_SECONDS = 7 * 86400
PRUNE_EVERY_SECONDS = 3600.0

_wakeup = threading.Event()


def prune(store, *, now: float) -> int:
    """Forget jobs done a week ago."""
    return store.execute("DELETE FROM build_log_jobs WHERE state = 'done' AND created_at < ?", (now - DONE_RETENTION_SECONDS,)).rowcount


def check_lines(store) -> list[tuple[str, str]]:
    """For `check`: failed builds whose log is still to be read."""
    waiting = store.query("SELECT COUNT(*) AS n FROM build_log_jobs WHERE state = 'pending'")[0]["n"]
    return [("ok " if not waiting else " - ", f"failed builds: {waiting} log(s) waiting to be read")]


def _transient(error: BitbucketError) -> bool:
    return isinstance(error, (RateLimited, ServerError, NetworkError))


class BuildLogReader(BackgroundLoop):
    thread_name = "build-log-reader"

    def __init__(self, store, bitbucket, *, clock=time.time):
        super().__init__(_wakeup)
        self.store = store
        self.bitbucket = bitbucket
        self.clock = clock
        self.owner = PROCESS_OWNER
        self._pruned_at = 0.0

    def one_pass(self) -> bool:
        if self.clock() - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._pruned_at = self.clock()
            prune(self.store, now=self._pruned_at)
        job = self._take()
        if job is None:
            return False
        try:
            self.read(job)
        except Exception:  # noqa: BLE001 - one bad job must not stop the others; its lease runs out, it is retried
            log.exception("build log job %s failed", job["id"])
        return True

    def idle_time(self) -> float:
        return POLL_SECONDS

    def _take(self) -> dict | None:
        now = self.clock()
        with self.store.transaction(lock="build-log-jobs") as db:
            rows = list(db.query(
                """UPDATE build_log_jobs SET owner = ?, lease_until = ?, attempts = attempts + 1
                   WHERE id = (SELECT id FROM build_log_jobs WHERE state = 'pending' AND next_try_at <= ?
                                  AND (owner = '' OR lease_until < ?) ORDER BY id LIMIT 1)
                     AND state = 'pending' AND (owner = '' OR lease_until < ?)
                   RETURNING *""",
                (self.owner, now + LEASE_SECONDS, now, now, now),
            ))
        return rows[0] if rows else None

    def read(self, job: dict) -> None:
        workspace, slug = job["repo"].split("/", 1)
        step_name, tail, log_url = None, None, job["results_url"] or None
        try:
            pipeline = Pipeline.from_api(self.bitbucket.get_pipeline(workspace, slug, str(job["build_number"])))
            log_url = pipeline.url or log_url
            steps = [PipelineStep.from_api(s) for s in self.bitbucket.list_pipeline_steps(workspace, slug, pipeline.uuid)]
            step = rules.failing_step(steps)
            if step is not None:
                step_name = step.name
                text = self.bitbucket.get_step_log_tail(workspace, slug, pipeline.uuid, step.uuid, max_bytes=rules.LOG_BYTES)
                tail = rules.log_tail(text, partial_start=len(text.encode()) >= rules.LOG_BYTES)
        except BitbucketError as error:
            if _transient(error) and job["attempts"] < MAX_ATTEMPTS:
                self._later(job)
                return
            log.info("build %s#%s: the log cannot be read (%s); linking to it", job["repo"], job["build_number"], error)
            tail = None
        self._finish(job, step_name, tail, log_url)

    def _later(self, job: dict) -> None:
        delay = RETRY_BASE_SECONDS * 2 ** max(0, job["attempts"] - 1)
        self.store.execute(
            "UPDATE build_log_jobs SET owner = '', lease_until = 0, next_try_at = ? WHERE id = ? AND owner = ?",
            (self.clock() + delay, job["id"], self.owner),
        )

    def _finish(self, job: dict, step_name: str | None, tail: str | None, log_url: str | None) -> None:
        """The job done and each channel's message updated: one transaction."""
        with self.store.transaction() as db:
            done = db.execute(
                "UPDATE build_log_jobs SET state = 'done', targets = '[]' WHERE id = ? AND state = 'pending' AND owner = ?",
                (job["id"], self.owner),
            )
            if done.rowcount != 1:
                return  # another replica took it over meanwhile
            for target in json.loads(job["targets"]):
                message = builds_render.with_failure(target["message"], step_name, tail, log_url)
                outbox.enqueue(db, channel=target["channel"], message=message, key=target["key"], anchor=target["anchor"])


def start_background(services, *, scheduler: bool = True) -> list:
    reader = BuildLogReader(services.store, services.bitbucket).start()
    services.provide(reader)
    return [reader.stop]
