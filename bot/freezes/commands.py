"""Deploy freezes from Slack: `/bb freeze`, `/bb unfreeze`, `/bb freezes`. Freezing needs the role that may
deploy there (`deployer`, or `deployer:ENV` for one environment; every environment needs plain `deployer`). A freeze
set by an admin is lifted, or replaced, by an admin only: a deployer cannot end the freeze meant to stop them."""

from __future__ import annotations

from bot.freezes import render as freeze_render
from bot import freezes
from bot.core import render
from bot.bitbucket import Environment
from bot.core.commands import Command
from bot.core.errors import NotAllowed
from bot.deploys import match_environment
from bot.core.invocation import Invocation, split_repo


def _place(inv: Invocation, repo: str, typed: str) -> str:
    """`*` for all, else the environment's name as Bitbucket spells it (an unknown one is refused with the list)."""
    if freezes.is_all(typed):
        return freezes.ALL
    workspace, slug = split_repo(repo)
    environments = [Environment.from_api(e) for e in inv.services.bitbucket.list_environments(workspace, slug)]
    return match_environment(environments, typed).name


def _require(inv: Invocation, action: str, repo: str, place: str) -> None:
    inv.services.permissions.require(inv.user_id, action, repo, None if place == freezes.ALL else place)


def _is_admin(inv: Invocation) -> bool:
    return inv.services.permissions.is_admin(inv.user_id)


def freeze(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    place = _place(inv, repo, command.args["environment"])
    _require(inv, "freeze", repo, place)
    now = freezes.clock_of(inv.services)()
    seconds = command.args.get("seconds")
    try:
        made = freezes.freeze(
            inv.services.store, repo, place, user_id=inv.user_id, channel_id=inv.channel_id,
            reason=command.args.get("reason") or "", ends_at=now + seconds if seconds else None, now=now,
            admin=_is_admin(inv),
        )
    except freezes.AdminOnly as refused:
        raise NotAllowed(freeze_render.admin_only_refusal(refused.freezes, "replace")) from None
    inv.services.audit.record(inv.user_id, "freeze", f"{repo}@{place}", ok=True, result=f"freeze #{made.id}",
                              detail={"reason": made.reason, "ends_at": made.ends_at})
    inv.reply(freeze_render.frozen(made, now), public=True)


def unfreeze(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    place = _place(inv, repo, command.args["environment"])
    _require(inv, "unfreeze", repo, place)
    clock = freezes.clock_of(inv.services)
    try:
        ended = freezes.unfreeze(inv.services.store, repo, place, user_id=inv.user_id, now=clock(), admin=_is_admin(inv))
    except freezes.AdminOnly as refused:
        raise NotAllowed(freeze_render.admin_only_refusal(refused.freezes, "lift")) from None
    if not ended and place != freezes.ALL and freezes.blocking_freeze(inv.services.store, repo, place, now=clock()):
        inv.reply(render.notice(freeze_render.not_all_there(repo, place)))
        return
    inv.services.audit.record(inv.user_id, "unfreeze", f"{repo}@{place}", ok=True, result=f"{len(ended)} freeze(s) ended",
                              detail={"freezes": [f.id for f in ended]})
    label = "every environment" if place == freezes.ALL else f"*{render.escape(place)}*"
    inv.reply(freeze_render.unfrozen(ended, repo, label, inv.user_id), public=bool(ended))


def list_freezes(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo) if command.repo else None
    now = freezes.clock_of(inv.services)()
    inv.reply(freeze_render.listing(freezes.active(inv.services.store, repo, now=now), repo, now))


COMMAND_HANDLERS = {"freeze": freeze, "unfreeze": unfreeze, "freezes": list_freezes}
