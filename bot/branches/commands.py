"""Branches from Slack: `/bb branches`, `/bb branch` (create, or delete after a confirmation).

The two writes, `create_branch` and `delete_branch`, each check the role (`releaser` or `merger`), act once and
are audited; they are small functions so the coming one write path can take them over."""

from __future__ import annotations

import secrets

from bot.bitbucket import Forbidden, NotFound, Pipeline, PullRequest, outcome_unknown
from bot.branches import render as branch_render
from bot.branches import rules
from bot.core import render
from bot.core.commands import Command
from bot.core.errors import NotAllowed, UserError
from bot.core.invocation import Invocation, split_repo

PIPELINES_READ = 50  # the newest pipelines, read once: each listed branch's last build is among them or is none


def require_branch_role(inv: Invocation, repo: str, verb: str) -> None:
    permissions = inv.services.permissions
    if not any(permissions.allows(inv.user_id, action, repo) for action in rules.ACTIONS_OF_BRANCH_ROLES):
        raise NotAllowed(f"You need the `releaser` or `merger` role on `{repo}` to {verb} a branch. An admin can grant it "
                         f"with `/bb grant @you releaser {repo}`.")


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
    require_branch_role(inv, repo, "create")
    workspace, slug = split_repo(repo)
    bitbucket = inv.services.bitbucket
    ref_name = command.args.get("ref") or (bitbucket.get_repository(workspace, slug).get("mainbranch") or {}).get("name") or "main"
    ref = bitbucket.resolve_ref(workspace, slug, ref_name)
    data = create_branch(inv, repo, command.args["name"], ref.hash, ref_name)
    inv.reply(branch_render.created(repo, data, ref_name, ref.hash, inv.user_id), public=True)


def create_branch(inv: Invocation, repo: str, name: str, commit_hash: str, ref_name: str) -> dict:
    """The write: a new branch at `commit_hash`, audited."""
    workspace, slug = split_repo(repo)
    target = f"{repo}:{name}"
    try:
        data = inv.services.bitbucket.create_branch(workspace, slug, name, commit_hash)
    except Exception as error:
        inv.services.audit.record(inv.user_id, "create_branch", target, ok=False, result=str(error), detail={"ref": ref_name})
        raise
    inv.services.audit.record(inv.user_id, "create_branch", target, ok=True, result=commit_hash, detail={"ref": ref_name})
    return data


# --- /bb branch REPO NAME --delete [--force] -------------------------------------------------------------------


def ask_delete(inv: Invocation, command: Command) -> None:
    repo, name, force = inv.repo(command.repo), command.args["name"], bool(command.args.get("force"))
    require_branch_role(inv, repo, "delete")
    admin = inv.services.permissions.is_admin(inv.user_id)
    if force and not admin:
        raise NotAllowed("Only admins (listed in `CHATOPS_ADMINS`) can delete a branch with `--force`.")
    head, reasons = _what_keeps(inv, repo, name)
    if reasons and not (force and all(r.forceable for r in reasons)):
        raise UserError(branch_render.refused(repo, name, reasons, admin=admin))
    inv.reply(branch_render.delete_confirmation(repo, name, head, secrets.token_urlsafe(12), reasons))


def confirm_delete(inv: Invocation, value: dict) -> None:
    repo, name, head, forced = str(value["r"]), str(value["b"]), str(value.get("h") or ""), bool(value.get("f"))
    require_branch_role(inv, repo, "delete")
    if forced and not inv.services.permissions.is_admin(inv.user_id):
        raise NotAllowed("Only admins (listed in `CHATOPS_ADMINS`) can delete a branch with `--force`.")
    claim = f"delete_branch:{value.get('k') or ''}:{repo}:{name}"  # one deletion per confirmation, however many clicks
    if not inv.services.store.claim(claim, inv.user_id):
        inv.reply(render.notice(f"That deletion of `{render.escape(name)}` is already under way or done."))
        return
    if not forced:  # things may have changed since the question: a pull request opened from it, say
        try:
            _, reasons = _what_keeps(inv, repo, name)
        except Exception:
            inv.services.store.release_claim(claim)
            raise
        if reasons:
            inv.services.store.release_claim(claim)
            inv.replace_with(render.notice(":warning: " + branch_render.refused(repo, name, reasons, admin=False)))
            return
    delete_branch(inv, repo, name, head, claim=claim, forced=forced)


def delete_branch(inv: Invocation, repo: str, name: str, head: str, *, claim: str, forced: bool) -> None:
    """The write, under the confirmation's claim (`claim`, held): delete the branch, audited; the channel is told.
    A refusal gives the claim back (the same confirmation may try again); an unclear answer keeps it."""
    services = inv.services
    workspace, slug = split_repo(repo)
    target, detail = f"{repo}:{name}", {"head": head, "force": forced}
    try:
        services.bitbucket.delete_branch(workspace, slug, name)
    except Exception as error:
        services.audit.record(inv.user_id, "delete_branch", target, ok=False, result=str(error), detail=detail)
        if outcome_unknown(error):
            inv.replace_with(render.notice(f":hourglass: Bitbucket did not answer clearly ({render.escape(error)}). Look at "
                                           f"the branch in Bitbucket before trying again."))
            return
        services.store.release_claim(claim)
        inv.replace_with(render.error_message(error))
        return
    services.audit.record(inv.user_id, "delete_branch", target, ok=True, result="deleted", detail=detail)
    inv.replace_publicly(branch_render.deleted(repo, name, head, inv.user_id, forced))


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
