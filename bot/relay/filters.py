"""A subscription's filters (pure): what they are, how they are typed and stored, what they say in words, and whether
an event passes them.

    author:NICK  -author:NICK  -author:bots  -drafts  -title:WORD  path:GLOB  -path:GLOB  target:GLOB
    builds:failures|all|reactions  thread-only

Kinds combine with AND; the values of one kind with OR (`author:ann author:bob`: either of them). `-author:bots`
leaves out Bitbucket's app users and the nicknames of `CHATOPS_BOT_AUTHORS` (`bot.relay.noise`, shared with the
reminders). Path filters look at the files a pull request (or a push) changes; when Bitbucket cannot say which
(`ChangedFiles.known` False), they let the event through, and its context line says "files unknown".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bot.core.errors import UsageError
from bot.core.globs import any_match, glob_match, glob_problem
from bot.relay import noise

BUILD_MODES = ("all", "failures", "reactions")
MAX_FILTERS = 20  # filters on one subscription (and rules of owners on one repository)
FILTER_GRAMMAR = ("[author:NICK] [-author:NICK|bots] [-drafts] [-title:WORD] [path:GLOB] [-path:GLOB] [target:GLOB] "
                  "[builds:failures|all|reactions] [thread-only]")
_NICK = re.compile(r"[A-Za-z0-9_.{}:-][A-Za-z0-9_.{}:@+-]{0,127}")


@dataclass(frozen=True)
class Filters:
    authors: tuple[str, ...] = ()       # author:NICK (a nickname or an account id)
    not_authors: tuple[str, ...] = ()   # -author:NICK
    no_bots: bool = False               # -author:bots
    no_drafts: bool = False             # -drafts
    not_titles: tuple[str, ...] = ()    # -title:WORD
    paths: tuple[str, ...] = ()         # path:GLOB
    not_paths: tuple[str, ...] = ()     # -path:GLOB
    targets: tuple[str, ...] = ()       # target:GLOB
    builds: str = "all"                 # builds:failures|all|reactions
    thread_only: bool = False           # thread-only

    @property
    def needs_files(self) -> bool:
        return bool(self.paths or self.not_paths)

    @property
    def any(self) -> bool:
        return self != NO_FILTERS

    def to_json(self) -> str:
        """'' for no filters (the column's default)."""
        if not self.any:
            return ""
        data = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items() if v != getattr(NO_FILTERS, k)}
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> "Filters":
        if not text:
            return NO_FILTERS
        data = json.loads(text)
        known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


NO_FILTERS = Filters()


@dataclass(frozen=True)
class ChangedFiles:
    """The files an event changes: `known` False when Bitbucket could not say (404, 5xx, too many files);
    `complete` False when only the first page was read (a push)."""

    paths: tuple[str, ...] = ()
    known: bool = True
    complete: bool = True


UNKNOWN_FILES = ChangedFiles((), known=False)


# --- typed --------------------------------------------------------------------------------------------------


def is_filter(token: str) -> bool:
    """A filter rather than an event family (`branch:` is neither: the grammar reads it first)."""
    low = token.lower()
    return low.startswith("-") or ":" in low or low == "thread-only"


def _refuse(message: str) -> UsageError:
    return UsageError(f"{message}\nFilters: `{FILTER_GRAMMAR}`. Nothing was changed.")


def parse_filters(tokens: list[str]) -> Filters:
    """The filters typed after `/bb subscribe REPO [FAMILY…] [branch:GLOB]`; a UsageError (with the grammar) for an
    unknown, empty, too long or contradictory one."""
    values: dict[str, list] = {"authors": [], "not_authors": [], "not_titles": [], "paths": [], "not_paths": [], "targets": []}
    flags = {"no_bots": False, "no_drafts": False, "thread_only": False}
    builds: list[str] = []
    for token in tokens:
        low = token.lower()
        name, _, value = token.partition(":")
        lname = name.lower()
        if low == "-drafts":
            flags["no_drafts"] = True
        elif low == "thread-only":
            flags["thread_only"] = True
        elif low == "-author:bots":
            flags["no_bots"] = True
        elif lname in ("author", "-author"):
            if not _NICK.fullmatch(value):
                raise _refuse(f"`{token[:60]}` needs a Bitbucket nickname or account id, like `author:ann`.")
            values["authors" if lname == "author" else "not_authors"].append(value)
        elif lname == "-title":
            if not value.strip() or len(value) > 100:
                raise _refuse(f"`{token[:60]}` needs a word of at most 100 characters, like `-title:WIP`.")
            values["not_titles"].append(value)
        elif lname in ("path", "-path", "target"):
            problem = glob_problem(value)
            if problem:
                raise _refuse(f"`{token[:60]}`: {problem}.")
            values[{"path": "paths", "-path": "not_paths", "target": "targets"}[lname]].append(value)
        elif lname == "builds":
            if value.lower() not in BUILD_MODES:
                raise _refuse(f"`{token[:60]}`: builds are `builds:failures`, `builds:all` or `builds:reactions`.")
            builds.append(value.lower())
        else:
            raise _refuse(f"`{token[:60]}` is not a filter.")
    if len(set(builds)) > 1:
        raise _refuse(f"`builds:{builds[0]}` and `builds:{builds[1]}` contradict each other: choose one.")
    for kept, left_out, word in (("authors", "not_authors", "author"), ("paths", "not_paths", "path")):
        both = sorted(set(values[kept]) & set(values[left_out]))
        if both:
            raise _refuse(f"`{word}:{both[0]}` and `-{word}:{both[0]}` contradict each other.")
    count = sum(len(v) for v in values.values()) + sum(flags.values()) + len(builds)
    if count > MAX_FILTERS:
        raise _refuse(f"A subscription may have at most {MAX_FILTERS} filters (this one has {count}).")
    return Filters(**{k: tuple(dict.fromkeys(v)) for k, v in values.items()}, **flags, builds=builds[0] if builds else "all")


