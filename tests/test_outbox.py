"""The outbox and its worker, against the simulated Slack Web API."""

import json
import time

import pytest
from slack_sdk import WebClient

from bot import registry
from bot.core import outbox
from bot.core.outbox import Backoff, OutboxWorker
from bot.core.render import notice

pytestmark = pytest.mark.both_backends




@pytest.fixture
def client(slack):
    return WebClient(token="xoxb-test", base_url=slack.api_url, retry_handlers=[])


def fast_worker(store, client, **kwargs) -> OutboxWorker:
    return OutboxWorker(store, client, backoff=Backoff(base=0.01, cap=0.05, max_attempts=kwargs.pop("max_attempts", 40)), idle_wait=0.01, **kwargs)


def enqueue(store, text, *, channel="C1", key="k", **kwargs):
    with store.transaction() as db:
        return outbox.enqueue(db, channel=channel, message=notice(text), key=key, **kwargs)


def states(store):
    return {row["id"]: row["state"] for row in store.query("SELECT id, state FROM outbox")}


def test_delivers_in_order_and_marks_sent(store, client, slack):
    ids = [enqueue(store, f"message {n}") for n in range(5)]
    worker = fast_worker(store, client)
    while worker.drain_once():
        pass
    assert [m.text for m in slack.channel_messages("C1")] == [f"message {n}" for n in range(5)]
    assert set(states(store).values()) == {"sent"} and len(states(store)) == len(ids)


def test_anchor_creates_then_updates_and_threads_follow(store, client, slack):
    enqueue(store, "card v1", key="pr:1", anchor="pr:acme/api#1")
    enqueue(store, "approved by bob", key="pr:1", thread_anchor="pr:acme/api#1")
    enqueue(store, "card v2", key="pr:1", anchor="pr:acme/api#1")
    worker = fast_worker(store, client)
    while worker.drain_once():
        pass
    top_level = [m for m in slack.channel_messages("C1") if not m.thread_ts]
    assert len(top_level) == 1 and top_level[0].text == "card v2" and top_level[0].updated_count == 1
    card_ts = outbox.anchor_ts(store, "C1", "pr:acme/api#1")
    assert card_ts == top_level[0].ts
    assert [m.text for m in slack.thread("C1", card_ts) if m.ts != card_ts] == ["approved by bob"]


def test_a_thread_reply_without_its_card_goes_to_the_top_level(store, client, slack):
    enqueue(store, "comment", key="pr:9", thread_anchor="pr:acme/api#9")
    fast_worker(store, client).drain_once()
    assert slack.channel_messages("C1")[0].thread_ts is None


def test_429_waits_for_retry_after_and_holds_only_its_key(store, client, slack):
    now = [1000.0]
    slack.fail_next("chat.postMessage", status=429, retry_after=30)
    first = enqueue(store, "first in A", key="A")
    enqueue(store, "second in A", key="A")
    enqueue(store, "only in B", key="B")
    worker = fast_worker(store, client, clock=lambda: now[0], senders=1)  # one at a time: the 429 is A's
    worker.drain_once()
    worker.drain_once()
    assert [m.text for m in slack.channel_messages("C1")] == ["only in B"]
    row = store.query_one("SELECT next_attempt_at, attempts, last_error FROM outbox WHERE id = ?", (first,))
    assert row == {"next_attempt_at": 1030.0, "attempts": 0, "last_error": "ratelimited"}
    now[0] = 1031.0
    while worker.drain_once():
        pass
    assert [m.text for m in slack.channel_messages("C1")] == ["only in B", "first in A", "second in A"]


def test_an_outage_loses_nothing(store, client, slack):
    slack.outage = True
    for n in range(3):
        enqueue(store, f"m{n}", key=f"k{n}")
    worker = fast_worker(store, client).start()
    try:
        slack.wait_for(lambda: len([c for c in slack.calls_to("chat.postMessage")]) >= 3 or None, timeout=5)
        assert slack.channel_messages("C1") == []
        assert set(states(store).values()) <= {"pending", "sending"}
        slack.outage = False
        slack.wait_for(lambda: len(slack.channel_messages("C1")) == 3, timeout=10)
    finally:
        worker.stop()
    assert sorted(m.text for m in slack.channel_messages("C1")) == ["m0", "m1", "m2"]


