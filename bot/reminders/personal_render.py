"""Pure renderers of a person's own reminder (`/bb remind me`) and of the answers to its commands.

Approve and Merge… are the pull request list's own buttons (same action ids, same value), so they go through
the same handlers; Snooze is this feature's (`SNOOZE_DAY`, `SNOOZE_PUSH`), with a checked value (`snooze.SnoozeRequest`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import ActionsBlock

from bot.bitbucket import PullRequest
from bot.core import ids
from bot.core.render import Message, age_since, button, code, context, escape, header, link, message, notice, section, truncate
from bot.reminders import approvals, timing
from bot.reminders.approvals import Required
from bot.reminders.render import describe_days, describe_moment
from bot.reminders.snooze import SnoozeRequest

if TYPE_CHECKING:
    from bot.reminders.inbox import Inbox
    from bot.reminders.personal import PersonalSchedule

SNOOZE_DAY, SNOOZE_PUSH = "bb_snooze_day", "bb_snooze_push"  # one action id per button of a block
MAX_REVIEWS = 15
MAX_READY = 5


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _title(repo: str, pr: PullRequest) -> str:
    return f"*{link(pr.url, f'#{pr.id} {truncate(pr.title, 150)}')}* · {escape(repo)}"


def review_item(repo: str, pr: PullRequest, now: datetime) -> str:
    return f"{_title(repo, pr)}\nby {escape(pr.author.display_name)} · opened {age_since(pr.created_on, now)} ago"


def review_buttons(repo: str, pr: PullRequest, head: str, day: str) -> ActionsBlock:
    value = {"r": repo, "p": pr.id}
    elements = [button("Approve", ids.APPROVE, value, style="primary")]
    if pr.url:
        elements.append(button("Open", ids.OPEN_LINK, url=pr.url))
    if head:
        for kind, label, action in (("day", "Snooze 1 day", SNOOZE_DAY), ("push", "Snooze until next push", SNOOZE_PUSH)):
            elements.append(button(label, action, SnoozeRequest(repo, pr.id, head, kind, day).value()))
    return ActionsBlock(block_id=f"review:{repo}#{pr.id}"[:255], elements=elements)


def approvals_needed(needed: Required, repo: str) -> str:
    """The number of approvals counted as enough, and why, when it is not simply the default."""
    if needed.source == approvals.READ:
        return f" ({_plural(needed.count, 'approval')} required on {code(needed.branch)})"
    if needed.source == approvals.FORBIDDEN:
        return (f" (1 approval counted as enough: the bot may not read the branch restrictions of {code(repo)}, "
                "which needs repository admin)")
    if needed.source == approvals.NOT_READ:
        return " (1 approval counted as enough: the branch restrictions were not read, to save Bitbucket requests)"
    if needed.source == approvals.UNANSWERED:
        return f" (1 approval counted as enough: Bitbucket did not give the branch restrictions of {code(repo)} this time)"
    return ""


def ready_item(repo: str, pr: PullRequest, needed: Required) -> str:
    approvers = ", ".join(escape(a.display_name) for a in pr.approved_by[:5])
    return f"{_title(repo, pr)}\napproved by {approvers}{approvals_needed(needed, repo)} · builds green · no changes asked"


def ready_buttons(repo: str, pr: PullRequest) -> ActionsBlock:
    elements = [button("Merge…", ids.ASK_MERGE, {"r": repo, "p": pr.id}, style="primary")]
    if pr.url:
        elements.append(button("Open", ids.OPEN_LINK, url=pr.url))
    return ActionsBlock(block_id=f"ready:{repo}#{pr.id}"[:255], elements=elements)


def reminder(found: Inbox, *, now: datetime, day: str) -> Message:
    """Oldest first: what waits on the person's review, then their own pull requests ready to merge."""
    reviews, ready = found.reviews[:MAX_REVIEWS], found.ready[:MAX_READY]
    summary = []
    if found.reviews:
        summary.append(f"{_plural(len(found.reviews), 'pull request')} wait{'s' if len(found.reviews) == 1 else ''} on your review")
    if found.ready:
        summary.append(f"{len(found.ready)} of yours ready to merge")
    blocks: list = [header(":sunrise: " + "; ".join(summary))]
    if reviews:
        blocks.append(context(f"*Waiting on your review* ({len(found.reviews)})"))
        for repo, pr, head in reviews:
            blocks += [section(review_item(repo, pr, now)), review_buttons(repo, pr, head, day)]
        if len(found.reviews) > len(reviews):
            blocks.append(context(f"…and {len(found.reviews) - len(reviews)} more, newer."))
    if ready:
        blocks.append(context(f"*Yours, ready to merge* ({len(found.ready)})"))
        for repo, pr, needed in ready:
            blocks += [section(ready_item(repo, pr, needed)), ready_buttons(repo, pr)]
        if len(found.ready) > len(ready):
            blocks.append(context(f"…and {len(found.ready) - len(ready)} more."))
    blocks.append(context(_footer(found)))
    fallback = "; ".join(summary) + ": " + "; ".join(f"#{pr.id} {escape(truncate(pr.title, 80))}" for _, pr, _ in reviews[:5])
    return message(fallback, blocks)


