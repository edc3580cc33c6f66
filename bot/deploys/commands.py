"""Deploys from Slack: `/bb deploy`, `/bb rollback`, `/bb deployments`, and their confirmation buttons.

A deploy is asked for, confirmed with a button, then started: the role is checked when the command is typed
and again on the click; the click acts once; a second deploy to the same place waits for the first.
"""

from __future__ import annotations

import dataclasses
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
from bot.core.errors import NotAllowed, UsageError, UserError
from bot.core.invocation import Invocation, split_repo
from bot.core import actions
from bot.core.payloads import DeployButton, PayloadError
from bot.pull_requests.commands import new_action_key

log = logging.getLogger(__name__)

DEPLOYMENT_HISTORY = 200  # deployments read for a rollback or the overview (Bitbucket offers no filter or sort)


# --- reading Bitbucket -------------------------------------------------------------------------------


def _environment(inv: Invocation, repo: str, typed: str, *, guessed_repo: bool = False) -> Environment:
    """The environment typed; when the repository was the channel's (not typed) and the word names no environment,
    the person left one out (`/bb rollback api`): say which there are, never guess."""
    workspace, slug = split_repo(repo)
    environments = [Environment.from_api(e) for e in inv.services.bitbucket.list_environments(workspace, slug)]
    try:
        return deploys.match_environment(environments, typed)
    except UserError:
        if guessed_repo and environments:
            names = ", ".join(render.code(e.name.lower()) for e in environments)
            raise UsageError(f"Which environment of {render.code(repo)}: {names}? `{render.escape(typed)}` is none of them.",
                             usage="/bb rollback REPO ENV · /bb deploy REPO REF to ENV") from None
        raise


def _force_asked(inv: Invocation, command: Command) -> bool:
    force = bool(command.args.get("force"))
    if force and not inv.services.permissions.is_admin(inv.user_id):  # said before Bitbucket is read
        raise NotAllowed("`--force` is for admins (listed in `CHATOPS_ADMINS`); nothing was started.")
    return force


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


def _checked(inv: Invocation, kind: str, repo: str, environment: Environment, *, force: bool):
    """The one write path's checks for a deploy or rollback to `environment` (role, freezes and the other guards);
    the freeze an admin's `--force` goes through, to show in the question."""
    write = actions.Write(kind, repo, f"{repo}@{environment.name}", environment=environment.name, force=force)
    checked = actions.check(inv.services, inv.user_id, write)
    if not checked.forced_through:
        return None
    return freezes.blocking_freeze(inv.services.store, repo, environment.name, now=freezes.clock_of(inv.services)())


def _ci_gate(inv: Invocation, repo: str, commit: str) -> build_rules.Gate:
    """The builds of the commit a deploy would run."""
    workspace, slug = split_repo(repo)
    statuses = [CommitStatus.from_api(s) for s in inv.services.bitbucket.list_commit_statuses(workspace, slug, commit)]
    return build_rules.gate(statuses)


# --- /bb deploy, /bb rollback: the question ----------------------------------------------------------