def test_repeated_failures_park_the_item_and_check_says_so(store, client, slack):
    slack.fail_next("chat.postMessage", status=500, times=10)
    enqueue(store, "doomed")
    worker = fast_worker(store, client, max_attempts=3)
    deadline = time.time() + 5
    while time.time() < deadline and "parked" not in states(store).values():
        worker.drain_once()
        time.sleep(0.01)
    assert list(states(store).values()) == ["parked"]
    assert any(status == "FIX" and "parked" in text for status, text in outbox.check_lines(store))


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived"])
def test_a_channel_that_refuses_marks_its_subscriptions_broken(store, client, slack, error):
    store.execute(
        "INSERT INTO subscriptions (channel_id, repo, families, created_by, created_at) VALUES ('C9', 'acme/api', 'pushes', 'U1', 0)"
    )
    slack.set_channel_error("C9", error)
    enqueue(store, "hello", channel="C9")
    fast_worker(store, client, on_channel_refused=registry.channel_refused_handlers()).drain_once()
    assert list(states(store).values()) == ["dropped"]
    assert store.query_one("SELECT broken_reason FROM subscriptions")["broken_reason"] == error


def test_a_permanent_refusal_is_parked_at_once(store, client, slack):
    slack.fail_next("chat.postMessage", error="invalid_blocks")
    enqueue(store, "bad blocks")
    fast_worker(store, client).drain_once()
    assert list(states(store).values()) == ["parked"]


def test_items_a_dead_worker_was_sending_are_reclaimed(store, client, slack):
    item = enqueue(store, "in flight when killed")
    store.execute("UPDATE outbox SET state = 'sending', owner = ? WHERE id = ?", (f"{outbox.socket.gethostname()}:999999", item))
    worker = fast_worker(store, client)
    assert worker.reclaim_abandoned() == 1
    worker.drain_once()
    assert [m.text for m in slack.channel_messages("C1")] == ["in flight when killed"]


def test_stop_finishes_and_keeps_the_rest(store, client, slack):
    slack.latency = 0.05
    for n in range(20):
        enqueue(store, f"m{n}", key=f"k{n}")
    worker = fast_worker(store, client).start()
    slack.wait_for(lambda: len(slack.channel_messages("C1")) >= 2, timeout=5)
    worker.stop()
    sent = len(slack.channel_messages("C1"))
    values = list(states(store).values())
    assert values.count("sent") == sent and "sending" not in values
    assert values.count("pending") == 20 - sent


def test_an_outcome_that_cannot_be_recorded_does_not_hold_up_its_key(store, client, slack, tmp_path):
    enqueue(store, "first", key="pr:1")
    enqueue(store, "second", key="pr:1")
    worker = fast_worker(store, client)
    # The database refuses the "sent" mark once (its column is renamed away for the moment).
    item = worker.due_items()[0]
    assert worker._claim(item)
    store.execute("ALTER TABLE outbox RENAME COLUMN sent_at TO sent_at_gone")
    worker.deliver(item)
    store.execute("ALTER TABLE outbox RENAME COLUMN sent_at_gone TO sent_at")
    assert states(store)[item.id] == "pending"  # released, not stuck in 'sending'
    while worker.drain_once():
        pass
    assert [m.text for m in slack.channel_messages("C1")][-1] == "second"


def test_a_refusing_channel_reaches_the_person_who_asked_instead(store, client, slack):
    slack.set_channel_error("G7", "not_in_channel")
    enqueue(store, "deploy of api to Production: started", channel="G7", fallback_user="U5")
    fast_worker(store, client).drain_once()
    (direct,) = slack.channel_messages("U5")
    assert direct.text == "deploy of api to Production: started"
    assert "meant for <#G7>" in json.dumps(direct.blocks) and "not_in_channel" in json.dumps(direct.blocks)
    assert list(states(store).values()) == ["sent"]


def test_a_claim_of_another_host_holds_until_its_lease_runs_out_then_is_taken_over(store, client, slack):
    """Containers and dynos come back under a new hostname: their claims must not hold a key for ever."""
    item = enqueue(store, "claimed by a replica that died")
    later = enqueue(store, "queued behind it")
    now = time.time()
    store.execute("UPDATE outbox SET state = 'sending', owner = 'gone-host:42:abcdef', claimed_until = ? WHERE id = ?",
                  (now + 30, item))
    worker = fast_worker(store, client)
    assert worker.reclaim_abandoned() == 0 and worker.drain_once() == 0  # still within its lease: the key waits
    store.execute("UPDATE outbox SET claimed_until = ? WHERE id = ?", (now - 1, item))
    assert worker.reclaim_abandoned() == 1
    while worker.drain_once():
        pass
    assert [m.text for m in slack.channel_messages("C1")] == ["claimed by a replica that died", "queued behind it"]
    assert states(store) == {item: "sent", later: "sent"}


