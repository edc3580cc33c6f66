"""APScheduler in the `serve` process (never in one started with `--no-scheduler`), run by one replica at a time,
and the features' jobs on it (each feature's `jobs` starter, from the registry).

Times are read on the bot's clock: the machine's, unless a test set another. APScheduler itself waits on the
machine's clock, so a trigger's times are moved by the difference between the two, in whole seconds (none at
all in production).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.background import PROCESS_OWNER, BackgroundLoop
from bot.bitbucket import BitbucketError
from bot.bitbucket.metering import BACKGROUND, tagged
from bot.core import meter

log = logging.getLogger(__name__)

SYNC_SECONDS = 60  # how soon a schedule set in another process (`serve --no-scheduler`) is picked up
GRACE = timedelta(hours=6)  # a run missed while the bot was down is still sent this long after its time


def schedule_zone(settings) -> ZoneInfo:
    """The time zone of channel schedules (`REMINDER_TIMEZONE`)."""
    return ZoneInfo(settings.reminder_timezone or "UTC")


def _machine_now() -> datetime:
    return datetime.now(timezone.utc)


class OnClock(BaseTrigger):
    """A trigger read on `clock` rather than on the machine's clock that APScheduler waits on."""

    def __init__(self, trigger: BaseTrigger, clock: Callable[[], datetime]):
        self.trigger = trigger
        self.clock = clock

    def get_next_fire_time(self, previous_fire_time, now):
        # Shifted in UTC: an aware local time shifted by a timedelta keeps its wall clock, so across a daylight
        # saving change between the two clocks' dates it would land an hour off.
        offset = timedelta(seconds=round((self.clock() - now).total_seconds()))
        previous = previous_fire_time.astimezone(timezone.utc) + offset if previous_fire_time else None
        fire = self.trigger.get_next_fire_time(previous, now.astimezone(timezone.utc) + offset)
        return fire.astimezone(timezone.utc) - offset if fire else None

    def __str__(self) -> str:
        return str(self.trigger)


class NextMoments(BaseTrigger):
    """Fires at the moments `next_after(moment)` names (the first one strictly after `moment`; None: no more)."""

    def __init__(self, next_after: Callable[[datetime], datetime | None]):
        self.next_after = next_after

    def get_next_fire_time(self, previous_fire_time, now):
        # As APScheduler's cron trigger: the first moment at or after `now`, or after the previous fire time
        # when that is earlier (a missed one, within its grace, still fires).
        start = min(now, previous_fire_time + timedelta(microseconds=1)) if previous_fire_time else now
        return self.next_after(start - timedelta(microseconds=1))

    def __str__(self) -> str:
        return "next moments"


class Scheduler:
    """A BackgroundScheduler (its own thread and pool) whose cron times follow the bot's clock."""

    def __init__(self, clock: Callable[[], datetime] | None = None):
        self.clock = clock or _machine_now
        self._aps = BackgroundScheduler(timezone=timezone.utc, job_defaults={"coalesce": True, "max_instances": 1})

    def start(self) -> None:
        self._aps.start()

    def stop(self) -> None:
        """Let running jobs finish (a reminder run is short, and safe to lose), then stop."""
        if self._aps.running:
            self._aps.shutdown(wait=True)

    def cron(self, job_id: str, func: Callable, *, days: tuple[str, ...], at: str, zone, grace: timedelta, args=()) -> None:
        """Run `func(*args)` at `at` (HH:MM in `zone`) on `days`; a run missed by less than `grace` still happens, once."""
        hour, minute = (int(part) for part in at.split(":"))
        trigger = CronTrigger(day_of_week=",".join(days), hour=hour, minute=minute, second=0, timezone=zone)
        self._aps.add_job(func, OnClock(trigger, self.clock), args=args, id=job_id, replace_existing=True,
                          misfire_grace_time=int(grace.total_seconds()))

    def at_moments(self, job_id: str, func: Callable, next_after: Callable[[datetime], datetime | None], *,
                   grace: timedelta, args=()) -> None:
        """Run `func(*args)` at each moment `next_after` names (pure: a moment in, the next one after it out)."""
        self._aps.add_job(func, OnClock(NextMoments(next_after), self.clock), args=args, id=job_id, replace_existing=True,
                          misfire_grace_time=int(grace.total_seconds()))

    def every(self, job_id: str, func: Callable, seconds: float) -> None:
        """Run `func()` at once, then every `seconds`."""
        self._aps.add_job(func, IntervalTrigger(seconds=seconds), id=job_id, replace_existing=True,
                          next_run_time=_machine_now())

    def remove(self, job_id: str) -> None:
        try:
            self._aps.remove_job(job_id)
        except JobLookupError:
            pass

    def job_ids(self) -> set[str]:
        return {job.id for job in self._aps.get_jobs()}


def reminder_job_id(reminder_id: int) -> str:
    return f"reminder:{reminder_id}"


