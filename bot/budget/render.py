"""Pure: `/bb usage`, and how old figures served from what was kept are."""

from __future__ import annotations

from bot.core.render import Message, code, context, escape, header, message, section

PRIORITY_ORDER = ("person", "relay", "background")


def figures_from(age_seconds: float) -> str:
    """`figures from 12 minutes ago`: said wherever figures were served from what was kept, not asked again."""
    minutes = max(0, int(age_seconds // 60))
    if minutes < 1:
        return "figures from less than a minute ago"
    if minutes < 120:
        return f"figures from {minutes} minute{'s' if minutes != 1 else ''} ago"
    return f"figures from {minutes // 60} hours ago"


def usage(rows: list[tuple[str, str, str, int]], *, bot_used: int, bot_limit: int, bot_left: int, people: int) -> Message:
    """rows: (credential kind, priority, feature, requests) of the rolling hour."""
    share = 100 * bot_used / max(1, bot_limit)
    lines = [f"*The bot's credential:* {bot_used} of {bot_limit} requests in the last hour ({share:.0f} %), {bot_left} left."]
    if people:
        lines.append(f"*People's own tokens:* {people} spent some (each has its own allowance).")
    blocks = [header("Bitbucket requests, the last hour"), section("\n".join(lines))]
    if rows:
        ordered = sorted(rows, key=lambda r: (r[0] != "bot", PRIORITY_ORDER.index(r[1]) if r[1] in PRIORITY_ORDER else 9, -r[3], r[2]))
        table = [f"{code(kind)} · {escape(priority)} · {escape(feature)}: *{n}*" for kind, priority, feature, n in ordered[:40]]
        if len(ordered) > 40:
            table.append(f"…and {len(ordered) - 40} more")
        blocks.append(section("\n".join(table)))
    else:
        blocks.append(section("No Bitbucket request in the last hour."))
    blocks.append(context("Counted by every replica in the database. Below 20 % left, Home tabs, unfurls, reminders, stats and "
                          "digests wait or answer from what they kept; a person's action always goes through."))
    return message(f"Bitbucket requests in the last hour: {bot_used} of {bot_limit}", blocks)
