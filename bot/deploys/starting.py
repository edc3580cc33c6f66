"""Starting a deploy or rollback, once, through the one write path: a confirmation's click and an approved request
both end here. The environment is checked free, the deploy recorded, the pipeline triggered; a pipeline that did
not start frees the environment again, one whose start is unknown is looked for by the follower."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bot import deploys, freezes
from bot.bitbucket import BitbucketError, Pipeline, outcome_unknown, pipeline_body, pipeline_target_for
from bot.core import actions
from bot.core.invocation import split_repo
from bot.core.render import Message
from bot.deploys import reading
from bot.freezes import render as freeze_render


class NotStarted(Exception):
    """Bitbucket refused to start the pipeline (the deploy was recorded, then abandoned)."""

    def __init__(self, plan: deploys.DeployPlan, error: BitbucketError):
        super().__init__(str(error))
        self.plan, self.error = plan, error


@dataclass(frozen=True)
class Started:
    record: deploys.DeployRecord
    freeze: freezes.Freeze | None  # the freeze an admin's force went through
    # What the channel is told of an admin's force (through a freeze, past failed builds), or None: the same words
    # whichever way the deploy started (a confirmation's click, an approved request).
    announcement: Message | None = None


def forced_announcement(user_id: str, plan: deploys.DeployPlan, freeze: freezes.Freeze | None, *, forced: bool,
                        past_failed_builds: bool, now: float) -> Message | None:
    """Pure: the channel's news of a deploy an admin forced through a freeze or past failed builds; None when the
    force went through nothing (the freeze ended before the start, say)."""
    if not forced or (freeze is None and not past_failed_builds):
        return None
    return freeze_render.forced_announcement(user_id, plan.kind, plan.repo, plan.environment.name, freeze, now,
                                             past_failed_builds=past_failed_builds)


def start_once(services, *, user_id: str, channel_id: str, write: actions.Write, plan: deploys.DeployPlan,
               anyway: bool = False) -> Started | actions.AlreadyDone:
    """Run `plan` as `user_id` under `write` (its key: once). Raises what the write path refuses, NotStarted, or
    actions.OutcomeUnknown (the follower finds out)."""
    repo = plan.repo
    freeze = freezes.blocking_freeze(services.store, repo, plan.environment.name, now=services.timestamp()) if write.force else None
    detail = {**write.detail, "ref": plan.ref.name, "commit": plan.ref.hash, "pipeline": plan.pipeline}
    if freeze is not None:
        detail["forced_through_freeze"] = freeze.id
    if anyway:
        detail["despite_failed_builds"] = True
    write = dataclasses.replace(write, target=f"{repo}@{plan.environment.name}", environment=plan.environment.name, detail=detail)
    workspace, slug = split_repo(repo)
    begun = {}

    def start(client):
        reading.ensure_free(services, repo, plan.environment, plan.pipeline)
        begun["id"] = deploys.begin(services.store, plan, user_id=user_id, channel_id=channel_id)
        try:
            return client.trigger_pipeline(workspace, slug, pipeline_body(pipeline_target_for(plan.ref, plan.pipeline)))
        except Exception as error:
            if outcome_unknown(error):
                # The trigger may have reached Bitbucket: keep the environment taken and let the follower look.
                deploys.recheck_soon(services.store, begun["id"])
            else:
                deploys.abandon(services.store, begun["id"])
            raise

    try:
        done = actions.perform(services, user_id, write, start,
                               describe=lambda started: f"pipeline #{started.get('build_number')} started")
    except BitbucketError as error:
        if "id" not in begun or outcome_unknown(error):
            raise
        raise NotStarted(plan, error) from None
    if isinstance(done, actions.AlreadyDone):
        return done
    record = deploys.record_started(services.store, begun["id"], Pipeline.from_api(done.value))
    return Started(record, freeze, forced_announcement(user_id, plan, freeze, forced=write.force, past_failed_builds=anyway,
                                                       now=services.timestamp()))
