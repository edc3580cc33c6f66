"""Rotating secrets without losing anyone, end to end: the encryption key of people's tokens (read with a former
key, sealed again with the current one; `rotate-keys` at once), and the webhook secret (`webhooks update` moves
every hook the bot registered, through Bitbucket's API)."""

from __future__ import annotations

import pytest
import requests

from bot import accounts, relay
from bot.app import rotation
from bot.app.check import check_lines
from bot.core import ids
from bot.relay.render import RELAYED_EVENTS
from bot.accounts import TokenCipher, UnreadableTokens
from tests.harness import BITBUCKET_TOKEN, WEBHOOK_SECRET, RunningBot
from tests.test_accounts import click_on_card, log_in, oauth_settings, post_card, repo, reviews, slack_app  # noqa: F401 - fixtures
from tests.test_cli import run_cli

OLD_KEY = "the-key-people's-tokens-were-sealed-with-0001"
NEW_KEY = "the-key-that-replaces-it-after-a-leak-000002"


def sealed_rows(store) -> dict[str, dict]:
    return {row["slack_user_id"]: row for row in store.query("SELECT slack_user_id, tokens, expires_at FROM bitbucket_logins")}


def opens_with(key: str, row: dict) -> bool:
    try:
        TokenCipher(key).open(row["tokens"], row["slack_user_id"], row["expires_at"])
        return True
    except UnreadableTokens:
        return False


def running(tmp_path, slack, bitbucket, **overrides) -> RunningBot:
    return RunningBot(oauth_settings(tmp_path, slack, bitbucket, **overrides), slack)


def test_tokens_stay_usable_across_a_key_rotation_and_are_sealed_anew_when_read(tmp_path, slack, repo):
    before = running(tmp_path, slack, repo, chatops_secret_key=OLD_KEY)
    try:
        log_in(before, repo, "alice", "U1")
    finally:
        before.stop()
    ts = post_card(slack, repo)

    # The key changed and the former one was not kept: the person is asked to sign in again, nothing is sent.
    forgetful = running(tmp_path, slack, repo, chatops_secret_key=NEW_KEY)
    try:
        assert "`/bb login`" in forgetful.answer_text(click_on_card(forgetful, ids.APPROVE, ts))
        assert reviews(repo)["alice"] is None
    finally:
        forgetful.stop()

    # With the former key in CHATOPS_OLD_SECRET_KEYS, the same click acts as the person, and the row is sealed anew.
    rotating = running(tmp_path, slack, repo, chatops_secret_key=NEW_KEY, chatops_old_secret_keys=(OLD_KEY,))
    try:
        assert "You approved" in rotating.answer_text(click_on_card(rotating, ids.APPROVE, ts), 2)
        assert reviews(repo)["alice"] == "approved"
        row = sealed_rows(rotating.services.store)["U1"]
        assert opens_with(NEW_KEY, row) and not opens_with(OLD_KEY, row)
    finally:
        rotating.stop()

    # The former key can go now.
    after = running(tmp_path, slack, repo, chatops_secret_key=NEW_KEY)
    try:
        assert "You requested changes on" in after.answer_text(click_on_card(after, ids.REQUEST_CHANGES, ts), 2)
        assert reviews(repo)["alice"] == "changes_requested"
    finally:
        after.stop()


