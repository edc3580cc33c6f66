"""Globs on paths and branch names (pure), the one matcher of subscriptions' `path:`/`target:`/`branch:` filters and
of the owners' rules: `**` matches across directories (any number of them, none included), `*` and `?` within one
(never a `/`), `[abc]` one character of a set. Matching is case-sensitive, as Git's paths are. A glob is refused when
it is longer than `MAX_GLOB` characters (`glob_problem`)."""

from __future__ import annotations

import re
from functools import lru_cache

MAX_GLOB = 200


def glob_problem(glob: str) -> str:
    """Why `glob` cannot be used ("" when it can)."""
    if not glob:
        return "a pattern cannot be empty"
    if len(glob) > MAX_GLOB:
        return f"a pattern may be at most {MAX_GLOB} characters long (this one has {len(glob)})"
    if any(ord(c) < 32 for c in glob):
        return "a pattern cannot hold control characters"
    return ""


def glob_match(glob: str, path: str) -> bool:
    """True when `path` matches `glob`. A directory glob such as `docs/` matches what is below it, as `docs/**` does."""
    if not glob or path is None:
        return False
    return _compiled(glob).fullmatch(path) is not None


def any_match(globs, path: str) -> bool:
    return any(glob_match(glob, path) for glob in globs)


@lru_cache(maxsize=2048)
def _compiled(glob: str) -> re.Pattern:
    if glob.endswith("/"):
        glob += "**"
    out, i, n = [], 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            if glob.startswith("**", i):
                i += 2
                if i < n and glob[i] == "/":  # `**/`: any directories, none included
                    out.append("(?:[^/]*/)*")
                    i += 1
                else:  # `**` at the end or inside a name: anything, slashes included
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = glob.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = glob[i + 1:end]
                negate = body.startswith(("!", "^"))
                body = body[1:] if negate else body
                out.append(f"[{'^' if negate else ''}{body.replace(chr(92), chr(92) * 2)}]" if body else re.escape(glob[i:end + 1]))
                i = end + 1
                continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)
