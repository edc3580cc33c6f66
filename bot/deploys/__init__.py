"""Deploys and rollbacks through Bitbucket Pipelines: the record of each one, the pure rules, and the follower.

Bitbucket has no "deploy" endpoint: a deploy runs the custom pipeline `DEPLOY_PIPELINE` for the environment
on a ref. Each deploy the bot starts is a row in `deploys`; the follower thread polls its pipeline (with
backoff, up to a time limit), and every change of state is one transaction that updates the row and queues
the Slack messages (the deploy's message, and replies in its thread) in the outbox. The follower reads its
work from SQLite, so after a restart it picks up where it left off.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from bot.deploys import render as deploy_render
from bot.core import metrics, outbox
from bot.core.background import PROCESS_OWNER, BackgroundLoop
from bot.bitbucket import BitbucketError, Deployment, Environment, Pipeline, ResolvedRef
from bot.core.errors import UserError
from bot.core.store import IntegrityError, Migration

log = logging.getLogger(__name__)

SCHEMA: list[str] = [
    """CREATE TABLE IF NOT EXISTS deploys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,                  -- deploy | rollback
        repo TEXT NOT NULL,                  -- workspace/slug
        environment TEXT NOT NULL,           -- as Bitbucket spells it
        environment_type TEXT NOT NULL DEFAULT '',  -- Test | Staging | Production
        ref_kind TEXT NOT NULL,              -- branch | tag | commit
        ref TEXT NOT NULL,                   -- the branch or tag name, or the commit hash
        commit_hash TEXT NOT NULL,           -- what runs
        from_release TEXT NOT NULL DEFAULT '',  -- rollback: the release it rolls back from ...
        from_commit TEXT NOT NULL DEFAULT '',
        to_release TEXT NOT NULL DEFAULT '',    -- ... and the one it puts back
        pipeline TEXT NOT NULL,              -- the custom pipeline's name
        pipeline_uuid TEXT NOT NULL DEFAULT '',
        pipeline_number INTEGER,
        pipeline_url TEXT NOT NULL DEFAULT '',
        phase TEXT NOT NULL,                 -- STARTING | PENDING | RUNNING | PAUSED | COMPLETED | NOT_STARTED | GAVE_UP
        result TEXT NOT NULL DEFAULT '',     -- once COMPLETED: SUCCESSFUL | FAILED | ERROR | STOPPED | EXPIRED
        user_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,            -- where its message and thread are
        created_at REAL NOT NULL,
        finished_at REAL,                    -- NULL while the bot follows it
        next_poll_at REAL NOT NULL DEFAULT 0,
        poll_interval REAL NOT NULL DEFAULT 0
    )""",
    # One deploy at a time per repository and environment: two confirmations at once make one pipeline.
    """CREATE UNIQUE INDEX IF NOT EXISTS deploys_one_at_a_time
        ON deploys (lower(repo), lower(environment)) WHERE finished_at IS NULL""",
    "CREATE INDEX IF NOT EXISTS deploys_due ON deploys (finished_at, next_poll_at)",
]
MIGRATIONS = [
    Migration("deploys", 1, SCHEMA),
    # Which replica follows a deploy, until when: one follower at a time, taken over when its lease runs out.
    Migration("deploys", 2, (
        "ALTER TABLE deploys ADD COLUMN follower TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE deploys ADD COLUMN follow_until REAL NOT NULL DEFAULT 0",
    )),
]

# The follower's pace (seconds); a `FollowerPace` provided to the services sets others (tests run it quickly that way).
FOLLOW_FIRST_INTERVAL = 5.0
FOLLOW_MAX_INTERVAL = 30.0
FOLLOW_BACKOFF = 1.5
FOLLOW_TIME_LIMIT = 2 * 3600.0
# A deploy recorded but never told its pipeline (the process died while triggering it) is looked into after this.
STARTING_GRACE = 600.0
# How many of the custom pipeline's latest runs are checked for one already running.
RECENT_PIPELINES = 10

PRODUCTION = "Production"

_wakeup = threading.Event()  # set when a deploy starts, so the follower looks at once
# Called as handler(db, record) inside the transaction that records a deploy's end (personal notifications).
_finished_handlers: list = []


def on_finished(handler) -> None:
    if handler not in _finished_handlers:
        _finished_handlers.append(handler)

# A follower holds each deploy it follows this long past its last look; a replica that dies hands its
# deploys over to the others when their leases run out (longer than the longest wait between two polls).
FOLLOW_LEASE_SECONDS = 60.0


# --------------------------------------------------------------------------------------------- pure rules


@dataclass(frozen=True)
class DeployPlan:
    """What a confirmation offers: run `pipeline` for `environment` on `ref` (for a rollback, from → to)."""

    kind: str  # deploy | rollback
    repo: str
    environment: Environment
    ref: ResolvedRef
    pipeline: str
    rollback_from: Deployment | None = None
    rollback_to: Deployment | None = None

    @property
    def production(self) -> bool:
        return self.environment.environment_type == PRODUCTION


def pipeline_name(template: str, environment_name: str) -> str:
    """`deploy-to-{environment}` with the environment's lower-case name."""
    try:
        return template.format(environment=environment_name.lower())
    except (KeyError, IndexError, ValueError):
        raise UserError(
            "`DEPLOY_PIPELINE` is not a usable pipeline name: it may contain `{environment}` and no other braces."
        ) from None


