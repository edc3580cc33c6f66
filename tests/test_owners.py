"""`/bb owners` end to end: rules over HTTP, pull requests through signed deliveries, the files from the simulated
Bitbucket's diffstat, and who hears: a channel (the card, then its thread), a person (a direct message, kind
`owners`), a user group (its members, or named in the channel past ten), each once."""

from __future__ import annotations

import time

import pytest

from bot import relay
from bot.core import outbox
from tests import webhookkit
from tests.harness import WEBHOOK_SECRET, text_of

pytestmark = pytest.mark.both_backends

OWNERS_CHANNEL = "C9"


@pytest.fixture
def repo(bitbucket):
    bitbucket.add_user("ann", "Ann Author")
    bitbucket.add_user("rob", "Rob Reviewer")
    bitbucket.add_repository("acme", "api", branches=("main",))
    return bitbucket


def say(bot, text: str, channel: str = "C1", user: str = "U1") -> str:
    return bot.answer_text(bot.command(text, channel_id=channel, user_id=user))


def refused(bot, text: str) -> str:
    return bot.command(text).http.json()["text"]


def settle(bot, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while relay.waiting_deliveries(bot.services.store) or outbox.waiting(bot.services.store, now=time.time() + 3600):
        assert time.monotonic() < deadline, "the relay did not settle"
        time.sleep(0.02)


def open_pr(bitbucket, files, *, source="feature/billing", author="ann") -> int:
    bitbucket.add_branch("acme", "api", source, author=author)
    bitbucket.add_commit("acme", "api", source, message="Work", files=files)
    return bitbucket.add_pull_request("acme", "api", title="Bill monthly", source=source, author=author)["id"]


def deliver(bot, bitbucket, event_key: str, pr_id: int, actor: str = "ann", **extra) -> None:
    payload = webhookkit.pull_request_payload(bitbucket, "acme", "api", pr_id, actor=actor, **extra)
    assert webhookkit.post(f"{bot.url}/bitbucket/webhook", event_key, payload, WEBHOOK_SECRET).status_code == 200


def dms(slack, user: str) -> list:
    return [m for m in slack.channel_messages(user) if m.via == "chat.postMessage"]


def cards(slack, channel: str) -> list:
    return [m for m in slack.channel_messages(channel) if not m.thread_ts and m.via == "chat.postMessage"]


def test_rules_are_added_listed_removed_and_shown_in_subscriptions(bot, repo, slack):
    text = say(bot, f"owners acme/api src/billing/** docs/** <#{OWNERS_CHANNEL}|billing> <@U2|bob>")
    assert "made <#C9>, <@U2> owner(s)" in text and "(4 rule(s) there)" in text
    listed = say(bot, "owners acme/api")
    assert "`docs/**` → <#C9>" in listed and "`src/billing/**` → <@U2>" in listed and "4 of at most 20" in listed
    assert "*Owners of acme/api:*" in say(bot, "subscriptions")
    assert "removed 2 owners rule(s)" in say(bot, "owners acme/api off docs/**")
    assert "docs/**" not in say(bot, "owners acme/api")


def test_bad_owners_commands_are_refused_and_change_nothing(bot, repo, slack):
    assert "at most 200 characters" in refused(bot, "owners acme/api " + "a" * 201 + " <@U2|bob>")
    assert "Slack knows" in refused(bot, "owners acme/api src/** @bob")
    assert "Name the paths and their owners" in refused(bot, "owners acme/api src/**")
    many = " ".join(f"p{n}/**" for n in range(11))
    assert "at most 20 owners rules" in refused(bot, f"owners acme/api {many} <@U2|bob> <@U3|carl>")
    say(bot, "owners acme/api " + " ".join(f"p{n}/**" for n in range(20)) + " <@U2|bob>")
    assert "at most 20 owners rules" in say(bot, "owners acme/api more/** <@U2|bob>")
    assert "has no owners rule for `nope/**`" in say(bot, "owners acme/api off nope/**")


def test_a_channel_owner_gets_the_card_once_and_then_the_pull_requests_thread(bot, repo, slack):
    say(bot, f"owners acme/api src/billing/** <#{OWNERS_CHANNEL}|billing>")
    pr_id = open_pr(repo, ["src/billing/invoice.py", "README.md"])
    deliver(bot, repo, "pullrequest:created", pr_id)
    card = slack.wait_for(lambda: cards(slack, OWNERS_CHANNEL))[0]
    assert "#1 Bill monthly" in card.text
    assert card.blocks[-1]["elements"][0]["text"] == "acme/api · this channel owns `src/billing/**` (owners rule)"
    deliver(bot, repo, "pullrequest:approved", pr_id, actor="rob", approval={"user": repo.user("rob")})
    slack.wait_for(lambda: any("approved" in text_of(m.to_api()) for m in slack.thread(OWNERS_CHANNEL, card.ts)))
    deliver(bot, repo, "pullrequest:updated", pr_id)
    settle(bot)
    assert len(cards(slack, OWNERS_CHANNEL)) == 1  # heard once; later events in its thread
    assert len(repo.requests_to("GET", f"/pullrequests/{pr_id}/diffstat")) == 1


def test_a_person_owner_gets_a_direct_message_of_kind_owners_and_can_turn_it_off(bot, repo, slack):
    say(bot, "owners acme/api src/billing/** <@U2|bob>")
    pr_id = open_pr(repo, ["src/billing/invoice.py"])
    deliver(bot, repo, "pullrequest:created", pr_id)
    dm = slack.wait_for(lambda: dms(slack, "U2"))[0]
    said = text_of(dm.to_api())
    assert "Ann Author opened it; it changes `src/billing/invoice.py` (yours by `src/billing/**`)" in said
    assert "you own a path this pull request changes" in said and "/bb notify owners off" in said
    assert "owners" in say(bot, "notify owners off", user="U3")
    say(bot, "owners acme/api src/** <@U3|carl>")
    other = open_pr(repo, ["src/other.py"], source="feature/other")
    deliver(bot, repo, "pullrequest:created", other)
    settle(bot)
    assert dms(slack, "U3") == []  # turned off


def test_nobody_hears_of_a_pull_request_that_changes_none_of_their_paths(bot, repo, slack):
    say(bot, f"owners acme/api src/billing/** <#{OWNERS_CHANNEL}|billing> <@U2|bob>")
    pr_id = open_pr(repo, ["README.md"])
    deliver(bot, repo, "pullrequest:created", pr_id)
    settle(bot)
    assert cards(slack, OWNERS_CHANNEL) == [] and dms(slack, "U2") == []


def test_an_update_with_new_files_tells_the_owners_of_those_only(bot, repo, slack):
    say(bot, "owners acme/api src/billing/** <@U2|bob>")
    say(bot, "owners acme/api docs/** <@U3|carl>")
    pr_id = open_pr(repo, ["docs/billing.md"])
    deliver(bot, repo, "pullrequest:created", pr_id)
    slack.wait_for(lambda: dms(slack, "U3"))
    assert dms(slack, "U2") == []
    repo.add_commit("acme", "api", "feature/billing", message="Code", files=["src/billing/invoice.py"])
    deliver(bot, repo, "pullrequest:updated", pr_id)
    slack.wait_for(lambda: dms(slack, "U2"))
    settle(bot)
    assert len(dms(slack, "U3")) == 1 and dms(slack, "U3")[0].updated_count == 0  # heard once


def test_a_small_group_is_its_members_a_large_one_is_named_in_the_channel(bot, repo, slack):
    slack.add_usergroup("S1", "billing-devs", ["U2", "U3"])
    slack.add_usergroup("S2", "everyone", [f"U{n}" for n in range(10, 21)])
    assert "more than 10 people" in say(bot, "owners acme/api src/** <!subteam^S1|@billing-devs> <!subteam^S2|@everyone>")
    pr_id = open_pr(repo, ["src/billing/invoice.py"])
    deliver(bot, repo, "pullrequest:created", pr_id)
    slack.wait_for(lambda: dms(slack, "U2") and dms(slack, "U3"))
    card = slack.wait_for(lambda: cards(slack, "C1"))[0]
    assert "<!subteam^S2> own these paths" in card.blocks[-1]["elements"][0]["text"]
    settle(bot)
    assert all(dms(slack, f"U{n}") == [] for n in range(10, 21))


def test_a_group_slack_will_not_list_is_refused(bot, repo, slack):
    slack.scopes = "commands,chat:write"
    assert "usergroups:read" in say(bot, "owners acme/api src/** <!subteam^S1|@devs>")
    assert "no owners rules" in say(bot, "owners acme/api")
