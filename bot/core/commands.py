"""The `/bb` grammar: a pure parser from the text a person typed to a `Command`.

The command table is declarative (name, aliases, usage, summary, parser). Nothing here does I/O:
resolving a bare slug or a channel's default repository happens in the handlers.
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlparse

from bot.core.errors import UsageError

MERGE_STRATEGIES = ("merge_commit", "squash", "fast_forward", "squash_fast_forward", "rebase_fast_forward", "rebase_merge")
STRATEGY_ALIASES = {"merge": "merge_commit", "commit": "merge_commit", "ff": "fast_forward", "fast-forward": "fast_forward"}
EVENT_FAMILIES = ("pullrequests", "pushes", "tags", "builds")
FAMILY_ALIASES = {
    "pr": "pullrequests", "prs": "pullrequests", "pullrequest": "pullrequests", "pull-requests": "pullrequests",
    "push": "pushes", "tag": "tags", "build": "builds", "pipelines": "builds", "statuses": "builds",
}
ROLES = ("merger", "releaser", "deployer")
NOTIFY_KINDS = ("reviews", "mine", "mentions", "builds", "deploys")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DIGEST_DEFAULTS = {"at": "09:00", "days": ("mon",)}
REMIND_DEFAULTS = {"after_seconds": 48 * 3600, "at": "09:00", "days": ("mon", "tue", "wed", "thu", "fri")}
DAY_ALIASES = {"daily": "mon-sun", "everyday": "mon-sun", "weekdays": "mon-fri", "workdays": "mon-fri", "weekends": "sat-sun"}

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_REPO_RE = re.compile(rf"^(?:(?P<workspace>{_NAME})/)?(?P<slug>{_NAME})$")
_USER_MENTION_RE = re.compile(r"^<@(?P<id>[UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_AGE_RE = re.compile(r"(?a)^(?P<n>\d{1,4})(?P<unit>m|min|h|hr|hrs|hours?|d|days?|w|weeks?)$")
_TIME_RE = re.compile(r"(?a)^(?P<h>\d{1,2}):(?P<m>\d{2})$")


@dataclass(frozen=True)
class RepoRef:
    """A repository as typed: `workspace/slug`, or a bare `slug` (workspace filled in later)."""

    workspace: str | None
    slug: str

    @property
    def full_name(self) -> str:
        return f"{self.workspace}/{self.slug}" if self.workspace else self.slug


@dataclass(frozen=True)
class Command:
    name: str
    args: dict = field(default_factory=dict)
    repo: RepoRef | None = None


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    parse: Callable[[list[str]], Command]
    aliases: tuple[str, ...] = ()
    group: str = "Pull requests"


# --- small parsers for the pieces of a command -------------------------------------------------


def parse_repo(token: str) -> RepoRef:
    """`acme/api`, `api`, or a pasted Bitbucket URL such as `https://bitbucket.org/acme/api/pull-requests/3`."""
    if token.startswith(("http://", "https://")):
        parts = [p for p in urlparse(token).path.split("/") if p]
        if len(parts) >= 2:
            token = f"{parts[0]}/{parts[1]}"
    match = _REPO_RE.match(token)
    if not match:
        raise UsageError(f"`{_code(token)}` is not a repository: write `workspace/slug`, or a bare `slug`.")
    return RepoRef(match["workspace"], match["slug"])


def looks_like_repo(token: str) -> bool:
    return bool(_REPO_RE.match(token)) or token.startswith(("http://", "https://"))


def parse_pr_id(token: str) -> int:
    digits = token.lstrip("#")
    if not is_pr_id(token) or int(digits) <= 0:
        raise UsageError(f"`{_code(token)}` is not a pull request number: write it like `42` or `#42`.")
    return int(digits)


def is_pr_id(token: str) -> bool:
    # ASCII digits only ("²" is a digit to str.isdigit but not to int()), and a sane length (int() refuses
    # 4,300 digits and more; no pull request number has 10).
    digits = token.lstrip("#")
    return digits.isascii() and digits.isdigit() and len(digits) <= 9


def parse_strategy(token: str) -> str:
    strategy = STRATEGY_ALIASES.get(token.lower(), token.lower())
    if strategy not in MERGE_STRATEGIES:
        raise UsageError(
            f"`{_code(token)}` is not a merge strategy: use one of {', '.join(f'`{s}`' for s in MERGE_STRATEGIES[:3])}."
            + _did_you_mean(token, MERGE_STRATEGIES)
        )
    return strategy


def parse_user_mention(token: str) -> str:
    """With escaping on (the manifest sets it), `@alice` arrives as `<@U123|alice>`."""
    match = _USER_MENTION_RE.match(token)
    if not match:
        raise UsageError(f"`{_code(token)}` is not a Slack user: mention them, like `@alice`, so Slack sends their ID.")
    return match["id"]


def parse_role(token: str) -> tuple[str, str | None]:
    """`merger`, `releaser`, `deployer` or `deployer:ENV` → (role, environment or None)."""
    role, _, env = token.partition(":")
    role = role.lower()
    if role not in ROLES or (env and role != "deployer") or (token.endswith(":") and not env):
        raise UsageError(
            f"`{_code(token)}` is not a role: use `merger`, `releaser`, `deployer` or `deployer:ENV`."
            + _did_you_mean(role, ROLES)
        )
    return role, (env or None)


def parse_age(token: str) -> int:
    """`36h`, `2d`, `90m`, `1w` → seconds."""
    match = _AGE_RE.match(token.lower())
    if not match or int(match["n"]) == 0:
        raise UsageError(f"`after {_code(token)}` is not an age: write it like `36h`, `2d` or `1w`.")
    unit = match["unit"][0]
    return int(match["n"]) * {"m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]


def parse_time_of_day(token: str) -> str:
    match = _TIME_RE.match(token)
    if not match or int(match["h"]) > 23 or int(match["m"]) > 59:
        raise UsageError(f"`at {_code(token)}` is not a time of day: write it like `09:00` or `16:30` (24-hour clock).")
    return f"{int(match['h']):02d}:{match['m']}"


def parse_days(token: str) -> tuple[str, ...]:
    """`mon-fri`, `daily`, `mon,wed,fri`, `sat-sun` → the weekdays in order."""
    text = DAY_ALIASES.get(token.lower(), token.lower())
    days: list[str] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        first, last = first[:3], (last or first)[:3]
        if first not in WEEKDAYS or last not in WEEKDAYS:
            raise UsageError(
                f"`on {_code(token)}` is not a set of days: write it like `mon-fri`, `daily` or `mon,wed,fri`."
                + _did_you_mean(part.split("-")[0], WEEKDAYS + tuple(DAY_ALIASES))
            )
        i, j = WEEKDAYS.index(first), WEEKDAYS.index(last)
        span = range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)]
        days.extend(WEEKDAYS[k] for k in span if WEEKDAYS[k] not in days)
    return tuple(d for d in WEEKDAYS if d in days)


def parse_family(token: str) -> str:
    family = FAMILY_ALIASES.get(token.lower(), token.lower())
    if family not in EVENT_FAMILIES:
        raise UsageError(
            f"`{_code(token)}` is not an event family: use {', '.join(f'`{f}`' for f in EVENT_FAMILIES)}."
            + _did_you_mean(token, EVENT_FAMILIES)
        )
    return family


# --- one parser per command --------------------------------------------------------------------


def _no_args(name: str) -> Callable[[list[str]], Command]:
    def parse(tokens: list[str]) -> Command:
        if tokens:
            raise UsageError(f"`{name}` takes no arguments.")
        return Command(name)

    return parse


def _optional_repo(name: str) -> Callable[[list[str]], Command]:
    def parse(tokens: list[str]) -> Command:
        if len(tokens) > 1:
            raise UsageError(f"`{name}` takes at most one repository.")
        return Command(name, repo=parse_repo(tokens[0]) if tokens else None)

    return parse


def _parse_help(tokens: list[str]) -> Command:
    return Command("help", {"topic": tokens[0].lower() if tokens else None})


def _parse_pr(tokens: list[str]) -> Command:
    if not tokens:
        return Command("pr", {"modal": True})
    repo = parse_repo(tokens[0])
    rest = tokens[1:]
    if not rest:
        return Command("pr", {"modal": True}, repo)
    source, rest = rest[0], rest[1:]
    destination = None
    if len(rest) >= 2 and rest[0].lower() == "into":
        destination, rest = rest[1], rest[2:]
    elif rest and rest[0].lower() == "into":
        raise UsageError("`into` needs a destination branch, like `into main`.")
    title = " ".join(rest).strip() or None
    return Command("pr", {"source": source, "destination": destination, "title": title, "modal": False}, repo)


def _repo_then_id(name: str, tokens: list[str], max_extra: int) -> tuple[RepoRef | None, int, list[str]]:
    """`[REPO] ID …`: the repository may be left out when the channel has one."""
    if tokens and is_pr_id(tokens[0]):
        repo, rest = None, tokens
    elif len(tokens) >= 2:
        repo, rest = parse_repo(tokens[0]), tokens[1:]
    else:
        raise UsageError(f"`{name}` needs a pull request number.")
    pr_id, extra = parse_pr_id(rest[0]), rest[1:]
    if len(extra) > max_extra:
        raise UsageError(f"`{name}` got more than it expected: `{_code(' '.join(extra))}`.")
    return repo, pr_id, extra


def _parse_merge(tokens: list[str]) -> Command:
    repo, pr_id, extra = _repo_then_id("merge", tokens, max_extra=1)
    strategy = parse_strategy(extra[0]) if extra else None
    return Command("merge", {"pr_id": pr_id, "strategy": strategy}, repo)


def _parse_decline(tokens: list[str]) -> Command:
    repo, pr_id, _ = _repo_then_id("decline", tokens, max_extra=0)
    return Command("decline", {"pr_id": pr_id}, repo)


def _parse_tag(tokens: list[str]) -> Command:
    if len(tokens) == 1:
        return Command("tag", {"name": tokens[0], "ref": None})
    if len(tokens) in (2, 3):
        return Command("tag", {"name": tokens[1], "ref": tokens[2] if len(tokens) == 3 else None}, parse_repo(tokens[0]))
    raise UsageError("`tag` needs a repository and a tag name.")


FORCE_FLAGS = ("--force", "\u2014force", "-force")  # Slack may turn `--` into an em dash


def _take_force(tokens: list[str]) -> tuple[list[str], bool]:
    kept = [t for t in tokens if t.lower() not in FORCE_FLAGS]
    return kept, len(kept) != len(tokens)


def _forced(parse: Callable[[list[str]], Command]) -> Callable[[list[str]], Command]:
    """`--force` anywhere in the command: an admin's way through a freeze or past failed builds."""

    def parse_forced(tokens: list[str]) -> Command:
        kept, force = _take_force(tokens)
        command = parse(kept)
        return Command(command.name, {**command.args, "force": True}, command.repo) if force else command

    return parse_forced


