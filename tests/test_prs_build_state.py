"""`/bb prs` shows each pull request's build state (✅ ❌ ⏳) from the commit statuses the bot has already received,
in the same number of requests to Bitbucket (issue 27)."""

import time

import pytest

from bot import relay
from bot.pull_requests import build_states
from tests import webhookkit
from tests.harness import WEBHOOK_SECRET, text_of


@pytest.fixture
def repo(bitbucket):
    bitbucket.add_repository("acme", "api", branches=("main", "feature/a", "feature/b", "feature/c", "feature/d"))
    bitbucket.add_user("ann", "Ann")
    for branch, title in (("feature/a", "Passing"), ("feature/b", "Failing"), ("feature/c", "Running"), ("feature/d", "Unknown")):
        bitbucket.add_pull_request("acme", "api", title=title, source=branch, author="ann")
    return bitbucket


def test_each_pull_request_shows_its_build_state_without_more_requests(bot, repo):
    before = bot.answers(bot.command("prs api"))[0]
    listing_requests = len(repo.requests_to("GET", "/pullrequests"))
    assert "builds" not in text_of({"blocks": before["blocks"]})

    url = f"{bot.url}/bitbucket/webhook"
    sent = [("feature/a", "unit", "SUCCESSFUL"), ("feature/a", "lint", "SUCCESSFUL"), ("feature/b", "unit", "SUCCESSFUL"),
            ("feature/b", "lint", "FAILED"), ("feature/c", "unit", "INPROGRESS")]
    for minute, (branch, key, state) in enumerate(sent):
        payload = webhookkit.commit_status_payload("acme", "api", actor=repo.user("ann"), name=key, key=key, state=state,
                                                   refname=branch, updated_on=f"2026-01-01T10:{minute:02d}:00+00:00")
        assert webhookkit.post(url, "repo:commit_status_updated", payload, WEBHOOK_SECRET).status_code == 200
    deadline = time.monotonic() + 10
    branches = ("feature/a", "feature/b", "feature/c")
    while sum(map(len, relay.builds_seen(bot.services.store, "acme/api", branches).values())) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)

    requests_before = len(repo.requests)
    after = bot.answers(bot.command("prs api"))[0]
    assert len(repo.requests) - requests_before == 1 == listing_requests  # the listing, and nothing more
    text = text_of({"blocks": after["blocks"]})
    cards = {title: text[text.index(title):][:200] for title in ("Passing", "Failing", "Running", "Unknown")}
    assert "✅ builds passed" in cards["Passing"].split("\n")[0]
    assert "❌ builds failed" in cards["Failing"].split("\n")[0]
    assert "⏳ builds running" in cards["Running"].split("\n")[0]
    assert "builds" not in cards["Unknown"].split("\n")[0]


def test_the_verdict_of_a_set_of_states():
    assert build_states.verdict([]) is None
    assert build_states.verdict(["SUCCESSFUL", "SUCCESSFUL"]) == "passed"
    assert build_states.verdict(["SUCCESSFUL", "INPROGRESS"]) == "running"
    assert build_states.verdict(["INPROGRESS", "FAILED"]) == "failed"
    assert build_states.verdict(["STOPPED"]) is None
