"""Locks and protections from Slack: `/bb lock`, `/bb unlock`, `/bb locks`, `/bb protect`, `/bb unprotect`.

Locking needs the role that may deploy there (`deployer`, or `deployer:ENV`); unlocking is the holder's, or an
admin's (audited, and told to the holder). Protecting is for admins. An environment the repository does not have
is refused with the list of those it has."""

from __future__ import annotations

from bot.bitbucket import Environment
from bot.core import outbox
from bot.core.commands import Command
from bot.core.errors import NotAllowed, UserError
from bot.core.invocation import Invocation, split_repo
from bot.deploys import match_environment
from bot.environments import locks, protections
from bot.environments import render as env_render


def _target(inv: Invocation, command: Command) -> tuple[str, Environment]:
    """The repository and the environment of it the command names (refused, with those it has, when it has none such)."""
    repo = inv.repo(command.repo)
    workspace, slug = split_repo(repo)
    environments = [Environment.from_api(e) for e in inv.services.bitbucket.list_environments(workspace, slug)]
    return repo, match_environment(environments, command.args["environment"])


def _require_admin(inv: Invocation, doing: str) -> None:
    if not inv.services.permissions.is_admin(inv.user_id):
        raise NotAllowed(f"Only admins (listed in `CHATOPS_ADMINS`) can {doing}.")


def lock(inv: Invocation, command: Command) -> None:
    repo, environment = _target(inv, command)
    services = inv.services
    services.permissions.require(inv.user_id, "lock", repo, environment.name)
    now = services.timestamp()
    seconds = command.args.get("seconds")
    try:
        taken, new = locks.take(services.store, repo, environment.name, user_id=inv.user_id, channel_id=inv.channel_id,
                                reason=command.args.get("reason") or "", ends_at=now + (seconds or locks.DEFAULT_SECONDS), now=now)
    except locks.AlreadyLocked as held:
        raise UserError(env_render.already_locked(held.lock, now)) from None
    services.audit.record(inv.user_id, "lock", f"{repo}@{environment.name}", ok=True, result=f"lock #{taken.id}",
                          detail={"reason": taken.reason, "ends_at": taken.ends_at, "renewed": not new})
    inv.reply(env_render.locked(taken, now, renewed=not new, default_used=not seconds), public=True)


def unlock(inv: Invocation, command: Command) -> None:
    repo, environment = _target(inv, command)
    services = inv.services
    now = services.timestamp()
    held = locks.holding(services.store, repo, environment.name, now=now)
    if held is None:
        inv.reply(env_render.not_locked(repo, environment.name))
        return
    if held.holder != inv.user_id and not services.permissions.is_admin(inv.user_id):
        raise NotAllowed(env_render.not_holder(held, now))
    ended = locks.release(services.store, repo, environment.name, user_id=inv.user_id, now=now)
    if ended is None:
        inv.reply(env_render.not_locked(repo, environment.name))
        return
    services.audit.record(inv.user_id, "unlock", f"{repo}@{environment.name}", ok=True, result=f"lock #{ended.id} ended",
                          detail={"holder": ended.holder, "by_admin": ended.holder != inv.user_id})
    if ended.holder != inv.user_id:
        with services.store.transaction() as db:
            outbox.enqueue(db, channel=ended.holder, message=env_render.unlocked_for_holder(ended, inv.user_id), key=f"lock:{ended.id}")
    inv.reply(env_render.unlocked(ended, inv.user_id), public=True)


def list_locks(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo) if command.repo else None
    now = inv.services.timestamp()
    inv.reply(env_render.locks_listing(locks.active(inv.services.store, repo, now=now), repo, now))


def protect(inv: Invocation, command: Command) -> None:
    _require_admin(inv, "protect an environment")
    services = inv.services
    repo, environment = _target(inv, command)
    made = protections.protect(services.store, repo, environment.name, approvals=command.args["approvals"],
                               role=command.args["role"], user_id=inv.user_id, now=services.timestamp())
    services.audit.record(inv.user_id, "protect", f"{repo}@{environment.name}", ok=True,
                          result=f"{made.approvals} approval(s) by {made.role}", detail={"approvals": made.approvals, "role": made.role})
    inv.reply(env_render.protected(made, inv.user_id), public=True)


def unprotect(inv: Invocation, command: Command) -> None:
    _require_admin(inv, "remove the protection of an environment")
    services = inv.services
    repo, environment = _target(inv, command)
    was = protections.unprotect(services.store, repo, environment.name)
    if was:
        services.audit.record(inv.user_id, "unprotect", f"{repo}@{environment.name}", ok=True, result="unprotected")
    inv.reply(env_render.unprotected(repo, environment.name, inv.user_id, was), public=was)


COMMAND_HANDLERS = {"lock": lock, "unlock": unlock, "locks": list_locks, "protect": protect, "unprotect": unprotect}
