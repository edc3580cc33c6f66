"""`/bb subscribe WORKSPACE/*`: every repository of a workspace, present and future, through one workspace webhook;
a repository's own subscription in the channel overrides it; `/bb unsubscribe WORKSPACE/*`; rotation and `check`."""

from __future__ import annotations

import time

import pytest

from bot import relay
from bot.app import rotation
from bot.app.check import check_lines
from bot.core import outbox
from bot.relay.render import RELAYED_EVENTS
from tests import webhookkit
from tests.harness import WEBHOOK_SECRET, RunningBot, make_settings

pytestmark = pytest.mark.both_backends

PUBLIC_URL = "https://chatops.example.com"
HOOK_URL = PUBLIC_URL + "/bitbucket/webhook"
CHANNEL = "C1"


@pytest.fixture
def repo(bitbucket):
    bitbucket.add_user("ann", "Ann Author")
    bitbucket.add_repository("acme", "api")
    bitbucket.add_repository("acme", "web")
    return bitbucket


@pytest.fixture
def public_bot(tmp_path, slack, bitbucket, database):
    from tests.conftest import database_settings

    running = RunningBot(make_settings(tmp_path, slack, bitbucket, public_url=PUBLIC_URL, **database_settings(database)), slack)
    yield running
    running.stop()


def say(bot, text: str, answers: int = 1) -> str:
    return bot.answer_text(bot.command(text, channel_id=CHANNEL), answers)


def push(bot, bitbucket, slug: str, text: str) -> None:
    payload = webhookkit.push_payload("acme", slug, actor=bitbucket.user("ann"), branch="main", commits=[("b" * 40, text)])
    assert webhookkit.post(f"{bot.url}/bitbucket/webhook", "repo:push", payload, WEBHOOK_SECRET).status_code == 200


def settle(bot, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while relay.waiting_deliveries(bot.services.store) or outbox.waiting(bot.services.store, now=time.time() + 3600):
        assert time.monotonic() < deadline, "the relay did not settle"
        time.sleep(0.02)


def told(slack) -> list[str]:
    return [m.blocks[0]["text"]["text"] for m in slack.channel_messages(CHANNEL) if m.via == "chat.postMessage"]


def test_a_workspace_subscription_follows_every_repository_present_and_future_through_one_webhook(public_bot, repo, slack):
    text = say(public_bot, "subscribe acme/* pushes")
    assert "subscribed this channel to every repository of acme" in text and "Registered the Bitbucket webhook of workspace acme" in text
    [hook] = repo.workspace_webhooks("acme")
    assert hook["url"] == HOOK_URL and hook["secret"] == WEBHOOK_SECRET and sorted(hook["events"]) == sorted(RELAYED_EVENTS)
    assert hook["subject_type"] == "workspace"
    assert repo.webhooks("acme", "api") == [] and repo.webhooks("acme", "web") == []
    repo.add_repository("acme", "later")  # a repository made after the subscription
    for slug in ("api", "web", "later"):
        push(public_bot, repo, slug, f"Work in {slug}")
    slack.wait_for(lambda: len(told(slack)) == 3)
    assert [m.blocks[-1]["elements"][0]["text"] for m in slack.channel_messages(CHANNEL) if m.via == "chat.postMessage"] == ["acme/* · pushes"] * 3
    assert "already has our webhook" in say(public_bot, "subscribe acme/* pushes")
    assert len(repo.workspace_webhooks("acme")) == 1


def test_a_repositorys_own_subscription_overrides_the_workspaces_and_the_list_says_which_wins(public_bot, repo, slack):
    say(public_bot, "subscribe acme/* pushes")
    say(public_bot, "subscribe acme/api pullrequests")
    listed = say(public_bot, "subscriptions")
    assert "• acme/*: pushes" in listed and "except acme/api, whose own subscription here wins" in listed
    assert "• acme/api: pull requests" in listed and "wins here over acme/*" in listed
    push(public_bot, repo, "api", "Pushed to api")  # acme/api here: pull requests only
    push(public_bot, repo, "web", "Pushed to web")
    settle(public_bot)
    assert len(told(slack)) == 1 and "web" in told(slack)[0]
    assert relay.channel_repositories(public_bot.services.store, CHANNEL) == ["acme/api"]  # a command's default REPO


def test_unsubscribing_the_workspace_removes_its_webhook_when_no_channel_follows_it(public_bot, repo, slack):
    say(public_bot, "subscribe acme/*")
    public_bot.answer_text(public_bot.command("subscribe acme/*", channel_id="C2"))
    assert "unsubscribed this channel from acme/*" in say(public_bot, "unsubscribe acme/*")
    assert len(repo.workspace_webhooks("acme")) == 1  # C2 still follows it
    text = public_bot.answer_text(public_bot.command("unsubscribe acme/*", channel_id="C2"))
    assert "its webhook is removed" in text and repo.workspace_webhooks("acme") == []
    assert relay.registrations(public_bot.services.store) == []


def test_without_rights_on_workspace_webhooks_the_reply_says_which_credential_may(public_bot, repo, slack):
    repo.fail_next("POST", r"/workspaces/acme/hooks$", status=403)
    answers = public_bot.answers(public_bot.command("subscribe acme/*", channel_id=CHANNEL), 2)
    steps = "\n".join(str(a.get("text")) for a in answers if a.get("response_type") == "ephemeral")
    assert "only a credential of a workspace *owner*" in steps and "POST /2.0/workspaces/acme/hooks" in steps
    assert WEBHOOK_SECRET not in str(answers)
    lines = [str(line) for line in check_lines(public_bot.settings)]
    assert any(line.startswith("[FIX] workspace acme: 1 channel(s) follow it, but the bot has no workspace webhook") for line in lines), lines


def test_check_and_webhooks_update_cover_workspace_webhooks(public_bot, repo, slack):
    say(public_bot, "subscribe acme/*")
    say(public_bot, "subscribe acme/api", answers=1)
    lines = [str(line) for line in check_lines(public_bot.settings)]
    assert "[ok ] workspace acme: 1 channel(s) follow every repository through its workspace webhook" in lines
    moved = public_bot.settings.with_overrides(public_url="https://new.example.com", bitbucket_webhook_secret="the-new-secret")
    moves = rotation.update_webhooks(public_bot.services.store, public_bot.services.bitbucket, moved)
    assert sorted((m.repo, m.ok) for m in moves) == [("acme/*", True), ("acme/api", True)]
    [hook] = repo.workspace_webhooks("acme")
    assert hook["url"] == "https://new.example.com/bitbucket/webhook" and hook["secret"] == "the-new-secret"
    assert repo.requests_to("PUT", "/workspaces/acme/hooks/")
