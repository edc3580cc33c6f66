"""The deploy follower on its own: a real store and client against the simulated Bitbucket, no Slack in between."""

import json
import time

import pytest

from bot import deploys
from bot.bitbucket import BearerToken, BitbucketClient, Environment, Pipeline, pipeline_body, pipeline_target_for
from bot.core.errors import UserError
from tests.harness import BITBUCKET_TOKEN

pytestmark = pytest.mark.both_backends

PRODUCTION = Environment("{prod}", "Production", "Production", 2)




@pytest.fixture
def client(bitbucket):
    bitbucket.add_repository("acme", "api")
    bitbucket.add_environment("acme", "api", "Production")
    bitbucket.set_pipeline_script("acme", "api", "deploy-to-production")
    return BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN), max_retries=0)


def plan(client):
    ref = client.resolve_ref("acme", "api", "main")
    return deploys.DeployPlan("deploy", "acme/api", PRODUCTION, ref, "deploy-to-production")


def follower(store, client, *, after: float = 0.0) -> deploys.DeployFollower:
    return deploys.DeployFollower(store, client, first_interval=0.01, max_interval=0.05, clock=lambda: time.time() + after)


def outbox_texts(store):
    return [json.loads(row["message"])["text"] for row in store.query("SELECT message FROM outbox ORDER BY id")]


def test_a_deploy_whose_pipeline_started_before_a_crash_is_adopted(store, client):
    the_plan = plan(client)
    deploy_id = deploys.begin(store, the_plan, user_id="U1", channel_id="C1")
    client.trigger_pipeline("acme", "api", pipeline_body(pipeline_target_for(the_plan.ref, the_plan.pipeline)))
    # ... and the process died before it could record the pipeline.
    assert follower(store, client).follow_due() == 0  # not yet: the trigger may still be under way
    follower(store, client, after=deploys.STARTING_GRACE + 1).follow_due()
    record = deploys.active(store, "acme/api", "production")
    assert record.id == deploy_id and record.pipeline_number == 1 and record.phase == "PENDING"
    assert len(outbox_texts(store)) == 1 and "acme/api" in outbox_texts(store)[0]


def test_a_deploy_whose_pipeline_never_started_frees_its_environment(store, client):
    deploys.begin(store, plan(client), user_id="U1", channel_id="C1")
    follower(store, client, after=deploys.STARTING_GRACE + 1).follow_due()
    assert deploys.active(store, "acme/api", "Production") is None
    assert outbox_texts(store) == []
    deploys.begin(store, plan(client), user_id="U1", channel_id="C1")  # a new deploy may start


def test_a_change_of_state_is_told_once_even_by_two_followers(store, client, bitbucket):
    the_plan = plan(client)
    deploy_id = deploys.begin(store, the_plan, user_id="U1", channel_id="C1")
    started = client.trigger_pipeline("acme", "api", pipeline_body(pipeline_target_for(the_plan.ref, the_plan.pipeline)))
    deploys.record_started(store, deploy_id, Pipeline.from_api(started))
    seen = deploys.active(store, "acme/api", "Production")
    bitbucket.advance_pipeline("acme", "api", started["uuid"], "IN_PROGRESS")
    follower(store, client).follow(seen)
    follower(store, client).follow(seen)  # a second process, with the same stale view
    texts = outbox_texts(store)
    assert len(texts) == 3 and sum("is running" in text for text in texts) == 1  # card, updated card, one reply


def test_two_deploys_to_one_environment_cannot_both_begin(store, client):
    deploys.begin(store, plan(client), user_id="U1", channel_id="C1")
    with pytest.raises(UserError, match="already under way"):
        deploys.begin(store, plan(client), user_id="U2", channel_id="C2")
