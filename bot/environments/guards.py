"""The environments' guards on the one write path (`Feature(write_guards=…)`), for a deploy or rollback (and a
re-run of a deploy pipeline, which is a deploy):

- `locked`: refused while someone else holds the environment's lock (the holder deploys as usual; an admin's
  `--force` does not go through: an admin unlocks, which is audited and told to the holder);
- `protected`: a protected environment asks for approvals (`Blocked.approvals`): the entry point posts a request
  instead of a confirmation; the deploy an approved request makes carries its id (`Write.approved`) and goes on.
"""

from __future__ import annotations

from bot.core.actions import Blocked, Write
from bot.environments import locks, protections, requests
from bot.environments import render as env_render

DEPLOY_KINDS = ("deploy", "rollback")


def locked(services, user_id: str, write: Write) -> Blocked | None:
    if write.kind not in DEPLOY_KINDS or not write.environment:
        return None
    now = services.timestamp()
    lock = locks.holding(services.store, write.repo, write.environment, now=now)
    if lock is None or lock.holder == user_id:
        return None
    return Blocked(env_render.lock_refusal(lock, now), forceable=False, kind="lock")


def protected(services, user_id: str, write: Write) -> Blocked | None:
    if write.kind not in DEPLOY_KINDS or not write.environment:
        return None
    protection = protections.for_environment(services.store, write.repo, write.environment)
    if protection is None:
        return None
    if write.approved is not None and requests.is_approved(services.store, write.approved, repo=write.repo,
                                                           environment=write.environment, kind=write.kind):
        return None
    return Blocked(env_render.needs_approval(protection), forceable=False, kind="protected", approvals=protection.approvals)
