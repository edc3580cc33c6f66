"""Pure renderers of locks, protections and the requests for approval. Names from Bitbucket are escaped."""

from __future__ import annotations

from datetime import datetime, timezone

from slack_sdk.models.blocks import ActionsBlock

from bot.core import ids
from bot.core.payloads import RequestButton
from bot.core.render import (
    Message, age, button, code, context, escape, fallback_text, header, mention, message, notice, section, text_input_modal,
    truncate,
)

SHORT_HASH = 12


def _date(at: float, now: float, *, future: bool) -> str:
    """A Slack date token (each reader's own time zone), with how long until or since."""
    fallback = datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    token = f"<!date^{int(at)}^{{date_short_pretty}} {{time}}|{fallback}>"
    return f"{token} (in {age(at - now + 59)})" if future else f"{token} ({age(now - at)} ago)"


def _why(reason: str) -> str:
    return f": “{escape(truncate(reason, 300))}”" if reason else " (no reason given)"


def place(repo: str, environment: str) -> str:
    return f"*{escape(environment)}* of {escape(repo)}"


# --- locks ---------------------------------------------------------------------------------------------------


def locked(lock, now: float, *, renewed: bool, default_used: bool) -> Message:
    until = _date(lock.ends_at, now, future=True)
    verb = "renewed the lock on" if renewed else "locked"
    default = " (locks end after 4h unless you say `for DURATION`)" if default_used else ""
    return notice(
        f":lock: {mention(lock.holder)} {verb} {place(lock.repo, lock.environment)} until {until}{default}{_why(lock.reason)}\n"
        f"Deploys, rollbacks and re-runs of its deploy pipeline by anyone else are refused until "
        f"`/bb unlock {escape(lock.repo)} {escape(lock.environment.lower())}` or the lock ends. You will be told 10 minutes before."
    )


def already_locked(lock, now: float) -> str:
    if not lock.holder:
        return f"{place(lock.repo, lock.environment)} was locked by someone else a moment ago; nothing was changed."
    return (
        f":lock: {place(lock.repo, lock.environment)} is already locked by {mention(lock.holder)} since "
        f"{_date(lock.locked_at, now, future=False)}{_why(lock.reason)}; nothing was changed."
    )


def lock_refusal(lock, now: float) -> str:
    """Why a deploy, rollback or re-run is refused: who holds the lock, why, since and until when."""
    return (
        f":lock: {place(lock.repo, lock.environment)} is locked by {mention(lock.holder)} since "
        f"{_date(lock.locked_at, now, future=False)}{_why(lock.reason)}, until {_date(lock.ends_at, now, future=True)}.\n"
        f"Nothing was started. The holder can `/bb unlock {escape(lock.repo)} {escape(lock.environment.lower())}`, and so can an admin."
    )


def unlocked(lock, user_id: str) -> Message:
    by = "" if user_id == lock.holder else f" (held by {mention(lock.holder)})"
    return notice(f":unlock: {mention(user_id)} unlocked {place(lock.repo, lock.environment)}{by}. Deploys may go ahead.")


def unlocked_for_holder(lock, user_id: str) -> Message:
    """Told to the holder when an admin ends their lock."""
    return notice(f":unlock: {mention(user_id)} (an admin) ended your lock on {place(lock.repo, lock.environment)}{_why(lock.reason)}")


def not_locked(repo: str, environment: str) -> Message:
    return notice(f"Nothing to unlock: {place(repo, environment)} is not locked.")


def not_holder(lock, now: float) -> str:
    return (f"{place(lock.repo, lock.environment)} is locked by {mention(lock.holder)} since {_date(lock.locked_at, now, future=False)}: "
            "only they, or an admin, can unlock it. Nothing was changed.")


def lock_warning(lock, now: float) -> Message:
    """Told to the holder ten minutes before the lock ends."""
    return notice(
        f":hourglass_flowing_sand: Your lock on {place(lock.repo, lock.environment)} ends {_date(lock.ends_at, now, future=True)}. "
        f"`/bb lock {escape(lock.repo)} {escape(lock.environment.lower())} for 1h` keeps it longer."
    )


def lock_line(lock, now: float) -> str:
    return (f"{mention(lock.holder)} since {_date(lock.locked_at, now, future=False)}, until {_date(lock.ends_at, now, future=True)}"
            f"{_why(lock.reason)}")


def locks_listing(locks: list, repo: str | None, now: float) -> Message:
    scope = escape(repo) if repo else "any repository"
    if not locks:
        return notice(f":unlock: No environment is locked in {scope}.")
    lines = [f"• {place(lock.repo, lock.environment)}: {lock_line(lock, now)}" for lock in locks[:40]]
    blocks = [header(truncate(f"Locked environments in {repo or 'every repository'}", 150)), section("\n".join(lines))]
    if len(locks) > 40:
        blocks.append(context(f"…and {len(locks) - 40} more"))
    return message(f"{len(locks)} locked environment(s) in {scope}", blocks)


