"""The environments' scheduled work, on the replica that leads the scheduler: every `EnvironmentsPace.seconds`,
tell the holders of locks that end within ten minutes, and close the requests for approval whose hour has passed.
Each is done once across replicas (compare-and-set on the row, in the transaction that queues the message), on
the bot's clock. And the card of a request follows the deploy it became, to its end (the deploy follower's
`on_finished`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot import deploys
from bot.environments import locks, requests
from bot.environments import render as env_render

log = logging.getLogger(__name__)
JOB_ID = "environments:due"


@dataclass(frozen=True)
class EnvironmentsPace:
    """How often the leader looks (tests provide a quicker one)."""

    seconds: float = 30.0


def run_due(services) -> tuple[int, int]:
    """(locks whose holders were told, requests closed) in this look."""
    now = services.timestamp()
    told = locks.warn_due(services.store, now=now, warning=env_render.lock_warning)
    expired = requests.expire_due(services.store, now=now)
    for request in expired:
        services.audit.record(request.requested_by, f"{request.kind} request expired", f"{request.repo}@{request.environment}",
                              ok=True, result=f"request #{request.id}: {len(request.approvals)} of {request.needed} approvals",
                              detail={"request": request.id})
    return told, len(expired)


class EnvironmentJobs:
    def __init__(self, services, scheduler):
        self.services, self.scheduler = services, scheduler

    def start(self) -> "EnvironmentJobs":
        pace = self.services.part(EnvironmentsPace) or EnvironmentsPace()
        self.scheduler.every(JOB_ID, self._look, pace.seconds)
        return self

    def _look(self) -> None:
        try:
            run_due(self.services)
        except Exception:  # noqa: BLE001 - the next look tries again
            log.exception("environments: the look at locks and requests failed; trying again at the next one")

    def stop(self) -> None:
        self.scheduler.remove(JOB_ID)


def start_jobs(services, scheduler) -> EnvironmentJobs:
    return EnvironmentJobs(services, scheduler).start()


def _deploy_finished(db, record) -> None:
    requests.deploy_finished(db, record.id, record.status, record.finished_at or record.created_at)


def follow_deploys(services) -> None:
    """`Feature.provide`: the card of a request tells how the deploy it became ended."""
    deploys.on_finished(_deploy_finished)
