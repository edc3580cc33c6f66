"""The `/bb` grammar: a pure parser from the text a person typed to a `Command`.

Each feature declares its commands (name, aliases, usage, summary, parser) with the pieces below; the registry
gathers them into one `CommandTable`, which parses, gives usage and suggests. Nothing here does I/O: resolving a
bare slug or a channel's default repository happens in the handlers.
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlparse

from bot.core.errors import UsageError
from bot.core.render import escape, truncate

ROLES = ("merger", "releaser", "deployer")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
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
    # A command whose answer is a form: it runs on the quick pool (a trigger_id lives 3 seconds).
    opens_form: Callable[[Command], bool] | None = None


# --- small parsers for the pieces of a command -------------------------------------------------


def parse_repo(token: str) -> RepoRef:
    """`acme/api`, `api`, or a pasted Bitbucket URL such as `https://bitbucket.org/acme/api/pull-requests/3`."""
    if token.startswith(("http://", "https://")):
        parts = [p for p in urlparse(token).path.split("/") if p]
        if len(parts) >= 2:
            token = f"{parts[0]}/{parts[1]}"
    match = _REPO_RE.match(token)
    if not match:
        raise UsageError(f"`{code_of(token)}` is not a repository: write `workspace/slug`, or a bare `slug`.")
    return RepoRef(match["workspace"], match["slug"])


def looks_like_repo(token: str) -> bool:
    return bool(_REPO_RE.match(token)) or token.startswith(("http://", "https://"))


def parse_pr_id(token: str) -> int:
    digits = token.lstrip("#")
    if not is_pr_id(token) or int(digits) <= 0:
        raise UsageError(f"`{code_of(token)}` is not a pull request number: write it like `42` or `#42`.")
    return int(digits)


def is_pr_id(token: str) -> bool:
    # ASCII digits only ("²" is a digit to str.isdigit but not to int()), and a sane length (int() refuses
    # 4,300 digits and more; no pull request number has 10).
    digits = token.lstrip("#")
    return digits.isascii() and digits.isdigit() and len(digits) <= 9


def parse_user_mention(token: str) -> str:
    """With escaping on (the manifest sets it), `@alice` arrives as `<@U123|alice>`."""
    match = _USER_MENTION_RE.match(token)
    if not match:
        raise UsageError(f"`{code_of(token)}` is not a Slack user: mention them, like `@alice`, so Slack sends their ID.")
    return match["id"]


def parse_role(token: str) -> tuple[str, str | None]:
    """`merger`, `releaser`, `deployer` or `deployer:ENV` → (role, environment or None)."""
    role, _, env = token.partition(":")
    role = role.lower()
    if role not in ROLES or (env and role != "deployer") or (token.endswith(":") and not env):
        raise UsageError(
            f"`{code_of(token)}` is not a role: use `merger`, `releaser`, `deployer` or `deployer:ENV`."
            + did_you_mean(role, ROLES)
        )
    return role, (env or None)


def parse_age(token: str) -> int:
    """`36h`, `2d`, `90m`, `1w` → seconds."""
    match = _AGE_RE.match(token.lower())
    if not match or int(match["n"]) == 0:
        raise UsageError(f"`after {code_of(token)}` is not an age: write it like `36h`, `2d` or `1w`.")
    unit = match["unit"][0]
    return int(match["n"]) * {"m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]


def parse_time_of_day(token: str) -> str:
    match = _TIME_RE.match(token)
    if not match or int(match["h"]) > 23 or int(match["m"]) > 59:
        raise UsageError(f"`at {code_of(token)}` is not a time of day: write it like `09:00` or `16:30` (24-hour clock).")
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
                f"`on {code_of(token)}` is not a set of days: write it like `mon-fri`, `daily` or `mon,wed,fri`."
                + did_you_mean(part.split("-")[0], WEEKDAYS + tuple(DAY_ALIASES))
            )
        i, j = WEEKDAYS.index(first), WEEKDAYS.index(last)
        span = range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)]
        days.extend(WEEKDAYS[k] for k in span if WEEKDAYS[k] not in days)
    return tuple(d for d in WEEKDAYS if d in days)



def no_args(name: str) -> Callable[[list[str]], Command]:
    def parse(tokens: list[str]) -> Command:
        if tokens:
            raise UsageError(f"`{name}` takes no arguments.")
        return Command(name)

    return parse


def optional_repo(name: str) -> Callable[[list[str]], Command]:
    def parse(tokens: list[str]) -> Command:
        if len(tokens) > 1:
            raise UsageError(f"`{name}` takes at most one repository.")
        return Command(name, repo=parse_repo(tokens[0]) if tokens else None)

    return parse


def repo_then_id(name: str, tokens: list[str], max_extra: int) -> tuple[RepoRef | None, int, list[str]]:
    """`[REPO] ID …`: the repository may be left out when the channel has one."""
    if tokens and is_pr_id(tokens[0]):
        repo, rest = None, tokens
    elif len(tokens) >= 2:
        repo, rest = parse_repo(tokens[0]), tokens[1:]
    else:
        raise UsageError(f"`{name}` needs a pull request number.")
    pr_id, extra = parse_pr_id(rest[0]), rest[1:]
    if len(extra) > max_extra:
        raise UsageError(f"`{name}` got more than it expected: `{code_of(' '.join(extra))}`.")
    return repo, pr_id, extra


FORCE_FLAGS = ("--force", "\u2014force", "-force")  # Slack may turn `--` into an em dash


def take_force(tokens: list[str]) -> tuple[list[str], bool]:
    kept = [t for t in tokens if t.lower() not in FORCE_FLAGS]
    return kept, len(kept) != len(tokens)


def forced(parse: Callable[[list[str]], Command]) -> Callable[[list[str]], Command]:
    """`--force` anywhere in the command: an admin's way through a freeze or past failed builds."""

    def parse_forced(tokens: list[str]) -> Command:
        kept, force = take_force(tokens)
        command = parse(kept)
        return Command(command.name, {**command.args, "force": True}, command.repo) if force else command

    return parse_forced