def ask_deploy(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    force = _force_asked(inv, command)
    environment = _environment(inv, repo, command.args["environment"], guessed_repo=command.repo is None)
    freeze = _checked(inv, "deploy", repo, environment, force=force)
    ref = _resolve(inv, repo, command.args["ref"])
    plan = deploys.DeployPlan("deploy", repo, environment, ref, _pipeline(inv, environment))
    _ensure_free(inv, repo, environment, plan.pipeline)
    ci = _ci_gate(inv, repo, ref.hash)
    now = freezes.clock_of(inv.services)()
    inv.reply(deploy_render.deploy_confirmation(plan, new_action_key(), ci=ci, freeze=freeze, forced=force, now=now))


def ask_redeploy(inv: Invocation, repo: str, environment_name: str, pipeline: Pipeline) -> None:
    """Re-run of a deploy pipeline (`/bb builds` → Re-run on `deploy-to-staging`): it is a deploy of the commit that
    pipeline ran, asked for like `/bb deploy` (role, freezes, locks, builds, the environment free, a confirmation)."""
    target = pipeline.target or {}
    commit = (target.get("commit") or {}).get("hash")
    if not commit:
        raise UserError(f"Bitbucket did not say which commit pipeline #{pipeline.build_number} deployed, so it cannot be run again from here.")
    kind = target.get("ref_type") if target.get("ref_type") in ("branch", "tag") and target.get("ref_name") else "commit"
    ref = ResolvedRef(kind, target.get("ref_name") if kind != "commit" else commit, commit)
    environment = _environment(inv, repo, environment_name)
    freeze = _checked(inv, "deploy", repo, environment, force=False)
    plan = deploys.DeployPlan("deploy", repo, environment, ref, _pipeline(inv, environment))
    _ensure_free(inv, repo, environment, plan.pipeline)
    ci = _ci_gate(inv, repo, ref.hash)
    now = freezes.clock_of(inv.services)()
    inv.reply(deploy_render.deploy_confirmation(plan, new_action_key(), ci=ci, freeze=freeze, forced=False, now=now))


def ask_rollback(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    force = _force_asked(inv, command)
    environment = _environment(inv, repo, command.args["environment"], guessed_repo=command.repo is None)
    freeze = _checked(inv, "rollback", repo, environment, force=force)
    plan = _rollback_plan(inv, repo, environment)
    _ensure_free(inv, repo, environment, plan.pipeline)
    now = freezes.clock_of(inv.services)()
    inv.reply(deploy_render.deploy_confirmation(plan, new_action_key(), freeze=freeze, forced=force, now=now))


# --- the buttons: act once -----------------------------------------------------------------------------


def confirm_deploy(inv: Invocation, value: dict) -> None:
    button = DeployButton.from_value(value)
    if not (button.ref_kind and button.ref_name and button.commit):
        raise PayloadError()

    def plan(repo: str, environment: Environment) -> deploys.DeployPlan:
        ref = ResolvedRef(button.ref_kind, button.ref_name, button.commit)  # what the person was shown
        return deploys.DeployPlan("deploy", repo, environment, ref, _pipeline(inv, environment))

    repo = button.repo
    if not button.anyway:
        ci = _ci_gate(inv, repo, button.commit)
        if ci.failed:  # builds failed since the question: ask again, with the explicit "Deploy anyway"
            write = actions.Write("deploy", repo, f"{repo}@{button.environment}", environment=button.environment, force=button.forced)
            actions.check(inv.services, inv.user_id, write)
            again = plan(repo, _environment(inv, repo, button.environment))
            now = freezes.clock_of(inv.services)()
            freeze = freezes.blocking_freeze(inv.services.store, repo, again.environment.name, now=now) if button.forced else None
            inv.replace_with(deploy_render.deploy_confirmation(again, new_action_key(), ci=ci, freeze=freeze, forced=button.forced, now=now))
            return
    _start_once(inv, button, "deploy", plan)


def confirm_rollback(inv: Invocation, value: dict) -> None:
    button = DeployButton.from_value(value)

    def plan(repo: str, environment: Environment) -> deploys.DeployPlan:
        again = _rollback_plan(inv, repo, environment)
        if again.rollback_from.commit != button.rollback_from or again.ref.hash != button.commit:
            raise UserError(deploy_render.rollback_changed(environment))
        return again

    _start_once(inv, button, "rollback", plan)


def _start_once(inv: Invocation, button: DeployButton, kind: str, make_plan) -> None:
    """Through the one write path (role, freezes and the other guards, once per confirmation, audited): the
    environment free, the pipeline started, the answers."""
    services = inv.services
    repo, environment_name, forced = button.repo, button.environment, button.forced
    write = actions.Write(kind, repo, f"{repo}@{environment_name}", environment=environment_name, force=forced,
                          key=button.key)
    actions.check(services, inv.user_id, write)  # refused before Bitbucket is read
    plan = make_plan(repo, _environment(inv, repo, environment_name))
    freeze = freezes.blocking_freeze(services.store, repo, plan.environment.name, now=freezes.clock_of(services)()) if forced else None
    detail = {"ref": plan.ref.name, "commit": plan.ref.hash, "pipeline": plan.pipeline}
    if freeze is not None:
        detail["forced_through_freeze"] = freeze.id
    if button.anyway:
        detail["despite_failed_builds"] = True
    write = dataclasses.replace(write, target=f"{repo}@{plan.environment.name}", environment=plan.environment.name, detail=detail)
    workspace, slug = split_repo(repo)
    begun = {}

    def start(client):
        _ensure_free(inv, repo, plan.environment, plan.pipeline)
        begun["id"] = deploys.begin(services.store, plan, user_id=inv.user_id, channel_id=inv.channel_id)
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
        done = actions.perform(services, inv.user_id, write, start,
                               describe=lambda started: f"pipeline #{started.get('build_number')} started")
    except actions.OutcomeUnknown:
        inv.replace_with(render.notice(
            ":hourglass: Bitbucket did not answer clearly. The bot is checking whether the pipeline started; if it "
            "did, its progress follows in this channel."
        ))
        return
    except BitbucketError as error:
        if "id" not in begun:
            raise
        inv.replace_with(deploy_render.not_started(plan, error))
        return
    if isinstance(done, actions.AlreadyDone):
        inv.reply(render.notice(done.words(kind)))
        return
    record = deploys.record_started(services.store, begun["id"], Pipeline.from_api(done.value))
    inv.replace_with(deploy_render.started_note(record))
    if forced and (freeze is not None or button.anyway):
        now = freezes.clock_of(services)()
        announcement = freeze_render.forced_announcement(inv.user_id, kind, repo, plan.environment.name, freeze, now,
                                                         past_failed_builds=button.anyway)
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