def parse_duration(token: str) -> int:
    """`2h`, `3d`, `90m`, `1w` → seconds, for `for DURATION`."""
    try:
        return parse_age(token)
    except UsageError:
        raise UsageError(f"`for {_code(token)}` is not a duration: write it like `2h`, `3d` or `1w`.") from None


def _parse_freeze(tokens: list[str]) -> Command:
    """`freeze [REPO] ENV|all [for DURATION] [REASON…]`."""
    if not tokens:
        raise UsageError("`freeze` needs an environment (or `all`), like `/bb freeze api production for 2h release day`.")
    if len(tokens) == 1 or tokens[1].lower() == "for":
        repo, environment, rest = None, tokens[0], tokens[1:]
    else:
        repo, environment, rest = parse_repo(tokens[0]), tokens[1], tokens[2:]
    seconds = None
    if rest and rest[0].lower() == "for":
        if len(rest) < 2:
            raise UsageError("`for` needs a duration, like `for 2h` or `for 3d`.")
        seconds, rest = parse_duration(rest[1]), rest[2:]
    return Command("freeze", {"environment": environment, "seconds": seconds, "reason": " ".join(rest).strip()}, repo)


def _parse_unfreeze(tokens: list[str]) -> Command:
    if len(tokens) == 1:
        return Command("unfreeze", {"environment": tokens[0]})
    if len(tokens) == 2:
        return Command("unfreeze", {"environment": tokens[1]}, parse_repo(tokens[0]))
    raise UsageError("`unfreeze` needs a repository and an environment (or `all`), like `/bb unfreeze api production`.")