def parse_duration(token: str) -> int:
    """`2h`, `3d`, `90m`, `1w` → seconds, for `for DURATION`."""
    try:
        return parse_age(token)
    except UsageError:
        raise UsageError(f"`for {code_of(token)}` is not a duration: write it like `2h`, `3d` or `1w`.") from None


@dataclass(frozen=True)
class TimedEnvironment:
    """`[REPO] ENV [for DURATION] [REASON…]` as typed: an environment, for how long (None when no `for DURATION`
    was typed: the command's own default), and why (empty when not said)."""

    repo: RepoRef | None
    environment: str
    seconds: int | None
    reason: str


def parse_timed_environment(tokens: list[str], *, missing: str, durations: tuple[str, str]) -> TimedEnvironment:
    """`missing` is the command's own answer when nothing follows it; `durations` the two examples it gives for
    `for` without a duration (`("2h", "30m")`). A lone word is the environment, and so is the first word before `for`."""
    if not tokens:
        raise UsageError(missing)
    if len(tokens) == 1 or tokens[1].lower() == "for":
        repo, environment, rest = None, tokens[0], tokens[1:]
    else:
        repo, environment, rest = parse_repo(tokens[0]), tokens[1], tokens[2:]
    seconds = None
    if rest and rest[0].lower() == "for":
        if len(rest) < 2:
            raise UsageError(f"`for` needs a duration, like `for {durations[0]}` or `for {durations[1]}`.")
        seconds, rest = parse_duration(rest[1]), rest[2:]
    return TimedEnvironment(repo, environment, seconds, " ".join(rest).strip())


def _parse_help(tokens: list[str]) -> Command:
    return Command("help", {"topic": tokens[0].lower() if tokens else None})


HELP = CommandSpec("help", "/bb help [COMMAND]", "lists the commands", _parse_help, ("?", "h", "commands"), "Help")


class CommandTable:
    """Every command the bot knows, in the order the features were registered: parses, gives usage, suggests."""

    def __init__(self, specs):
        self.specs: tuple[CommandSpec, ...] = tuple(specs)
        self._by_name = {spec.name: spec for spec in self.specs} | {alias: spec for spec in self.specs for alias in spec.aliases}
        if len(self._by_name) != len({s.name for s in self.specs}) + sum(len(s.aliases) for s in self.specs):
            raise ValueError("two commands share a name or an alias")

    def spec_for(self, name: str) -> CommandSpec | None:
        return self._by_name.get(name.lower())

    def parse(self, text: str) -> Command:
        """Parse what followed `/bb`. Raises `UsageError` with usage and a suggestion when it cannot."""
        tokens = _split(text)
        if not tokens:
            return Command("help", {"topic": None})
        word = tokens[0].lower()
        spec = self.spec_for(word)
        if spec is None:
            # A guess and the one usage line it needs; no guess when nothing is close, and never the whole list.
            suggestion = self.closest(word)
            if suggestion:
                raise UsageError(f"`{code_of(tokens[0])}` is not a command. Did you mean `/bb {suggestion}`?",
                                 usage=self._by_name[suggestion].usage, suggestion=suggestion)
            raise UsageError(f"`{code_of(tokens[0])}` is not a command; `/bb help` lists the commands.")
        try:
            return spec.parse(tokens[1:])
        except UsageError as error:
            if error.usage:
                raise
            raise UsageError(error.message, usage=spec.usage, suggestion=error.suggestion) from None

    def usage_lines(self) -> str:
        return "\n".join(f"`{spec.usage}`: {spec.summary}" for spec in self.specs)

    def closest(self, word: str) -> str | None:
        """The command a mistyped `word` most likely meant, or None when none is close enough to be a fair guess:
        at most one edit away (a letter wrong, missing, extra, or two swapped; two edits for words of 4 letters or
        more) and alike by difflib's measure, or the start of exactly one command's names (`who` → `whoami`)."""
        word = word.lower()
        if len(word) < 3:
            return None
        allowed = 1 if len(word) < 4 else 2
        close = []
        for name, spec in self._by_name.items():
            distance = edit_distance(word, name)
            likeness = difflib.SequenceMatcher(None, word, name).ratio()
            if distance <= allowed and likeness >= SUGGESTION_LIKENESS:
                close.append((distance, -likeness, abs(len(name) - len(word)), spec.name))
        if close:
            return min(close)[3]
        started = {spec.name for name, spec in self._by_name.items() if name.startswith(word)}
        return started.pop() if len(started) == 1 else None


def _split(text: str) -> list[str]:
    # Slack sends “smart quotes” from some clients; treat them as plain quotes so titles can be quoted.
    normalised = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2018", "'").replace("\u2019", "'")
    try:
        return shlex.split(normalised)
    except ValueError:
        return normalised.split()


SUGGESTION_LIKENESS = 0.6  # difflib's ratio below which a word is not offered as what was meant


def edit_distance(a: str, b: str) -> int:
    """Letters changed, added, removed, or two neighbours swapped, to turn `a` into `b` (optimal string alignment)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def did_you_mean(word: str, choices) -> str:
    matches = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f" Did you mean `{matches[0]}`?" if matches else ""


def code_of(text: str) -> str:
    """What a person typed, made safe to echo back inside `code` in mrkdwn."""
    return truncate(escape(text.replace("`", "'")), 100)
