"""`/bb grant`, `/bb revoke` and `/bb roles`: admins hand out roles, every change is audited, anyone may see who
holds what. A person may be named as typed (`@bob`, an email): they are looked up in Slack's member list. A grant
for one environment of a repository is checked against the repository's environments in Bitbucket."""

from __future__ import annotations

from bot.bitbucket import Environment
from bot.core import people
from bot.core.commands import Command
from bot.core.invocation import Invocation, split_repo
from bot.core.permissions import Grant
from bot.deploys import match_environment
from bot.roles import render as roles_render


def _grant_from(inv: Invocation, command: Command, *, check_environment: bool) -> Grant:
    repo = inv.repo(command.repo) if command.repo else ""
    role, environment = command.args["role"], command.args.get("environment") or ""
    typed_role = f"{role}:{environment}" if environment else role
    instead = f"/bb {command.name} {people.MEMBER_ID_EXAMPLE} {typed_role}" + (f" {repo}" if repo else "")
    user_id = people.resolve(inv.services.slack, command.args["user_id"], instead=instead)
    if environment and repo and check_environment:
        environment = _real_environment(inv, repo, environment)
    return Grant(user_id=user_id, role=role, environment=environment.lower(), repo=repo.lower())


def _real_environment(inv: Invocation, repo: str, typed: str) -> str:
    """The repository's environment named `typed` (any case); an unknown one is refused with the real ones."""
    workspace, slug = split_repo(repo)
    environments = [Environment.from_api(e) for e in inv.services.bitbucket.list_environments(workspace, slug)]
    return match_environment(environments, typed).name


def grant(inv: Invocation, command: Command) -> None:
    inv.services.permissions.require_admin(inv.user_id)
    new_grant = _grant_from(inv, command, check_environment=True)
    created = inv.services.permissions.grant(new_grant, granted_by=inv.user_id)
    inv.services.audit.record(inv.user_id, "grant", new_grant.user_id, ok=True, result="granted" if created else "already had it", detail={"grant": new_grant.label})
    if created:
        inv.reply(roles_render.granted(inv.user_id, new_grant), public=True)
    else:
        inv.reply(roles_render.already_held(new_grant))


def revoke(inv: Invocation, command: Command) -> None:
    inv.services.permissions.require_admin(inv.user_id)
    # No environment check: a grant outlives an environment removed from Bitbucket, and must still be revocable.
    old_grant = _grant_from(inv, command, check_environment=False)
    removed = inv.services.permissions.revoke(old_grant)
    inv.services.audit.record(inv.user_id, "revoke", old_grant.user_id, ok=removed, result="revoked" if removed else "no such grant", detail={"grant": old_grant.label})
    if removed:
        inv.reply(roles_render.revoked(inv.user_id, old_grant), public=True)
    else:
        inv.reply(roles_render.not_held(old_grant, inv.services.permissions.grants_of(old_grant.user_id)))


def roles(inv: Invocation, command: Command) -> None:
    """Who holds what: every grant, or those that count on one repository (its own and every repository's)."""
    repo = inv.repo(command.repo).lower() if command.repo else None
    grants = [g for g in inv.services.permissions.all_grants() if repo is None or g.repo in ("", repo)]
    inv.reply(roles_render.roles(grants, inv.services.permissions.admins, repo))