def match_environment(environments: list[Environment], typed: str) -> Environment:
    """The environment named `typed`, without regard to case; otherwise a refusal that lists the real ones."""
    for environment in environments:
        if environment.name.lower() == typed.lower():
            return environment
    raise UserError(deploy_render.unknown_environment(typed, environments))


def _same_uuid(a: str | None, b: str | None) -> bool:
    return bool(a and b) and a.strip("{}").lower() == b.strip("{}").lower()


_LONG_AGO = datetime.min.replace(tzinfo=timezone.utc)


def _newest_first(deployments: list[Deployment]) -> list[Deployment]:
    return sorted(deployments, key=lambda d: d.completed_on or d.started_on or _LONG_AGO, reverse=True)


def history_of(deployments: list[Deployment], environment: Environment) -> list[Deployment]:
    """One environment's deployments, newest first."""
    return _newest_first([d for d in deployments if _same_uuid(d.environment_uuid, environment.uuid)])


def is_successful(deployment: Deployment) -> bool:
    return deployment.state == "COMPLETED" and deployment.status == "SUCCESSFUL" and bool(deployment.commit)


def choose_rollback(deployments: list[Deployment], environment: Environment) -> tuple[Deployment | None, Deployment | None]:
    """(current release, release to put back): the newest successful deployment, and the newest successful
    one before it with a different commit. Either is None when the history has none."""
    successful = [d for d in history_of(deployments, environment) if is_successful(d)]
    if not successful:
        return None, None
    current = successful[0]
    earlier = next((d for d in successful[1:] if d.commit != current.commit), None)
    return current, earlier


def phase_of(pipeline: Pipeline) -> str:
    """PENDING | RUNNING | PAUSED | COMPLETED: the states worth telling a channel about."""
    if pipeline.state == "COMPLETED":
        return "COMPLETED"
    if pipeline.state == "IN_PROGRESS":
        return "PAUSED" if pipeline.stage == "PAUSED" else "RUNNING"
    return "PENDING"


def outcome_of(result: str | None) -> str:
    """successful | stopped | failed (FAILED, ERROR and EXPIRED all mean it did not deploy)."""
    if result == "SUCCESSFUL":
        return "successful"
    if result == "STOPPED":
        return "stopped"
    return "failed"


def running_pipeline(pipelines: list[Pipeline]) -> Pipeline | None:
    """The newest pipeline that has not completed yet."""
    return next((p for p in pipelines if p.state and p.state != "COMPLETED"), None)


def next_interval(previous: float, *, changed: bool, first: float, most: float, factor: float = FOLLOW_BACKOFF) -> float:
    """Poll again soon after a change, then back off towards `most`."""
    if changed or previous <= 0:
        return first
    return min(most, previous * factor)