def _parse_builds(tokens: list[str]) -> Command:
    if len(tokens) > 2:
        raise UsageError("`builds` takes a repository and at most one branch, like `/bb builds api main`.")
    repo = parse_repo(tokens[0]) if tokens else None
    return Command("builds", {"branch": tokens[1] if len(tokens) == 2 else None}, repo)


def _parse_deploy(tokens: list[str]) -> Command:
    lowered = [t.lower() for t in tokens]
    if "to" not in lowered:
        raise UsageError("`deploy` needs `to ENV`, like `/bb deploy api v1.4.0 to production`.")
    at = len(lowered) - 1 - lowered[::-1].index("to")
    before, after = tokens[:at], tokens[at + 1 :]
    if len(after) != 1:
        raise UsageError("`deploy … to` needs one environment name, like `to production`.")
    if len(before) == 1:
        return Command("deploy", {"ref": before[0], "environment": after[0]})
    if len(before) == 2:
        return Command("deploy", {"ref": before[1], "environment": after[0]}, parse_repo(before[0]))
    raise UsageError("`deploy` needs a repository and a branch, tag or commit, like `/bb deploy api v1.4.0 to production`.")


def _parse_rollback(tokens: list[str]) -> Command:
    if len(tokens) == 1:
        return Command("rollback", {"environment": tokens[0]})
    if len(tokens) == 2:
        return Command("rollback", {"environment": tokens[1]}, parse_repo(tokens[0]))
    raise UsageError("`rollback` needs a repository and an environment, like `/bb rollback api production`.")