def contradiction(filters: Filters, families: tuple[str, ...]) -> str:
    """Why these filters cannot go with these families ("" when they can)."""
    pull_request_only = [word for word, on in (
        ("author:", filters.authors or filters.not_authors or filters.no_bots), ("-drafts", filters.no_drafts),
        ("-title:", filters.not_titles), ("target:", filters.targets), ("thread-only", filters.thread_only)) if on]
    if pull_request_only and "pullrequests" not in families:
        return f"`{pull_request_only[0]}` filters pull requests, but this subscription leaves them out."
    if filters.builds != "all" and "builds" not in families:
        return f"`builds:{filters.builds}` says how to tell builds, but this subscription leaves them out."
    if filters.builds == "reactions" and "pullrequests" not in families:
        return "`builds:reactions` puts reactions on pull request cards, but this subscription leaves pull requests out."
    if filters.needs_files and not {"pullrequests", "pushes"} & set(families):
        return "`path:` filters look at the files of pull requests and pushes, but this subscription has neither."
    return ""


# --- in words -----------------------------------------------------------------------------------------------


def _either(values: tuple[str, ...]) -> str:
    return " or ".join("`" + v.replace("`", "'") + "`" for v in values)


def _said(phrases) -> list[str]:
    """The phrases whose filter is on, in order."""
    return [phrase for phrase, on in phrases if on]


def pull_request_words(filters: Filters) -> list[str]:
    return _said((
        ("by " + _either(filters.authors), filters.authors),
        ("not by " + _either(filters.not_authors), filters.not_authors),
        ("not from bots", filters.no_bots),
        ("no drafts", filters.no_drafts),
        ("titles without " + _either(filters.not_titles), filters.not_titles),
    )) + path_words(filters)


def path_words(filters: Filters) -> list[str]:
    return _said((
        ("changing " + _either(filters.paths), filters.paths),
        ("not only " + _either(filters.not_paths), filters.not_paths),
    ))


BUILD_WORDS = {"all": "", "failures": "failures and fixes only", "reactions": "as reactions on the cards"}


def describe(filters: Filters) -> list[str]:
    """Every filter in words, for `/bb subscriptions` and the subscribe reply."""
    words = pull_request_words(filters)
    if filters.targets:
        words.insert(0, "pull requests into " + _either(filters.targets))
    if filters.builds != "all":
        words.append("builds " + BUILD_WORDS[filters.builds])
    if filters.thread_only:
        words.append("thread only")
    return words


# --- decisions ----------------------------------------------------------------------------------------------


def _nick_of(user) -> set[str]:
    if not isinstance(user, dict):
        return set()
    return {str(user.get(k)).casefold() for k in ("nickname", "username", "account_id", "uuid") if isinstance(user.get(k), str)}


def title_has(title: str, word: str) -> bool:
    """A word or prefix of the title, in any case (`WIP` also finds `[WIP]` and `Draft:`, as the reminders do)."""
    if word.casefold() == "wip" and noise.is_wip_title(title):
        return True
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", title or "", re.IGNORECASE) is not None


def pull_request_passes(filters: Filters, pr: dict, bot_nicknames=()) -> bool:
    """The pull request's own filters (not the paths): author, bots, drafts, title, destination."""
    author = pr.get("author")
    names = _nick_of(author)
    if filters.authors and not names & {a.casefold() for a in filters.authors}:
        return False
    if filters.not_authors and names & {a.casefold() for a in filters.not_authors}:
        return False
    if filters.no_bots and noise.is_bot_author(author, bot_nicknames):
        return False
    if filters.no_drafts and noise.is_draft(pr):
        return False
    title = pr.get("title") if isinstance(pr.get("title"), str) else ""
    if any(title_has(title, word) for word in filters.not_titles):
        return False
    if filters.targets:
        destination = ((pr.get("destination") or {}).get("branch") or {}).get("name")
        if not isinstance(destination, str) or not any(glob_match(t, destination) for t in filters.targets):
            return False
    return True


def files_pass(filters: Filters, files: ChangedFiles | None) -> tuple[bool, bool]:
    """(passes, files unknown). Without path filters: passes. With them and files Bitbucket could not give (or only
    a first page that settles nothing): passes, marked unknown. Otherwise: some changed file outside `-path:` globs,
    and inside a `path:` glob when there are any."""
    if not filters.needs_files:
        return True, False
    if files is None or not files.known:
        return True, True
    kept = [p for p in files.paths if not any_match(filters.not_paths, p)]
    if filters.paths:
        kept = [p for p in kept if any_match(filters.paths, p)]
    if kept:
        return True, False
    if not files.complete:
        return True, True  # the files not read may have matched
    return False, False