# --------------------------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class DeployRecord:
    id: int
    kind: str
    repo: str
    environment: str
    environment_type: str
    ref_kind: str
    ref: str
    commit_hash: str
    from_release: str
    from_commit: str
    to_release: str
    pipeline: str
    pipeline_uuid: str
    pipeline_number: int | None
    pipeline_url: str
    phase: str
    result: str
    user_id: str
    channel_id: str
    created_at: float
    finished_at: float | None
    next_poll_at: float
    poll_interval: float
    follower: str = ""  # the replica following it, until follow_until
    follow_until: float = 0.0

    @property
    def anchor(self) -> str:
        return f"deploy:{self.id}"

    @property
    def production(self) -> bool:
        return self.environment_type == PRODUCTION

    @property
    def status(self) -> str:
        """The outcome once completed (successful | failed | stopped), else the phase."""
        return outcome_of(self.result) if self.phase == "COMPLETED" else self.phase

    @property
    def workspace_and_slug(self) -> tuple[str, str]:
        workspace, slug = self.repo.split("/", 1)
        return workspace, slug


def _record(db, deploy_id: int) -> DeployRecord:
    row = next(db.query("SELECT * FROM deploys WHERE id = ?", (deploy_id,)))
    return DeployRecord(**row)


def active(store, repo: str, environment: str) -> DeployRecord | None:
    """The deploy the bot is following for this repository and environment, if any."""
    row = store.query_one(
        "SELECT * FROM deploys WHERE lower(repo) = lower(?) AND lower(environment) = lower(?) AND finished_at IS NULL",
        (repo, environment),
    )
    return DeployRecord(**row) if row else None


def begin(store, plan: DeployPlan, *, user_id: str, channel_id: str, clock=time.time) -> int:
    """Record a deploy about to start; refused while another one to the same place is unfinished."""
    now = clock()
    rollback_from, rollback_to = plan.rollback_from, plan.rollback_to
    try:
        with store.transaction() as db:
            cursor = db.execute(
                """INSERT INTO deploys (kind, repo, environment, environment_type, ref_kind, ref, commit_hash,
                       from_release, from_commit, to_release, pipeline, phase, user_id, channel_id, created_at, next_poll_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'STARTING', ?, ?, ?, ?) RETURNING id""",
                (
                    plan.kind, plan.repo, plan.environment.name, plan.environment.environment_type or "",
                    plan.ref.kind, plan.ref.name, plan.ref.hash,
                    (rollback_from.release_name or "") if rollback_from else "",
                    (rollback_from.commit or "") if rollback_from else "",
                    (rollback_to.release_name or "") if rollback_to else "",
                    plan.pipeline, user_id, channel_id, now, now + STARTING_GRACE,
                ),
            )
            return cursor.fetchone()[0]
    except IntegrityError:
        raise UserError(deploy_render.already_running(active(store, plan.repo, plan.environment.name))) from None


def abandon(store, deploy_id: int, clock=time.time) -> None:
    """The pipeline did not start: free the environment for the next try."""
    if store.execute(
        "UPDATE deploys SET phase = 'NOT_STARTED', finished_at = ? WHERE id = ? AND phase = 'STARTING'", (clock(), deploy_id)
    ).rowcount:
        metrics.DEPLOYS.labels("not_started").inc()


def recheck_soon(store, deploy_id: int, clock=time.time) -> None:
    """Bitbucket gave no clear answer to the trigger: let the follower find out at once whether it started."""
    store.execute("UPDATE deploys SET next_poll_at = ? WHERE id = ? AND phase = 'STARTING'", (clock(), deploy_id))
    _wakeup.set()


def record_started(store, deploy_id: int, pipeline: Pipeline, clock=time.time) -> DeployRecord:
    """The pipeline exists: remember it and queue the deploy's message for the channel, in one transaction."""
    now = clock()
    with store.transaction() as db:
        cursor = db.execute(
            """UPDATE deploys SET pipeline_uuid = ?, pipeline_number = ?, pipeline_url = ?, phase = ?,
                   next_poll_at = ?, poll_interval = 0
               WHERE id = ? AND phase = 'STARTING'""",
            (pipeline.uuid, pipeline.build_number, _pipeline_url(db, deploy_id, pipeline), phase_of(pipeline), now, deploy_id),
        )
        record = _record(db, deploy_id)
        if cursor.rowcount == 1:  # not already adopted by the follower
            outbox.enqueue(db, channel=record.channel_id, message=deploy_render.card(record), key=record.anchor, anchor=record.anchor,
                           fallback_user=record.user_id)
    _wakeup.set()
    return record


