"""The relay fuzzed end to end: mutated real payloads, signed, POSTed to the running bot; routed, queued and sent
to the simulated Slack, which checks every message against Block Kit's limits. Whatever comes in, Bitbucket gets
its answer, and Slack refuses nothing the bot sends."""

from __future__ import annotations

import json
import logging
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bot import relay
from handlers.webhook import WEBHOOK_MAX_BYTES
from tests import webhookkit
from tests.fuzzkit import mutated
from tests.harness import WEBHOOK_SECRET
from tests.test_fuzz_relay import FIXTURES


@pytest.fixture
def subscribed(bot, bitbucket):
    bitbucket.add_repository("acme", "api", branches=("main",))
    assert "subscribed this channel" in bot.answer_text(bot.command("subscribe acme/api", channel_id="C1"))
    return bot


def settled(bot) -> bool:
    store = bot.services.store
    pending = store.query_one("SELECT COUNT(*) AS n FROM deliveries WHERE state = 'pending'")["n"]
    queued = store.query_one("SELECT COUNT(*) AS n FROM outbox WHERE state IN ('pending', 'sending')")["n"]
    return pending == 0 and queued == 0


@st.composite
def delivery(draw):
    key, payload = FIXTURES[draw(st.sampled_from(sorted(FIXTURES)))]
    payload = draw(mutated(payload))
    if draw(st.integers(0, 9)) > 0:  # mostly about our repository, so it is routed to the channel
        repository = payload.get("repository") if isinstance(payload.get("repository"), dict) else {}
        payload["repository"] = {**repository, "full_name": "acme/api"}
    return key, payload


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=delivery())
def test_any_delivery_is_answered_and_slack_refuses_nothing_the_relay_sends(subscribed, caplog, event):
    bot = subscribed
    caplog.set_level(logging.ERROR)
    caplog.clear()
    key, payload = event
    body = json.dumps(payload).encode()
    answer = webhookkit.post(f"{bot.url}/bitbucket/webhook", key, body, WEBHOOK_SECRET)
    expected = 413 if len(body) > WEBHOOK_MAX_BYTES else 400 if relay.mismatch(key, payload) else 200  # a body must fit its key
    assert answer.status_code == expected, answer.text
    deadline = time.monotonic() + 10
    while not settled(bot):
        assert time.monotonic() < deadline, "the delivery was not relayed within 10 s"
        time.sleep(0.02)
    refused = [call for call in bot.slack.calls if call.method.startswith("chat.") and not call.ok]
    assert refused == [], [(c.method, c.response) for c in refused]
    assert bot.services.store.query("SELECT id, last_error FROM outbox WHERE state = 'parked'") == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
