"""The leased job reader the background readers share (files, comment context, build logs): a job is taken by one
process at a time, a dead holder's is taken over once its lease runs out, a passing trouble lets it go with a
backoff that doubles, and only its holder finishes it; on both databases, with a key of several columns."""

from __future__ import annotations

import pytest

from bot.core.background import LeasedJobReader

pytestmark = pytest.mark.both_backends


class Passing(Exception):
    pass


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


class SampleReader(LeasedJobReader):
    table = "sample_jobs"
    key_columns = ("repo", "n")
    lock = "sample-jobs"
    lease_seconds = 60.0
    retry_base_seconds = 2.0
    max_attempts = 3
    transient_errors = (Passing,)
    kept_seconds = 10.0


@pytest.fixture
def jobs(store):
    store.execute("""CREATE TABLE sample_jobs (repo TEXT NOT NULL, n INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
                     note TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL DEFAULT '', lease_until REAL NOT NULL DEFAULT 0,
                     attempts INTEGER NOT NULL DEFAULT 0, next_try_at REAL NOT NULL DEFAULT 0, created_at REAL NOT NULL,
                     PRIMARY KEY (repo, n))""")
    for created_at, n in ((2.0, 1), (1.0, 2)):
        store.execute("INSERT INTO sample_jobs (repo, n, created_at) VALUES ('acme/api', ?, ?)", (n, created_at))
    return store


def reader(store, owner: str, clock: Clock) -> SampleReader:
    made = SampleReader(store, None, clock=clock)
    made.owner = owner
    return made


def row(store, n: int) -> dict:
    return store.query_one("SELECT state, note, owner, lease_until, attempts, next_try_at FROM sample_jobs WHERE n = ?", (n,))


def test_a_job_is_held_by_one_taken_over_after_its_lease_and_finished_only_by_its_holder(jobs):
    clock = Clock(100.0)
    a, b = reader(jobs, "a", clock), reader(jobs, "b", clock)
    first = a.take(100.0)
    assert (first["n"], first["attempts"]) == (2, 1)  # the oldest first
    assert b.take(100.0)["n"] == 1
    assert a.take(159.0) is None  # both held

    taken_over = b.take(161.0)  # a's lease ran out at 160
    assert (taken_over["n"], taken_over["attempts"]) == (2, 2) and row(jobs, 2)["owner"] == "b"
    with jobs.transaction() as db:
        assert a.mark_done(db, first, note="late") is False  # a no longer holds it
    with jobs.transaction() as db:
        assert b.mark_done(db, taken_over, note="read") is True
    assert row(jobs, 2) == {"state": "done", "note": "read", "owner": "", "lease_until": 161.0 + 60.0, "attempts": 2,
                            "next_try_at": 0.0}


def test_a_passing_trouble_lets_the_job_go_with_a_doubling_backoff_until_the_attempts_run_out(jobs):
    clock = Clock(100.0)
    a = reader(jobs, "a", clock)
    jobs.execute("UPDATE sample_jobs SET state = 'done' WHERE n = 2")
    for attempt, delay in ((1, 2.0), (2, 4.0)):
        job = a.take(clock.now)
        assert job["attempts"] == attempt
        assert a.retried(job, Passing()) is True
        assert row(jobs, 1)["owner"] == "" and row(jobs, 1)["next_try_at"] == clock.now + delay
        assert a.take(clock.now + delay - 0.5) is None  # not due yet
        clock.now += delay
    job = a.take(clock.now)
    assert job["attempts"] == 3
    assert a.retried(job, Passing()) is False  # the last attempt: given up, the job is the caller's to finish
    assert a.retried({**job, "attempts": 1}, ValueError()) is False  # not a passing trouble
    assert row(jobs, 1)["owner"] == "a"


def test_finished_jobs_are_forgotten_after_kept_seconds_and_pending_ones_never(jobs):
    jobs.execute("UPDATE sample_jobs SET state = 'done' WHERE n = 2")  # created at 1.0
    assert SampleReader.forget_finished(jobs, now=10.5) == 0
    assert SampleReader.forget_finished(jobs, now=11.5) == 1
    assert [r["n"] for r in jobs.query("SELECT n FROM sample_jobs")] == [1]
