"""Background threads in the serve process: loops that pass over work held in the store until stopped, and the
leased job reader the features' Bitbucket readers share."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from bot.bitbucket.metering import RELAY, tagged

log = logging.getLogger(__name__)

# This process, among every replica's: host, pid and a random part (a container's new process may reuse a pid).
PROCESS_OWNER = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"

# Intake first: while requests someone waits on keep arriving (webhook deliveries), loops that defer to them
# step aside between passes, so a burst is answered at the bare intake's pace and relayed right after it.
FOREGROUND_WINDOW = 0.05  # a request counts as "arriving" this long
_foreground_until = 0.0


def note_foreground() -> None:
    """A request that someone waits on has arrived."""
    global _foreground_until
    _foreground_until = time.monotonic() + FOREGROUND_WINDOW


def foreground_busy() -> bool:
    return time.monotonic() < _foreground_until


class BackgroundLoop:
    """Runs `one_pass()` until stopped. After a pass that did nothing it sleeps `idle_time()` seconds, unless
    `wakeup` is set (by whoever queued new work). Its work lives in the store, so a stop loses nothing."""

    thread_name = "background"
    # Loops whose work can wait a moment step aside while requests arrive: they pause between passes, but
    # never longer than `max_deferral` in a row, and then work for `busy_budget` before stepping aside again;
    # so a burst is answered at the bare intake's pace, and a sustained load still gets its work done.
    defers_to_foreground = False
    foreground_pause = 0.05
    max_deferral = 5.0
    busy_budget = 0.25
    # What its Bitbucket requests are counted as: relay work (log tails, a deploy's progress), unless a loop says otherwise.
    bitbucket_priority = RELAY

    def __init__(self, wakeup: threading.Event):
        self.wakeup = wakeup
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def one_pass(self) -> bool:
        """Do what is due; True when there may be more to do at once."""
        raise NotImplementedError

    def idle_time(self) -> float:
        raise NotImplementedError

    def start(self):
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the pass in hand, then stop."""
        self._stopping.set()
        self.wakeup.set()
        if self._thread:
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _step_aside(self) -> None:
        deferred_since = time.monotonic()
        while foreground_busy() and not self._stopping.is_set() and time.monotonic() - deferred_since < self.max_deferral:
            self._stopping.wait(self.foreground_pause)

    def _run(self) -> None:
        budget_until = 0.0
        while not self._stopping.is_set():
            if self.defers_to_foreground and time.monotonic() >= budget_until:
                self._step_aside()
                budget_until = time.monotonic() + self.busy_budget
            self.wakeup.clear()  # before the pass: work queued during it is seen on the next one
            try:
                with tagged(self.bitbucket_priority, self.thread_name):
                    busy = self.one_pass()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad row or a locked database
                log.exception("%s: unexpected failure; continuing", self.thread_name)
                busy = False
            if not busy:
                self.wakeup.wait(self.idle_time())