def _parse_subscribe(tokens: list[str]) -> Command:
    if not tokens:
        raise UsageError("`subscribe` needs a repository.")
    repo = parse_repo(tokens[0])
    families: list[str] = []
    branch_glob = None
    for token in tokens[1:]:
        if token.lower().startswith("branch:"):
            branch_glob = token.split(":", 1)[1]
            if not branch_glob:
                raise UsageError("`branch:` needs a pattern, like `branch:main` or `branch:release/*`.")
        else:
            family = parse_family(token)
            if family not in families:
                families.append(family)
    return Command("subscribe", {"families": tuple(families or EVENT_FAMILIES), "branch_glob": branch_glob}, repo)


def _parse_remind(tokens: list[str]) -> Command:
    if tokens and tokens[0].lower() in ("off", "now"):
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
                f"`{_code(rest[0])}` is not understood here: use `after AGE`, `at HH:MM` or `on DAYS`."
                + _did_you_mean(keyword, ("after", "at", "on"))
            )
        if len(rest) < 2:
            raise UsageError(f"`{keyword}` needs a value.")
        value = rest[1]
        options[keyword] = {"after": parse_age, "at": parse_time_of_day, "on": parse_days}[keyword](value)
        rest = rest[2:]
    return Command("remind", {"after_seconds": options["after"], "at": options["at"], "days": options["on"]}, repo)


def _parse_stats(tokens: list[str]) -> Command:
    """`[REPO] [7d|30d|90d]`, in either order."""
    repo, days = None, 30
    for token in tokens:
        if token.lower().rstrip("d") in ("7", "30", "90") and token[:1].isdigit():
            days = int(token.lower().rstrip("d"))
        elif repo is None and not token[:1].isdigit():
            repo = parse_repo(token)
        else:
            raise UsageError(f"`{_code(token)}` is not understood here: give a repository and `7d`, `30d` or `90d`.")
    return Command("stats", {"days": days}, repo)


def _parse_digest(tokens: list[str]) -> Command:
    if tokens and tokens[0].lower() == "off":
        if len(tokens) > 2:
            raise UsageError("`digest off` takes at most one repository.")
        return Command("digest_off", repo=parse_repo(tokens[1]) if len(tokens) == 2 else None)
    repo = parse_repo(tokens[0]) if tokens and tokens[0].lower() not in ("at", "on") else None
    options = dict(DIGEST_DEFAULTS)
    rest = tokens[1:] if repo else tokens
    while rest:
        keyword = rest[0].lower()
        if keyword not in ("at", "on") or len(rest) < 2:
            raise UsageError(f"`{_code(' '.join(rest[:2]))}` is not understood here: use `on DAYS` or `at HH:MM`."
                             + _did_you_mean(keyword, ("at", "on")))
        options["at" if keyword == "at" else "days"] = (parse_time_of_day if keyword == "at" else parse_days)(rest[1])
        rest = rest[2:]
    return Command("digest", options, repo)


