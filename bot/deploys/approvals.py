"""Deploys to a protected environment: the request for approval, its Approve and Reject buttons, and the deploy an
approved request becomes.

A deploy or rollback that the protection guard asks approvals for (`actions.NeedsApproval`) becomes a card in the
channel: who asks, what ships, Approve and Reject. Approvals come from `needed` different people with the role for
the environment, never the one who asks; a Reject ends it with a reason (a form). A request waits an hour. The
approval that completes it runs the deploy, once (`requests.approve` lets one approval complete it; the write path's
claim on the request's key holds besides), as the person who asked, through every guard again: the write carries the
request's id, which the protection guard accepts. A branch that moved since it was asked is asked about again, with
the new commits. An admin's `--force` through a freeze is told in the channel when the deploy starts, in the same
words as a forced confirmation's (`starting.forced_announcement`), and audited the same way.
"""

from __future__ import annotations

import json

from bot import deploys
from bot.bitbucket import BitbucketError, ResolvedRef
from bot.core import actions, ids, render
from bot.core.errors import NotAllowed, UserError
from bot.core.invocation import Invocation, run_safely, split_repo
from bot.core.payloads import PayloadError, RequestButton
from bot.deploys import reading, ships, starting
from bot.deploys import render as deploy_render
from bot.environments import protections, requests
from bot.environments import render as env_render

STATE_ANSWERS = {
    requests.APPROVED: "That request is approved already; its deploy is starting.",
    requests.STARTED: "That request was approved and its deploy started.",
    requests.FINISHED: "That request was approved and its deploy has ended.",
    requests.FAILED: "That request was approved, but its deploy could not start (the card says why).",
    requests.REJECTED: "That request was rejected; nothing changed. Ask again with `/bb deploy`.",
    requests.EXPIRED: "That request expired (a request waits an hour); nothing changed. Ask again with `/bb deploy`.",
    requests.SUPERSEDED: "That request was asked again because its branch moved: approve the new one.",
}


def ask(inv: Invocation, plan: deploys.DeployPlan, *, ships_text: str, ci=None, forced: bool = False) -> None:
    """Post the request card in the channel (through the outbox: any replica redraws it later)."""
    services = inv.services
    protection = protections.for_environment(services.store, plan.repo, plan.environment.name)
    if protection is None:
        raise UserError("The environment's protection changed just now; run the command again.")
    request = requests.create(
        services.store, kind=plan.kind, repo=plan.repo, environment=plan.environment.name, ref_kind=plan.ref.kind,
        ref=plan.ref.name, commit_hash=plan.ref.hash, rollback_from=(plan.rollback_from.commit or "") if plan.rollback_from else "",
        requested_by=inv.user_id, channel_id=inv.channel_id, needed=protection.approvals, role=protection.role, forced=forced,
        anyway=bool(ci is not None and ci.failed), summary=ships_text, now=services.timestamp(),
    )
    services.audit.record(inv.user_id, f"request {plan.kind}", f"{plan.repo}@{plan.environment.name}", ok=True,
                          result=f"request #{request.id}", detail={"commit": plan.ref.hash, "ref": plan.ref.name,
                                                                   "needed": request.needed, "role": request.role,
                                                                   **({"force": True} if forced else {})})
    inv.reply(render.notice(
        f"{env_render.needs_approval(protection)}\nYour request is in this channel: it waits an hour for the approvals."
    ))


def _request(inv: Invocation, value: dict) -> requests.DeployRequest:
    request = requests.get(inv.services.store, RequestButton.from_value(value).request_id)
    if request is None:
        raise PayloadError()
    return request


def _open(inv: Invocation, request: requests.DeployRequest) -> bool:
    """Answer (and change nothing) when the request no longer waits; an expired one's card says so."""
    now = inv.services.timestamp()
    if request.state == requests.OPEN and request.expired_at(now):
        requests.end(inv.services.store, request.id, requests.EXPIRED, by="", now=now)
        inv.reply(render.notice(STATE_ANSWERS[requests.EXPIRED]))
        return False
    if request.state != requests.OPEN:
        inv.reply(render.notice(STATE_ANSWERS.get(request.state, "That request is over; nothing changed.")))
        return False
    return True


