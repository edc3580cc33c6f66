"""Deploys from Slack: `/bb deploy`, `/bb rollback`, `/bb deployments`, and their confirmation buttons.

A deploy is asked for, confirmed with a button, then started: the role is checked when the command is typed
and again on the click; the click acts once; a second deploy to the same place waits for the first.
"""

from __future__ import annotations

import logging

from bot.deploys import render as deploy_render
from bot import deploys, freezes
from bot.freezes import render as freeze_render
from bot.core import ids, render
from bot.bitbucket import (
    BitbucketError, CommitStatus, Deployment, Environment, NotFound, Pipeline, ResolvedRef, outcome_unknown, pipeline_body,
    pipeline_target_for,
)
from bot.builds import rules as build_rules
from bot.core.commands import Command
from bot.core.errors import NotAllowed, UserError
from bot.core.invocation import Invocation, split_repo
from bot.pull_requests.commands import acting_client, new_action_key

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


# --- the gates: freezes and builds -----------------------------------------------------------------------


def _freeze_gate(inv: Invocation, repo: str, environment_name: str, *, force: bool):
    """The freeze a deploy would go through (only with an admin's `--force`); refused otherwise."""
    now = freezes.clock_of(inv.services)()
    freeze = freezes.blocking_freeze(inv.services.store, repo, environment_name, now=now)
    if freeze is None:
        return None
    if not force:
        raise UserError(freeze_render.refusal(freeze, environment_name, now))
    if not inv.services.permissions.is_admin(inv.user_id):
        raise NotAllowed("Only admins (listed in `CHATOPS_ADMINS`) can push a deploy through a freeze with `--force`. "
                         + freeze_render.refusal(freeze, environment_name, now))
    return freeze


def _require_force_allowed(inv: Invocation, command: Command) -> bool:
    force = bool(command.args.get("force"))
    if force and not inv.services.permissions.is_admin(inv.user_id):
        raise NotAllowed("`--force` is for admins (listed in `CHATOPS_ADMINS`); nothing was started.")
    return force


def _ci_gate(inv: Invocation, repo: str, commit: str) -> build_rules.Gate:
    """The builds of the commit a deploy would run."""
    workspace, slug = split_repo(repo)
    statuses = [CommitStatus.from_api(s) for s in inv.services.bitbucket.list_commit_statuses(workspace, slug, commit)]
    return build_rules.gate(statuses)


# --- /bb deploy, /bb rollback: the question ----------------------------------------------------------


def ask_deploy(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    force = _require_force_allowed(inv, command)
    environment = _environment(inv, repo, command.args["environment"])
    inv.services.permissions.require(inv.user_id, "deploy", repo, environment.name)
    freeze = _freeze_gate(inv, repo, environment.name, force=force)
    ref = _resolve(inv, repo, command.args["ref"])
    plan = deploys.DeployPlan("deploy", repo, environment, ref, _pipeline(inv, environment))
    _ensure_free(inv, repo, environment, plan.pipeline)
    ci = _ci_gate(inv, repo, ref.hash)
    now = freezes.clock_of(inv.services)()
    inv.reply(deploy_render.deploy_confirmation(plan, new_action_key(), ci=ci, freeze=freeze, forced=force, now=now))


def ask_rollback(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    force = _require_force_allowed(inv, command)
    environment = _environment(inv, repo, command.args["environment"])
    inv.services.permissions.require(inv.user_id, "rollback", repo, environment.name)
    freeze = _freeze_gate(inv, repo, environment.name, force=force)
    plan = _rollback_plan(inv, repo, environment)
    _ensure_free(inv, repo, environment, plan.pipeline)
    now = freezes.clock_of(inv.services)()
    inv.reply(deploy_render.deploy_confirmation(plan, new_action_key(), freeze=freeze, forced=force, now=now))


# --- the buttons: act once -----------------------------------------------------------------------------


def confirm_deploy(inv: Invocation, value: dict) -> None:
    def plan(repo: str, environment: Environment) -> deploys.DeployPlan:
        ref = ResolvedRef(str(value["t"]), str(value["n"]), str(value["h"]))  # what the person was shown
        return deploys.DeployPlan("deploy", repo, environment, ref, _pipeline(inv, environment))

    repo = str(value.get("r", ""))
    if "/" in repo and value.get("h") and not value.get("a"):
        ci = _ci_gate(inv, repo, str(value["h"]))
        if ci.failed:  # builds failed since the question: ask again, with the explicit "Deploy anyway"
            inv.services.permissions.require(inv.user_id, "deploy", repo, str(value.get("e", "")))
            again = plan(repo, _environment(inv, repo, str(value.get("e", ""))))
            now = freezes.clock_of(inv.services)()
            freeze = freezes.blocking_freeze(inv.services.store, repo, again.environment.name, now=now) if value.get("x") else None
            inv.replace_with(deploy_render.deploy_confirmation(again, new_action_key(), ci=ci, freeze=freeze, forced=bool(value.get("x")), now=now))
            return
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
    forced = bool(value.get("x"))
    if forced and not services.permissions.is_admin(inv.user_id):
        raise NotAllowed("Only admins (listed in `CHATOPS_ADMINS`) can confirm a forced deploy; nothing was started.")
    freeze = _freeze_gate(inv, repo, environment_name, force=forced)  # checked again on the click
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
    if freeze is not None:
        detail["forced_through_freeze"] = freeze.id
    if value.get("a"):
        detail["despite_failed_builds"] = True
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
    if forced and (freeze is not None or value.get("a")):
        now = freezes.clock_of(services)()
        announcement = freeze_render.forced_announcement(inv.user_id, kind, repo, plan.environment.name, freeze, now,
                                                         past_failed_builds=bool(value.get("a")))
        inv.reply(announcement, public=True)


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
