"""Fuzzing the messages built from what Bitbucket's API answers (pull request lists, reminders): whatever the
titles, branch names and people's names in a repository, every message stays inside Slack's limits and pings
nobody but the people the bot means to mention."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from hypothesis import given, settings, strategies as st

from bot.reminders import render as reminder_render
from bot.core import render
from bot.bitbucket import Account, PullRequest
from tests.fuzzkit import hostile_text, message_problems, mutated
from tests.webhookkit import FIXTURES as WEBHOOKS
from bot.pull_requests import render as pr_render

API = WEBHOOKS.parent / "api"
LISTED = [pr for name in sorted(API.glob("pullrequests-list__*.json")) for pr in json.loads(name.read_text())["values"]]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
REPOS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,61}/[A-Za-z0-9][A-Za-z0-9._-]{0,61}", fullmatch=True)


def pull_requests() -> st.SearchStrategy[list[PullRequest]]:
    one = st.sampled_from(LISTED).flatmap(mutated).map(PullRequest.from_api)
    return st.lists(one, min_size=1, max_size=25)


def as_dict(message) -> dict:
    return {"text": message.text, "blocks": message.blocks}


def test_there_are_listed_pull_requests_to_start_from():
    assert len(LISTED) >= 3


@settings(max_examples=25)  # each example renders up to 25 pull requests through slack_sdk's models
@given(REPOS, pull_requests(), st.integers(0, 10**6))
def test_any_pull_request_list_stays_inside_slacks_limits_without_live_mentions(repo, prs, total):
    listing = pr_render.pull_request_list(repo, prs, max(total, len(prs)), NOW, repo_url=f"https://bitbucket.org/{repo}")
    assert message_problems(as_dict(listing)) == []


@settings(max_examples=25)
@given(REPOS, pull_requests(), st.integers(60, 10**8), hostile_text())
def test_any_reminder_stays_inside_slacks_limits_and_mentions_only_linked_people(repo, prs, after, name):
    linked = Account(display_name=name, uuid="{linked}")
    waiting = {pr.id: [*pr.reviewers, linked] for pr in prs}
    message = reminder_render.stale_pull_requests(repo, prs, now=NOW, after_seconds=after, waiting=waiting,
                                                  mentions={linked: "U0LINKED"}, repo_url=f"https://bitbucket.org/{repo}")
    problems = message_problems(as_dict(message))
    # The one mention the bot means: the linked reviewer, by the Slack user it is linked to.
    assert [p for p in problems if "<@U0LINKED>" not in p] == []


def test_a_pull_request_listed_twice_is_shown_once_in_the_order_first_seen():
    """Found by the fuzzing above: Slack refuses a message whose buttons repeat a block_id."""
    one, two = (PullRequest.from_api({"id": n, "title": f"T{n}", "state": "OPEN"}) for n in (1, 2))
    listing = pr_render.pull_request_list("acme/api", [one, two, one], 3, NOW)
    assert message_problems(as_dict(listing)) == [] and listing.text.endswith("#1 T1; #2 T2")