def _may_approve(inv: Invocation, request: requests.DeployRequest) -> None:
    if inv.user_id == request.requested_by:
        raise NotAllowed("You asked for this deploy: the approvals must come from others. Nothing changed.")
    permission = protections.PERMISSION_OF_ROLE.get(request.role, "approve deploys")
    if not inv.services.permissions.allows(inv.user_id, permission, request.repo, request.environment):
        raise NotAllowed(f"Approvals of deploys to {env_render.place(request.repo, request.environment)} come from people with "
                         f"{env_render.approvers(request)}; you do not have it. Nothing changed.")


def approve(inv: Invocation, value: dict) -> None:
    request = _request(inv, value)
    if not _open(inv, request):
        return
    _may_approve(inv, request)
    services = inv.services
    if _moved(inv, request):
        return
    try:
        request, complete = requests.approve(services.store, request.id, inv.user_id, now=services.timestamp())
    except requests.NotOpen as over:
        inv.reply(render.notice(STATE_ANSWERS.get(over.request.state, "That request is over; nothing changed.")))
        return
    services.audit.record(inv.user_id, "approve deploy", f"{request.repo}@{request.environment}", ok=True,
                          result=f"request #{request.id}: {len(request.approvals)} of {request.needed}", detail={"request": request.id})
    if not complete:
        inv.reply(render.notice(f"Your approval counts: {len(request.approvals)} of {request.needed}."))
        return
    words, announcement = run(services, request, approver=inv.user_id)
    inv.reply(render.notice(words))
    if announcement is not None:  # an admin's force: told in the channel, as a confirmation's click tells it
        inv.reply(announcement, public=True)


def run(services, request: requests.DeployRequest, *, approver: str) -> tuple[str, render.Message | None]:
    """The approved request's deploy, once, as the person who asked; the card says what came of it. Returns words
    for the approver, and the channel's news of an admin's force that went through (or None)."""
    now = services.timestamp
    try:
        environment = reading.environment(services, request.repo, request.environment)
        pipeline = reading.pipeline(services, environment)
        if request.kind == "rollback":
            plan = reading.rollback_plan(services, request.repo, environment)
            if plan.rollback_from.commit != request.rollback_from or plan.ref.hash != request.commit_hash:
                raise UserError(deploy_render.rollback_changed(environment))
        else:
            plan = deploys.DeployPlan("deploy", request.repo, environment,
                                      ResolvedRef(request.ref_kind, request.ref, request.commit_hash), pipeline)
        write = actions.Write(request.kind, request.repo, f"{request.repo}@{environment.name}", environment=environment.name,
                              force=request.forced, key=request.key, approved=request.id,
                              detail={"request": request.id, "approved_by": list(request.approvals)})
        started = starting.start_once(services, user_id=request.requested_by, channel_id=request.channel_id, write=write,
                                      plan=plan, anyway=request.anyway)
    except actions.OutcomeUnknown:
        requests.end(services.store, request.id, requests.STARTED, by=approver, now=now(), states=(requests.APPROVED,),
                     note="Bitbucket did not answer clearly; the bot is checking whether the pipeline started")
        return "Approved. Bitbucket did not answer clearly; the bot is checking whether the pipeline started.", None
    except starting.NotStarted as refused:
        note = f"Bitbucket said {render.bitbucket_words(refused.error)}"
        requests.end(services.store, request.id, requests.FAILED, by=approver, note=note, now=now(), states=(requests.APPROVED,))
        return f"Approved, but nothing started: {note}", None
    except UserError as refused:
        requests.end(services.store, request.id, requests.FAILED, by=approver, note=refused.message, now=now(),
                     states=(requests.APPROVED,))
        return f"Approved, but nothing started: {refused.message}", None
    except BitbucketError as error:  # read before the start (the environment, the pipelines running)
        note = f"Bitbucket could not be read: {render.bitbucket_words(error)}"
        requests.end(services.store, request.id, requests.FAILED, by=approver, note=note, now=now(), states=(requests.APPROVED,))
        return f"Approved, but nothing started: {note}", None
    if isinstance(started, actions.AlreadyDone):
        return "That request's deploy is already under way or done.", None
    record = started.record
    requests.end(services.store, request.id, requests.STARTED, by=approver, deploy_id=record.id, now=now(),
                 note=f"pipeline {deploy_render.pipeline_label(record.pipeline_number, record.pipeline_url)} "
                      f"({render.code(record.pipeline)}) started; its progress follows in this channel",
                 states=(requests.APPROVED,))
    return "Approved: the deploy started; the card follows it.", started.announcement