class ScheduledJobs:
    """One cron job per row of a schedule table (reminders, digests), kept in step with the table. Every run
    asks the feature's `run_due`, which sends only what is owed and not yet sent, so the cron job, the
    catch-up look and another process agree. Subclasses say what the rows are and how one is run."""

    kind = "job"  # for job ids and log lines
    sync_job = "jobs:sync"

    def __init__(self, services, scheduler: Scheduler):
        self.services = services
        self.scheduler = scheduler
        self.zone = schedule_zone(services.settings)
        self._lock = threading.Lock()
        self._scheduled: dict[int, tuple] = {}  # row id -> the job_shape its job was made for
        self._running: set[int] = set()

    # --- what a subclass says ---------------------------------------------------------------------------

    def all_rows(self) -> list:
        raise NotImplementedError

    def get_row(self, row_id: int):
        raise NotImplementedError

    def run_due(self, row) -> str:
        raise NotImplementedError

    def job_id(self, row_id: int) -> str:
        return f"{self.kind}:{row_id}"

    def zone_for(self, row):
        """The time zone of a row's `at` and `days`: the channel schedules' one, unless a kind says otherwise."""
        return self.zone

    def job_shape(self, row) -> tuple:
        """What a row's job is made for: when it changes, the job is made again."""
        return (row.at, row.days, str(self.zone_for(row)))

    def add_job(self, row) -> None:
        """The row's job: a cron job at `at` on `days`, unless a kind times its rows otherwise."""
        self.scheduler.cron(self.job_id(row.id), self.run, days=row.days, at=row.at, zone=self.zone_for(row),
                            grace=GRACE, args=(row.id,))

    # --- the same for every kind --------------------------------------------------------------------------

    def start(self):
        """Schedule the table's jobs; the handlers find this object as `services.part(type(self))`."""
        self.scheduler.every(self.sync_job, self.sync, SYNC_SECONDS)
        self.services.provide(self)
        return self

    def stop(self) -> None:
        """Forget this process's jobs (the scheduler stops with them, or another replica leads now)."""
        self.services.forget(type(self))
        with self._lock:
            for row_id in self._scheduled:
                self.scheduler.remove(self.job_id(row_id))
            self.scheduler.remove(self.sync_job)
            self._scheduled = {}

    def sync(self) -> None:
        """Match the jobs to the table, then send whatever is owed: one missed while the bot was down, one
        whose job could not run in time, or one set in another process since the last look."""
        for row in self.reschedule():
            self.run(row.id)

    def reschedule(self) -> list:
        """Add, change and drop cron jobs to match the table (call it after changing a row)."""
        rows = self.all_rows()
        wanted = {row.id: self.job_shape(row) for row in rows}
        with self._lock:
            for gone in set(self._scheduled) - set(wanted):
                self.scheduler.remove(self.job_id(gone))
            for row in rows:
                if self._scheduled.get(row.id) != wanted[row.id]:
                    self.add_job(row)
            self._scheduled = wanted
        return rows

    def run(self, row_id: int) -> None:
        with self._lock:
            if row_id in self._running:  # the cron job and the sync met: one look is enough
                return
            self._running.add(row_id)
        try:
            if not meter.allows(self.services, BACKGROUND):
                # Little of the hour's Bitbucket budget is left: wait for the next look (within the grace period).
                log.info("%s %s waits: the Bitbucket request budget is low", self.kind, row_id)
                return
            row = self.get_row(row_id)
            if row is None:
                return
            with tagged(BACKGROUND, self.kind):
                outcome = self.run_due(row)
            if outcome in ("sent", "nothing stale"):
                log.info("%s %s (%s in %s): %s", self.kind, row_id, row.repo, row.channel_id, outcome)
        except BitbucketError as error:
            log.warning("%s %s: Bitbucket %s (%s); trying again at the next look", self.kind, row_id, error.status, error)
        except Exception:  # noqa: BLE001 - a scheduler thread must survive one bad run
            log.exception("%s %s failed", self.kind, row_id)
        finally:
            with self._lock:
                self._running.discard(row_id)


LEASE_NAME = "scheduler"
LEASE_SECONDS = 30.0  # a dead leader's scheduler is taken over by another replica within this, plus one renewal
RENEW_SECONDS = 10.0


class Leadership(BackgroundLoop):
    """One replica runs the scheduler at a time: whoever holds the `scheduler` lease in the store, renewed
    every few seconds. A replica that dies stops renewing, and the next one to ask takes over. Two
    schedulers for a moment would still send nothing twice: every run asks what is owed and not yet sent."""

    thread_name = "scheduler-lease"

    def __init__(self, services, starters=(), *, lease_seconds: float = LEASE_SECONDS, renew_seconds: float = RENEW_SECONDS):
        """`starters`: each feature's `jobs(services, scheduler) -> object with stop()`, run while this replica leads."""
        super().__init__(threading.Event())
        self.services = services
        self.starters = tuple(starters)
        self._jobs: list = []
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.runner: Scheduler | None = None

    @property
    def leading(self) -> bool:
        return self.runner is not None

    def one_pass(self) -> bool:
        held = self.services.store.hold_lease(LEASE_NAME, PROCESS_OWNER, ttl=self.lease_seconds)
        if held and self.runner is None:
            log.info("this process runs the scheduler")
            self._start_scheduler()
        elif not held and self.runner is not None:
            log.warning("another process holds the scheduler's lease; stopping this one's scheduler")
            self._stop_scheduler()
        return False

    def idle_time(self) -> float:
        return self.renew_seconds

    def _start_scheduler(self) -> None:
        runner = Scheduler(clock=self.services.clock)
        runner.start()
        self.services.provide(runner)
        self._jobs = [start(self.services, runner) for start in self.starters]
        self.runner = runner

    def _stop_scheduler(self) -> None:
        runner, self.runner = self.runner, None
        jobs, self._jobs = self._jobs, []
        for job in jobs:
            job.stop()
        self.services.forget(Scheduler)
        if runner is not None:
            runner.stop()

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)
        was_leading = self.runner is not None
        self._stop_scheduler()
        if was_leading:
            try:
                self.services.store.release_lease(LEASE_NAME, PROCESS_OWNER)  # the next replica need not wait
            except Exception:  # noqa: BLE001 - then the lease runs out by itself
                log.warning("could not release the scheduler's lease; another replica takes over when it runs out")
