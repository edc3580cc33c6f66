"""Deploys from Slack: `/bb deploy`, `/bb rollback`, `/bb deployments`, and their confirmation buttons.

A deploy is asked for, confirmed with a button, then started: the role is checked when the command is typed
and again on the click; the click acts once; a second deploy to the same place waits for the first.
"""

from __future__ import annotations

import logging

from bot import deploy_render, deploys, ids, render
from bot.bitbucket import (
    BitbucketError, Deployment, Environment, NotFound, Pipeline, ResolvedRef, outcome_unknown, pipeline_body,
    pipeline_target_for,
)
from bot.commands import Command
from bot.errors import UserError
from handlers.common import Invocation, split_repo
from handlers.pull_requests import acting_client, new_action_key

log = logging.getLogger(__name__)

DEPLOYMENT_HISTORY = 200  # deployments read for a rollback or the overview (Bitbucket offers no filter or sort)


# --- reading Bitbucket -------------------------------------------------------------------------------


def _environment(inv: Invocation, repo: str, typed: str) -> Environment:
    workspace, slug = split_repo(repo)
    environments = [Environment.from_api(e) for e in inv.services.bitbucket.list_environments(workspace, slug)]
    return deploys.match_environment(environments, typed)


def _deployments(inv: Invocation, repo: str) -> list[Deployment]:
    workspace, slug = split_repo(repo)
    return [Deployment.from_api(d) for d in inv.services.bitbucket.list_deployments(workspace, slug, limit=DEPLOYMENT_HISTORY)]


def _resolve(inv: Invocation, repo: str, ref: str) -> ResolvedRef:
    workspace, slug = split_repo(repo)
    try:
        return inv.services.bitbucket.resolve_ref(workspace, slug, ref)
    except NotFound:
        raise UserError(deploy_render.unknown_ref(repo, ref)) from None


def _pipeline(inv: Invocation, environment: Environment) -> str:
    return deploys.pipeline_name(inv.services.settings.deploy_pipeline, environment.name)


def _ensure_free(inv: Invocation, repo: str, environment: Environment, pipeline: str) -> None:
    """Refuse while the bot follows a deploy there, or while the pipeline runs (started from anywhere)."""
    following = deploys.active(inv.services.store, repo, environment.name)
    if following:
        raise UserError(deploy_render.already_running(following))
    workspace, slug = split_repo(repo)
    recent = inv.services.bitbucket.list_pipelines(
        workspace, slug, filters={"target.selector.pattern": pipeline}, limit=deploys.RECENT_PIPELINES
    )
    busy = deploys.running_pipeline([Pipeline.from_api(p) for p in recent])
    if busy:
        raise UserError(deploy_render.pipeline_busy(repo, pipeline, busy))


def _rollback_plan(inv: Invocation, repo: str, environment: Environment) -> deploys.DeployPlan:
    current, earlier = deploys.choose_rollback(_deployments(inv, repo), environment)
    if current is None:
        raise UserError(deploy_render.nothing_deployed(environment))
    if earlier is None:
        raise UserError(deploy_render.no_earlier_release(environment, current))
    ref = ResolvedRef("commit", earlier.commit, earlier.commit)
    return deploys.DeployPlan("rollback", repo, environment, ref, _pipeline(inv, environment), current, earlier)


# --- /bb deploy, /bb rollback: the question ----------------------------------------------------------