class LeasedJobReader(BackgroundLoop):
    """A loop over a table of jobs, each read from Bitbucket once: a replica takes the oldest due `pending` job with
    a lease (a dead replica's is taken over when its lease runs out), Bitbucket's passing troubles are tried again
    with exponential backoff, and the job is finished (`mark_done`) only by the replica that still holds it.

    A feature's reader names its table and tunables as class attributes and writes `read(job)` (its Bitbucket reads,
    then its own transaction with `mark_done`) and `describe(job)`. The table has `state` ('pending' until done),
    `owner`, `lease_until`, `attempts`, `next_try_at` and `created_at` columns, and `key_columns` identifying a job."""

    table = ""
    key_columns: tuple[str, ...] = ("id",)
    order_by = "created_at"  # the oldest due job first
    returning = "*"  # the job's columns `read` needs
    lock = ""  # the transaction lock taking a job holds (PostgreSQL: one replica takes at a time)
    poll_seconds = 1.0
    lease_seconds = 120.0
    retry_base_seconds = 2.0
    max_attempts = 5
    transient_errors: tuple[type[Exception], ...] = ()  # Bitbucket's passing troubles, tried again
    prune_every_seconds = 3600.0
    kept_seconds: float | None = None  # finished jobs are forgotten this long after they were queued
    wakeup_event: threading.Event | None = None  # set by whoever queues a job, to be read before the next poll

    def __init__(self, store, bitbucket, *, clock=time.time):
        super().__init__(self.wakeup_event or threading.Event())
        self.store = store
        self.bitbucket = bitbucket
        self.clock = clock
        self.owner = PROCESS_OWNER
        self._pruned_at = 0.0
        self._log = logging.getLogger(type(self).__module__)

    def idle_time(self) -> float:
        return self.poll_seconds

    def read(self, job: dict) -> None:
        raise NotImplementedError

    def describe(self, job: dict) -> str:
        """The job, for the log."""
        return f"{self.table} job {self.key_of(job)}"

    def one_pass(self) -> bool:
        now = self.clock()
        if now - self._pruned_at >= self.prune_every_seconds:
            self._pruned_at = now
            self.tidy(now)
        job = self.take(now)
        if job is None:
            return False
        try:
            self.read(job)
        except Exception:  # noqa: BLE001 - one bad job must not stop the others; its lease runs out, it is retried
            self._log.exception("%s failed", self.describe(job))
        return True

    def tidy(self, now: float) -> None:
        """Every `prune_every_seconds`: forget old finished jobs."""
        self.forget_finished(self.store, now=now)

    @classmethod
    def forget_finished(cls, db, *, now: float) -> int:
        """Finished jobs queued `kept_seconds` ago are forgotten (`db`: the store, or a transaction's connection)."""
        if cls.kept_seconds is None:
            return 0
        return db.execute(f"DELETE FROM {cls.table} WHERE state != 'pending' AND created_at < ?", (now - cls.kept_seconds,)).rowcount

    def take(self, now: float) -> dict | None:
        """The oldest due job nobody holds (or whose holder's lease ran out), now held by this process."""
        free = "state = 'pending' AND next_try_at <= ? AND (owner = '' OR lease_until < ?)"
        # Looked for without a write transaction first: an idle reader never takes SQLite's write lock.
        if not self.store.query(f"SELECT 1 AS due FROM {self.table} WHERE {free} LIMIT 1", (now, now)):
            return None
        keys = ", ".join(self.key_columns)
        with self.store.transaction(lock=self.lock) as db:
            rows = list(db.query(
                f"""UPDATE {self.table} SET owner = ?, lease_until = ?, attempts = attempts + 1
                    WHERE ({keys}) IN (SELECT {keys} FROM {self.table} WHERE {free} ORDER BY {self.order_by} LIMIT 1)
                      AND state = 'pending' AND (owner = '' OR lease_until < ?)
                    RETURNING {self.returning}""",
                (self.owner, now + self.lease_seconds, now, now, now),
            ))
        return rows[0] if rows else None

    def key_of(self, job: dict) -> tuple:
        return tuple(job[column] for column in self.key_columns)

    def _this_job(self) -> str:
        return " AND ".join(f"{column} = ?" for column in self.key_columns)

    def retry_delay(self, attempts: int) -> float:
        return self.retry_base_seconds * 2 ** max(0, attempts - 1)

    def retry_later(self, job: dict) -> None:
        """Let go of the job, to be taken again after a backoff that doubles with each attempt."""
        self.store.execute(
            f"UPDATE {self.table} SET owner = '', lease_until = 0, next_try_at = ? WHERE {self._this_job()} AND owner = ?",
            (self.clock() + self.retry_delay(job["attempts"]), *self.key_of(job), self.owner),
        )

    def retried(self, job: dict, error: Exception) -> bool:
        """A passing trouble with attempts left: the job is let go to be tried again (True). Otherwise the reader
        gives up on what it could not read (False) and finishes the job without it."""
        if isinstance(error, self.transient_errors) and job["attempts"] < self.max_attempts:
            self.retry_later(job)
            return True
        return False

    def mark_done(self, db, job: dict, **columns) -> bool:
        """In the feature's transaction: the job done (`state = 'done'` unless `columns` say otherwise, no owner),
        with `columns` set, if this process still holds it. False: another replica took it over meanwhile, and
        the feature does nothing more."""
        columns = {"state": "done", "owner": "", **columns}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        done = db.execute(
            f"UPDATE {self.table} SET {assignments} WHERE {self._this_job()} AND state = 'pending' AND owner = ?",
            (*columns.values(), *self.key_of(job), self.owner),
        )
        return done.rowcount == 1
