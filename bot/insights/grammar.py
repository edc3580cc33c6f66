"""The insights' commands' grammar (pure): `stats`, `digest`."""

from __future__ import annotations

from bot.core.commands import Command, CommandSpec, code_of, did_you_mean, no_args, parse_days, parse_repo, parse_time_of_day
from bot.core.errors import UsageError


DIGEST_DEFAULTS = {"at": "09:00", "days": ("mon",)}


def _parse_stats(tokens: list[str]) -> Command:
    """`[REPO] [7d|30d|90d]`, in either order."""
    repo, days = None, 30
    for token in tokens:
        if token.lower().rstrip("d") in ("7", "30", "90") and token[:1].isdigit():
            days = int(token.lower().rstrip("d"))
        elif repo is None and not token[:1].isdigit():
            repo = parse_repo(token)
        else:
            raise UsageError(f"`{code_of(token)}` is not understood here: give a repository and `7d`, `30d` or `90d`.")
    return Command("stats", {"days": days}, repo)


def _parse_digest(tokens: list[str]) -> Command:
    if not tokens:  # bare: shows the channel's digests, never rewrites one
        return Command("digests")
    if tokens[0].lower() == "now":
        if len(tokens) > 2:
            raise UsageError("`digest now` takes at most one repository.")
        return Command("digest_now", repo=parse_repo(tokens[1]) if len(tokens) == 2 else None)
    if tokens[0].lower() == "off":
        if len(tokens) > 2:
            raise UsageError("`digest off` takes at most one repository.")
        return Command("digest_off", repo=parse_repo(tokens[1]) if len(tokens) == 2 else None)
    repo = parse_repo(tokens[0]) if tokens and tokens[0].lower() not in ("at", "on") else None
    options = dict(DIGEST_DEFAULTS)
    rest = tokens[1:] if repo else tokens
    while rest:
        keyword = rest[0].lower()
        if keyword not in ("at", "on") or len(rest) < 2:
            raise UsageError(f"`{code_of(' '.join(rest[:2]))}` is not understood here: use `on DAYS` or `at HH:MM`."
                             + did_you_mean(keyword, ("at", "on")))
        options["at" if keyword == "at" else "days"] = (parse_time_of_day if keyword == "at" else parse_days)(rest[1])
        rest = rest[2:]
    return Command("digest", options, repo)


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("stats", "/bb stats [REPO] [7d|30d|90d]", "pull request throughput and review times, with a chart (default 30d)", _parse_stats, ("insights",), "Insights"),
    CommandSpec("digest", "/bb digest [REPO] [on DAYS] [at HH:MM] · /bb digest off [REPO] · /bb digest now REPO",
                "a weekly insights message in this channel (default: Monday 09:00); `now`: this week's at once", _parse_digest, (), "Insights"),
    CommandSpec("digests", "/bb digests", "this channel's weekly digests", no_args("digests"), (), "Insights"),
)
