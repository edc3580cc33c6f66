"""Branches from Slack: `/bb branches`, `/bb branch` (create, or delete after a confirmation).

The two writes go through the one write path (`bot/core/actions.py`): the role (`releaser` or `merger`), act once
per confirmation, one audit record."""

from __future__ import annotations

import secrets

from bot.bitbucket import Forbidden, NotFound, Pipeline, PullRequest
from bot.branches import render as branch_render
from bot.branches import rules
from bot.core import actions, render
from bot.core.commands import Command
from bot.core.errors import UserError
from bot.core.payloads import BranchButton
from bot.core.invocation import Invocation, perform_on_click, split_repo

PIPELINES_READ = 50  # the newest pipelines, read once: each listed branch's last build is among them or is none


def _write(kind: str, repo: str, name: str, *, key: str | None = None, force: bool = False, detail=None) -> actions.Write:
    return actions.Write(kind, repo, f"{repo}:{name}", permission=f"{kind.replace('_branch', '')} a branch", acting=actions.BOT,
                         key=key, force=force, detail=detail or {})


# --- /bb branches --------------------------------------------------------------------------------------------


def list_branches(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    workspace, slug = split_repo(repo)
    glob = command.args.get("glob")
    bitbucket = inv.services.bitbucket
    page = bitbucket.list_branches(workspace, slug, q=rules.name_query(glob), limit=None if glob else branch_render.MAX_BRANCHES)
    branches = [b for b in page.values if rules.matches(glob, b.get("name") or "")]
    total = len(branches) if glob else page.total
    builds: dict[str, Pipeline] = {}
    if branches:
        try:
            pipelines = bitbucket.list_pipelines(workspace, slug, limit=PIPELINES_READ)
        except (Forbidden, NotFound):  # Pipelines off, or not readable with this token: branches without builds
            pipelines = []
        for data in pipelines:  # newest first: the first of each branch is its last build
            pipeline = Pipeline.from_api(data)
            if pipeline.ref_type == "branch" and pipeline.ref_name:
                builds.setdefault(pipeline.ref_name, pipeline)
    inv.reply(branch_render.branch_list(repo, glob, branches[:branch_render.MAX_BRANCHES], builds, total, render.utcnow()))


# --- /bb branch REPO NAME [from REF] ---------------------------------------------------------------------------


def create(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    actions.check(inv.services, inv.user_id, _write("create_branch", repo, command.args["name"]))
    workspace, slug = split_repo(repo)
    bitbucket = inv.services.bitbucket
    ref_name = command.args.get("ref") or (bitbucket.get_repository(workspace, slug).get("mainbranch") or {}).get("name") or "main"
    ref = bitbucket.resolve_ref(workspace, slug, ref_name)
    data = create_branch(inv, repo, command.args["name"], ref.hash, ref_name)
    inv.reply(branch_render.created(repo, data, ref_name, ref.hash, inv.user_id), public=True)


def create_branch(inv: Invocation, repo: str, name: str, commit_hash: str, ref_name: str) -> dict:
    """The write: a new branch at `commit_hash`, through the one write path."""
    workspace, slug = split_repo(repo)
    done = actions.perform(inv.services, inv.user_id, _write("create_branch", repo, name, detail={"ref": ref_name}),
                           lambda client: client.create_branch(workspace, slug, name, commit_hash), describe=lambda _: commit_hash)
    return done.value


# --- /bb branch REPO NAME --delete [--force] -------------------------------------------------------------------


def ask_delete(inv: Invocation, command: Command) -> None:
    repo, name, force = inv.repo(command.repo), command.args["name"], bool(command.args.get("force"))
    actions.check(inv.services, inv.user_id, _write("delete_branch", repo, name, force=force))
    admin = inv.services.permissions.is_admin(inv.user_id)
    head, reasons = _what_keeps(inv, repo, name)
    if reasons and not (force and all(r.forceable for r in reasons)):
        raise UserError(branch_render.refused(repo, name, reasons, admin=admin))
    inv.reply(branch_render.delete_confirmation(repo, name, head, secrets.token_urlsafe(12), reasons))


def confirm_delete(inv: Invocation, value: dict) -> None:
    button = BranchButton.from_value(value)
    repo, name, forced = button.repo, button.branch, button.forced
    write = _write("delete_branch", repo, name, key=f"{button.key}:{repo}:{name}", force=forced,
                   detail={"head": button.head, "force": forced})
    checked = actions.check(inv.services, inv.user_id, write)
    held = actions.already(inv.services, write)
    if held is not None:
        inv.reply(render.notice(held.words(f"deletion of `{render.escape(name)}`")))
        return
    if not forced:  # things may have changed since the question: a pull request opened from it, say
        _, reasons = _what_keeps(inv, repo, name)
        if reasons:
            inv.replace_with(render.notice(":warning: " + branch_render.refused(repo, name, reasons, admin=False)))
            return
    workspace, slug = split_repo(repo)
    done = perform_on_click(inv, write, lambda client: client.delete_branch(workspace, slug, name),
                            what=f"deletion of `{render.escape(name)}`", describe=lambda _: "deleted", checked=checked)
    if done is not None:
        inv.replace_publicly(branch_render.deleted(repo, name, button.head, inv.user_id, forced))


def _what_keeps(inv: Invocation, repo: str, name: str) -> tuple[str, list[rules.Refusal]]:
    """The branch's head, and what keeps it from being deleted (the main branch, open pull requests from or into it,
    a branch restriction)."""
    workspace, slug = split_repo(repo)
    bitbucket = inv.services.bitbucket
    try:
        head = (bitbucket.get_branch(workspace, slug, name).get("target") or {}).get("hash") or ""
    except NotFound:
        raise UserError(f"There is no branch {render.code(name)} in {render.escape(repo)}.") from None
    main = (bitbucket.get_repository(workspace, slug).get("mainbranch") or {}).get("name") or ""
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    page = bitbucket.list_pull_requests(workspace, slug, with_reviewers=False, limit=10,
                                        q=f'source.branch.name = "{quoted}" OR destination.branch.name = "{quoted}"')
    open_prs = [PullRequest.from_api(item) for item in page.values]
    try:
        restrictions = bitbucket.list_branch_restrictions(workspace, slug, kind="delete")
    except (Forbidden, NotFound):  # reading them needs repository admin: Bitbucket still enforces them on the delete
        restrictions = []
    return head, rules.refusals(name, main, open_prs, restrictions)


def branch(inv: Invocation, command: Command) -> None:
    """`/bb branch`: create, or (`--delete`) ask to delete."""
    (ask_delete if command.args.get("delete") else create)(inv, command)


COMMAND_HANDLERS = {"branches": list_branches, "branch": branch}
ACTION_HANDLERS = {branch_render.CONFIRM_DELETE_BRANCH: confirm_delete}
