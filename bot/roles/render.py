"""The roles' answers (pure): who holds what, and what changed."""

from __future__ import annotations

from bot.core.permissions import Grant
from bot.core.render import Message, code, escape, mention, notice

SEE_ROLES = "`/bb roles` lists who holds what."


def roles(grants: list[Grant], admins: frozenset[str], repo: str | None) -> Message:
    """Everyone's roles (those that count on `repo`, when given: its own and every repository's), and the admins."""
    where = f" on {code(repo)}" if repo else ""
    lines = [f":key: *Who may do what{where}*"]
    lines.append(
        "Admins (`CHATOPS_ADMINS`: every right, and they grant roles): " + ", ".join(mention(a) for a in sorted(admins))
        if admins else "No admins: set `CHATOPS_ADMINS` to Slack member IDs, or nobody can grant roles."
    )
    held: dict[str, list[str]] = {}
    for grant in grants:
        held.setdefault(grant.user_id, []).append(escape(grant.label))
    lines += [f"• {mention(user_id)}: {'; '.join(labels)}" for user_id, labels in held.items()]
    if not held:
        lines.append(f"Nobody holds a role{where}.")
    lines.append("Roles: `merger` (merge, decline, re-run and stop builds), `releaser` (tag), `deployer` or `deployer:ENV` "
                 "(deploy, roll back, freeze). Admins give them with `/bb grant @user ROLE [REPO]`.")
    return notice("\n".join(lines))


def granted(by: str, grant: Grant) -> Message:
    return notice(f":key: {mention(by)} granted {mention(grant.user_id)} {escape(grant.label)}. {SEE_ROLES}")


def already_held(grant: Grant) -> Message:
    return notice(f"{mention(grant.user_id)} already has {escape(grant.label)}. {SEE_ROLES}")


def revoked(by: str, grant: Grant) -> Message:
    return notice(f":lock: {mention(by)} revoked {escape(grant.label)} from {mention(grant.user_id)}. {SEE_ROLES}")


def not_held(grant: Grant, held: list[Grant]) -> Message:
    listing = ", ".join(escape(g.label) for g in held) or "no roles"
    return notice(f"{mention(grant.user_id)} does not have {escape(grant.label)}; they have {listing}. {SEE_ROLES}")