def _footer(found: Inbox) -> str:
    parts = []
    if found.snoozed:
        parts.append(f"{found.snoozed} snoozed")
    if found.problems:
        parts.append("could not read " + ", ".join(escape(p) for p in found.problems[:5]))
    parts.append("`/bb remind me off` stops these")
    return " · ".join(parts)


# --- answers to commands ----------------------------------------------------------------------------------


def _when(schedule: PersonalSchedule) -> str:
    days = describe_days(schedule.days) + ("" if schedule.own_days else " (your working days)")
    when = f"at {schedule.at} on {days}, {code(schedule.zone_name)}"
    hours = schedule.hours
    if timing.reaches_outside(schedule.at, schedule.days, hours):
        when += (f"; never outside your working hours ({hours.start}-{hours.end} on {describe_days(hours.days)}): "
                 "one due outside them comes when they next start")
    return when


def saved(schedule: PersonalSchedule, next_run: datetime | None, *, changed: bool) -> Message:
    verb = "changed" if changed else "set"
    return notice(
        f":alarm_clock: Your own reminder is {verb}: a direct message {_when(schedule)}, with the pull requests waiting on "
        f"your review and yours ready to merge. Next: {describe_moment(next_run, schedule.zone_name)}."
    )


def shown(schedule: PersonalSchedule, next_run: datetime | None) -> Message:
    return notice(
        f":alarm_clock: Your own reminder comes {_when(schedule)}. Next: {describe_moment(next_run, schedule.zone_name)}.\n"
        "Change it with `/bb remind me at HH:MM on DAYS`, stop it with `/bb remind me off`."
    )


def stopped(had_one: bool) -> Message:
    if not had_one:
        return notice("You had no reminder of your own. `/bb remind me` sets one up.")
    return notice(":zzz: Your own reminder is stopped. `/bb remind me` brings it back.")


def sent_now(found: Inbox) -> Message:
    if found.empty:
        held = f" ({found.snoozed} snoozed)" if found.snoozed else ""
        return notice(f":sparkles: Nothing waits on you{held}: no pull request to review, none of yours ready to merge.")
    return notice(f"Sent you a direct message: {len(found.reviews)} to review, {len(found.ready)} ready to merge.")


def snoozed(request: SnoozeRequest, until: datetime | None, zone_name: str) -> Message:
    what = f"#{request.pr_id} in {code(request.repo)}"
    if until is None:
        return notice(f":zzz: Snoozed {what} until its next push.")
    local = until.astimezone(ZoneInfo(zone_name))
    return notice(f":zzz: Snoozed {what} until {describe_moment(local, zone_name)}, or its next push if sooner.")


def already_snoozed(request: SnoozeRequest) -> Message:
    return notice(f"#{request.pr_id} in {code(request.repo)} is snoozed already.")