def _parse_link(tokens: list[str]) -> Command:
    if len(tokens) == 1:
        return Command("link", {"user_id": None, "nickname": tokens[0]})
    if len(tokens) == 2:
        return Command("link", {"user_id": parse_user_mention(tokens[0]), "nickname": tokens[1]})
    raise UsageError("`link` needs a Bitbucket nickname, like `/bb link jdoe` or `/bb link @alice jdoe`.")


def _grant_or_revoke(name: str) -> Callable[[list[str]], Command]:
    def parse(tokens: list[str]) -> Command:
        if len(tokens) not in (2, 3):
            raise UsageError(f"`{name}` needs a person and a role, like `/bb {name} @alice merger`.")
        role, environment = parse_role(tokens[1])
        repo = parse_repo(tokens[2]) if len(tokens) == 3 else None
        return Command(name, {"user_id": parse_user_mention(tokens[0]), "role": role, "environment": environment}, repo)

    return parse


def _parse_notify(tokens: list[str]) -> Command:
    """`notify` · `notify on|off` · `notify KIND on|off`."""
    words = [t.lower() for t in tokens]
    if not words:
        return Command("notify", {"kinds": (), "on": None})
    if len(words) == 1 and words[0] in ("on", "off"):
        return Command("notify", {"kinds": NOTIFY_KINDS, "on": words[0] == "on"})
    if len(words) == 2 and words[1] in ("on", "off"):
        if words[0] not in NOTIFY_KINDS:
            raise UsageError(f"`{_code(tokens[0])}` is not a kind of notification: use {', '.join(f'`{k}`' for k in NOTIFY_KINDS)}."
                             + _did_you_mean(words[0], NOTIFY_KINDS))
        return Command("notify", {"kinds": (words[0],), "on": words[1] == "on"})
    raise UsageError("Write `/bb notify`, `/bb notify on|off` or `/bb notify KIND on|off`.")


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("help", "/bb help [COMMAND]", "lists the commands", _parse_help, ("?", "h", "commands"), "Help"),
    CommandSpec("prs", "/bb prs [REPO]", "open pull requests, newest first", _optional_repo("prs"), ("list", "pulls", "pullrequests")),
    CommandSpec("pr", "/bb pr REPO SOURCE [into DEST] [TITLE…]", "opens a pull request (a form when only REPO is given)", _parse_pr, ("open", "create")),
    CommandSpec("merge", "/bb merge REPO ID [merge_commit|squash|fast_forward]", "merges a pull request after you confirm", _parse_merge),
    CommandSpec("decline", "/bb decline REPO ID", "declines a pull request after you confirm", _parse_decline, ("reject",)),
    CommandSpec("tag", "/bb tag REPO NAME [REF]", "tags a branch, tag or commit (default: the main branch)", _parse_tag, (), "Releases"),
    CommandSpec("deploy", "/bb deploy REPO REF to ENV [--force]", "runs the deploy pipeline for ENV on REF, after you confirm (`--force`: an admin's way through a freeze)", _forced(_parse_deploy), (), "Releases"),
    CommandSpec("rollback", "/bb rollback REPO ENV [--force]", "deploys again what ENV ran before its current release", _forced(_parse_rollback), (), "Releases"),
    CommandSpec("deployments", "/bb deployments REPO", "each environment and what is deployed there", _optional_repo("deployments"), ("environments", "envs"), "Releases"),
    CommandSpec("freeze", "/bb freeze REPO ENV|all [for DURATION] [REASON…]", "stops deploys and rollbacks to ENV (or every environment) until unfrozen or DURATION ends", _parse_freeze, (), "Releases"),
    CommandSpec("unfreeze", "/bb unfreeze REPO ENV|all", "ends a deploy freeze", _parse_unfreeze, ("thaw",), "Releases"),
    CommandSpec("freezes", "/bb freezes [REPO]", "the deploy freezes in force", _optional_repo("freezes"), (), "Releases"),
    CommandSpec("builds", "/bb builds REPO [BRANCH]", "the latest pipelines, with Re-run and Stop buttons", _parse_builds, ("pipelines", "ci"), "Builds"),
    CommandSpec("subscribe", "/bb subscribe REPO [pullrequests|pushes|tags|builds…] [branch:GLOB]", "relays REPO's events into this channel", _parse_subscribe, ("sub", "follow"), "Channel"),
    CommandSpec("unsubscribe", "/bb unsubscribe REPO", "stops relaying REPO here", _optional_repo("unsubscribe"), ("unsub", "unfollow"), "Channel"),
    CommandSpec("subscriptions", "/bb subscriptions", "what this channel relays", _no_args("subscriptions"), ("subs",), "Channel"),
    CommandSpec("remind", "/bb remind [REPO] [after AGE] [at HH:MM] [on DAYS] · /bb remind off|now [REPO]", "stale pull request reminders for this channel", _parse_remind, ("reminder",), "Channel"),
    CommandSpec("reminders", "/bb reminders", "this channel's reminders", _no_args("reminders"), (), "Channel"),
    CommandSpec("stats", "/bb stats [REPO] [7d|30d|90d]", "pull request throughput and review times, with a chart (default 30d)", _parse_stats, ("insights",), "Insights"),
    CommandSpec("digest", "/bb digest [REPO] [on DAYS] [at HH:MM] · /bb digest off [REPO]", "a weekly insights message in this channel (default: Monday 09:00)", _parse_digest, (), "Insights"),
    CommandSpec("login", "/bb login", "links your own Bitbucket account", _no_args("login"), ("connect",), "You"),
    CommandSpec("logout", "/bb logout", "forgets your Bitbucket account", _no_args("logout"), ("disconnect",), "You"),
    CommandSpec("whoami", "/bb whoami", "who you are linked as in Bitbucket", _no_args("whoami"), ("me",), "You"),
    CommandSpec("notify", "/bb notify [on|off] · /bb notify KIND on|off", "your direct messages: reviews, mine, mentions, builds, deploys", _parse_notify, ("notifications",), "You"),
    CommandSpec("link", "/bb link [@user] BITBUCKET_NICKNAME", "ties a Slack user to a Bitbucket account for mentions", _parse_link, (), "You"),
    CommandSpec("grant", "/bb grant @user ROLE [REPO]", "gives a role (admins only): merger, releaser, deployer[:ENV]", _grant_or_revoke("grant"), (), "Admin"),
    CommandSpec("revoke", "/bb revoke @user ROLE [REPO]", "takes a role back (admins only)", _grant_or_revoke("revoke"), (), "Admin"),
)