def _moved(inv: Invocation, request: requests.DeployRequest) -> bool:
    """A branch that moved since the request was asked: the request is asked again with the new commits (the
    approval is not counted); True when so."""
    if request.kind != "deploy" or request.ref_kind != "branch":
        return False
    services = inv.services
    head = reading.resolve(services, request.repo, request.ref)
    if ships.same_commit(head.hash, request.commit_hash):
        return False
    workspace, slug = split_repo(request.repo)
    new = services.bitbucket.list_commits_between(workspace, slug, head.hash, request.commit_hash, pagelen=ships.MAX_SHOWN)
    environment = reading.environment(services, request.repo, request.environment)
    shipment = ships.what_ships(services, request.repo, environment, head.hash, reading.deployments(services, request.repo))
    moved = deploy_render.moved_text(request.ref, request.commit_hash, [ships.commit_of(request.repo, c) for c in new.values], new.total is None)
    now = services.timestamp()
    if requests.end(services.store, request.id, requests.SUPERSEDED, by=inv.user_id, now=now,
                    note=f"{request.ref} moved to {head.hash[:12]}") is None:
        inv.reply(render.notice("That request changed just now; look at its card."))
        return True
    ci = reading.ci_gate(services, request.repo, head.hash)
    again = requests.create(
        services.store, kind="deploy", repo=request.repo, environment=request.environment, ref_kind="branch", ref=request.ref,
        commit_hash=head.hash, requested_by=request.requested_by, channel_id=request.channel_id, needed=request.needed,
        role=request.role, forced=request.forced, anyway=bool(ci.failed),
        summary=moved + "\n" + deploy_render.shipment_text(shipment, render.utcnow()), now=now,
    )
    services.audit.record(inv.user_id, "request deploy", f"{request.repo}@{request.environment}", ok=True,
                          result=f"request #{again.id} (asked again: the branch moved)",
                          detail={"replaces": request.id, "commit": head.hash})
    inv.reply(render.notice(f"{render.code(request.ref)} moved since this was asked: it is asked again in the channel, "
                            "with the new commits. Your approval was not counted; approve the new request."))
    return True


def _may_reject(inv: Invocation, request: requests.DeployRequest) -> None:
    if inv.user_id == request.requested_by:
        return  # withdrawing one's own request
    _may_approve(inv, request)


def ask_reject(inv: Invocation, value: dict) -> None:
    """Reject…: asks why, in a form."""
    request = _request(inv, value)
    if not _open(inv, request):
        return
    _may_reject(inv, request)
    meta = json.dumps({**RequestButton(request.id).to_value(), "c": inv.channel_id})
    inv.services.slack.views_open(trigger_id=inv.trigger_id, view=env_render.reject_modal(request.id, meta, env_render.request_label(request)))


def reject(inv: Invocation, meta: dict, reason: str) -> None:
    request = _request(inv, {k: v for k, v in meta.items() if k != "c"})
    if not _open(inv, request):
        return
    _may_reject(inv, request)
    services = inv.services
    ended = requests.end(services.store, request.id, requests.REJECTED, by=inv.user_id, note=reason, now=services.timestamp())
    if ended is None:
        inv.reply(render.notice("That request changed just now; nothing was rejected. Look at its card."))
        return
    services.audit.record(inv.user_id, "reject deploy", f"{request.repo}@{request.environment}", ok=True,
                          result=f"request #{request.id} rejected", detail={"request": request.id, "reason": reason})
    inv.reply(render.notice(f"You rejected the request to {env_render.request_label(request)}."))


def reason_of(view: dict) -> str:
    return render.input_text(view, ids.REJECT_REASON_BLOCK, ids.REJECT_REASON_INPUT)


def on_reject_view(services, ack, body, view, invocation_for) -> None:
    reason = reason_of(view)
    if not reason:
        ack(response_action="errors", errors={ids.REJECT_REASON_BLOCK: "Say why the deploy should not go ahead."})
        return
    ack()
    meta = json.loads(view.get("private_metadata") or "{}")
    inv = invocation_for(meta.get("c"))
    services.submit(run_safely, inv, lambda: reject(inv, meta, reason))


ACTION_HANDLERS = {ids.APPROVE_DEPLOY_REQUEST: approve, ids.REJECT_DEPLOY_REQUEST: ask_reject}
VIEW_HANDLERS = {ids.REJECT_REQUEST_MODAL: on_reject_view}
