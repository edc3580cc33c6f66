"""The freezes' guard on the one write path: a deploy or rollback (or a re-run of a deploy pipeline, which is a
deploy) to a frozen environment is refused, or goes through with an admin's `--force`."""

from __future__ import annotations

from bot import freezes
from bot.core.actions import Blocked, Write
from bot.freezes import render as freeze_render

DEPLOY_KINDS = ("deploy", "rollback")


def frozen(services, user_id: str, write: Write) -> Blocked | None:
    if write.kind not in DEPLOY_KINDS or not write.environment:
        return None
    now = freezes.clock_of(services)()
    freeze = freezes.blocking_freeze(services.store, write.repo, write.environment, now=now)
    if freeze is None:
        return None
    return Blocked(freeze_render.refusal(freeze, write.environment, now), kind="freeze")
