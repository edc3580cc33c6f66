"""The build state of each pull request in a listing, from the commit statuses the bot already has (those the
relay received for the pull requests' source branches): no request to Bitbucket. Pure verdict, one store read."""

from __future__ import annotations

from bot import relay

PASSED, FAILED, RUNNING = "passed", "failed", "running"
BADGES = {PASSED: "✅", FAILED: "❌", RUNNING: "⏳"}


def verdict(states: list[str]) -> str | None:
    """Any failed: failed; else any running: running; else all passed: passed. None: nothing known."""
    if not states:
        return None
    if any(state in ("FAILED", "ERROR") for state in states):
        return FAILED
    if any(state in ("INPROGRESS", "IN_PROGRESS", "PENDING") for state in states):
        return RUNNING
    if all(state == "SUCCESSFUL" for state in states):
        return PASSED
    return None


def for_listing(store, repo: str, prs: list) -> dict[int, str]:
    """{pull request id: passed | failed | running} for those whose source branch has builds the bot has seen."""
    seen = relay.builds_seen(store, repo, [pr.source_branch for pr in prs])
    found = {}
    for pr in prs:
        state = verdict([state for _, state in seen.get(pr.source_branch or "", [])])
        if state:
            found[pr.id] = state
    return found
