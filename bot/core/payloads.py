"""Typed button values. Slack hands back, on a click, the `value` string the bot wrote; anyone who can craft a
request (a stale client, a tampered payload that still bears a valid signature from a replay) can put anything
there. Each button's value is a small versioned dataclass: `to_value()` writes it, `from_value()` reads it and
refuses anything else with one clear answer. Repositories are parsed with the slash commands' own parser, so a
click can never name `../acme/api` or a path outside the repository.

The wire format stays the compact JSON of one-letter keys that buttons already in Slack carry (version 1, the
default when `v` is absent).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.commands import parse_repo
from bot.core.errors import UsageError, UserError

VERSION = 1
UNREADABLE = "That button's data is not readable; run the command again."


class PayloadError(UserError):
    def __init__(self, message: str = UNREADABLE):
        super().__init__(message)


def _version(value) -> dict:
    if not isinstance(value, dict) or value.get("v", VERSION) != VERSION:
        raise PayloadError()
    return value


def repository(value: dict, key: str = "r") -> str:
    """`workspace/slug`, as the slash commands would read it; refused when it is anything else."""
    text = value.get(key)
    if not isinstance(text, str) or text.count("/") != 1:
        raise PayloadError()
    try:
        ref = parse_repo(text)
    except UsageError:
        raise PayloadError() from None
    if ref.workspace is None:
        raise PayloadError()
    return ref.full_name


def number(value: dict, key: str, *, digits: int = 9) -> int:
    found = value.get(key)
    if isinstance(found, bool) or not isinstance(found, (int, str)):
        raise PayloadError()
    text = str(found)
    if not (text.isascii() and text.isdigit()) or len(text) > digits or int(text) <= 0:
        raise PayloadError()
    return int(text)


def text(value: dict, key: str, *, optional: bool = False, limit: int = 255) -> str | None:
    found = value.get(key)
    if found is None or found == "":
        if optional:
            return None
        raise PayloadError()
    if not isinstance(found, str) or len(found) > limit:
        raise PayloadError()
    return found


def flag(value: dict, key: str) -> bool:
    found = value.get(key, False)
    if not isinstance(found, (bool, int)) or isinstance(found, int) and found not in (0, 1):
        raise PayloadError()
    return bool(found)


@dataclass(frozen=True)
class PullRequestButton:
    """A pull request's button: merge, decline, approve, request changes, their confirmations."""

    repo: str
    pr_id: int
    strategy: str | None = None
    key: str = ""

    @classmethod
    def from_value(cls, value) -> "PullRequestButton":
        value = _version(value)
        return cls(repository(value), number(value, "p"), text(value, "s", optional=True, limit=40),
                   text(value, "k", optional=True, limit=64) or "")

    def to_value(self) -> dict:
        value = {"r": self.repo, "p": self.pr_id}
        if self.strategy is not None:
            value["s"] = self.strategy
        if self.key:
            value["k"] = self.key
        return value


@dataclass(frozen=True)
class PipelineButton:
    """Re-run or Stop on a pipeline; `key` is the rendered list's (or the relayed failure's)."""

    repo: str
    number: int
    key: str = ""

    @classmethod
    def from_value(cls, value) -> "PipelineButton":
        value = _version(value)
        return cls(repository(value), number(value, "n"), text(value, "k", optional=True, limit=128) or "")

    def to_value(self) -> dict:
        return {"r": self.repo, "n": self.number, "k": self.key}


@dataclass(frozen=True)
class DeployButton:
    """A deploy's or a rollback's confirmation: what was shown is what ships."""

    repo: str
    environment: str
    key: str
    ref_kind: str | None = None
    ref_name: str | None = None
    commit: str | None = None
    rollback_from: str | None = None
    anyway: bool = False  # "Deploy anyway", past failed builds
    forced: bool = False  # an admin's `--force` through a freeze

    @classmethod
    def from_value(cls, value) -> "DeployButton":
        value = _version(value)
        return cls(
            repository(value), text(value, "e", limit=255), text(value, "k", limit=64),
            text(value, "t", optional=True, limit=16), text(value, "n", optional=True, limit=255),
            text(value, "h", optional=True, limit=64), text(value, "f", optional=True, limit=64),
            flag(value, "a"), flag(value, "x"),
        )

    def to_value(self) -> dict:
        value = {"r": self.repo, "e": self.environment, "k": self.key}
        for key, field in (("t", self.ref_kind), ("n", self.ref_name), ("h", self.commit), ("f", self.rollback_from)):
            if field is not None:
                value[key] = field
        if self.anyway:
            value["a"] = True
        if self.forced:
            value["x"] = True
        return value


@dataclass(frozen=True)
class RequestButton:
    """Approve or Reject on a request for approval of a deploy: the request is the bot's own record."""

    request_id: int

    @classmethod
    def from_value(cls, value) -> "RequestButton":
        return cls(number(_version(value), "q"))

    def to_value(self) -> dict:
        return {"q": self.request_id}


@dataclass(frozen=True)
class CancelButton:
    key: str

    @classmethod
    def from_value(cls, value) -> "CancelButton":
        return cls(text(_version(value), "k", limit=64))

    def to_value(self) -> dict:
        return {"k": self.key}


@dataclass(frozen=True)
class BranchButton:
    """A branch deletion's confirmation: the branch, its head when asked, and whether an admin forced past refusals."""

    repo: str
    branch: str
    head: str
    key: str
    forced: bool = False

    @classmethod
    def from_value(cls, value) -> "BranchButton":
        value = _version(value)
        branch = text(value, "b", limit=255)
        if branch.startswith(("/", ".")) or ".." in branch:
            raise PayloadError()
        return cls(repository(value), branch, text(value, "h", optional=True, limit=64) or "", text(value, "k", limit=64),
                   flag(value, "f"))

    def to_value(self) -> dict:
        return {"r": self.repo, "b": self.branch, "h": self.head, "k": self.key, **({"f": 1} if self.forced else {})}


@dataclass(frozen=True)
class CardMenuChoice:
    """An option of a relayed card's overflow menu (`option`: what it does, e.g. `nudge`). An option's value is at
    most 150 characters, so the menu is left out where a repository's name would not fit."""

    repo: str
    pr_id: int
    option: str

    @classmethod
    def from_value(cls, value) -> "CardMenuChoice":
        value = _version(value)
        return cls(repository(value), number(value, "p"), text(value, "o", limit=20))

    def to_value(self) -> dict:
        return {"r": self.repo, "p": self.pr_id, "o": self.option}


@dataclass(frozen=True)
class CommentReply:
    """The "Reply in Bitbucket" form's private metadata: the comment replied to, and where the shortcut was used."""

    repo: str
    pr_id: int
    comment_id: int
    channel: str
    thread_ts: str

    @classmethod
    def from_value(cls, value) -> "CommentReply":
        value = _version(value)
        return cls(repository(value), number(value, "p"), number(value, "c", digits=18), text(value, "ch", limit=40),
                   text(value, "t", limit=40))

    def to_value(self) -> dict:
        return {"r": self.repo, "p": self.pr_id, "c": self.comment_id, "ch": self.channel, "t": self.thread_ts}
