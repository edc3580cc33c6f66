"""The reminders' commands' grammar (pure): `remind`, `reminders`."""

from __future__ import annotations

from bot.core.commands import Command, CommandSpec, code_of, did_you_mean, no_args, parse_age, parse_days, parse_repo, parse_time_of_day
from bot.core.errors import UsageError


REMIND_DEFAULTS = {"after_seconds": 48 * 3600, "at": "09:00", "days": ("mon", "tue", "wed", "thu", "fri")}


def _parse_remind(tokens: list[str]) -> Command:
    if not tokens:  # bare: shows the channel's reminders, never rewrites one
        return Command("reminders")
    if tokens[0].lower() == "me":
        return _parse_remind_me(tokens[1:])
    if tokens[0].lower() in ("off", "now"):
        action = tokens[0].lower()
        if len(tokens) > 2:
            raise UsageError(f"`remind {action}` takes at most one repository.")
        return Command(f"remind_{action}", repo=parse_repo(tokens[1]) if len(tokens) == 2 else None)
    # The repository may be left out in a channel subscribed to one: then the options come first.
    repo = parse_repo(tokens[0]) if tokens and tokens[0].lower() not in ("after", "at", "on") else None
    options = {"after": REMIND_DEFAULTS["after_seconds"], "at": REMIND_DEFAULTS["at"], "on": REMIND_DEFAULTS["days"]}
    rest = tokens[1:] if repo else tokens
    while rest:
        keyword = rest[0].lower()
        if keyword not in ("after", "at", "on"):
            raise UsageError(
                f"`{code_of(rest[0])}` is not understood here: use `after AGE`, `at HH:MM` or `on DAYS`."
                + did_you_mean(keyword, ("after", "at", "on"))
            )
        if len(rest) < 2:
            raise UsageError(f"`{keyword}` needs a value.")
        value = rest[1]
        options[keyword] = {"after": parse_age, "at": parse_time_of_day, "on": parse_days}[keyword](value)
        rest = rest[2:]
    return Command("remind", {"after_seconds": options["after"], "at": options["at"], "days": options["on"]}, repo)


def _parse_remind_me(tokens: list[str]) -> Command:
    """`remind me [at HH:MM] [on DAYS]` · `remind me off` · `remind me now`."""
    if tokens and tokens[0].lower() in ("off", "now"):
        if len(tokens) > 1:
            raise UsageError(f"`remind me {tokens[0].lower()}` takes nothing more.")
        return Command(f"remind_me_{tokens[0].lower()}")
    options: dict = {"at": None, "days": None}
    rest = tokens
    while rest:
        keyword = rest[0].lower()
        if keyword not in ("at", "on"):
            raise UsageError(f"`{code_of(rest[0])}` is not understood here: use `at HH:MM` or `on DAYS`."
                             + did_you_mean(keyword, ("at", "on", "off", "now")))
        if len(rest) < 2:
            raise UsageError(f"`{keyword}` needs a value.")
        options["at" if keyword == "at" else "days"] = (parse_time_of_day if keyword == "at" else parse_days)(rest[1])
        rest = rest[2:]
    return Command("remind_me", options)


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("remind", "/bb remind [REPO] [after AGE] [at HH:MM] [on DAYS] · /bb remind off|now [REPO] · "
                "/bb remind me [at HH:MM] [on DAYS] · /bb remind me off|now",
                "stale pull request reminders for this channel; `remind me`: your own, in a direct message", _parse_remind,
                ("reminder",), "Channel"),
    CommandSpec("reminders", "/bb reminders", "this channel's reminders", no_args("reminders"), (), "Channel"),
)