_BY_NAME = {spec.name: spec for spec in COMMANDS} | {alias: spec for spec in COMMANDS for alias in spec.aliases}


def spec_for(name: str) -> CommandSpec | None:
    return _BY_NAME.get(name.lower())


def parse(text: str) -> Command:
    """Parse what followed `/bb`. Raises `UsageError` with usage and a suggestion when it cannot."""
    tokens = _split(text)
    if not tokens:
        return Command("help", {"topic": None})
    word = tokens[0].lower()
    spec = spec_for(word)
    if spec is None:
        suggestion = _closest(word)
        raise UsageError(
            f"`{_code(tokens[0])}` is not a command." + (f" Did you mean `/bb {suggestion}`?" if suggestion else ""),
            usage=help_usage_lines(),
            suggestion=suggestion or "",
        )
    try:
        return spec.parse(tokens[1:])
    except UsageError as error:
        if error.usage:
            raise
        raise UsageError(error.message, usage=spec.usage, suggestion=error.suggestion) from None


def help_usage_lines() -> str:
    return "\n".join(f"`{spec.usage}`: {spec.summary}" for spec in COMMANDS)


def _split(text: str) -> list[str]:
    # Slack sends “smart quotes” from some clients; treat them as plain quotes so titles can be quoted.
    normalised = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2018", "'").replace("\u2019", "'")
    try:
        return shlex.split(normalised)
    except ValueError:
        return normalised.split()


def _closest(word: str) -> str | None:
    matches = difflib.get_close_matches(word, list(_BY_NAME), n=1, cutoff=0.6)
    return _BY_NAME[matches[0]].name if matches else None


def _did_you_mean(word: str, choices) -> str:
    matches = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f" Did you mean `{matches[0]}`?" if matches else ""


def _code(text: str) -> str:
    """What a person typed, made safe to echo back inside `code` in mrkdwn."""
    from bot.core.render import escape, truncate

    return truncate(escape(text.replace("`", "'")), 100)