def test_rotate_keys_seals_every_token_with_the_current_key_at_once(tmp_path, slack, repo):
    bot = running(tmp_path, slack, repo, chatops_secret_key=OLD_KEY)
    try:
        log_in(bot, repo, "alice", "U1")
        log_in(bot, repo, "bob", "U2")
    finally:
        bot.stop()
    env = {"CHATOPS_SECRET_KEY": NEW_KEY, "CHATOPS_OLD_SECRET_KEYS": f"some-older-key, {OLD_KEY}",
           "DATABASE_PATH": bot.settings.database_path}

    result = run_cli("rotate-keys", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "re-encrypted with the current key: 2; already current: 0" in result.stdout
    assert "CHATOPS_OLD_SECRET_KEYS can be removed" in result.stdout
    store = accounts_store(bot)
    assert all(opens_with(NEW_KEY, row) for row in sealed_rows(store).values()) and len(sealed_rows(store)) == 2
    store.close()
    for secret in (OLD_KEY, NEW_KEY):
        assert secret not in result.stdout + result.stderr

    again = run_cli("rotate-keys", env=env, cwd=tmp_path)
    assert "re-encrypted with the current key: 0; already current: 2" in again.stdout
    lost = run_cli("rotate-keys", env={**env, "CHATOPS_SECRET_KEY": "a-third-key-nobody-sealed-with", "CHATOPS_OLD_SECRET_KEYS": ""}, cwd=tmp_path)
    assert lost.returncode == 1 and "2 could not be read" in lost.stdout


def accounts_store(bot):
    from bot.registry import open_migrated

    return open_migrated(bot.settings.database_path)


def test_rotate_keys_without_a_key_says_so(tmp_path):
    result = run_cli("rotate-keys", env={"DATABASE_PATH": str(tmp_path / "db.sqlite")}, cwd=tmp_path)
    assert result.returncode == 2 and "CHATOPS_SECRET_KEY is not set" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def hooked(tmp_path, slack, repo):
    """acme/api and acme/web subscribed through a bot at the old public address, hooks signed with the old secret."""
    repo.add_repository("acme", "web")
    bot = running(tmp_path, slack, repo, public_url="https://old-address.example.com", bitbucket_webhook_secret=WEBHOOK_SECRET)
    try:
        for name in ("acme/api", "acme/web"):
            assert "Registered the Bitbucket webhook" in bot.answer_text(bot.command(f"subscribe {name}"))
    finally:
        bot.stop()
    return bot.settings


def test_webhooks_update_moves_every_registered_hook_to_the_new_secret_and_address(tmp_path, repo, hooked):
    env = {
        "BITBUCKET_API_URL": repo.base_url, "BITBUCKET_ACCESS_TOKEN": BITBUCKET_TOKEN, "DATABASE_PATH": hooked.database_path,
        "PUBLIC_URL": "https://new-address.example.com", "BITBUCKET_WEBHOOK_SECRET": "the-new-webhook-secret",
        "BITBUCKET_OLD_WEBHOOK_SECRETS": WEBHOOK_SECRET,
    }
    result = run_cli("webhooks", "update", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("acme/api", "acme/web"):
        [hook] = repo.webhooks(*name.split("/"))
        assert hook["url"] == "https://new-address.example.com/bitbucket/webhook" and hook["secret"] == "the-new-webhook-secret"
        assert f"[ok ] {name}: new secret set, moved from https://old-address.example.com/bitbucket/webhook" in result.stdout
    puts = [r for r in repo.requests if r.method == "PUT"]
    assert len(puts) == 2 and all("/hooks/" in r.path for r in puts)
    assert "BITBUCKET_OLD_WEBHOOK_SECRETS can be removed" in result.stdout
    assert "the-new-webhook-secret" not in result.stdout + result.stderr and WEBHOOK_SECRET not in result.stdout

    # A hook someone deleted by hand is named, the others still move.
    [gone] = repo.webhooks("acme", "web")
    repo.requests.clear()
    import requests as http

    http.delete(f"{repo.base_url}/repositories/acme/web/hooks/{gone['uuid']}", headers={"Authorization": f"Bearer {BITBUCKET_TOKEN}"}, timeout=5)
    again = run_cli("webhooks", "update", env=env, cwd=tmp_path)
    assert again.returncode == 1
    assert "[FIX] acme/web: its webhook is gone from Bitbucket" in again.stdout and "[ok ] acme/api" in again.stdout


def test_webhooks_update_names_the_hooks_added_by_hand(tmp_path, slack, repo):
    """Subscribed without PUBLIC_URL: the hook was added by hand, and the bot cannot know or move it."""
    bot = running(tmp_path, slack, repo, public_url="")
    try:
        assert "by hand" in bot.answer_text(bot.command("subscribe acme/api"), 2)
    finally:
        bot.stop()
    env = {"BITBUCKET_API_URL": repo.base_url, "BITBUCKET_ACCESS_TOKEN": BITBUCKET_TOKEN, "DATABASE_PATH": bot.settings.database_path,
           "PUBLIC_URL": "https://new-address.example.com", "BITBUCKET_WEBHOOK_SECRET": "the-new-webhook-secret"}
    result = run_cli("webhooks", "update", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "[FIX] acme/api: its webhook was added by hand" in result.stdout and "https://new-address.example.com/bitbucket/webhook" in result.stdout


def test_webhooks_update_needs_a_secret_and_an_address(tmp_path):
    result = run_cli("webhooks", "update", env={"DATABASE_PATH": str(tmp_path / "db.sqlite"), "BITBUCKET_ACCESS_TOKEN": "t"}, cwd=tmp_path)
    assert result.returncode == 2 and "BITBUCKET_WEBHOOK_SECRET" in result.stderr and "PUBLIC_URL" in result.stderr


# --- the events: a webhook an earlier version registered gains what the bot relays now ---------------------------

PUBLIC_URL = "https://chatops.example.com"
# What an earlier version registered: no review requests, and none of the comment events conversations follow.
EARLIER_EVENTS = ["repo:push", "pullrequest:created", "pullrequest:updated", "pullrequest:approved", "pullrequest:unapproved",
                  "pullrequest:fulfilled", "pullrequest:rejected", "repo:commit_status_created", "repo:commit_status_updated"]


def register_earlier_hook(repo, path: str) -> None:
    """A webhook as an earlier version of the bot registered it, at our address and with our secret."""
    answer = requests.post(f"{repo.base_url}{path}", headers={"Authorization": f"Bearer {BITBUCKET_TOKEN}"}, timeout=5,
                       json={"url": f"{PUBLIC_URL}/bitbucket/webhook", "events": EARLIER_EVENTS, "secret": WEBHOOK_SECRET,
                             "description": "Bitbucket ChatOps (Slack relay)", "active": True})
    assert answer.status_code == 201, answer.text


def test_webhooks_update_brings_earlier_hooks_to_every_event_the_bot_relays_and_then_writes_nothing(tmp_path, slack, repo):
    register_earlier_hook(repo, "/repositories/acme/api/hooks")
    register_earlier_hook(repo, "/workspaces/acme/hooks")
    bot = running(tmp_path, slack, repo, public_url=PUBLIC_URL, bitbucket_webhook_secret=WEBHOOK_SECRET)
    try:
        assert "already has our webhook, but it leaves out" in bot.answer_text(bot.command("subscribe acme/api"))
        assert "already has our webhook, but it leaves out" in bot.answer_text(bot.command("subscribe acme/*", channel_id="C2"))
    finally:
        bot.stop()
    lacking = [event for event in RELAYED_EVENTS if event not in EARLIER_EVENTS]
    assert "pullrequest:comment_created" in lacking and "pullrequest:comment_deleted" in lacking
    lines = [str(line) for line in check_lines(bot.settings)]
    for owner in ("acme/api", "workspace acme"):
        assert f"[FIX] the webhook of {owner} lacks {', '.join(lacking)}: run `bitbucket-chatops webhooks update` to add them" in lines, lines

    env = {"BITBUCKET_API_URL": repo.base_url, "BITBUCKET_ACCESS_TOKEN": BITBUCKET_TOKEN, "DATABASE_PATH": bot.settings.database_path,
           "PUBLIC_URL": PUBLIC_URL, "BITBUCKET_WEBHOOK_SECRET": WEBHOOK_SECRET}
    repo.requests.clear()
    result = run_cli("webhooks", "update", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("acme/api", "acme/*"):
        assert f"[ok ] {name}: " in result.stdout and f"gained {', '.join(lacking)}\n" in result.stdout.split(f"{name}: ", 1)[1]
    [repository_hook], [workspace_hook] = repo.webhooks("acme", "api"), repo.workspace_webhooks("acme")
    for hook in (repository_hook, workspace_hook):
        assert sorted(hook["events"]) == sorted(RELAYED_EVENTS)  # the earlier events kept, the missing ones added
        assert hook["url"] == f"{PUBLIC_URL}/bitbucket/webhook" and hook["secret"] == WEBHOOK_SECRET
    puts = [r for r in repo.requests if r.method == "PUT"]
    assert sorted(r.path.split("/hooks/")[0] for r in puts) == ["/2.0/repositories/acme/api", "/2.0/workspaces/acme"]
    assert [line for line in (str(line) for line in check_lines(bot.settings)) if "webhook" in line and "lacks" in line] == []
    assert "[ok ] webhooks: the 2 the bot registered have every event it relays" in [str(line) for line in check_lines(bot.settings)]

    # Every hook is current now: a second run reads them and writes nothing.
    repo.requests.clear()
    again = run_cli("webhooks", "update", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert [r for r in repo.requests if r.method != "GET"] == []
    for name in ("acme/api", "acme/*"):
        assert f"[ok ] {name}: already current" in again.stdout
    assert "gained" not in again.stdout


def test_check_says_which_webhooks_events_are_not_recorded_and_which_lack_some():
    def registration(repo: str, events: tuple[str, ...], uuid: str = "{h}") -> relay.Registration:
        return relay.Registration(repo, uuid, "https://x/bitbucket/webhook", "main", "U1", 0.0, "", events)

    wanted = ("repo:push", "pullrequest:comment_created", "pullrequest:comment_updated")
    lines = relay.webhook_event_lines([
        registration("acme/api", ("pullrequest:comment_updated", "repo:push", "issue:created")),
        registration("acme/web", ()),  # registered before the events were kept
        registration("acme/*", wanted),
        registration("acme/old", (), uuid=""),  # added by hand: the bot cannot know
    ], wanted)
    assert lines == [
        ("FIX", "the webhook of acme/api lacks pullrequest:comment_created: run `bitbucket-chatops webhooks update` to add them"),
        (" - ", "the events of 1 webhook(s) the bot registered are not recorded (an earlier version registered them: acme/web): "
                "`bitbucket-chatops webhooks update` adds any they lack"),
    ]
    assert relay.webhook_event_lines([registration("acme/*", wanted)], wanted) == [
        ("ok ", "webhooks: the 1 the bot registered have every event it relays")]
    assert relay.webhook_event_lines([], wanted) == []


def test_a_hooks_change_sends_only_what_differs_and_keeps_the_events_it_has_beyond_the_bots():
    from_bitbucket = {"url": f"{PUBLIC_URL}/bitbucket/webhook", "events": ["issue:created", "repo:push"]}
    wanted = ("repo:push", "pullrequest:comment_created")
    url = f"{PUBLIC_URL}/bitbucket/webhook"
    change = rotation.plan_hook_change(from_bitbucket, url=url, secret="s", generation="current", wanted=wanted)
    assert change.fields == {"events": ["issue:created", "repo:push", "pullrequest:comment_created"]}
    assert change.words(url) == f"at {url}, gained pullrequest:comment_created"
    moved = rotation.plan_hook_change(from_bitbucket, url="https://new.example.com/bitbucket/webhook", secret="s", generation="unknown",
                                      wanted=("repo:push",))
    assert moved.fields == {"url": "https://new.example.com/bitbucket/webhook", "secret": "s"} and moved.added == ()
    current = rotation.plan_hook_change(from_bitbucket, url=url, secret="s", generation="current", wanted=("repo:push",))
    assert current.fields == {} and current.words(url).startswith("already current")
