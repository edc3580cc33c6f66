"""The merge gate: a merge confirmation shows the pull request's builds; while any failed or still runs, only
an admin may merge, with "Merge anyway", which asks for a reason (kept in the audit log)."""

from __future__ import annotations

import json

from bot.core import actions, ids, render
from bot.bitbucket import CommitStatus, PullRequest
from bot.builds import render as builds_render
from bot.builds import rules as build_rules
from bot.core.errors import NotAllowed
from bot.core.payloads import PullRequestButton
from bot.core.invocation import Invocation, run_safely, split_repo
from bot.pull_requests import render as pr_render


def builds_of(inv: Invocation, repo: str, pr_id: int) -> build_rules.Gate:
    workspace, slug = split_repo(repo)
    statuses = inv.services.bitbucket.list_pull_request_statuses(workspace, slug, pr_id)
    return build_rules.gate([CommitStatus.from_api(s) for s in statuses])


def confirmation(inv: Invocation, repo: str, pr, strategy: str | None, key: str) -> render.Message:
    """The merge confirmation with the builds; the gate instead of a Merge button when they are red."""
    gate = builds_of(inv, repo, pr.id)
    if gate.red:
        return builds_render.merge_gate(repo, pr, strategy, key, gate, admin=inv.services.permissions.is_admin(inv.user_id))
    asked = pr_render.merge_confirmation(repo, pr, strategy, key)
    asked.blocks.insert(1, builds_render.merge_statuses_context(gate))
    return asked


def gated_on_click(inv: Invocation, button: PullRequestButton) -> bool:
    """Builds checked again on the click: True (and the gate shown instead) when they turned red meanwhile."""
    repo, pr_id = button.repo, button.pr_id
    actions.check(inv.services, inv.user_id, actions.Write("merge", repo, f"{repo}#{pr_id}"))
    gate = builds_of(inv, repo, pr_id)
    if not gate.red:
        return False
    workspace, slug = split_repo(repo)
    pr = PullRequest.from_api(inv.services.bitbucket.get_pull_request(workspace, slug, pr_id))
    admin = inv.services.permissions.is_admin(inv.user_id)
    inv.replace_with(builds_render.merge_gate(repo, pr, button.strategy, button.key, gate, admin=admin))
    return True


def _require_admin(inv: Invocation) -> None:
    if not inv.services.permissions.is_admin(inv.user_id):
        raise NotAllowed("Only admins (listed in `CHATOPS_ADMINS`) can merge while builds fail or run.")


def ask_reason(inv: Invocation, value: dict) -> None:
    """Merge anyway…: an admin is asked why, in a form."""
    _require_admin(inv)
    button = PullRequestButton.from_value(value)
    meta = json.dumps({**button.to_value(), "c": inv.channel_id})
    inv.services.slack.views_open(trigger_id=inv.trigger_id, view=builds_render.merge_anyway_modal(meta, f"#{button.pr_id} in {button.repo}"))


def reason_of(view: dict) -> str:
    return render.input_text(view, ids.MERGE_REASON_BLOCK, ids.MERGE_REASON_INPUT)


def merge_anyway(inv: Invocation, meta: dict, reason: str) -> None:
    """An admin's merge past red or running builds, with a reason: the confirmation's key, so it merges once."""
    _require_admin(inv)
    button = PullRequestButton.from_value({k: v for k, v in meta.items() if k != "c"})
    repo, pr_id, strategy = button.repo, button.pr_id, button.strategy
    gate = builds_of(inv, repo, pr_id)
    detail = {"strategy": strategy, "anyway": True, "reason": reason, "builds": [f"{s.name}: {s.state}" for s in gate.statuses]}
    workspace, slug = split_repo(repo)
    write = actions.Write("merge", repo, f"{repo}#{pr_id}", key=button.key or None, detail=detail,
                          former_keys=(f"merge:{button.key}:{repo}#{pr_id}",))
    done = actions.perform(inv.services, inv.user_id, write,
                           lambda client: client.merge_pull_request(workspace, slug, pr_id, strategy=strategy))
    if isinstance(done, actions.AlreadyDone):
        inv.reply(render.notice(done.words(f"merge of #{pr_id}")))
        return
    inv.reply(builds_render.merged_anyway(repo, PullRequest.from_api(done.value), inv.user_id, gate, reason), public=True)


def on_merge_anyway_view(services, ack, body, view, invocation_for) -> None:
    reason = reason_of(view)
    if not reason:
        ack(response_action="errors", errors={ids.MERGE_REASON_BLOCK: "Say why the builds may be ignored."})
        return
    ack()
    meta = json.loads(view.get("private_metadata") or "{}")
    inv = invocation_for(meta.get("c"))
    services.submit(run_safely, inv, lambda: merge_anyway(inv, meta, reason))


ACTION_HANDLERS = {ids.ASK_MERGE_ANYWAY: ask_reason}
