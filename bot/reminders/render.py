"""Pure renderers of the reminders feature: the reminder a channel gets, and the answers to its commands.

Text from Bitbucket (titles, names) is escaped; only Slack mentions built here (`<@U…>`) can ping anyone.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Mapping, Sequence

from slack_sdk.models.blocks import HeaderBlock, PlainTextObject

from bot.bitbucket import Account, PullRequest
from bot.core.commands import WEEKDAYS
from bot.core.render import Message, age, code, context, escape, link, mention, message, notice, section, truncate

if TYPE_CHECKING:
    from bot.reminders import Schedule

MAX_LISTED = 15  # a section each, with a header and a footer: well inside Slack's 50 blocks
MAX_REVIEWERS_SHOWN = 10


def describe_age(seconds: int) -> str:
    """`48h`, `36h`, `3d`, `1w`, `90m`: as a person would type it."""
    if seconds % 604800 == 0:
        return f"{seconds // 604800}w"
    if seconds % 86400 == 0 and seconds > 2 * 86400:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def describe_days(days: Sequence[str]) -> str:
    """`mon-fri`, `daily`, `mon,wed,fri`, `sat-sun`."""
    indexes = sorted(WEEKDAYS.index(day) for day in days)
    if len(indexes) == 7:
        return "daily"
    runs: list[list[int]] = []
    for index in indexes:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return ",".join(
        f"{WEEKDAYS[run[0]]}-{WEEKDAYS[run[-1]]}" if len(run) > 2 else ",".join(WEEKDAYS[i] for i in run) for run in runs
    )


def describe_moment(moment: datetime | None, zone_name: str) -> str:
    if moment is None:
        return "never"
    return f"{moment:%a} {moment.day} {moment:%b %H:%M} ({escape(zone_name)})"


def describe_schedule(schedule: Schedule, zone_name: str) -> str:
    return (
        f"pull requests with no activity for {describe_age(schedule.after_seconds)}, "
        f"at {schedule.at} on {describe_days(schedule.days)} ({escape(zone_name)})"
    )


# --- the reminder --------------------------------------------------------------------------------------


def _person(account: Account, mentions: Mapping[Account, str]) -> str:
    return mention(mentions[account]) if account in mentions else escape(account.display_name)


def _waiting_line(pr: PullRequest, waiting: Sequence[Account], mentions: Mapping[Account, str]) -> str:
    if not pr.reviewers:
        return "No reviewers assigned"
    if not waiting:
        return "Every reviewer approved"
    changes = {a.uuid for a in pr.changes_requested_by}
    shown = [_person(r, mentions) + (" ✋" if r.uuid in changes else "") for r in waiting[:MAX_REVIEWERS_SHOWN]]
    more = f" and {len(waiting) - len(shown)} more" if len(waiting) > len(shown) else ""
    return "Waiting on " + ", ".join(shown) + more


def stale_item(pr: PullRequest, *, now: datetime, waiting: Sequence[Account], mentions: Mapping[Account, str]) -> str:
    """Title with link, idle age; author, destination, approvals; the reviewers it waits on (✋: asked for changes)."""
    title = link(pr.url, f"#{pr.id} {truncate(pr.title, 200)}")
    touched = pr.updated_on or pr.created_on
    idle = age((now - touched).total_seconds()) if touched else "for an unknown time"
    approvals = len(pr.approved_by)
    return "\n".join([
        f"*{title}* · idle {idle}",
        f"by {escape(pr.author.display_name)} · into {code(pr.destination_branch or '?')} · "
        f"{approvals} approval{'s' if approvals != 1 else ''}",
        _waiting_line(pr, waiting, mentions),
    ])


def stale_pull_requests(repo: str, stale: Sequence[PullRequest], *, now: datetime, after_seconds: int,
                        waiting: Mapping[int, Sequence[Account]], mentions: Mapping[Account, str],
                        repo_url: str | None = None, snoozed: int = 0) -> Message:
    """The reminder, the longest idle first; past MAX_LISTED, how many more (and `/bb prs` for them all).
    `waiting`: by pull request id, the reviewers who have not approved; `mentions`: the Slack users of those who
    are linked; `snoozed`: how many stale ones were left out because someone snoozed them."""
    shown = list(stale[:MAX_LISTED])
    count = len(stale)
    heading = f"{count} pull request{'s' if count != 1 else ''} in {repo} with no activity for {describe_age(after_seconds)}"
    blocks = [HeaderBlock(text=PlainTextObject(text=truncate(f":hourglass: {heading}", 150), emoji=True))]
    blocks += [section(stale_item(pr, now=now, waiting=waiting.get(pr.id, ()), mentions=mentions)) for pr in shown]
    all_open = link(f"{repo_url}/pull-requests/" if repo_url else None, "all open pull requests")
    footer = all_open
    if count > len(shown):
        footer = f"…and {count - len(shown)} more, less idle: `/bb prs {escape(repo)}` · {all_open}"
    if snoozed:
        footer += f" · {snoozed} snoozed"
    blocks.append(context(f"{footer} · weekends and holidays do not count · `/bb remind off {escape(repo)}` stops these"))
    pinged = list(dict.fromkeys(mentions[r] for pr in shown for r in waiting.get(pr.id, ()) if r in mentions))
    fallback = f"{escape(heading)}: " + "; ".join(f"#{pr.id} {escape(truncate(pr.title, 100))}" for pr in shown)
    if pinged:
        fallback += ". Waiting on " + ", ".join(mention(user) for user in pinged)
    return message(fallback, blocks)


def reminder_failed(repo: str, error) -> Message:
    """Bitbucket refused the scheduled reminder's listing; the channel should know why nothing came."""
    words = escape(str(error)) if str(error) else f"HTTP {error.status}"
    return notice(f":warning: The stale pull request reminder for {code(repo)} could not list its pull requests. Bitbucket said: {words}")


# --- answers to commands ----------------------------------------------------------------------------------


def schedule_saved(schedule: Schedule, *, created: bool, by_user: str, next_run: datetime | None, zone_name: str) -> Message:
    verb = "set up" if created else "changed"
    return notice(
        f":alarm_clock: {mention(by_user)} {verb} reminders here for {code(schedule.repo)}: "
        f"{describe_schedule(schedule, zone_name)}. Next: {describe_moment(next_run, zone_name)}."
    )


def schedule_stopped(repo: str, *, by_user: str) -> Message:
    return notice(f":zzz: {mention(by_user)} stopped the stale pull request reminders for {code(repo)} in this channel.")


def schedules(items: Sequence[tuple[Schedule, datetime | None]], zone_name: str) -> Message:
    if not items:
        return notice("This channel has no reminders. Set one up with `/bb remind REPO [after AGE] [at HH:MM] [on DAYS]`.")
    lines = [
        f"• {code(schedule.repo)}: {describe_schedule(schedule, zone_name)} · next {describe_moment(next_run, zone_name)}"
        for schedule, next_run in items
    ]
    return notice("*Reminders in this channel*\n" + "\n".join(lines))


def posted_now(repo: str, count: int) -> Message:
    return notice(f"Posted the reminder for {code(repo)} in this channel: {count} pull request{'s' if count != 1 else ''}.")


def nothing_stale(repo: str, after_seconds: int, snoozed: int = 0) -> Message:
    held = f" ({snoozed} snoozed)" if snoozed else ""
    return notice(
        f":sparkles: No open pull request in {code(repo)} has gone {describe_age(after_seconds)} "
        f"without activity (weekends and holidays do not count){held}; nothing posted."
    )