def test_the_worker_itself_takes_over_expired_claims_without_a_restart(store, client, slack):
    item = enqueue(store, "orphan")
    store.execute("UPDATE outbox SET state = 'sending', owner = 'gone-host:42:abcdef', claimed_until = 0 WHERE id = ?", (item,))
    worker = fast_worker(store, client).start()
    try:
        slack.wait_for(lambda: [m.text for m in slack.channel_messages("C1")] == ["orphan"], timeout=5)
    finally:
        worker.stop()



def test_a_slow_slack_is_sent_many_keys_at_once_and_each_key_keeps_its_order(store, client, slack):
    """Eight channels, three messages each: the heads of the keys go out together (Slack answers them all within its
    one latency, not a latency apart), and each channel still reads its messages in order."""
    slack.latency = 0.5
    for n in range(3):
        for channel in range(8):
            enqueue(store, f"C{channel} message {n}", channel=f"C{channel}", key=f"k{channel}")
    fast_worker(store, client).drain_once()
    answered = sorted(call.time for call in slack.calls_to("chat.postMessage"))
    assert len(answered) == 24
    assert answered[7] - answered[0] < slack.latency  # the first eight in flight at once (one at a time: 3.5 s apart)
    for channel in range(8):
        assert [m.text for m in slack.channel_messages(f"C{channel}")] == [f"C{channel} message {n}" for n in range(3)]


def test_a_channel_reads_its_messages_in_the_order_they_were_queued_whatever_their_keys(store, client, slack):
    """Keys interleaved in one channel (a push, a card, a reminder): one send per channel at a time, so the channel
    reads them as they were queued, while another channel's go out beside them."""
    slack.latency = 0.02
    queued = {"C1": [], "C2": []}
    for n, key in enumerate("aabacbbcaacb"):  # a key's next message sometimes before, sometimes after another key's
        for channel in queued:
            queued[channel].append(f"{channel} {key}{n}")
            enqueue(store, queued[channel][-1], channel=channel, key=f"{channel} {key}")
    fast_worker(store, client).drain_once()
    for channel, texts in queued.items():
        assert [m.text for m in slack.channel_messages(channel)] == texts


def test_one_sender_sends_one_at_a_time_in_the_queues_order(store, client, slack):
    for n in range(4):
        enqueue(store, f"m{n}", key=f"k{n}")
    worker = fast_worker(store, client, senders=1)
    while worker.drain_once():
        pass
    assert [m.text for m in slack.channel_messages("C1")] == ["m0", "m1", "m2", "m3"]


def test_versions_of_a_card_queued_behind_each_other_are_sent_once_at_the_newest(store, client, slack):
    """After an outage a card updated five times is one post, at its fifth version; a reply between versions keeps
    its place (the card it answers is posted first), and the version after it is an update."""
    for n in range(1, 6):
        enqueue(store, f"card v{n}", key="pr:1", anchor="pr:acme/api#1")
    enqueue(store, "approved by bob", key="pr:1", thread_anchor="pr:acme/api#1")
    enqueue(store, "card v6", key="pr:1", anchor="pr:acme/api#1")
    worker = fast_worker(store, client)
    while worker.drain_once():
        pass
    posts = [call.args.get("text") for call in slack.calls_to("chat.postMessage")]
    updates = [call.args.get("text") for call in slack.calls_to("chat.update")]
    assert posts == ["card v5", "approved by bob"] and updates == ["card v6"]
    card_ts = outbox.anchor_ts(store, "C1", "pr:acme/api#1")
    rows = store.query("SELECT state, ts FROM outbox ORDER BY id")
    assert [row["state"] for row in rows] == ["sent"] * 7
    assert [row["ts"] for row in rows[:5]] == [card_ts] * 5  # the folded versions point at the message that told them


def test_folded_versions_wait_again_when_the_send_fails_and_go_out_as_one_later(store, client, slack):
    slack.fail_next("chat.postMessage", status=500)
    for n in range(1, 4):
        enqueue(store, f"card v{n}", key="pr:1", anchor="pr:acme/api#1")
    worker = fast_worker(store, client)
    worker.drain_once()
    assert set(states(store).values()) == {"pending"}  # the head waits for its retry, the later versions behind it
    deadline = time.time() + 5
    while time.time() < deadline and set(states(store).values()) != {"sent"}:
        worker.drain_once()
        time.sleep(0.01)
    assert [m.text for m in slack.channel_messages("C1")] == ["card v3"]
    assert [call.args.get("text") for call in slack.calls_to("chat.postMessage")] == ["card v3", "card v3"]  # failed, then sent
