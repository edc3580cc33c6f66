"""Owners of paths (pure): who a rule names, which rules a pull request's files match, and the words for them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.core.globs import glob_match

MAX_RULES = 20  # per repository
MAX_GROUP = 10  # a user group larger than this is named in the channel instead of messaging each member
_TARGET = re.compile(r"^<(?P<sigil>@|#|!subteam\^)(?P<id>[A-Z0-9]+)(?:\|(?P<label>[^>]*))?>$")
KINDS = {"@": "person", "#": "channel", "!subteam^": "group"}


@dataclass(frozen=True)
class Target:
    kind: str    # person | group | channel
    id: str      # U…, S…, C…
    label: str = ""

    @property
    def mention(self) -> str:
        return {"person": f"<@{self.id}>", "channel": f"<#{self.id}>", "group": f"<!subteam^{self.id}>"}[self.kind]


def parse_target(token: str) -> Target | None:
    """`<@U1|ann>`, `<!subteam^S1|@devs>`, `<#C1|api>` (Slack escapes them so in a command); None for anything else."""
    match = _TARGET.match(token)
    if not match:
        return None
    return Target(KINDS[match["sigil"]], match["id"], (match["label"] or "")[:80])


@dataclass(frozen=True)
class Rule:
    repo: str
    glob: str
    target: Target
    channel_id: str = ""                 # where it was made: a large group is named there
    members: tuple[str, ...] = field(default_factory=tuple)  # a group's people, as Slack said when it was made


def owners_of(rules: list[Rule], paths) -> dict[str, tuple[Rule, list[str]]]:
    """Each target owning some of `paths`: (its first rule, the globs it owns them by)."""
    found: dict[str, tuple[Rule, list[str]]] = {}
    for rule in rules:
        if any(glob_match(rule.glob, path) for path in paths):
            first, globs = found.get(rule.target.id, (rule, []))
            if rule.glob not in globs:
                globs.append(rule.glob)
            found[rule.target.id] = (first, globs)
    return found


def owned_paths(globs: list[str], paths, limit: int = 3) -> list[str]:
    return [path for path in paths if any(glob_match(glob, path) for glob in globs)][:limit]
