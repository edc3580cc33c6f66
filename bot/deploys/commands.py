"""Deploys from Slack: `/bb deploy` (and its `--dry-run`), `/bb rollback`, `/bb deployments`, and their confirmation
buttons.

A deploy is asked for, confirmed with a button, then started: the role and the environment's guards (freezes,
locks, protections) are checked when the command is typed and again on the click; the click acts once; a second
deploy to the same place waits for the first. Every question says what ships. To a protected environment, the
question is a request for approvals in the channel instead (`approvals`). A re-run of a deploy pipeline (`/bb
builds` → Re-run) is asked for here too, like a deploy.
"""

from __future__ import annotations

import logging

from bot import deploys, freezes
from bot.bitbucket import Environment, Pipeline, ResolvedRef
from bot.core import actions, ids, render
from bot.core.commands import Command
from bot.core.errors import NotAllowed, UserError
from bot.core.invocation import Invocation
from bot.core.payloads import DeployButton, PayloadError
from bot.deploys import approvals, reading, ships, starting, where
from bot.deploys import render as deploy_render
from bot.pull_requests.commands import new_action_key

log = logging.getLogger(__name__)


def _force_asked(inv: Invocation, command: Command) -> bool:
    force = bool(command.args.get("force"))
    if force and not inv.services.permissions.is_admin(inv.user_id):  # said before Bitbucket is read
        raise NotAllowed("`--force` is for admins (listed in `CHATOPS_ADMINS`); nothing was started.")
    return force


def _checked(inv: Invocation, kind: str, repo: str, environment: Environment, *, force: bool):
    """The one write path's checks for a deploy or rollback to `environment` (role, freezes, locks, protections):
    (the freeze an admin's `--force` goes through, to show in the question; whether approvals are asked for)."""
    write = actions.Write(kind, repo, f"{repo}@{environment.name}", environment=environment.name, force=force)
    try:
        forced = bool(actions.check(inv.services, inv.user_id, write).forced_through)
        asking = False
    except actions.NeedsApproval:
        forced, asking = force, True
    now = inv.services.timestamp()
    return (freezes.blocking_freeze(inv.services.store, repo, environment.name, now=now) if forced else None), asking


def _ships(inv: Invocation, plan: deploys.DeployPlan, history=None) -> str:
    history = reading.deployments(inv.services, plan.repo) if history is None else history
    return deploy_render.shipment_text(ships.what_ships(inv.services, plan.repo, plan.environment, plan.ref.hash, history),
                                       render.utcnow())


def _ask(inv: Invocation, plan: deploys.DeployPlan, *, force: bool, freeze, asking: bool, ci=None, history=None) -> None:
    """The question: a confirmation, or (a protected environment) a request for approvals in the channel."""
    ships_text = _ships(inv, plan, history)
    if asking:
        approvals.ask(inv, plan, ships_text=ships_text, ci=ci, forced=force)
        return
    inv.reply(deploy_render.deploy_confirmation(plan, new_action_key(), ci=ci, freeze=freeze, forced=force,
                                                now=inv.services.timestamp(), ships=ships_text))


# --- /bb deploy, /bb rollback, a re-run of a deploy pipeline: the question --------------------------------------


