"""`/bb grant` and `/bb revoke`: admins hand out roles, and every change is audited."""

from __future__ import annotations

from bot.core import render
from bot.core.commands import Command
from bot.core.permissions import Grant
from bot.core.invocation import Invocation


def _grant_from(inv: Invocation, command: Command) -> Grant:
    repo = inv.repo(command.repo) if command.repo else ""
    return Grant(
        user_id=command.args["user_id"],
        role=command.args["role"],
        environment=(command.args.get("environment") or "").lower(),
        repo=repo.lower(),
    )


def grant(inv: Invocation, command: Command) -> None:
    inv.services.permissions.require_admin(inv.user_id)
    new_grant = _grant_from(inv, command)
    created = inv.services.permissions.grant(new_grant, granted_by=inv.user_id)
    inv.services.audit.record(inv.user_id, "grant", new_grant.user_id, ok=True, result="granted" if created else "already had it", detail={"grant": new_grant.label})
    if created:
        inv.reply(render.notice(f":key: {render.mention(inv.user_id)} granted {render.mention(new_grant.user_id)} {render.escape(new_grant.label)}."), public=True)
    else:
        inv.reply(render.notice(f"{render.mention(new_grant.user_id)} already has {render.escape(new_grant.label)}."))


def revoke(inv: Invocation, command: Command) -> None:
    inv.services.permissions.require_admin(inv.user_id)
    old_grant = _grant_from(inv, command)
    removed = inv.services.permissions.revoke(old_grant)
    inv.services.audit.record(inv.user_id, "revoke", old_grant.user_id, ok=removed, result="revoked" if removed else "no such grant", detail={"grant": old_grant.label})
    if removed:
        inv.reply(render.notice(f":lock: {render.mention(inv.user_id)} revoked {render.escape(old_grant.label)} from {render.mention(old_grant.user_id)}."), public=True)
    else:
        held = inv.services.permissions.grants_of(old_grant.user_id)
        listing = ", ".join(render.escape(g.label) for g in held) or "no roles"
        inv.reply(render.notice(f"{render.mention(old_grant.user_id)} does not have {render.escape(old_grant.label)}; they have {listing}."))