def ask_deploy(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    environment = _environment(inv, repo, command.args["environment"])
    inv.services.permissions.require(inv.user_id, "deploy", repo, environment.name)
    ref = _resolve(inv, repo, command.args["ref"])
    plan = deploys.DeployPlan("deploy", repo, environment, ref, _pipeline(inv, environment))
    _ensure_free(inv, repo, environment, plan.pipeline)
    inv.reply(deploy_render.deploy_confirmation(plan, new_action_key()))


def ask_rollback(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    environment = _environment(inv, repo, command.args["environment"])
    inv.services.permissions.require(inv.user_id, "rollback", repo, environment.name)
    plan = _rollback_plan(inv, repo, environment)
    _ensure_free(inv, repo, environment, plan.pipeline)
    inv.reply(deploy_render.deploy_confirmation(plan, new_action_key()))


# --- the buttons: act once -----------------------------------------------------------------------------


def confirm_deploy(inv: Invocation, value: dict) -> None:
    def plan(repo: str, environment: Environment) -> deploys.DeployPlan:
        ref = ResolvedRef(str(value["t"]), str(value["n"]), str(value["h"]))  # what the person was shown
        return deploys.DeployPlan("deploy", repo, environment, ref, _pipeline(inv, environment))

    _start_once(inv, value, "deploy", plan)


def confirm_rollback(inv: Invocation, value: dict) -> None:
    def plan(repo: str, environment: Environment) -> deploys.DeployPlan:
        again = _rollback_plan(inv, repo, environment)
        if again.rollback_from.commit != value.get("f") or again.ref.hash != value.get("h"):
            raise UserError(deploy_render.rollback_changed(environment))
        return again

    _start_once(inv, value, "rollback", plan)


def _start_once(inv: Invocation, value: dict, kind: str, make_plan) -> None:
    """Role again, one claim per button, the environment free, the pipeline started, the audit, the answers."""
    services = inv.services
    repo, environment_name = str(value.get("r", "")), str(value.get("e", ""))
    if "/" not in repo or not environment_name:
        raise UserError("That button's data is not readable; run the command again.")
    services.permissions.require(inv.user_id, kind, repo, environment_name)
    key = f"{kind}:{value.get('k') or ''}"
    if not services.store.claim(key, inv.user_id):
        inv.reply(render.notice(f"That {kind} is already under way or done."))
        return
    try:
        plan = make_plan(repo, _environment(inv, repo, environment_name))
        _ensure_free(inv, repo, plan.environment, plan.pipeline)
        deploy_id = deploys.begin(services.store, plan, user_id=inv.user_id, channel_id=inv.channel_id)
    except Exception:
        services.store.release_claim(key)  # nothing started: the button may be tried again
        raise
    target = f"{repo}@{plan.environment.name}"
    detail = {"ref": plan.ref.name, "commit": plan.ref.hash, "pipeline": plan.pipeline}
    workspace, slug = split_repo(repo)
    try:
        started = acting_client(inv).trigger_pipeline(workspace, slug, pipeline_body(pipeline_target_for(plan.ref, plan.pipeline)))
    except Exception as error:
        if outcome_unknown(error):
            # The trigger may have reached Bitbucket: keep the environment taken and let the follower look.
            deploys.recheck_soon(services.store, deploy_id)
            services.audit.record(inv.user_id, kind, target, ok=False, result=f"no clear answer: {error}", detail=detail)
            inv.replace_with(render.notice(
                f":hourglass: Bitbucket did not answer clearly ({render.escape(error)}). The bot is checking whether "
                "the pipeline started; if it did, its progress follows in this channel."
            ))
            return
        deploys.abandon(services.store, deploy_id)
        services.store.release_claim(key)  # nothing started: the same command may be tried again
        services.audit.record(inv.user_id, kind, target, ok=False, result=str(error), detail=detail)
        if not isinstance(error, BitbucketError):
            log.exception("starting the pipeline failed")
        inv.replace_with(deploy_render.not_started(plan, error) if isinstance(error, BitbucketError) else render.error_message(error))
        return
    record = deploys.record_started(services.store, deploy_id, Pipeline.from_api(started))
    services.audit.record(inv.user_id, kind, target, ok=True, result=f"pipeline #{record.pipeline_number} started", detail=detail)
    inv.replace_with(deploy_render.started_note(record))


# --- /bb deployments -----------------------------------------------------------------------------------


def list_deployments(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    workspace, slug = split_repo(repo)
    environments = [Environment.from_api(e) for e in inv.services.bitbucket.list_environments(workspace, slug)]
    history = _deployments(inv, repo) if environments else []
    histories = {env.uuid: deploys.history_of(history, env) for env in environments}
    inv.reply(deploy_render.deployments_overview(repo, environments, histories, render.utcnow()))


COMMAND_HANDLERS = {"deploy": ask_deploy, "rollback": ask_rollback, "deployments": list_deployments}
ACTION_HANDLERS = {ids.CONFIRM_DEPLOY: confirm_deploy, ids.CONFIRM_ROLLBACK: confirm_rollback}
