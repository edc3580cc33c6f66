"""Two replicas on one PostgreSQL database: a request card shown by one is approved on the other, and approvals that
complete it at the same moment on both run the deploy once; a lock taken on one holds on the other."""

from __future__ import annotations

import threading

import pytest

from bot import deploys
from tests.conftest import database_settings
from tests.dbkit import PostgresSchema
from tests.deploykit import Clock, card_text, cards, click_card, deploy_pipelines, grant, request_value, said, seed
from tests.harness import ADMIN, RunningBot, make_settings

REQUESTER, ANN, BOB, CAROL = "UREQ", "UANN", "UBOB", "UCAROL"
QUICK = deploys.FollowerPace(first_interval=0.02, max_interval=0.1)


@pytest.fixture
def replicas(tmp_path, slack, bitbucket):
    schema = PostgresSchema()
    settings = make_settings(tmp_path, slack, bitbucket, **database_settings(schema.url))
    clock = Clock()
    first = RunningBot(settings, slack, clock=clock, parts=(QUICK,))
    second = RunningBot(settings, slack, clock=clock, parts=(QUICK,))
    yield first, second
    first.stop()
    second.stop()
    schema.drop()


@pytest.mark.parametrize("round", range(3))
def test_a_card_shown_by_one_replica_is_approved_on_the_other_and_runs_once(replicas, bitbucket, slack, round):
    first, second = replicas
    seed(bitbucket)
    for user in (REQUESTER, ANN, BOB, CAROL):
        grant(first, user, "deployer")
    said(first, "protect api production approvals:2")
    said(first, "deploy api main to production", user_id=REQUESTER)  # the card comes from the first replica
    card = slack.wait_for(lambda: cards(slack)[0] if cards(slack) else None)
    request_value(card)
    assert "1 of 2" in click_card(second, card, user_id=ANN)  # counted by the other replica

    answers = {}
    clicks = [threading.Thread(target=lambda bot=bot, user=user: answers.__setitem__(user, click_card(bot, card, user_id=user)))
              for bot, user in ((first, BOB), (second, CAROL), (second, ADMIN))]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(timeout=30)
    assert len(answers) == 3
    assert sum("the deploy started" in words for words in answers.values()) == 1, answers
    assert len(deploy_pipelines(bitbucket)) == 1
    assert len([e for e in first.services.audit.recent(200) if e.action == "deploy" and e.ok]) == 1
    slack.wait_for(lambda: "Approved and started" in card_text(cards(slack)[0]))
    assert len(cards(slack)) == 1


def test_a_lock_taken_on_one_replica_refuses_on_the_other(replicas, bitbucket):
    first, second = replicas
    seed(bitbucket)
    grant(first, ANN, "deployer")
    grant(first, BOB, "deployer")
    said(first, "lock api production for 1h release", user_id=ANN)
    assert "is locked by" in said(second, "deploy api main to production", user_id=BOB)
    assert "already locked by" in said(second, "lock api production", user_id=BOB)
    assert f"<@{ADMIN}> unlocked" in said(second, "unlock api production", user_id=ADMIN)
    assert "Deploy *acme/api*" in said(first, "deploy api main to production", user_id=BOB)