# --- protections ---------------------------------------------------------------------------------------------


def approvers(protection_or_request) -> str:
    role, environment = protection_or_request.role, protection_or_request.environment
    if role == "deployer":
        return f"`deployer:{escape(environment.lower())}` or `deployer`"
    return f"`{escape(role)}`"


def protection_line(protection) -> str:
    n = protection.approvals
    return f"{n} approval{'s' if n != 1 else ''} by other people with {approvers(protection)}"


def protected(protection, user_id: str) -> Message:
    return notice(
        f":shield: {mention(user_id)} protected {place(protection.repo, protection.environment)}: each deploy or rollback there "
        f"needs {protection_line(protection)}, asked for in the channel; a request waits an hour."
    )


def unprotected(repo: str, environment: str, user_id: str, was: bool) -> Message:
    if not was:
        return notice(f"{place(repo, environment)} was not protected; nothing changed.")
    return notice(f":unlock: {mention(user_id)} removed the protection of {place(repo, environment)}: deploys there need no approvals.")


def needs_approval(protection) -> str:
    return f":shield: {place(protection.repo, protection.environment)} is protected: a deploy there needs {protection_line(protection)}."


# --- a request for approval ----------------------------------------------------------------------------------


def _what(request) -> str:
    where = place(request.repo, request.environment)
    if request.kind == "rollback":
        return f"roll back {where} to commit {code(request.commit_hash[:SHORT_HASH])}"
    if request.ref_kind == "commit":
        return f"deploy commit {code(request.commit_hash[:SHORT_HASH])} to {where}"
    return f"deploy {escape(request.ref_kind)} {code(request.ref)} ({code(request.commit_hash[:SHORT_HASH])}) to {where}"


def _approved_by(request) -> str:
    if not request.approvals:
        return f"No approvals yet (0 of {request.needed})."
    people = ", ".join(mention(user) for user in request.approvals)
    return f"Approved by {people} ({len(request.approvals)} of {request.needed})."


STATE_WORDS = {
    "approved": ":white_check_mark: *Approved*: starting the deploy.",
    "started": ":rocket: *Approved and started*",
    "finished": ":checkered_flag: *Approved; the deploy ended*",
    "failed": ":x: *Approved, but nothing was started*",
    "rejected": ":no_entry: *Rejected*",
    "expired": ":hourglass: *Expired* after an hour without enough approvals; nothing was started.",
    "superseded": ":arrows_counterclockwise: *Asked again*: the branch moved since this was asked; see the new request.",
}


def request_card(request, now: float) -> Message:
    """The card in the channel: who asks for what, what ships, the approvals, and Approve/Reject while it waits."""
    head = f":shield: {mention(request.requested_by)} asks to {_what(request)}"
    rule = f"Needs {request.needed} approval{'s' if request.needed != 1 else ''} by {approvers(request)}, never the one who asks"
    if request.forced:
        head += " (an admin's `--force` through a freeze)"
    if request.anyway:
        head += "\n:warning: The builds of this commit *failed*."
    blocks = [section(head)]
    if request.summary:
        blocks.append(section(request.summary))
    state = request.state
    if state == "open":
        blocks.append(context(f"{_approved_by(request)} {rule}; waits until {_date(request.expires_at, now, future=True)}."))
        value = RequestButton(request.id).to_value()
        blocks.append(ActionsBlock(elements=[button("Approve", ids.APPROVE_DEPLOY_REQUEST, value, style="primary"),
                                             button("Reject", ids.REJECT_DEPLOY_REQUEST, value, style="danger")]))
    else:
        words = STATE_WORDS.get(state, escape(state))
        if state == "rejected":
            words += f" by {mention(request.ended_by)}{_why(request.note)}"
        elif state in ("started", "finished", "failed") and request.note:
            words += f": {request.note}"
        blocks.append(section(words))
        blocks.append(context(_approved_by(request)))
    return message(fallback_text(f"{head} ({state})"), blocks)


def reject_modal(request_id: int, meta: str, label: str) -> dict:
    return text_input_modal(callback_id=ids.REJECT_REQUEST_MODAL, title="Reject the deploy", submit="Reject", meta=meta,
                            about=f"Reject the request to {label}? Say why.",
                            block_id=ids.REJECT_REASON_BLOCK, label="Reason (told in the channel)",
                            action_id=ids.REJECT_REASON_INPUT, max_length=500)


def request_label(request) -> str:
    return _what(request)