def _pipeline_url(db, deploy_id: int, pipeline: Pipeline) -> str:
    if pipeline.url:
        return pipeline.url
    # The API object carries no link; this is the address Bitbucket's web pages use.
    repo = next(db.query("SELECT repo FROM deploys WHERE id = ?", (deploy_id,)))["repo"]
    return f"https://bitbucket.org/{repo}/pipelines/results/{pipeline.build_number}" if pipeline.build_number else ""


# --------------------------------------------------------------------------------------------- the follower


class DeployFollower(BackgroundLoop):
    """One thread that polls the pipelines of unfinished deploys and tells their channel what changed."""

    thread_name = "deploy-follower"

    def __init__(self, store, bitbucket, *, first_interval: float = FOLLOW_FIRST_INTERVAL,
                 max_interval: float = FOLLOW_MAX_INTERVAL, time_limit: float = FOLLOW_TIME_LIMIT, clock=time.time):
        super().__init__(_wakeup)
        self.store = store
        self.bitbucket = bitbucket
        self.first_interval = first_interval
        self.max_interval = max_interval
        self.time_limit = time_limit
        self.clock = clock
        self.owner = PROCESS_OWNER

    def one_pass(self) -> bool:
        self.follow_due()
        return False  # the next poll is when the earliest deploy is due: idle_time says when

    def idle_time(self) -> float:
        row = self.store.query_one("SELECT MIN(next_poll_at) AS due FROM deploys WHERE finished_at IS NULL")
        if not row or row["due"] is None:
            return self.max_interval
        return min(self.max_interval, max(0.01, row["due"] - self.clock()))

    def follow_due(self) -> int:
        """Poll every deploy that is due; returns how many were looked at."""
        due = self.store.query(
            "SELECT * FROM deploys WHERE finished_at IS NULL AND next_poll_at <= ? ORDER BY next_poll_at", (self.clock(),)
        )
        for row in due:
            if self.stopping:
                break
            record = DeployRecord(**row)
            if not self._hold(record):
                continue  # another replica follows it
            try:
                if record.phase == "STARTING":
                    self._recover(record)
                else:
                    self.follow(record)
            except Exception:  # noqa: BLE001 - one bad deploy must not hold up the others: look again later
                log.exception("deploy %s: following failed; trying again later", record.id)
                self.store.execute(
                    "UPDATE deploys SET next_poll_at = ? WHERE id = ? AND phase = ?", (self.clock() + self.max_interval, record.id, record.phase)
                )
        return len(due)

    def _hold(self, record: DeployRecord) -> bool:
        """Take or renew this deploy's lease: one replica follows a deploy, and posts its progress."""
        now = self.clock()
        return self.store.execute(
            """UPDATE deploys SET follower = ?, follow_until = ?
               WHERE id = ? AND finished_at IS NULL AND (follower = ? OR follower = '' OR follow_until < ?)""",
            (self.owner, now + max(FOLLOW_LEASE_SECONDS, 2 * self.max_interval), record.id, self.owner, now),
        ).rowcount == 1

    def release_all(self) -> None:
        """On a clean stop, hand this process's deploys to the other replicas at once."""
        self.store.execute("UPDATE deploys SET follower = '', follow_until = 0 WHERE follower = ? AND finished_at IS NULL", (self.owner,))

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)
        try:
            self.release_all()
        except Exception:  # noqa: BLE001 - then the lease runs out by itself
            log.warning("deploy follower: could not hand its deploys over; they are taken over when the lease ends")

    def follow(self, record: DeployRecord) -> None:
        workspace, slug = record.workspace_and_slug
        try:
            pipeline = Pipeline.from_api(self.bitbucket.get_pipeline(workspace, slug, record.pipeline_uuid))
        except BitbucketError as error:
            log.warning("deploy %s: could not read pipeline %s: %s", record.id, record.pipeline_number, error)
            pipeline = None
        now = self.clock()
        if pipeline is not None and phase_of(pipeline) == "COMPLETED":
            self._move(record, "COMPLETED", pipeline.result or "", finished=True)
        elif now - record.created_at >= self.time_limit:
            self._move(record, "GAVE_UP", "", finished=True)
        elif pipeline is not None and phase_of(pipeline) != record.phase:
            self._move(record, phase_of(pipeline), "", finished=False)
        else:
            interval = next_interval(record.poll_interval, changed=False, first=self.first_interval, most=self.max_interval)
            self.store.execute(
                "UPDATE deploys SET poll_interval = ?, next_poll_at = ? WHERE id = ? AND phase = ?",
                (interval, now + interval, record.id, record.phase),
            )

    def _move(self, record: DeployRecord, phase: str, result: str, *, finished: bool) -> None:
        """One change of state: the row, the updated message and a reply in its thread, all or nothing.

        The update names the phase it saw, so a second process following the same deploy posts nothing twice.
        """
        now = self.clock()
        with self.store.transaction() as db:
            cursor = db.execute(
                """UPDATE deploys SET phase = ?, result = ?, finished_at = ?, poll_interval = ?, next_poll_at = ?
                   WHERE id = ? AND phase = ? AND finished_at IS NULL""",
                (phase, result, now if finished else None, self.first_interval, now + self.first_interval, record.id, record.phase),
            )
            if cursor.rowcount != 1:
                return
            moved = _record(db, record.id)
            key = moved.anchor
            outbox.enqueue(db, channel=moved.channel_id, message=deploy_render.card(moved), key=key, anchor=moved.anchor,
                           fallback_user=moved.user_id)
            reply = deploy_render.progress(moved, followed_for=now - moved.created_at)
            outbox.enqueue(db, channel=moved.channel_id, message=reply, key=key, thread_anchor=moved.anchor, fallback_user=moved.user_id)
            if finished:
                for handler in _finished_handlers:
                    handler(db, moved)
        if finished:
            metrics.DEPLOYS.labels(outcome_of(result)).inc()

    def _recover(self, record: DeployRecord) -> None:
        """A deploy left STARTING (the process died while triggering it): adopt its pipeline if it ran."""
        workspace, slug = record.workspace_and_slug
        try:
            recent = self.bitbucket.list_pipelines(
                workspace, slug, filters={"target.selector.pattern": record.pipeline}, limit=RECENT_PIPELINES
            )
        except BitbucketError as error:
            log.warning("deploy %s: could not look for its pipeline: %s", record.id, error)
            self.store.execute("UPDATE deploys SET next_poll_at = ? WHERE id = ?", (self.clock() + self.max_interval, record.id))
            return
        started_after = datetime.fromtimestamp(record.created_at - 60, tz=timezone.utc)  # a minute of clock skew
        candidates = [Pipeline.from_api(item) for item in recent]
        found = next(
            (p for p in candidates if p.commit == record.commit_hash and (p.created_on or _LONG_AGO) >= started_after), None
        )
        if found is None:
            log.info("deploy %s: its pipeline never started; the environment is free again", record.id)
            abandon(self.store, record.id, self.clock)
            return
        log.info("deploy %s: found its pipeline #%s after a restart", record.id, found.build_number)
        record_started(self.store, record.id, found, self.clock)


@dataclass(frozen=True)
class FollowerPace:
    first_interval: float = FOLLOW_FIRST_INTERVAL
    max_interval: float = FOLLOW_MAX_INTERVAL
    time_limit: float = FOLLOW_TIME_LIMIT


def start_background(services, *, scheduler: bool = True) -> list:
    """The follower runs in every `serve` process: each deploy is leased to one of them, and its state changes are
    compare-and-set besides, so a deploy's progress is posted once."""
    pace = services.part(FollowerPace) or FollowerPace()
    follower = services.provide(DeployFollower(
        services.store, services.bitbucket, first_interval=pace.first_interval, max_interval=pace.max_interval,
        time_limit=pace.time_limit,
    ).start())
    return [follower.stop]

