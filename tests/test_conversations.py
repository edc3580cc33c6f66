"""Conversations both ways (issue 22), end to end: the simulated Slack sends signed `message` events when people
write, edit and delete in a relayed card's thread; the simulated Bitbucket records who wrote which comment and sends
the comment webhooks back to the bot, which relays them into the thread (or not, for the ones written from Slack).

acme/api #1 is carol's, reviewed by alice and bob; alice (U1) has logged in with `/bb login`; bob (U2) has not.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests

from bot import conversations
from bot.core import ids
from bot.sandbox import deliveries
from tests.harness import BITBUCKET_TOKEN, SIGNING_SECRET, RunningBot, text_of
from tests.test_accounts import log_in, oauth_settings, repo, slack_app  # noqa: F401 - fixtures

CHANNEL = "C1"
DIFF = """diff --git a/src/app.py b/src/app.py
index 1111111..2222222 100644
--- a/src/app.py
+++ b/src/app.py
@@ -10,9 +10,10 @@ def main():
     setup()
     load()
     parse()
-    run()
+    run(fast=True)
+    report()
     cleanup()
     close()
     done()
     bye()
"""


class Clock:
    """The bot's clock, moved by the test."""

    def __init__(self):
        self.now = datetime(2030, 5, 6, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def running(tmp_path, slack, repo, clock=None):
    bot = RunningBot(oauth_settings(tmp_path, slack, repo), slack, clock=clock)
    slack.deliver_events_to(f"{bot.url}/slack/events", SIGNING_SECRET)
    return bot


@pytest.fixture
def app(tmp_path, slack, repo):
    bot = running(tmp_path, slack, repo)
    yield bot
    bot.stop()


@pytest.fixture
def timed_app(tmp_path, slack, repo, clock):
    """The bot on the test's clock."""
    bot = running(tmp_path, slack, repo, clock)
    yield bot
    bot.stop()


# --- helpers --------------------------------------------------------------------------------------------


def card_in(slack, channel: str = CHANNEL):
    def cards():
        return [m for m in slack.channel_messages(channel)
                if not m.thread_ts and any(str(b.get("block_id") or "").startswith("card:") for b in m.blocks)]
    return slack.wait_for(cards)[0]


def relayed_card(app, repo, slack, channel: str = CHANNEL):
    """The channel follows acme/api (its webhook reaches the bot) and #1's card is there."""
    assert "subscribed" in app.answer_text(app.command("subscribe acme/api", channel_id=channel))
    hook = next(h for h in repo.webhooks("acme", "api"))
    answer = requests.put(f"{repo.base_url}/repositories/acme/api/hooks/{hook['uuid']}", json={"url": f"{app.url}/bitbucket/webhook"},
                          headers={"Authorization": f"Bearer {BITBUCKET_TOKEN}"}, timeout=5)  # the proxy's address, here
    assert answer.status_code == 200, answer.text
    payload = deliveries.pull_request_payload(repo, "acme", "api", 1, actor="carol")
    assert [d.ok for d in deliveries.deliver(repo, "acme", "api", "pullrequest:created", payload)] == [True]
    return card_in(slack, channel)


def settle(app, slack, timeout: float = 10.0) -> None:
    """Until every delivery is routed, every comment's context read and every queued message sent."""
    store = app.services.store

    def idle():
        app.services.wait_idle()
        pending = store.query_one("SELECT COUNT(*) AS n FROM deliveries WHERE state = 'pending'")["n"]
        unsent = store.query_one("SELECT COUNT(*) AS n FROM outbox WHERE state IN ('pending', 'sending')")["n"]
        reading = store.query_one("SELECT COUNT(*) AS n FROM comment_context WHERE state = 'pending'")["n"]
        return pending == 0 and unsent == 0 and reading == 0

    slack.wait_for(idle, timeout=timeout)


def comments(repo) -> list[dict]:
    return repo.comments("acme", "api", 1)


def written(repo) -> list[tuple[str, str]]:
    """(who, text) of each standing comment."""
    return [(c["user"]["nickname"], c["content"]["raw"]) for c in comments(repo) if not c["deleted"]]


def webhooks_sent(repo, count: int, slack) -> None:
    """Until the simulated Bitbucket has told the bot of `count` comment changes (and the bot answered)."""
    slack.wait_for(lambda: len(getattr(repo, "comment_deliveries", [])) >= count, timeout=10)
    assert all(d.ok for d in repo.comment_deliveries)


def bot_replies(slack, card) -> list:
    return [m for m in slack.thread(CHANNEL, card.ts)[1:] if m.user == "UBOT"]


def notes_to(slack, user: str) -> list[str]:
    """What the bot told `user` privately in a thread."""
    return [text_of(m.to_api()) for m in slack.ephemerals if m.ephemeral_to == user and m.thread_ts]


# --- from Slack to Bitbucket ----------------------------------------------------------------------------


def test_a_linked_persons_reply_becomes_their_comment_and_is_not_echoed_back(app, repo, slack):
    card = relayed_card(app, repo, slack)
    log_in(app, repo, "alice", "U1")
    said = slack.say("U1", CHANNEL, "Looks *good*, see <https://example.com/spec|the spec> &amp; `a<b`", thread_ts=card.ts)
    slack.wait_for(lambda: comments(repo))
    assert written(repo) == [("alice", "Looks **good**, see [the spec](https://example.com/spec) & `a<b`")]
    slack.wait_for(lambda: "speech_balloon" in slack.reactions_on(CHANNEL, said.ts))
    webhooks_sent(repo, 1, slack)
    settle(app, slack)
    assert bot_replies(slack, card) == []  # its webhook came back, and stayed out of the thread
    row = app.services.store.query_one("SELECT comment_id, state FROM conversation_comments WHERE message_ts = ?", (said.ts,))
    assert row == {"comment_id": comments(repo)[0]["id"], "state": "posted"}  # the comment's id, beside the message
    audit = app.services.store.query("SELECT user_id, action, ok FROM audit WHERE action = 'comment'")
    assert [(r["user_id"], r["ok"]) for r in audit] == [("U1", 1)]


def test_an_edit_and_a_delete_follow_and_are_not_echoed_either(app, repo, slack):
    card = relayed_card(app, repo, slack)
    log_in(app, repo, "alice", "U1")
    said = slack.say("U1", CHANNEL, "First thought", thread_ts=card.ts)
    slack.wait_for(lambda: comments(repo))
    slack.wait_for(lambda: app.services.store.query_one("SELECT state FROM conversation_comments")["state"] == "posted")
    slack.edit(CHANNEL, said.ts, "Second thought")
    slack.wait_for(lambda: written(repo) == [("alice", "Second thought")])
    slack.delete(CHANNEL, said.ts)
    slack.wait_for(lambda: comments(repo)[0]["deleted"])
    webhooks_sent(repo, 3, slack)  # created, updated, deleted
    settle(app, slack)
    assert bot_replies(slack, card) == []
    assert [r.method for r in repo.requests if "/comments" in r.path] == ["POST", "PUT", "DELETE"]


def test_an_unlinked_person_gets_the_hint_and_nothing_is_posted(app, repo, slack):
    card = relayed_card(app, repo, slack)
    slack.say("U2", CHANNEL, "I have not logged in", thread_ts=card.ts)
    slack.wait_for(lambda: notes_to(slack, "U2"))
    assert "/bb login" in notes_to(slack, "U2")[0]
    hint = next(m for m in slack.ephemerals if m.ephemeral_to == "U2")
    assert hint.thread_ts == card.ts  # said in the thread
    app.services.wait_idle()
    assert comments(repo) == [] and not [r for r in repo.requests if "/comments" in r.path]


def test_the_bots_own_messages_other_bots_and_messages_outside_a_cards_thread_are_ignored(app, repo, slack):
    card = relayed_card(app, repo, slack)
    log_in(app, repo, "alice", "U1")
    # The bot's own reply in the card's thread (an approval relayed) reaches it as a `message` event with its bot_id.
    repo.add_review("acme", "api", 1, "bob")
    payload = deliveries.pull_request_payload(repo, "acme", "api", 1, actor="bob")
    deliveries.deliver(repo, "acme", "api", "pullrequest:approved", {**payload, "approval": {"user": repo.user("bob")}})
    slack.wait_for(lambda: [body for body in slack.events_sent(by_bot=True) if body["event"].get("thread_ts") == card.ts])
    # Another app's post in the thread; and alice writing in the channel, not in a thread.
    other = {"type": "message", "channel": CHANNEL, "user": "U7", "bot_id": "B0999", "text": "a bot's words", "ts": "1800000000.000100",
             "thread_ts": card.ts}
    slack.send_event(slack.event_callback({**other, "event_ts": other["ts"]}))
    slack.say("U1", CHANNEL, "Lunch?")  # a person's events are answered before `say` returns
    settle(app, slack)
    assert comments(repo) == [] and not [r for r in repo.requests if "/comments" in r.path]
    assert [m for m in slack.ephemerals if m.thread_ts] == []  # nobody was even told to link an account


def test_a_retried_event_acts_once(app, repo, slack):
    card = relayed_card(app, repo, slack)
    log_in(app, repo, "alice", "U1")
    slack.say("U1", CHANNEL, "Only once", thread_ts=card.ts)
    slack.wait_for(lambda: comments(repo))
    body = next(b for b in slack.events_sent() if b["event"].get("user") == "U1")
    for retry in (1, 2):
        assert slack.send_event(body, retry_num=retry) == 200
    # The same message under another event id (Slack's at-least-once, another replica): the message is claimed too.
    assert slack.send_event({**body, "event_id": "Ev0ANOTHER01"}) == 200
    settle(app, slack)
    assert written(repo) == [("alice", "Only once")]


def test_a_mention_of_a_linked_person_becomes_their_bitbucket_mention(app, repo, slack):
    card = relayed_card(app, repo, slack)
    log_in(app, repo, "alice", "U1")
    assert "linked" in app.answer_text(app.command("link bob", user_id="U2")).lower()
    slack.say("U1", CHANNEL, "<@U2> what do you think? <!here>", thread_ts=card.ts)
    slack.wait_for(lambda: comments(repo))
    bob = repo.user("bob")
    assert written(repo) == [("alice", f"@{{{bob['account_id']}}} what do you think? @here")]


def test_a_merged_pull_request_still_takes_comments(app, repo, slack):
    card = relayed_card(app, repo, slack)
    log_in(app, repo, "alice", "U1")
    answer = requests.post(f"{repo.base_url}/repositories/acme/api/pullrequests/1/merge", json={},
                           headers={"Authorization": f"Bearer {BITBUCKET_TOKEN}"}, timeout=5)
    assert answer.status_code == 200 and answer.json()["state"] == "MERGED"
    slack.say("U1", CHANNEL, "Nice merge", thread_ts=card.ts)
    slack.wait_for(lambda: comments(repo))
    assert written(repo) == [("alice", "Nice merge")]


@pytest.mark.parametrize(("status", "words"), [(403, "your Bitbucket account may not comment on acme/api (Forbidden)"),
                                               (500, "may not have reached Bitbucket: Bitbucket did not answer clearly (Internal Server Error)")])
def test_a_bitbucket_refusal_is_told_privately_and_the_message_marked(app, repo, slack, status, words):
    card = relayed_card(app, repo, slack)
    log_in(app, repo, "alice", "U1")
    repo.fail_next("POST", r"/pullrequests/1/comments$", status=status)
    said = slack.say("U1", CHANNEL, "This will not go through", thread_ts=card.ts)
    slack.wait_for(lambda: notes_to(slack, "U1"))
    assert words in notes_to(slack, "U1")[0]
    assert slack.reactions_on(CHANNEL, said.ts) == {"exclamation"}
    assert comments(repo) == []


def test_a_comment_longer_than_bitbucket_takes_is_refused_with_its_limit(app, repo, slack):
    card = relayed_card(app, repo, slack)
    log_in(app, repo, "alice", "U1")
    said = slack.say("U1", CHANNEL, "x" * 33_000, thread_ts=card.ts)
    slack.wait_for(lambda: notes_to(slack, "U1"))
    assert "at most 32,768" in notes_to(slack, "U1")[0]
    assert slack.reactions_on(CHANNEL, said.ts) == {"exclamation"}
    assert not [r for r in repo.requests if "/comments" in r.path]


def test_at_most_one_comment_per_person_per_second(timed_app, repo, slack):
    app = timed_app
    card = relayed_card(app, repo, slack)
    log_in(app, repo, "alice", "U1")
    slack.say("U1", CHANNEL, "one", thread_ts=card.ts)
    slack.wait_for(lambda: comments(repo))
    second = slack.say("U1", CHANNEL, "two", thread_ts=card.ts)  # the same second, on the bot's clock
    slack.wait_for(lambda: notes_to(slack, "U1"), timeout=10)
    assert "One comment a second" in notes_to(slack, "U1")[0]
    assert slack.reactions_on(CHANNEL, second.ts) == {"exclamation"}
    assert written(repo) == [("alice", "one")]


def test_a_reply_is_followed_for_a_month_then_forgotten_while_a_recent_one_still_is(timed_app, repo, slack, clock):
    app, store = timed_app, timed_app.services.store
    card = relayed_card(app, repo, slack)
    log_in(app, repo, "alice", "U1")
    old = slack.say("U1", CHANNEL, "Written long ago", thread_ts=card.ts)
    slack.wait_for(lambda: conversations.written_comment(store, CHANNEL, old.ts))
    clock.now += timedelta(days=30, seconds=1)  # a month (`context.RETENTION_SECONDS`) and a second on, by the bot's clock
    recent = slack.say("U1", CHANNEL, "Written today", thread_ts=card.ts)
    slack.wait_for(lambda: conversations.written_comment(store, CHANNEL, recent.ts))
    slack.wait_for(lambda: conversations.written_comment(store, CHANNEL, old.ts) is None)  # the context reader's hourly tidy
    clock.now += timedelta(seconds=2)
    slack.edit(CHANNEL, old.ts, "Edited long after")
    slack.edit(CHANNEL, recent.ts, "Edited today")
    slack.wait_for(lambda: ("alice", "Edited today") in written(repo))
    settle(app, slack)
    assert written(repo) == [("alice", "Written long ago"), ("alice", "Edited today")]  # the old reply's edit no longer follows
    assert [r.method for r in repo.requests if "/comments" in r.path] == ["POST", "POST", "PUT"]


# --- from Bitbucket to Slack ----------------------------------------------------------------------------


def test_an_inline_comment_shows_the_lines_around_it_and_its_edits_and_resolution_update_it(app, repo, slack):
    card = relayed_card(app, repo, slack)
    repo.set_diff("acme", "api", 1, DIFF)
    comment = repo.add_comment("acme", "api", 1, "bob", "Why <b>fast</b>?", inline={"path": "src/app.py", "to": 13})
    repo.comment_event("acme", "api", 1, comment["id"], "pullrequest:comment_created", actor="bob")
    settle(app, slack)
    [relayed] = bot_replies(slack, card)
    text = text_of(relayed.to_api())
    assert "Bob commented" in text and "on `src/app.py:13`" in text and "Why &lt;b&gt;fast&lt;/b&gt;?" in text
    code = next(b["text"]["text"] for b in relayed.blocks if b.get("block_id") == "conversation-context")
    assert code.split("\n") == ["```", "10       setup()", "11       load()", "12       parse()", "13 +     run(fast=True)",
                                "14 +     report()", "15       cleanup()", "16       close()", "17       done()", "```"]  # 8 lines
    calls = [r.path for r in repo.requests if r.path.endswith("/diff") or "/diff/" in r.path]
    assert calls and calls[0].endswith("/pullrequests/1/diff")  # and its 302 followed to the repository's diff

    # Edited in Bitbucket: the same message now says the new text, with its code still there.
    repo.change_comment("acme", "api", 1, comment["id"], text="Why fast? Explain.")
    repo.comment_event("acme", "api", 1, comment["id"], "pullrequest:comment_updated", actor="bob")
    settle(app, slack)
    [relayed] = bot_replies(slack, card)
    text = text_of(relayed.to_api())
    assert "Why fast? Explain." in text and "edited by Bob" in text and "run(fast=True)" in text
    # Resolved, reopened: the thread's state on the same message.
    repo.resolve_comment("acme", "api", 1, comment["id"], "carol")
    repo.comment_event("acme", "api", 1, comment["id"], "pullrequest:comment_resolved", actor="carol")
    settle(app, slack)
    [relayed] = bot_replies(slack, card)
    assert "*Resolved* by Carol" in text_of(relayed.to_api())
    repo.resolve_comment("acme", "api", 1, comment["id"], "carol", resolved=False)
    repo.comment_event("acme", "api", 1, comment["id"], "pullrequest:comment_reopened", actor="carol")
    settle(app, slack)
    [relayed] = bot_replies(slack, card)
    assert "*Reopened* by Carol" in text_of(relayed.to_api()) and "Resolved" not in text_of(relayed.to_api())
    assert len([r for r in repo.requests if r.path.endswith("/pullrequests/1/diff")]) == 1  # read once, kept
    # Deleted: the message says so.
    repo.change_comment("acme", "api", 1, comment["id"], deleted=True)
    repo.comment_event("acme", "api", 1, comment["id"], "pullrequest:comment_deleted", actor="bob")
    settle(app, slack)
    [relayed] = bot_replies(slack, card)
    assert "Bob's comment on `src/app.py:13` was deleted" in text_of(relayed.to_api())


def test_a_reply_in_bitbucket_is_relayed_quoting_the_first_line_of_its_parent(app, repo, slack):
    card = relayed_card(app, repo, slack)
    first = repo.add_comment("acme", "api", 1, "bob", "Can we cache this?\nIt is slow.")
    reply = repo.add_comment("acme", "api", 1, "carol", "Yes, in the next commit.", parent_id=first["id"])
    repo.comment_event("acme", "api", 1, reply["id"], "pullrequest:comment_created", actor="carol")
    settle(app, slack)
    [relayed] = bot_replies(slack, card)
    text = text_of(relayed.to_api())
    assert "Carol replied" in text and "Yes, in the next commit." in text
    assert "In reply to" in text and "Bob: “Can we cache this?”" in text and "It is slow." not in text


def test_reply_in_bitbucket_on_a_relayed_comment_answers_that_comment(app, repo, slack):
    card = relayed_card(app, repo, slack)
    log_in(app, repo, "alice", "U1")
    first = repo.add_comment("acme", "api", 1, "bob", "Is this thread-safe?")
    repo.comment_event("acme", "api", 1, first["id"], "pullrequest:comment_created", actor="bob")
    settle(app, slack)
    [relayed] = bot_replies(slack, card)
    app.shortcut(ids.REPLY_IN_BITBUCKET, relayed.to_api())
    view = slack.wait_for(lambda: [v for v in slack.views if v.callback_id == ids.REPLY_MODAL])[0]
    answer = app.submit_view(ids.REPLY_MODAL, {ids.REPLY_TEXT_BLOCK: {ids.REPLY_TEXT_INPUT: "Yes, behind a lock."}},
                             view.view["private_metadata"])
    assert answer.status_code == 200
    slack.wait_for(lambda: len(comments(repo)) == 2)
    mine = comments(repo)[1]
    assert (mine["user"]["nickname"], mine["content"]["raw"], mine["parent"]["id"]) == ("alice", "Yes, behind a lock.", first["id"])
    webhooks_sent(repo, 1, slack)
    settle(app, slack)
    replies = bot_replies(slack, card)
    assert len(replies) == 2 and "Bob: “Is this thread-safe?”" in text_of(replies[1].to_api())


def test_reply_in_bitbucket_elsewhere_says_where_it_works(app, repo, slack):
    card = relayed_card(app, repo, slack)
    sent = app.shortcut(ids.REPLY_IN_BITBUCKET, slack.message(CHANNEL, card.ts).to_api())
    assert "works on a comment the bot relayed" in app.answer_text(sent)
    assert slack.views == []


# --- nudge ------------------------------------------------------------------------------------------------


def test_nudge_mentions_who_has_not_approved_writes_to_them_and_acts_once_per_window(timed_app, repo, slack, clock):
    app = timed_app
    card = relayed_card(app, repo, slack)
    assert "linked" in app.answer_text(app.command("link bob", user_id="U2")).lower()  # alice is not linked

    def choose_nudge(user):
        message = slack.message(CHANNEL, card.ts).to_api()
        menu = next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "overflow")
        value = next(o["value"] for o in menu["options"] if json.loads(o["value"]).get("o") == "nudge")
        return app.choose(ids.CARD_MENU, value, user_id=user, message_ts=card.ts, message=message)

    def nudges():
        return [text_of(m.to_api()) for m in bot_replies(slack, card) if "asks for your review" in m.text]

    def direct_to_bob():
        return [m for m in slack.channel_messages("U2") if "asks for your review" in m.text]

    choose_nudge("U3")
    slack.wait_for(lambda: nudges() and direct_to_bob())
    assert "<@U2>" in nudges()[0] and "*Alice Liddell*" in nudges()[0] and "<@U3> asks" in nudges()[0]

    clock.now += timedelta(hours=3, minutes=59)
    again = choose_nudge("U1")
    assert "<@U3> nudged its reviewers at 09:00 UTC" in app.answer_text(again)
    settle(app, slack)
    assert len(nudges()) == 1 and len(direct_to_bob()) == 1

    clock.now += timedelta(minutes=1)
    repo.add_review("acme", "api", 1, "bob")  # bob has approved since: only alice is nudged
    choose_nudge("U1")
    slack.wait_for(lambda: len(nudges()) == 2)
    assert "*Alice Liddell*" in nudges()[1] and "<@U2>" not in nudges()[1]
    settle(app, slack)
    assert len(direct_to_bob()) == 1
