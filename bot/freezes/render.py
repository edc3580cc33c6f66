"""Pure renderers of deploy freezes: the announcement, the refusal, the list. Names from Bitbucket are escaped."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.core.render import Message, age, code, context, escape, header, mention, message, notice, section, truncate


def when(ends_at: float | None, now: float) -> str:
    """`until <date> (in 2h)` in each reader's own time zone (Slack's date token), or `until unfrozen`."""
    if ends_at is None:
        return "until someone unfreezes it"
    fallback = datetime.fromtimestamp(ends_at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"until <!date^{int(ends_at)}^{{date_short_pretty}} {{time}}|{fallback}> (in {age(ends_at - now + 59)})"


def place(freeze) -> str:
    where = "every environment" if freeze.everywhere else f"*{escape(freeze.environment)}*"
    return f"{where} of {escape(freeze.repo)}"


def _why(freeze) -> str:
    return f": “{escape(truncate(freeze.reason, 300))}”" if freeze.reason else " (no reason given)"


def frozen(freeze, now: float) -> Message:
    """Told in the channel when someone freezes."""
    return notice(
        f":ice_cube: {mention(freeze.frozen_by)} froze deploys to {place(freeze)} {when(freeze.ends_at, now)}{_why(freeze)}\n"
        "Deploys and rollbacks there are refused until it ends."
    )


def unfrozen(ended: list, repo: str, environment_label: str, user_id: str) -> Message:
    if not ended:
        return notice(f"Nothing to unfreeze: {environment_label} of {escape(repo)} is not frozen.")
    places = ", ".join(place(f) for f in ended)
    return notice(f":sunny: {mention(user_id)} unfroze {places}. Deploys may go ahead.")


def who_lifts(freeze) -> str:
    """Who may end the freeze: an admin's, admins only; anyone else's, whoever may deploy there."""
    if freeze.admin_only:
        return "set by an admin: only an admin (listed in `CHATOPS_ADMINS`) can lift it"
    return "anyone who may deploy there can lift it"


def refusal(freeze, environment: str, now: float) -> str:
    """Why a deploy or rollback is refused: who froze it, why, until when, who may lift it."""
    unfreeze = f"`/bb unfreeze {escape(freeze.repo)} {'all' if freeze.everywhere else escape(freeze.environment)}`"
    if freeze.admin_only:
        lift = f"It was set by an admin: only an admin can lift it ({unfreeze}) or push through with `--force`."
    else:
        lift = f"{unfreeze} ends the freeze (anyone who may deploy there can); an admin can push through with `--force`."
    return (
        f":ice_cube: *{escape(environment)}* of {escape(freeze.repo)} is frozen by {mention(freeze.frozen_by)} "
        f"{when(freeze.ends_at, now)}{_why(freeze)}\nNothing was started. {lift}"
    )


def admin_only_refusal(freezes: list, verb: str) -> str:
    """Told to someone who is not an admin trying to lift (or replace) an admin's freeze; nothing changed."""
    places = ", ".join(f"{place(f)} (by {mention(f.frozen_by)})" for f in freezes[:10])
    return f"The freeze of {places} was set by an admin: only an admin can {verb} it. Nothing was changed."


def forced_warning(freeze, now: float) -> str:
    return f":warning: *Forced through a freeze* by {mention(freeze.frozen_by)} {when(freeze.ends_at, now)}{_why(freeze)}"


def forced_announcement(user_id: str, kind: str, repo: str, environment: str, freeze, now: float, *,
                        past_failed_builds: bool = False) -> Message:
    """Told in the channel when an admin forces a deploy or rollback through a freeze, or past failed builds."""
    through = []
    if freeze is not None:
        through.append(f"through the freeze set by {mention(freeze.frozen_by)}{_why(freeze)}")
    if past_failed_builds:
        through.append("past failed builds")
    return notice(
        f":ice_cube::boom: {mention(user_id)} forced a {escape(kind)} of {escape(repo)} to *{escape(environment)}* "
        + " and ".join(through)
    )


def listing(freezes: list, repo: str | None, now: float) -> Message:
    scope = escape(repo) if repo else "any repository"
    if not freezes:
        return notice(f":sunny: No deploy freeze holds in {scope}.")
    blocks = [header(truncate(f"Deploy freezes in {repo or 'every repository'}", 150))]
    lines = [
        f"• {place(f)} {when(f.ends_at, now)}, by {mention(f.frozen_by)}{_why(f)}; {who_lifts(f)}"
        for f in freezes[:40]
    ]
    blocks.append(section("\n".join(lines)))
    if len(freezes) > 40:
        blocks.append(context(f"…and {len(freezes) - 40} more"))
    return message(f"{len(freezes)} deploy freeze(s) in {scope}", blocks)


def not_all_there(repo: str, environment: str) -> str:
    return (
        f"{code(environment)} of {escape(repo)} is frozen only as part of a freeze of every environment; "
        f"`/bb unfreeze {escape(repo)} all` ends that one."
    )
