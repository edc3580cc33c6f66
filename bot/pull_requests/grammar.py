"""The pull request commands' grammar (pure): `prs`, `pr`, `merge`, `decline`, `tag`."""

from __future__ import annotations

import re

from bot.core.commands import (
    Command,
    CommandSpec,
    code_of,
    did_you_mean,
    is_pr_id,
    optional_repo,
    parse_pr_id,
    parse_repo,
    repo_then_id,
)
from bot.core.errors import UsageError

_PR_URL = re.compile(r"^https?://[^/]+/[^/]+/[^/]+/pull-requests/(\d+)(?:[/?#].*)?$")


MERGE_STRATEGIES = ("merge_commit", "squash", "fast_forward", "squash_fast_forward", "rebase_fast_forward", "rebase_merge")
STRATEGY_ALIASES = {"merge": "merge_commit", "commit": "merge_commit", "ff": "fast_forward", "fast-forward": "fast_forward"}


def parse_strategy(token: str) -> str:
    strategy = STRATEGY_ALIASES.get(token.lower(), token.lower())
    if strategy not in MERGE_STRATEGIES:
        raise UsageError(
            f"`{code_of(token)}` is not a merge strategy: use one of {', '.join(f'`{s}`' for s in MERGE_STRATEGIES)}."
            + did_you_mean(token, MERGE_STRATEGIES)
        )
    return strategy


def _parse_pr(tokens: list[str]) -> Command:
    """`pr REPO ID` (or a pasted pull request link) shows one pull request (`pr_show`); `pr REPO SOURCE …` opens one."""
    if not tokens:
        return Command("pr", {"modal": True})
    link = _PR_URL.match(tokens[0])
    if link and len(tokens) == 1:
        return Command("pr_show", {"pr_id": int(link[1])}, parse_repo(tokens[0]))
    if len(tokens) == 2 and is_pr_id(tokens[1]):
        return Command("pr_show", {"pr_id": parse_pr_id(tokens[1])}, parse_repo(tokens[0]))
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


def _parse_merge(tokens: list[str]) -> Command:
    repo, pr_id, extra = repo_then_id("merge", tokens, max_extra=1)
    strategy = parse_strategy(extra[0]) if extra else None
    return Command("merge", {"pr_id": pr_id, "strategy": strategy}, repo)


def _parse_decline(tokens: list[str]) -> Command:
    repo, pr_id, _ = repo_then_id("decline", tokens, max_extra=0)
    return Command("decline", {"pr_id": pr_id}, repo)


def _parse_tag(tokens: list[str]) -> Command:
    if len(tokens) == 1:
        return Command("tag", {"name": tokens[0], "ref": None})
    if len(tokens) in (2, 3):
        return Command("tag", {"name": tokens[1], "ref": tokens[2] if len(tokens) == 3 else None}, parse_repo(tokens[0]))
    raise UsageError("`tag` needs a repository and a tag name.")


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("prs", "/bb prs [REPO]", "open pull requests, newest first", optional_repo("prs"), ("list", "pulls", "pullrequests")),
    CommandSpec("pr", "/bb pr REPO ID · /bb pr REPO SOURCE [into DEST] [TITLE…]",
                "shows one pull request; or opens one (a form when only REPO is given)", _parse_pr, ("open", "create"),
                opens_form=lambda command: bool(command.args.get("modal"))),
    CommandSpec("merge", "/bb merge REPO ID [" + "|".join(MERGE_STRATEGIES) + "]",
                "merges a pull request after you confirm (without a strategy: the ones its branch allows)", _parse_merge),
    CommandSpec("decline", "/bb decline REPO ID", "declines a pull request after you confirm", _parse_decline, ("reject",)),
    CommandSpec("tag", "/bb tag REPO NAME [REF]", "tags a branch, tag or commit (default: the main branch)", _parse_tag, (), "Releases"),
)
