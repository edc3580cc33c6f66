"""Pure: the lines of code around an inline comment, read from a pull request's diff (a raw git diff).

An inline comment names its file (`path`) and its line in the new version (`to`) or, on a removed line, in the old
one (`from`). The lines shown are those the diff holds around it, within one hunk, at most `MAX_LINES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINES = 8
BEFORE = 5  # lines shown above the commented one, when the hunk has them
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_FILE = re.compile(r"^diff --git a/(.*) b/(.*)$")


@dataclass(frozen=True)
class DiffLine:
    number: int  # in the version commented on
    mark: str  # "+" added, "-" removed, " " unchanged
    text: str


def lines_around(diff: str, path: str, line: int, *, old_side: bool = False, limit: int = MAX_LINES) -> list[DiffLine]:
    """Up to `limit` lines of `path` around `line` (of the new version; of the old one with `old_side`), the
    commented line among them; [] when the diff does not hold that line."""
    for hunk in _hunks_of(diff, path):
        numbered = _numbered(hunk, old_side)
        index = next((i for i, entry in enumerate(numbered) if entry.number == line), None)
        if index is None:
            continue
        start = max(0, min(index - BEFORE, len(numbered) - limit))
        return numbered[start:start + limit]
    return []


def _hunks_of(diff: str, path: str) -> list[tuple[int, int, list[str]]]:
    """The hunks of `path`'s section: (old start, new start, lines)."""
    hunks: list[tuple[int, int, list[str]]] = []
    in_file = False
    for raw in (diff or "").splitlines():
        header = _FILE.match(raw)
        if header:
            in_file = path in (header.group(1), header.group(2))
            continue
        if not in_file:
            continue
        hunk = _HUNK.match(raw)
        if hunk:
            hunks.append((int(hunk.group(1)), int(hunk.group(2)), []))
        elif hunks and raw[:1] in (" ", "+", "-", ""):  # the `---`/`+++` lines come before the file's first hunk
            hunks[-1][2].append(raw)
    return hunks


def _numbered(hunk: tuple[int, int, list[str]], old_side: bool) -> list[DiffLine]:
    old, new, lines = hunk
    found = []
    for raw in lines:
        mark, text = (raw[:1] or " "), raw[1:]
        if mark == "+":
            if not old_side:
                found.append(DiffLine(new, "+", text))
            new += 1
        elif mark == "-":
            if old_side:
                found.append(DiffLine(old, "-", text))
            old += 1
        else:
            found.append(DiffLine(old if old_side else new, " ", text))
            old, new = old + 1, new + 1
    return found
