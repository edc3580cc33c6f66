"""Deploy freezes end to end: the real bot over HTTP against the simulated Slack and Bitbucket, on both databases."""

import json

import pytest

from bot import freezes
from bot.core import ids
from tests.deploykit import Clock
from tests.harness import ADMIN, RunningBot, button, text_of

pytestmark = pytest.mark.both_backends

CHANNEL = "C1"
DEPLOYER = "UDEPLOY"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def bot(settings, slack, clock):
    running = RunningBot(settings, slack, clock=clock)
    yield running
    running.stop()


@pytest.fixture
def api(bitbucket):
    bitbucket.add_repository("acme", "api", branches=("main",))
    for environment in ("Staging", "Production"):
        bitbucket.add_environment("acme", "api", environment, environment_type=environment)
        bitbucket.set_pipeline_script("acme", "api", f"deploy-to-{environment.lower()}")
    return bitbucket


def ask(bot, text, *, user_id=ADMIN):
    return bot.answers(bot.command(text, user_id=user_id, channel_id=CHANNEL))[0]


def said(bot, text, *, user_id=ADMIN):
    return text_of(ask(bot, text, user_id=user_id))


def audit(bot, action):
    return [e for e in bot.services.audit.recent() if e.action == action]


def test_a_frozen_environment_refuses_deploy_and_rollback_saying_who_why_and_until_when(bot, api, slack):
    answer = ask(bot, "freeze api production for 2h release day")
    assert answer["response_type"] == "in_channel"  # the team sees it
    told = text_of(answer)
    assert f"<@{ADMIN}> froze deploys to *Production* of acme/api" in told and "release day" in told and "(in 2h)" in told

    refused = said(bot, "deploy api main to production", user_id=ADMIN)
    assert "*Production* of acme/api is frozen by" in refused and f"<@{ADMIN}>" in refused
    assert "release day" in refused and "(in 2h)" in refused and "Nothing was started" in refused
    assert "is frozen" in said(bot, "rollback api production")
    assert "Deploy *acme/api*" in said(bot, "deploy api main to staging")  # other environments go on
    assert api.requests_to("POST", "/pipelines/") == []

    (entry,) = audit(bot, "freeze")
    assert entry.target == "acme/api@Production" and json.loads(entry.detail)["reason"] == "release day"
    assert "Production" in said(bot, "freezes api") and "release day" in said(bot, "freezes")

    assert "unfroze *Production* of acme/api" in said(bot, "unfreeze api production")
    assert "Deploy *acme/api*" in said(bot, "deploy api main to production")
    assert "No deploy freeze" in said(bot, "freezes api")


def test_a_freeze_ends_by_itself_at_its_time(bot, api, clock):
    ask(bot, "freeze api all for 30m")
    assert "is frozen" in said(bot, "deploy api main to staging")
    clock.now += 29 * 60
    assert "is frozen" in said(bot, "deploy api main to production")
    clock.now += 61
    assert "Deploy *acme/api*" in said(bot, "deploy api main to production")
    assert "No deploy freeze" in said(bot, "freezes")


def test_a_click_after_a_freeze_began_starts_nothing(bot, api):
    question = ask(bot, "deploy api main to production")
    ask(bot, "freeze api production")
    sent = bot.click(ids.CONFIRM_DEPLOY, button(question, ids.CONFIRM_DEPLOY)["value"], user_id=ADMIN, channel_id=CHANNEL)
    assert "is frozen" in bot.answer_text(sent) and "until someone unfreezes it" in bot.answer_text(sent)
    assert api.requests_to("POST", "/pipelines/") == []


