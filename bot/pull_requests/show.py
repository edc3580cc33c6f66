"""`/bb pr REPO ID`: one pull request in full, and whether it can be merged now. Three reads: the pull request,
its build statuses, and the branch restrictions (those need repository admin: without it, the rest is shown)."""

from __future__ import annotations

from bot.bitbucket import CommitStatus, Forbidden, PullRequest
from bot.builds import rules as build_rules
from bot.core import render
from bot.core.commands import Command
from bot.core.invocation import Invocation, split_repo
from bot.pull_requests import render_show


def show(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    workspace, slug = split_repo(repo)
    bitbucket = inv.services.bitbucket
    data = bitbucket.get_pull_request(workspace, slug, command.args["pr_id"])
    pr = PullRequest.from_api(data)
    gate = build_rules.gate([CommitStatus.from_api(s) for s in bitbucket.list_pull_request_statuses(workspace, slug, pr.id)])
    restrictions: list[dict] | None
    try:
        restrictions = render_show.restrictions_on(bitbucket.list_branch_restrictions(workspace, slug), pr.destination_branch)
    except Forbidden:
        restrictions = None
    inv.reply(render_show.pull_request_detail(repo, pr, data, gate, restrictions, render.utcnow()))
