"""Conversations' claims, on SQLite and PostgreSQL: a Slack message is written once, one comment a second per person,
one nudge per pull request per window, and a comment written from Slack is known when its webhook comes."""

from __future__ import annotations

import json

import pytest

from bot import conversations
from bot.conversations import context

pytestmark = pytest.mark.both_backends

T0 = 1_900_000_000.0


def test_a_message_is_claimed_once_and_its_comment_known_by_id_or_by_its_text_in_flight(store):
    claim = dict(channel="C1", ts="1.1", user="U1", repo="acme/api", pr_id=3, raw="Looks good", now=T0)
    assert conversations.claim_message(store, **claim) is True
    assert conversations.claim_message(store, **claim) is False  # a retry, another replica
    with store.transaction() as db:  # its webhook overtook Bitbucket's answer: known by its text
        assert conversations.written_in(db, "acme/api", 3, 77, "Looks good", now=T0 + 1) == "C1"
        assert conversations.written_in(db, "acme/api", 3, 77, "Other words", now=T0 + 1) is None
        assert conversations.written_in(db, "acme/api", 4, 77, "Looks good", now=T0 + 1) is None
    assert conversations.written_comment(store, "C1", "1.1") is None  # not followed until written
    conversations.mark_written(store, "C1", "1.1", 77)
    assert conversations.written_comment(store, "C1", "1.1") == {"slack_user": "U1", "repo": "acme/api", "pr_id": 3, "comment_id": 77}
    with store.transaction() as db:
        assert conversations.written_in(db, "acme/api", 3, 77, "edited since", now=T0 + 999) == "C1"  # by its id
    conversations.mark_deleted(store, "C1", "1.1")
    assert conversations.written_comment(store, "C1", "1.1") is None


def test_one_comment_a_second_per_person(store):
    assert conversations.take_turn(store, "U1", now=T0) == 0
    assert conversations.take_turn(store, "U1", now=T0 + 0.25) == pytest.approx(0.75)
    assert conversations.take_turn(store, "U2", now=T0 + 0.25) == 0  # each their own
    assert conversations.take_turn(store, "U1", now=T0 + 1) == 0


def test_one_nudge_per_pull_request_per_window(store):
    window = conversations.NUDGE_WINDOW_SECONDS
    assert conversations.claim_nudge(store, "acme/api", 3, "U1", now=T0) is None
    assert conversations.claim_nudge(store, "acme/api", 3, "U2", now=T0 + window - 1) == {"nudged_at": T0, "nudged_by": "U1"}
    assert conversations.claim_nudge(store, "acme/api", 4, "U2", now=T0 + 1) is None  # another pull request
    assert conversations.claim_nudge(store, "acme/api", 3, "U2", now=T0 + window) is None
    conversations.release_nudge(store, "acme/api", 3, "U2", T0 + window)  # not sent after all
    assert conversations.claim_nudge(store, "acme/api", 3, "U3", now=T0 + window + 1) is None


def test_a_comments_context_is_asked_for_once_and_its_newest_message_kept(store):
    first = {"text": "v1", "blocks": []}
    newer = {"text": "v2", "blocks": []}
    for message in (first, newer):
        with store.transaction() as db:
            for sql, params in conversations.context_writes("acme/api", 3, 77, path="a.py", line=4, old_side=False, parent_id=None,
                                                            messages=[("C1", "C1|pr:acme/api#3", "comment:acme/api#3/77", message)], now=T0):
                db.execute(sql, params)
            assert conversations.known_context(db, "acme/api", 3, 77) is None
    assert store.query_one("SELECT COUNT(*) AS n FROM comment_context")["n"] == 1
    assert json.loads(store.query_one("SELECT message FROM comment_messages")["message"]) == newer


def test_links_of_messages_to_comments_are_forgotten_a_month_on_and_messages_no_context_will_reach_at_once(store):
    kept = context.RETENTION_SECONDS
    for ts, comment_id, at in (("1.1", 71, T0 - kept - 1), ("2.2", 72, T0 - kept + 60)):
        assert conversations.claim_message(store, channel="C1", ts=ts, user="U1", repo="acme/api", pr_id=3, raw=ts, now=at)
        conversations.mark_written(store, "C1", ts, comment_id)
    message = ("C1", "C1|pr:acme/api#3", "comment:acme/api#3/8", {"text": "v1", "blocks": []})
    for comment_id in (7, 8):  # two comments' messages waiting for their context
        with store.transaction() as db:
            for sql, params in conversations.context_writes("acme/api", 3, comment_id, path="a.py", line=4, old_side=False,
                                                            parent_id=None, messages=[message], now=T0):
                db.execute(sql, params)
    window = conversations.NUDGE_WINDOW_SECONDS
    assert conversations.claim_nudge(store, "acme/api", 3, "U1", now=T0 - window - 1) is None  # its window is over
    assert conversations.claim_nudge(store, "acme/api", 4, "U1", now=T0 - 60) is None  # still holds
    reader = context.ContextReader(store, None, clock=lambda: T0)
    job = reader.take(T0)
    assert job["comment_id"] in (7, 8)
    with store.transaction() as db:  # one context finished without taking its messages (they came in after: a race)
        assert reader.mark_done(db, job, blocks="[]")

    reader.tidy(T0)  # what the reader does each hour, on its clock
    assert conversations.written_comment(store, "C1", "1.1") is None  # written a month and a second ago
    assert conversations.written_comment(store, "C1", "2.2") == {"slack_user": "U1", "repo": "acme/api", "pr_id": 3, "comment_id": 72}
    waiting = [row["comment_id"] for row in store.query("SELECT comment_id FROM comment_messages")]
    assert waiting == [15 - job["comment_id"]]  # the one whose context is still to be read
    assert store.query_one("SELECT COUNT(*) AS n FROM comment_context")["n"] == 2  # finished contexts stay their month
    assert conversations.claim_nudge(store, "acme/api", 4, "U2", now=T0) == {"nudged_at": T0 - 60, "nudged_by": "U1"}
    assert [row["pr_id"] for row in store.query("SELECT pr_id FROM conversation_nudges")] == [4]  # the old one is gone
