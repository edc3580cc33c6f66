"""GET /metrics: Prometheus text that parses, moves when things happen, and wants METRICS_TOKEN when it is set."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from bot.core import outbox
from bot.core.render import notice
from tests import webhookkit
from tests.harness import WEBHOOK_SECRET, RunningBot, make_settings, text_of


def scrape(bot, token: str | None = None) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.get(f"{bot.url}/metrics", headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=5)


def samples(bot) -> dict:
    """{(sample name, frozenset of labels): value} of one scrape."""
    response = scrape(bot)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def deliver(bot, event_key: str, payload: dict, **options):
    return webhookkit.post(f"{bot.url}/bitbucket/webhook", event_key, payload, WEBHOOK_SECRET, **options)


def test_metrics_parse_and_name_what_the_runbook_alerts_on(bot):
    found = samples(bot)
    names = {name for name, _ in found}
    for expected in ("chatops_outbox_depth", "chatops_outbox_oldest_age_seconds", "chatops_rate_limit_waits_total",
                     "process_cpu_seconds_total"):
        assert expected in names, expected
    assert value(found, "chatops_outbox_depth") == 0


def test_webhook_deliveries_are_counted_at_intake_and_by_the_router(bot, bitbucket):
    before = samples(bot)
    payload = {"repository": webhookkit.repository_json(bitbucket, "acme", "api"), "issue": {"id": 1}}
    assert deliver(bot, "issue:created", payload, request_uuid="u-1").status_code == 200
    assert deliver(bot, "issue:created", payload, request_uuid="u-1").json()["duplicate"] is True
    assert webhookkit.post(f"{bot.url}/bitbucket/webhook", "issue:created", payload, "wrong-secret").status_code == 401
    assert deliver(bot, "issue:created", b"[1, 2]").status_code == 400

    def moved(result, event="issue:created"):
        return value(samples(bot), "chatops_webhook_deliveries_total", event=event, result=result) - value(
            before, "chatops_webhook_deliveries_total", event=event, result=result)

    assert moved("accepted") == 1 and moved("duplicate") == 1
    assert moved("refused", event="unverified") == 1 and moved("refused", event="malformed") == 1
    bot.slack.wait_for(lambda: moved("ignored") == 1, timeout=5)  # routed behind the answer: not a relayed event


def test_bitbucket_and_slack_calls_are_counted_with_their_latency_and_429s_waited_out(bot, bitbucket):
    bitbucket.add_repository("acme", "api")
    before = samples(bot)
    bitbucket.fail_next("GET", r"/pullrequests$", status=429)  # plain text, no Retry-After: the client backs off
    assert "No open pull requests in acme/api" in text_of(bot.answers(bot.command("prs acme/api"))[0])
    after = samples(bot)
    endpoint = {"method": "GET", "endpoint": "/repositories/{workspace}/{repo_slug}/pullrequests"}
    calls = lambda found, status: value(found, "chatops_bitbucket_calls_total", status=status, **endpoint)  # noqa: E731
    assert calls(after, "429") - calls(before, "429") == 1
    assert calls(after, "200") - calls(before, "200") == 1
    assert value(after, "chatops_bitbucket_call_seconds_count", **endpoint) - value(before, "chatops_bitbucket_call_seconds_count", **endpoint) == 2
    assert value(after, "chatops_rate_limit_waits_total", service="bitbucket") - value(before, "chatops_rate_limit_waits_total", service="bitbucket") == 1

    with bot.services.store.transaction() as db:
        outbox.enqueue(db, channel="C9", message=notice("hello"), key="metrics-test")
    found = bot.slack.wait_for(lambda: (s := samples(bot)) and value(s, "chatops_slack_calls_total", method="chat.postMessage", status="ok")
                               > value(before, "chatops_slack_calls_total", method="chat.postMessage", status="ok") and s, timeout=5)
    assert value(found, "chatops_slack_call_seconds_count", method="chat.postMessage") >= 1


def test_the_outbox_depth_and_its_oldest_item_while_slack_is_down(bot, slack):
    slack.outage = True
    with bot.services.store.transaction() as db:
        outbox.enqueue(db, channel="C1", message=notice("one"), key="a")
        outbox.enqueue(db, channel="C1", message=notice("two"), key="b")
    found = samples(bot)
    assert value(found, "chatops_outbox_depth") == 2
    assert 0 <= value(found, "chatops_outbox_oldest_age_seconds") < 60
    slack.outage = False


def test_metrics_token_is_required_as_a_bearer_token_when_set(tmp_path, slack, bitbucket):
    bot = RunningBot(make_settings(tmp_path, slack, bitbucket, metrics_token="scrape-me"), slack)
    try:
        assert scrape(bot).status_code == 401
        assert scrape(bot, "wrong").status_code == 401
        assert "metrics" in scrape(bot).headers["WWW-Authenticate"]
        answer = scrape(bot, "scrape-me")
        assert answer.status_code == 200 and "chatops_outbox_depth" in answer.text
    finally:
        bot.stop()
