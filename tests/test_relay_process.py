"""Nothing lost, nothing twice, across a SIGKILL and a SIGTERM of the real `serve` process."""

from __future__ import annotations

import time

import pytest

from bot import relay
from bot.registry import open_migrated
from tests import webhookkit
from tests.harness import WEBHOOK_SECRET
from tests.process_harness import ServeProcess

pytestmark = pytest.mark.both_backends

CHANNEL = "C1"


@pytest.fixture
def serve(tmp_path, slack, bitbucket, database):
    bitbucket.add_repository("acme", "api")
    process = ServeProcess(tmp_path, slack, bitbucket, database=database)
    store = open_migrated(process.database)
    relay.subscribe(store, channel_id=CHANNEL, repo="acme/api", families=("pushes",), branch_glob="", user_id="U1", now=time.time())
    store.close()
    yield process.start()
    process.stop()


def push(serve, n: int, *, request_uuid: str | None = None):
    payload = webhookkit.push_payload("acme", "api", actor={"display_name": "Ann"}, branch="main", commits=[(f"{n:040x}", f"commit {n}")])
    answer = webhookkit.post(f"{serve.url}/bitbucket/webhook", "repo:push", payload, WEBHOOK_SECRET, request_uuid=request_uuid or f"delivery-{n}")
    assert answer.status_code == 200, answer.text
    return answer


def commit_numbers(slack) -> list[int]:
    return webhookkit.commit_numbers(slack, CHANNEL)


def test_a_sigkill_after_answering_loses_nothing_and_repeats_nothing(serve, slack):
    for n in range(3):
        push(serve, n)
    slack.wait_for(lambda: commit_numbers(slack) == [0, 1, 2], timeout=10)

    slack.outage = True
    for n in range(3, 8):
        push(serve, n)  # answered 200: stored, not yet posted
    slack.wait_for(lambda: slack.calls_to("chat.postMessage")[3:], timeout=10)  # the worker tried, Slack refused
    serve.kill()

    slack.outage = False
    serve.start()
    slack.wait_for(lambda: len(commit_numbers(slack)) >= 8, timeout=20)
    time.sleep(0.5)  # a repeat, if there were one, would come right behind
    assert commit_numbers(slack) == list(range(8))

    assert push(serve, 4, request_uuid="delivery-4").json()["duplicate"] is True  # Bitbucket retrying, after the restart
    time.sleep(0.5)
    assert commit_numbers(slack) == list(range(8))


def test_what_was_being_sent_at_a_sigkill_is_sent_after_the_restart(serve, slack):
    slack.latency = 2.0  # the worker is inside its Slack call when the process dies
    push(serve, 0)
    deadline = time.monotonic() + 10
    while not serve.query("SELECT 1 FROM outbox WHERE state = 'sending'") and time.monotonic() < deadline:
        time.sleep(0.02)
    serve.kill()
    slack.latency = 0.0
    serve.start()
    # Slack may have finished the dead process's call too: delivery is at least once for the one item in flight.
    # Wait for the restarted worker's own delivery, not the dead call finishing.
    slack.wait_for(lambda: serve.query("SELECT state FROM outbox") == [("sent",)], timeout=20)
    assert set(commit_numbers(slack)) == {0}


def test_sigterm_finishes_the_message_in_hand_and_keeps_the_rest(serve, slack):
    slack.latency = 1.0
    for n in range(4):
        push(serve, n)
    deadline = time.monotonic() + 10
    while not serve.query("SELECT 1 FROM outbox WHERE state = 'sending'") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert serve.terminate() == 0

    states = [state for (state,) in serve.query("SELECT state FROM outbox ORDER BY id")]
    assert "sending" not in states
    assert states[0] == "sent" and "pending" in states  # the one in hand finished; the rest waits on disk
    sent_before = commit_numbers(slack)
    assert sent_before == list(range(states.count("sent")))

    slack.latency = 0.0
    serve.start()
    slack.wait_for(lambda: len(commit_numbers(slack)) >= 4, timeout=20)
    time.sleep(0.3)
    assert commit_numbers(slack) == [0, 1, 2, 3]