def test_force_is_refused_to_non_admins_and_an_admins_force_is_audited_and_announced(bot, api, slack):
    ask(bot, f"grant <@{DEPLOYER}> deployer acme/api")
    ask(bot, "freeze api production for 1d change freeze")
    refused = said(bot, "deploy api main to production --force", user_id=DEPLOYER)
    assert "`--force` is for admins" in refused
    assert "is frozen" in said(bot, "deploy api main to production", user_id=DEPLOYER)

    question = ask(bot, "deploy api main to production --force")
    assert "Forced through a freeze" in text_of(question)
    confirm = button(question, ids.CONFIRM_DEPLOY)
    assert confirm["text"]["text"] == "Force deploy to Production"
    sent = bot.click(ids.CONFIRM_DEPLOY, confirm["value"], user_id=DEPLOYER, channel_id=CHANNEL)  # not an admin's click
    assert "Only admins" in bot.answer_text(sent)
    assert api.requests_to("POST", "/pipelines/") == []

    sent = bot.click(ids.CONFIRM_DEPLOY, confirm["value"], user_id=ADMIN, channel_id=CHANNEL)
    answers = bot.answers(sent, 2)
    assert len(api.requests_to("POST", "/pipelines/")) == 1
    announced = [a for a in answers if a.get("response_type") == "in_channel"]
    assert announced and "forced a deploy of acme/api to *Production* through the freeze" in text_of(announced[0])
    (entry,) = [e for e in audit(bot, "deploy") if e.ok]
    assert "forced_through_freeze" in json.loads(entry.detail)


def test_freezing_needs_the_deployer_role_for_that_environment(bot, api):
    ask(bot, f"grant <@{DEPLOYER}> deployer:staging acme/api")
    assert "`deployer:production` or `deployer`" in said(bot, "freeze api production", user_id=DEPLOYER)
    assert "You need the `deployer` role" in said(bot, "freeze api all", user_id=DEPLOYER)
    assert "froze deploys to *Staging*" in said(bot, "freeze api staging", user_id=DEPLOYER)
    assert "There is no environment `prod`" in said(bot, "freeze api prod")
    usage = bot.command("freeze api staging for soon", user_id=ADMIN, channel_id=CHANNEL).http.json()  # answered in the ack
    assert "`for soon` is not a duration" in text_of(usage) and "/bb freeze REPO ENV|all" in text_of(usage)


def test_an_admins_freeze_is_lifted_by_an_admin_only_and_says_so(bot, api):
    """A `deployer:production` cannot unfreeze (nor replace with a freeze of their own) the admin's freeze meant to
    stop them, then deploy; the freeze says who may lift it, in `/bb freezes` and in the refusal."""
    ask(bot, f"grant <@{DEPLOYER}> deployer:production acme/api")
    ask(bot, "freeze api production incident 42")
    refused = said(bot, "unfreeze api production", user_id=DEPLOYER)
    assert "set by an admin: only an admin can lift it" in refused and "Nothing was changed" in refused
    assert "only an admin can replace it" in said(bot, "freeze api production for 1m", user_id=DEPLOYER)
    assert "You need the `deployer` role" in said(bot, "unfreeze api all", user_id=DEPLOYER)
    deploy = said(bot, "deploy api main to production", user_id=DEPLOYER)
    assert "is frozen" in deploy and "only an admin can lift it" in deploy
    assert "only an admin" in said(bot, "freezes api", user_id=DEPLOYER)
    assert api.requests_to("POST", "/pipelines/") == [] and audit(bot, "unfreeze") == []
    assert "unfroze *Production* of acme/api" in said(bot, "unfreeze api production", user_id=ADMIN)


def test_a_deployers_own_freeze_is_lifted_by_a_deployer(bot, api):
    ask(bot, f"grant <@{DEPLOYER}> deployer:production acme/api")
    ask(bot, "grant <@UOTHER> deployer:production acme/api")
    said(bot, "freeze api production", user_id=DEPLOYER)
    listed = said(bot, "freezes api", user_id="UOTHER")
    assert "anyone who may deploy there can lift it" in listed
    assert "unfroze *Production* of acme/api" in said(bot, "unfreeze api production", user_id="UOTHER")


def test_a_freeze_outlives_a_restart_and_holds_on_another_replica(settings, slack, api, clock):
    first = RunningBot(settings, slack, clock=clock)
    try:
        ask(first, "freeze api production for 1h")
    finally:
        first.stop()
    second = RunningBot(settings, slack, clock=clock)
    try:
        assert "is frozen" in said(second, "deploy api main to production")
    finally:
        second.stop()
