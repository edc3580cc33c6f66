"""`/bb subscribe`, `/bb unsubscribe`, `/bb subscriptions` over HTTP, with the webhook registration in the fake Bitbucket."""

from __future__ import annotations

import pytest

from bot.core.audit import AuditLog
from bot.relay.render import RELAYED_EVENTS
from tests.harness import WEBHOOK_SECRET, RunningBot, make_settings

pytestmark = pytest.mark.both_backends

PUBLIC_URL = "https://chatops.example.com"
HOOK_URL = PUBLIC_URL + "/bitbucket/webhook"


@pytest.fixture
def repo(bitbucket):
    bitbucket.add_repository("acme", "api")
    bitbucket.add_repository("acme", "web")
    return bitbucket


@pytest.fixture
def public_bot(tmp_path, slack, bitbucket):
    running = RunningBot(make_settings(tmp_path, slack, bitbucket, public_url=PUBLIC_URL), slack)
    yield running
    running.stop()


def say(bot, text: str, channel: str = "C1", user: str = "U1", answers: int = 1) -> str:
    return bot.answer_text(bot.command(text, channel_id=channel, user_id=user), answers)


def audit_actions(bot) -> list[tuple[str, str, bool]]:
    return [(e.action, e.target, e.ok) for e in reversed(AuditLog(bot.services.store).recent())]


def test_subscribing_registers_the_webhook_once_per_repository(public_bot, repo):
    text = say(public_bot, "subscribe acme/api")
    assert "<@U1> subscribed this channel to" in text and "everything" in text
    assert "Registered the Bitbucket webhook of acme/api" in text
    hooks = repo.webhooks("acme", "api")
    assert len(hooks) == 1
    assert hooks[0]["url"] == HOOK_URL and hooks[0]["secret"] == WEBHOOK_SECRET and hooks[0]["active"]
    assert sorted(hooks[0]["events"]) == sorted(RELAYED_EVENTS)

    assert "already has our webhook" in say(public_bot, "subscribe acme/api pushes", channel="C2")
    assert "already has our webhook" in say(public_bot, "subscribe api", channel="C3")  # a bare slug, in BITBUCKET_WORKSPACE
    assert len(repo.webhooks("acme", "api")) == 1
    assert WEBHOOK_SECRET not in text


def test_an_existing_hook_with_our_url_is_reused(public_bot, repo):
    repo_api = f"{repo.base_url}/repositories/acme/api/hooks"
    import requests

    with requests.Session() as session:
        session.trust_env = False
        made = session.post(repo_api, json={"url": HOOK_URL + "/", "events": ["repo:push"], "secret": "x", "active": True},
                            headers={"Authorization": "Bearer bot-access-token"}, timeout=10)
        assert made.status_code == 201
    text = say(public_bot, "subscribe acme/api")
    assert "already has our webhook, but it leaves out" in text and "`pullrequest:created`" in text
    assert len(repo.webhooks("acme", "api")) == 1


def test_without_webhook_rights_the_reply_says_how_to_add_it_by_hand(public_bot, repo):
    repo.fail_next("POST", r"/repositories/acme/api/hooks$", status=403)
    answers = public_bot.answers(public_bot.command("subscribe acme/api"), 2)
    steps = "\n".join(str(a.get("text")) for a in answers if a.get("response_type") == "ephemeral")
    assert "needs the `webhook` scope" in steps
    assert f"`{HOOK_URL}`" in steps and "`BITBUCKET_WEBHOOK_SECRET`" in steps and "`repo:push`" in steps
    assert WEBHOOK_SECRET not in str(answers)
    assert repo.webhooks("acme", "api") == []
    assert ("register_webhook", "acme/api", False) in audit_actions(public_bot)
    assert "acme/api" in say(public_bot, "subscriptions")  # the subscription itself stands


def test_without_public_url_the_reply_says_how_to_add_it_by_hand(bot, repo):
    answers = bot.answers(bot.command("subscribe acme/api"), 2)
    steps = "\n".join(str(a.get("text")) for a in answers)
    assert "`PUBLIC_URL` is not set" in steps and "/bitbucket/webhook" in steps and "`BITBUCKET_WEBHOOK_SECRET`" in steps
    assert WEBHOOK_SECRET not in steps
    assert repo.webhooks("acme", "api") == []
    assert not repo.requests_to("POST", "/hooks")


def test_subscriptions_list_families_and_branches_and_unsubscribe_removes(bot, repo):
    say(bot, "subscribe acme/api pullrequests builds branch:release/*", answers=2)
    say(bot, "subscribe acme/web", answers=2)
    listed = say(bot, "subscriptions")
    assert "acme/api: pull requests, builds · branches `release/*`" in listed
    assert "acme/web: everything" in listed

    assert "<@U1> unsubscribed this channel from acme/web" in say(bot, "unsubscribe acme/web")
    assert "acme/web" not in say(bot, "subscriptions")
    assert "changed this channel's subscription to" in say(bot, "subscribe acme/api tags", answers=2)
    assert "acme/api: tags" in say(bot, "subscriptions")
    assert [a for a in audit_actions(bot) if a[0] in ("subscribe", "unsubscribe")] == [
        ("subscribe", "C1 acme/api", True), ("subscribe", "C1 acme/web", True), ("unsubscribe", "C1 acme/web", True), ("subscribe", "C1 acme/api", True),
    ]


def test_unsubscribe_uses_the_channels_only_repository(bot, repo):
    say(bot, "subscribe acme/api", answers=2)
    assert "unsubscribed this channel from acme/api" in say(bot, "unsubscribe")
    assert "relays nothing yet" in say(bot, "subscriptions")


def test_unsubscribing_what_is_not_subscribed_says_so(bot, repo):
    assert "not subscribed to acme/api" in say(bot, "unsubscribe acme/api")


def test_an_unknown_repository_is_not_subscribed(bot, repo):
    assert "Bitbucket said" in say(bot, "subscribe acme/nope")
    assert "relays nothing yet" in say(bot, "subscriptions")


def test_a_bad_family_gets_usage(bot, repo):
    text = bot.command("subscribe acme/api pullreqs").http.json()["text"]  # answered in the ack itself
    assert "is not an event family" in text and "Did you mean `pullrequests`" in text
