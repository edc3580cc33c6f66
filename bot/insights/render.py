"""Pure renderers of the insights: the `/bb stats` message, the weekly digest, and the answers of their commands.
Names and titles from Bitbucket are escaped."""

from __future__ import annotations

from datetime import datetime

from bot.budget.render import figures_from
from bot.insights.figures import Insights, PeriodFigures
from bot.core.render import Message, bitbucket_words, code, context, escape, header, link, mention, message, notice, section
from bot.reminders.render import describe_days

MAX_LOAD_ROWS = 8
MAX_OLDEST = 3


def duration(seconds: float | None) -> str:
    """`40m`, `5.5h`, `3.2d`; a dash when there is nothing to measure."""
    if seconds is None:
        return "–"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f}h".replace(".0h", "h")
    return f"{seconds / 86400:.1f}d".replace(".0d", "d")


def change(now: float | None, before: float | None, *, lower_is_better: bool = False) -> str:
    """`(+3 vs 5)`, `(-20% vs 4h)`: how a figure moved since the previous period."""
    if now is None or before is None:
        return "" if before is None else f"(was {duration(before) if lower_is_better else before})"
    if lower_is_better:
        if before == 0:
            return f"(was {duration(before)})"
        percent = round((now - before) / before * 100)
        arrow = ":small_red_triangle:" if percent > 0 else ":small_red_triangle_down:" if percent < 0 else "="
        return f"({arrow} {percent:+d}% vs {duration(before)})"
    delta = int(now - before)
    return f"({delta:+d} vs {int(before)})" if delta else f"(= {int(before)})"


def _throughput(current: PeriodFigures, previous: PeriodFigures) -> str:
    return "\n".join((
        f"*Opened* {current.opened} {change(current.opened, previous.opened)}",
        f"*Merged* {current.merged} {change(current.merged, previous.merged)}",
        f"*Declined* {current.declined} {change(current.declined, previous.declined)}",
    ))


def plural(count: int, word: str = "pull request") -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _time_line(label: str, median: float | None, before: float | None, p90: float | None, count: int, note: str = "") -> str:
    moved = change(median, before, lower_is_better=True)
    return f"*{label}* median {duration(median)}{' ' + moved if moved else ''}, p90 {duration(p90)} ({plural(count)}{note})"


def _times(current: PeriodFigures, previous: PeriodFigures) -> str:
    waiting = f" · {current.not_reviewed} opened not reviewed yet" if current.not_reviewed else ""
    return "\n".join((
        _time_line("Time to first review", current.first_review_median, previous.first_review_median, current.first_review_p90,
                   len(current.first_review), waiting),
        _time_line("Time to merge", current.merge_median, previous.merge_median, current.merge_p90, len(current.to_merge)),
    ))


def _open(insights: Insights) -> str:
    total = sum(count for _, count in insights.open_by_age)
    if not total:
        return "*Open now* none"
    ages = " · ".join(f"{label}: {count}" for label, count in insights.open_by_age if count)
    oldest = "; ".join(
        f"{link(pr.url, f'#{pr.id} {pr.title}')} ({duration((insights.now - pr.created_on).total_seconds())})"
        for pr in insights.oldest_open[:MAX_OLDEST]
    )
    return f"*Open now* {total} — {ages}\nOldest: {oldest}"


def _load(insights: Insights) -> str:
    if not insights.review_load:
        return "*Review load* nobody reviewed anything in this period"
    rows = [
        f"• {escape(load.who.name)}: reviewed {load.reviewed}" + (f", reviewer on {load.assigned_open} open" if load.assigned_open else "")
        for load in insights.review_load[:MAX_LOAD_ROWS]
    ]
    more = len(insights.review_load) - MAX_LOAD_ROWS
    return "*Review load* (pull requests of others reviewed in the period)\n" + "\n".join(rows) + (f"\n…and {more} more" if more > 0 else "")


def coverage(insights: Insights, *, cached: bool = False, age: float = 0.0) -> str:
    parts = [f"Covered {plural(insights.covered)} "
             f"(updated in the last {2 * insights.days} days, or open)."]
    if insights.capped:
        parts.append(f":warning: Stopped at {insights.covered} pull requests, the most recently updated: older ones are left out.")
    if insights.activity_capped:
        parts.append(":warning: Stopped reading the activity log at its cap: reviews before that are left out.")
    if cached and age >= 600:
        parts.append(f"{figures_from(age).capitalize()}: the bot is saving its Bitbucket requests this hour.")
    elif cached:
        parts.append("Figures from the last 10 minutes.")
    return " ".join(parts)


def stats(insights: Insights, *, by_user: str | None = None, cached: bool = False, title: str | None = None, age: float = 0.0) -> Message:
    current, previous = insights.current, insights.previous
    title = title or f"{insights.repo}: the last {insights.days} days"
    blocks = [
        header(title),
        section(_throughput(current, previous)),
        section(_times(current, previous)),
        section(_open(insights)),
        section(_load(insights)),
        context(f"Compared with the {insights.days} days before. " + coverage(insights, cached=cached, age=age)
                + (f" Asked by {mention(by_user)}." if by_user else "")),
    ]
    fallback = (f"{insights.repo}, last {insights.days} days: {current.opened} opened, {current.merged} merged, {current.declined} declined; "
                f"first review median {duration(current.first_review_median)}, merge median {duration(current.merge_median)}")
    return message(fallback, blocks)


def working(repo: str, days: int) -> Message:
    return notice(f":hourglass_flowing_sand: Working on the figures of {code(repo)} for the last {days} days…")


def chart_title(insights: Insights) -> str:
    return f"{insights.repo}: merged pull requests and time to first review, the last {insights.days} days"


def chart_failed(reason: str) -> Message:
    return notice(f":warning: The figures are posted, but the chart could not be: Slack said {code(reason)}.")


# --- the weekly digest ---------------------------------------------------------------------------------------


def digest(insights: Insights) -> Message:
    return stats(insights, title=f"Weekly digest: {insights.repo}")


def digest_failed(repo: str, error) -> Message:
    return notice(f":warning: This week's digest of {code(repo)} could not be made: Bitbucket said {bitbucket_words(error)}.")


def digest_saved(repo: str, days: tuple[str, ...], at: str, zone: str, next_run: datetime | None, *, created: bool, by_user: str) -> Message:
    when = f"on {describe_days(days)} at {at} ({escape(zone)})"
    following = f" Next: {next_run.strftime('%a %-d %b %H:%M')}." if next_run else ""
    verb = "set up" if created else "changed"
    return notice(f":bar_chart: {mention(by_user)} {verb} the weekly digest of {code(repo)} here, {when}.{following}")


def digest_stopped(repo: str, by_user: str) -> Message:
    return notice(f":no_bell: {mention(by_user)} stopped the weekly digest of {code(repo)} here.")


def digest_list(items, zone: str) -> Message:
    """The channel's digests, each with its next run (`items`: (digest, next run) pairs)."""
    if not items:
        return notice("This channel has no weekly digest. Set one up with `/bb digest REPO [on DAYS] [at HH:MM]`; "
                      "`/bb digest now REPO` posts this week's at once.")
    lines = [
        f"• {code(item.repo)}: on {describe_days(item.days)} at {item.at} ({escape(zone)})"
        + (f" · next {next_run.strftime('%a %-d %b %H:%M')}" if next_run else "")
        for item, next_run in items
    ]
    return notice("*Weekly digests in this channel*\n" + "\n".join(lines))