def ask_deploy(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    services = inv.services
    if command.args.get("dry_run"):
        dry_run(inv, repo, command)
        return
    force = _force_asked(inv, command)
    environment = reading.environment(services, repo, command.args["environment"], guessed_repo=command.repo is None)
    freeze, asking = _checked(inv, "deploy", repo, environment, force=force)
    ref = reading.resolve(services, repo, command.args["ref"])
    plan = deploys.DeployPlan("deploy", repo, environment, ref, reading.pipeline(services, environment))
    reading.ensure_free(services, repo, environment, plan.pipeline)
    _ask(inv, plan, force=force, freeze=freeze, asking=asking, ci=reading.ci_gate(services, repo, ref.hash))


def ask_redeploy(inv: Invocation, repo: str, environment_name: str, pipeline: Pipeline) -> None:
    """Re-run of a deploy pipeline (`/bb builds` → Re-run on `deploy-to-staging`): it is a deploy of the commit that
    pipeline ran, asked for like `/bb deploy` (role, freezes, locks, protections, builds, the environment free, a
    confirmation or a request for approvals)."""
    target = pipeline.target or {}
    commit = (target.get("commit") or {}).get("hash")
    if not commit:
        raise UserError(f"Bitbucket did not say which commit pipeline #{pipeline.build_number} deployed, so it cannot be run again from here.")
    kind = target.get("ref_type") if target.get("ref_type") in ("branch", "tag") and target.get("ref_name") else "commit"
    ref = ResolvedRef(kind, target.get("ref_name") if kind != "commit" else commit, commit)
    services = inv.services
    environment = reading.environment(services, repo, environment_name)
    freeze, asking = _checked(inv, "deploy", repo, environment, force=False)
    plan = deploys.DeployPlan("deploy", repo, environment, ref, reading.pipeline(services, environment))
    reading.ensure_free(services, repo, environment, plan.pipeline)
    _ask(inv, plan, force=False, freeze=freeze, asking=asking, ci=reading.ci_gate(services, repo, ref.hash))


def ask_rollback(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    services = inv.services
    force = _force_asked(inv, command)
    environment = reading.environment(services, repo, command.args["environment"], guessed_repo=command.repo is None)
    freeze, asking = _checked(inv, "rollback", repo, environment, force=force)
    history = reading.deployments(services, repo)
    plan = reading.rollback_plan(services, repo, environment, history)
    reading.ensure_free(services, repo, environment, plan.pipeline)
    _ask(inv, plan, force=force, freeze=freeze, asking=asking, history=history)


def dry_run(inv: Invocation, repo: str, command: Command) -> None:
    """`/bb deploy … --dry-run`: what would ship and the pipeline that would run, and whether you may; runs nothing."""
    services = inv.services
    environment = reading.environment(services, repo, command.args["environment"], guessed_repo=command.repo is None)
    ref = reading.resolve(services, repo, command.args["ref"])
    plan = deploys.DeployPlan("deploy", repo, environment, ref, reading.pipeline(services, environment))
    verdict = where.may_deploy(services, inv.user_id, repo, environment.name, force=bool(command.args.get("force")))
    inv.reply(deploy_render.dry_run(plan, _ships(inv, plan), verdict.words, reading.ci_gate(services, repo, ref.hash)))


# --- the buttons: act once -----------------------------------------------------------------------------


def confirm_deploy(inv: Invocation, value: dict) -> None:
    button = DeployButton.from_value(value)
    if not (button.ref_kind and button.ref_name and button.commit):
        raise PayloadError()

    def plan(repo: str, environment: Environment) -> deploys.DeployPlan:
        ref = ResolvedRef(button.ref_kind, button.ref_name, button.commit)  # what the person was shown
        return deploys.DeployPlan("deploy", repo, environment, ref, reading.pipeline(inv.services, environment))

    repo = button.repo
    if not button.anyway:
        ci = reading.ci_gate(inv.services, repo, button.commit)
        if ci.failed:  # builds failed since the question: ask again, with the explicit "Deploy anyway"
            environment = reading.environment(inv.services, repo, button.environment)
            freeze, asking = _checked(inv, "deploy", repo, environment, force=button.forced)
            again = plan(repo, environment)
            if asking:
                _ask(inv, again, force=button.forced, freeze=freeze, asking=True, ci=ci)
                inv.replace_with(render.notice("That environment is protected now: your deploy was asked for approval in the channel."))
                return
            inv.replace_with(deploy_render.deploy_confirmation(again, new_action_key(), ci=ci, freeze=freeze, forced=button.forced,
                                                               now=inv.services.timestamp(), ships=_ships(inv, again)))
            return
    _start_once(inv, button, "deploy", plan)


def confirm_rollback(inv: Invocation, value: dict) -> None:
    button = DeployButton.from_value(value)

    def plan(repo: str, environment: Environment) -> deploys.DeployPlan:
        again = reading.rollback_plan(inv.services, repo, environment)
        if again.rollback_from.commit != button.rollback_from or again.ref.hash != button.commit:
            raise UserError(deploy_render.rollback_changed(environment))
        return again

    _start_once(inv, button, "rollback", plan)


def _start_once(inv: Invocation, button: DeployButton, kind: str, make_plan) -> None:
    """Through the one write path (role, freezes, locks and the other guards, once per confirmation, audited): the
    environment free, the pipeline started, the answers. An environment protected since the question turns the
    click into a request for approvals."""
    services = inv.services
    repo, environment_name, forced = button.repo, button.environment, button.forced
    write = actions.Write(kind, repo, f"{repo}@{environment_name}", environment=environment_name, force=forced, key=button.key,
                          former_keys=(f"{kind}:{button.key}",))
    try:
        actions.check(services, inv.user_id, write)  # refused before Bitbucket is read
    except actions.NeedsApproval:
        plan = make_plan(repo, reading.environment(services, repo, environment_name))
        if actions.cancel(services, inv.user_id, button.key) is not None:  # this confirmation is used up either way
            inv.reply(render.notice(f"That {kind} is already under way or done."))
            return
        ci = reading.ci_gate(services, repo, plan.ref.hash) if kind == "deploy" else None
        _ask(inv, plan, force=forced, freeze=None, asking=True, ci=ci)
        inv.replace_with(render.notice("That environment is protected now: your request for approval is in the channel."))
        return
    plan = make_plan(repo, reading.environment(services, repo, environment_name))
    try:
        started = starting.start_once(services, user_id=inv.user_id, channel_id=inv.channel_id, write=write, plan=plan,
                                      anyway=button.anyway)
    except actions.OutcomeUnknown:
        inv.replace_with(render.notice(
            ":hourglass: Bitbucket did not answer clearly. The bot is checking whether the pipeline started; if it "
            "did, its progress follows in this channel."
        ))
        return
    except starting.NotStarted as refused:
        inv.replace_with(deploy_render.not_started(refused.plan, refused.error))
        return
    if isinstance(started, actions.AlreadyDone):
        inv.reply(render.notice(started.words(kind)))
        return
    inv.replace_with(deploy_render.started_note(started.record))
    if started.announcement is not None:  # an admin's force: told in the channel (an approved request's too)
        inv.reply(started.announcement, public=True)


# --- /bb deployments -----------------------------------------------------------------------------------


def list_deployments(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    environments = reading.environments(inv.services, repo)
    history = reading.deployments(inv.services, repo) if environments else []
    histories = {env.uuid: deploys.history_of(history, env) for env in environments}
    inv.reply(deploy_render.deployments_overview(repo, environments, histories, render.utcnow()))


COMMAND_HANDLERS = {"deploy": ask_deploy, "rollback": ask_rollback, "deployments": list_deployments, "where": where.show}
ACTION_HANDLERS = {ids.CONFIRM_DEPLOY: confirm_deploy, ids.CONFIRM_ROLLBACK: confirm_rollback, **approvals.ACTION_HANDLERS}
