"""Two `serve` processes on one PostgreSQL database, as behind a load balancer.

Webhooks alternate between them, and each is repeated to the other one (same X-Request-UUID, as
Bitbucket retries). One is killed with SIGKILL in the middle of the burst. Then every accepted delivery is
posted, none twice but the message in flight at the kill; a reminder due while both run is sent once; a
deploy's progress is posted once; and the survivor takes the scheduler over."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from bot import deploys, relay
from bot.bitbucket import BearerToken, BitbucketClient, Environment, Pipeline, pipeline_body, pipeline_target_for
from bot.registry import open_migrated
from bot.core.store import open_store
from tests import webhookkit
from tests.dbkit import PostgresSchema
from tests.harness import BITBUCKET_TOKEN, WEBHOOK_SECRET, text_of
from tests.process_harness import ServeProcess

CHANNEL, DEPLOYS = "C1", "CDEPLOY"
BURST = 40


@pytest.fixture
def shared(tmp_path, bitbucket):
    """The shared database, seeded as a team would have it: a subscription, a reminder due, a deploy running."""
    schema = PostgresSchema()
    bitbucket.add_repository("acme", "api")
    bitbucket.add_environment("acme", "api", "Production")
    bitbucket.set_pipeline_script("acme", "api", "deploy-to-production")
    an_hour_ago = bitbucket.clock() - timedelta(hours=1)
    bitbucket.add_pull_request("acme", "api", title="Waiting for a review", source="feature/old", author=bitbucket.add_user("ann", "Ann"),
                               created_on=an_hour_ago - timedelta(days=5), updated_on=an_hour_ago - timedelta(days=5))
    store = open_migrated(schema.url)
    relay.subscribe(store, channel_id=CHANNEL, repo="acme/api", families=("pushes",), branch_glob="", user_id="U1", now=time.time())
    # A reminder set an hour ago for ten minutes ago, every day: owed now, once (the clock's day does not matter).
    due = datetime.now(timezone.utc) - timedelta(minutes=10)
    store.execute(
        "INSERT INTO reminders (channel_id, repo, after_seconds, at, days, created_by, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (CHANNEL, "acme/api", 3600, due.strftime("%H:%M"), "mon,tue,wed,thu,fri,sat,sun", "U1", time.time() - 7200),
    )
    client = BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN), max_retries=0)
    ref = client.resolve_ref("acme", "api", "main")
    plan = deploys.DeployPlan("deploy", "acme/api", Environment("{prod}", "Production", "Production", 2), ref, "deploy-to-production")
    deploy_id = deploys.begin(store, plan, user_id="U1", channel_id=DEPLOYS)
    started = client.trigger_pipeline("acme", "api", pipeline_body(pipeline_target_for(plan.ref, plan.pipeline)))
    deploys.record_started(store, deploy_id, Pipeline.from_api(started))
    store.close()
    yield schema.url, started["uuid"]
    schema.drop()


def push(url: str, n: int):
    payload = webhookkit.push_payload("acme", "api", actor={"display_name": "Ann"}, branch="main", commits=[(f"{n:040x}", f"commit {n}")])
    return webhookkit.post(f"{url}/bitbucket/webhook", "repo:push", payload, WEBHOOK_SECRET, request_uuid=f"delivery-{n}", timeout=10)


def test_two_replicas_share_the_work_and_a_sigkill_loses_nothing(tmp_path, slack, bitbucket, shared):
    database, pipeline_uuid = shared
    first = ServeProcess(tmp_path / "a", slack, bitbucket, database=database, scheduler=True, REMINDER_TIMEZONE="UTC")
    second = ServeProcess(tmp_path / "b", slack, bitbucket, database=database, scheduler=True, REMINDER_TIMEZONE="UTC")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first.start()
    second.start()
    store = open_store(database)
    try:
        # The reminder: sent once, although both replicas run a scheduler loop.
        slack.wait_for(lambda: any("Waiting for a review" in text_of(m.to_api()) for m in slack.channel_messages(CHANNEL)), timeout=30)

        # The deploy: its pipeline moves, and each step is told once.
        bitbucket.advance_pipeline("acme", "api", pipeline_uuid, "IN_PROGRESS")
        time.sleep(6)  # a poll or so
        bitbucket.advance_pipeline("acme", "api", pipeline_uuid, "COMPLETED", "SUCCESSFUL")

        accepted: list[int] = []
        replicas = [first, second]
        for n in range(BURST):
            if n == BURST // 2:
                first.kill()
                replicas = [second]
            target = replicas[n % len(replicas)]
            answer = push(target.url, n)
            if answer.status_code == 200:
                accepted.append(n)
            repeat = push(replicas[(n + 1) % len(replicas)].url, n)  # Bitbucket repeating it to the other replica
            assert repeat.status_code == 200 and repeat.json()["duplicate"] is True

        assert len(accepted) == BURST
        slack.wait_for(lambda: set(webhookkit.commit_numbers(slack, CHANNEL)) >= set(accepted), timeout=60)
        told = webhookkit.commit_numbers(slack, CHANNEL)
        doubles = [n for n in set(told) if told.count(n) > 1]
        assert len(doubles) <= 1, f"posted twice: {doubles}"  # at most the one in flight at the SIGKILL
        assert sorted(set(told)) == accepted

        reminders_sent = [m for m in slack.channel_messages(CHANNEL) if "Waiting for a review" in text_of(m.to_api())]
        assert len(reminders_sent) == 1
        assert store.query("SELECT COUNT(*) AS n FROM reminder_sent")[0]["n"] == 1

        def finished_replies():
            return [m for m in slack.channel_messages(DEPLOYS) if m.thread_ts and "successful" in text_of(m.to_api()).lower()]

        slack.wait_for(finished_replies, timeout=60)
        time.sleep(1)
        assert len(finished_replies()) == 1
        running = [m for m in slack.channel_messages(DEPLOYS) if m.thread_ts and "running" in text_of(m.to_api()).lower()]
        assert len(running) <= 1

        # The survivor runs the scheduler within a minute of the kill.
        slack.wait_for(lambda: store.query("SELECT owner FROM leases WHERE name = 'scheduler' AND owner NOT LIKE ?",
                                           (f"%:{first.pid}:%",)), timeout=60)
    finally:
        store.close()
        first.stop()
        second.stop()
