"""The log reader: for each failed pipeline the relay told a channel about, the failing step and the end of its
log, read from Bitbucket off the request path (never in the webhook's intake, never in the router's
transaction), then the relayed message updated through the outbox. A log that cannot be read gets a link.

Jobs live in the store: a replica takes one with a lease, so each is read once and a dead replica's is taken
over; Bitbucket's passing troubles (429, 5xx, no answer) are tried again a few times with backoff.
"""

from __future__ import annotations

import json
import logging

from bot.core import outbox
from bot.core.background import LeasedJobReader
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


def prune(store, *, now: float) -> int:
    """Forget jobs done a week ago."""
    return BuildLogReader.forget_finished(store, now=now)


def check_lines(store) -> list[tuple[str, str]]:
    """For `check`: failed builds whose log is still to be read."""
    waiting = store.query("SELECT COUNT(*) AS n FROM build_log_jobs WHERE state = 'pending'")[0]["n"]
    return [("ok " if not waiting else " - ", f"failed builds: {waiting} log(s) waiting to be read")]


class BuildLogReader(LeasedJobReader):
    thread_name = "build-log-reader"
    table = "build_log_jobs"
    key_columns = ("id",)
    order_by = "id"
    lock = "build-log-jobs"
    lease_seconds = LEASE_SECONDS
    max_attempts = MAX_ATTEMPTS
    transient_errors = (RateLimited, ServerError, NetworkError)
    prune_every_seconds = PRUNE_EVERY_SECONDS
    kept_seconds = DONE_RETENTION_SECONDS
    # The pace is read from the module at each use, so it can be changed under a running reader (the tests do).
    poll_seconds = property(lambda self: POLL_SECONDS)
    retry_base_seconds = property(lambda self: RETRY_BASE_SECONDS)

    def describe(self, job: dict) -> str:
        return f"build log job {job['id']}"

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
            if self.retried(job, error):
                return
            log.info("build %s#%s: the log cannot be read (%s); linking to it", job["repo"], job["build_number"], error)
            tail = None
        self._finish(job, step_name, tail, log_url)

    def _finish(self, job: dict, step_name: str | None, tail: str | None, log_url: str | None) -> None:
        """The job done and each channel's message updated: one transaction."""
        with self.store.transaction() as db:
            if not self.mark_done(db, job, targets="[]"):
                return  # another replica took it over meanwhile
            for target in json.loads(job["targets"]):
                message = builds_render.with_failure(target["message"], step_name, tail, log_url)
                outbox.enqueue(db, channel=target["channel"], message=message, key=target["key"], anchor=target["anchor"])


def start_background(services, *, scheduler: bool = True) -> list:
    reader = BuildLogReader(services.store, services.bitbucket).start()
    services.provide(reader)
    return [reader.stop]
