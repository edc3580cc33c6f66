"""Protected environments end to end, on both databases: a deploy or rollback there (typed, a re-run of its deploy
pipeline, a "Deploy anyway" shown before the protection) becomes a request card in the channel; approvals come
from N different people with the role, never the one who asks; it runs once, however many clicks; Reject ends it
with a reason; a request expires after an hour; a branch that moved is asked about again; everything audited."""

import json

import pytest

from bot import deploys
from bot.core import ids
from bot.environments.jobs import EnvironmentsPace
from tests.deploykit import (
    CHANNEL, Clock, ask, card_text, cards, click_card, deploy_pipelines, grant, request_value, rerun_value, run_deploy_pipeline, said,
    seed,
)
from tests.harness import ADMIN, RunningBot, button, text_of

pytestmark = pytest.mark.both_backends

REQUESTER, ANN, BOB, STAGER = "UREQ", "UANN", "UBOB", "USTAGE"
QUICK = deploys.FollowerPace(first_interval=0.02, max_interval=0.1)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def bot(settings, slack, clock):
    running = RunningBot(settings, slack, clock=clock, parts=(QUICK,))
    yield running
    running.stop()


@pytest.fixture
def api(bitbucket, bot):
    hashes = seed(bitbucket)
    for user in (REQUESTER, ANN, BOB):
        grant(bot, user, "deployer")
    grant(bot, STAGER, "deployer:staging")
    assert ":shield:" in said(bot, "protect api production approvals:2")
    bitbucket.hashes = hashes
    return bitbucket


def audited(bot, action):
    return [e for e in bot.services.audit.recent(200) if e.action == action]


def the_card(slack, count=1):
    found = slack.wait_for(lambda: cards(slack) if len(cards(slack)) >= count else None)
    return found[count - 1]


def card_says(slack, words, count=1):
    return slack.wait_for(lambda: next((m for m in cards(slack)[count - 1:count] if words in card_text(m)), None))


def test_protect_is_for_admins_and_refuses_an_environment_the_repository_lacks(bot, api):
    assert "Only admins" in said(bot, "protect api staging approvals:1", user_id=ANN)
    assert "There is no environment `prod`" in said(bot, "protect api prod approvals:1")
    assert "`approvals:0` is not a number" in text_of(bot.command("protect api staging approvals:0", channel_id=CHANNEL).http.json())
    assert "Only admins" in said(bot, "unprotect api production", user_id=ANN)
    (entry,) = audited(bot, "protect")
    assert entry.target == "acme/api@Production" and json.loads(entry.detail) == {"approvals": 2, "role": "deployer"}


def test_a_deploy_becomes_a_request_that_two_others_approve_and_it_runs_once(bot, api, slack):
    answer = said(bot, "deploy api main to production", user_id=REQUESTER)
    assert "is protected" in answer and "Your request is in this channel" in answer
    card = the_card(slack)
    request_value(card, ids.APPROVE_DEPLOY_REQUEST)
    shown = card_text(card)
    assert f"<@{REQUESTER}> asks to deploy branch `main`" in shown and "*Production* of acme/api" in shown
    assert "3 commits since *Production* got `#1`" in shown and "Add login" in shown  # what ships
    assert "No approvals yet (0 of 2)" in shown and "`deployer:production` or `deployer`" in shown
    assert api.requests_to("POST", "/pipelines/") == []

    assert "the approvals must come from others" in click_card(bot, card, user_id=REQUESTER)
    assert "you do not have it" in click_card(bot, card, user_id=STAGER)  # deployer for staging only
    assert "you do not have it" in click_card(bot, card, user_id="UGUEST")
    assert "1 of 2" in click_card(bot, card, user_id=ANN)
    assert "1 of 2" in click_card(bot, card, user_id=ANN)  # the same person twice counts once
    card_says(slack, f"Approved by <@{ANN}> (1 of 2)")
    assert api.requests_to("POST", "/pipelines/") == []

    assert "the deploy started" in click_card(bot, card, user_id=BOB)
    assert "approved already" in click_card(bot, card, user_id=ADMIN) or "started" in click_card(bot, card, user_id=ADMIN)
    assert len(deploy_pipelines(api)) == 1
    started = card_says(slack, "Approved and started")
    assert f"Approved by <@{ANN}>, <@{BOB}> (2 of 2)" in card_text(started) and "`deploy-to-production`" in card_text(started)
    assert [b for b in started.blocks if b.get("type") == "actions"] == []  # no more buttons

    (deploy,) = [e for e in audited(bot, "deploy") if e.ok]
    assert deploy.user_id == REQUESTER and json.loads(deploy.detail)["approved_by"] == [ANN, BOB]
    assert [e.user_id for e in audited(bot, "approve deploy")] == [BOB, ANN, ANN]
    assert len(audited(bot, "request deploy")) == 1

    (pipeline,) = deploy_pipelines(api)  # the card follows the deploy to its end
    api.advance_pipeline("acme", "api", pipeline["uuid"], "COMPLETED", "SUCCESSFUL")
    ended = card_says(slack, "the deploy ended")
    assert "*successful*" in card_text(ended)


def test_reject_asks_why_ends_the_request_and_a_later_approval_changes_nothing(bot, api, slack):
    said(bot, "deploy api main to production", user_id=REQUESTER)
    card = the_card(slack)
    click_card(bot, card, user_id=ANN)
    bot.click(ids.REJECT_DEPLOY_REQUEST, request_value(card, ids.REJECT_DEPLOY_REQUEST), user_id=BOB, channel_id=CHANNEL, message_ts=card.ts)
    (view,) = slack.wait_for(lambda: slack.views)
    assert view.callback_id == ids.REJECT_REQUEST_MODAL
    meta = view.view["private_metadata"]
    empty = bot.submit_view(ids.REJECT_REQUEST_MODAL, {ids.REJECT_REASON_BLOCK: {ids.REJECT_REASON_INPUT: " "}}, meta, user_id=BOB)
    assert empty.json()["response_action"] == "errors"
    bot.submit_view(ids.REJECT_REQUEST_MODAL, {ids.REJECT_REASON_BLOCK: {ids.REJECT_REASON_INPUT: "not during the sale"}}, meta, user_id=BOB)
    rejected = card_says(slack, "*Rejected*")
    assert f"by <@{BOB}>" in card_text(rejected) and "not during the sale" in card_text(rejected)
    assert "was rejected; nothing changed" in click_card(bot, card, user_id=ADMIN)
    assert api.requests_to("POST", "/pipelines/") == []
    (entry,) = slack.wait_for(lambda: audited(bot, "reject deploy"))  # recorded just after the card changed
    assert entry.user_id == BOB and json.loads(entry.detail)["reason"] == "not during the sale"
    assert len(audited(bot, "approve deploy")) == 1


def test_an_approval_after_the_hour_is_refused_and_changes_nothing(bot, api, slack, clock):
    said(bot, "deploy api main to production", user_id=REQUESTER)
    card = the_card(slack)
    click_card(bot, card, user_id=ANN)
    clock.now += 3601
    assert "expired" in click_card(bot, card, user_id=BOB)
    card_says(slack, "*Expired*")
    assert api.requests_to("POST", "/pipelines/") == []
    assert [e.user_id for e in audited(bot, "approve deploy")] == [ANN]


def test_the_scheduler_closes_a_request_after_an_hour(settings, slack, bitbucket, clock):
    seed(bitbucket)
    running = RunningBot(settings, slack, clock=clock, scheduler=True, parts=(EnvironmentsPace(0.1),))
    try:
        grant(running, REQUESTER, "deployer")
        said(running, "protect api production approvals:1")
        said(running, "deploy api main to production", user_id=REQUESTER)
        the_card(slack)
        clock.now += 3599
        said(running, "locks")  # a moment for the job to look: not expired before its hour
        assert "*Expired*" not in card_text(cards(slack)[0])
        clock.now += 2
        expired = card_says(slack, "*Expired*")
        assert [b for b in expired.blocks if b.get("type") == "actions"] == []
        (entry,) = slack.wait_for(lambda: [e for e in running.services.audit.recent() if e.action == "deploy request expired"])
        assert entry.user_id == REQUESTER and entry.target == "acme/api@Production"
    finally:
        running.stop()


def test_a_branch_that_moved_is_asked_again_with_the_new_commits(bot, api, slack):
    said(bot, "deploy api main to production", user_id=REQUESTER)
    card = the_card(slack)
    newer = api.add_commit("acme", "api", "main", message="Hotfix the login page")
    answer = click_card(bot, card, user_id=ANN)
    assert "moved since this was asked" in answer and "Your approval was not counted" in answer
    card_says(slack, "*Asked again*")
    again = the_card(slack, 2)
    shown = card_text(again)
    assert "1 commit new" in shown and "Hotfix the login page" in shown and "No approvals yet (0 of 2)" in shown
    assert f"<@{REQUESTER}> asks to deploy branch `main` (`{newer[:12]}`)" in shown
    click_card(bot, again, user_id=ANN)
    click_card(bot, again, user_id=BOB)
    (pipeline,) = deploy_pipelines(api)
    assert pipeline["target"]["commit"]["hash"] == newer
    assert "already" in click_card(bot, card, user_id=BOB) or "asked again" in click_card(bot, card, user_id=BOB)
    assert len(deploy_pipelines(api)) == 1


def test_a_rollback_and_a_rerun_become_requests_and_a_freeze_still_refuses(bot, api, slack):
    api.add_deployment("acme", "api", "Production", commit=api.hashes["typo"], release_name="#2")
    said(bot, "rollback api production", user_id=REQUESTER)
    card = the_card(slack)
    assert "asks to roll back *Production*" in card_text(card) and "*A downgrade*" in card_text(card)
    click_card(bot, card, user_id=ANN)
    click_card(bot, card, user_id=BOB)
    (pipeline,) = deploy_pipelines(api)
    assert pipeline["target"]["commit"]["hash"] == api.hashes["first"]
    assert [e.ok for e in audited(bot, "rollback")] == [True]
    api.advance_pipeline("acme", "api", pipeline["uuid"], "COMPLETED", "SUCCESSFUL")
    card_says(slack, "the deploy ended")

    run_deploy_pipeline(api)
    sent = bot.click(ids.RERUN_PIPELINE, rerun_value(bot, 2), user_id=REQUESTER, channel_id=CHANNEL)
    assert "Your request is in this channel" in bot.answer_text(sent)
    assert "asks to deploy branch `main`" in card_text(the_card(slack, 2))

    said(bot, "freeze api production for 1h")
    refused = said(bot, "deploy api main to production", user_id=REQUESTER)
    assert "is frozen" in refused and len(cards(slack)) == 2


def test_a_deploy_anyway_shown_before_the_protection_becomes_a_request(bot, api, slack):
    said(bot, "unprotect api production")
    head = api.branches("acme", "api")["main"]
    api.add_commit_status("acme", "api", head, key="ci", state="FAILED", name="Unit tests")
    question = ask(bot, "deploy api main to production", user_id=ADMIN)
    anyway = button(question, ids.CONFIRM_DEPLOY)
    assert anyway["text"]["text"] == "Deploy anyway"
    said(bot, "protect api production approvals:1")
    sent = bot.click(ids.CONFIRM_DEPLOY, anyway["value"], user_id=ADMIN, channel_id=CHANNEL)
    assert "request for approval is in the channel" in bot.answer_text(sent, 2)
    card = the_card(slack)
    assert "The builds of this commit *failed*" in card_text(card)
    assert api.requests_to("POST", "/pipelines/") == []
    assert "already under way or done" in bot.answer_text(bot.click(ids.CONFIRM_DEPLOY, anyway["value"], user_id=ADMIN, channel_id=CHANNEL))
    click_card(bot, card, user_id=ANN)
    (entry,) = [e for e in audited(bot, "deploy") if e.ok]
    assert json.loads(entry.detail)["despite_failed_builds"] is True and entry.user_id == ADMIN


def test_an_approved_request_is_still_refused_by_someone_elses_lock(bot, api, slack):
    said(bot, "deploy api main to production", user_id=REQUESTER)
    card = the_card(slack)
    said(bot, "lock api production for 1h incident", user_id=ANN)
    click_card(bot, card, user_id=ANN)
    answer = click_card(bot, card, user_id=BOB)
    assert "nothing started" in answer and "is locked by" in answer
    failed = card_says(slack, "nothing was started")
    assert "incident" in card_text(failed)
    assert api.requests_to("POST", "/pipelines/") == []


def test_unprotect_lets_deploys_through_again(bot, api):
    assert "removed the protection" in said(bot, "unprotect api production")
    assert "Deploy *acme/api*" in said(bot, "deploy api main to production", user_id=REQUESTER)
    assert "was not protected" in said(bot, "unprotect api production")


def test_by_role_names_who_may_approve(bot, api, slack):
    grant(bot, "UREL", "releaser")
    said(bot, "protect api staging approvals:1 by:releaser")
    said(bot, "deploy api main to staging", user_id=REQUESTER)
    card = the_card(slack)
    assert "Needs 1 approval by `releaser`" in card_text(card)
    assert "you do not have it" in click_card(bot, card, user_id=ANN)  # a deployer, not a releaser
    assert "the deploy started" in click_card(bot, card, user_id="UREL")
    assert len(deploy_pipelines(api, "staging")) == 1


def announcements(slack) -> list[str]:
    return [text_of(m.to_api()) for m in slack.channel_messages(CHANNEL) if " forced a " in text_of(m.to_api())]


def test_an_admins_force_through_a_freeze_is_told_and_audited_alike_by_a_confirmation_and_by_an_approved_request(bot, api, slack):
    """Side by side, under one freeze of every environment (set by a deployer): the admin forces a deploy to Staging
    (a confirmation) and to Production (protected: a request, approved by two others). The channel hears the same
    words of both, naming the freeze's setter, its reason and the admin who forced it; both are audited alike."""
    said(bot, "freeze api all for 2h release day", user_id=REQUESTER)

    question = ask(bot, "deploy api main to staging --force")
    sent = bot.click(ids.CONFIRM_DEPLOY, button(question, ids.CONFIRM_DEPLOY)["value"], user_id=ADMIN, channel_id=CHANNEL)
    bot.answers(sent, 2)
    (by_confirmation,) = slack.wait_for(lambda: announcements(slack) or None)

    assert "Your request is in this channel" in said(bot, "deploy api main to production --force")
    card = the_card(slack)
    assert "an admin's `--force` through a freeze" in card_text(card)
    assert "1 of 2" in click_card(bot, card, user_id=ANN)
    assert announcements(slack) == [by_confirmation]  # nothing forced through yet
    assert "the deploy started" in click_card(bot, card, user_id=BOB)
    by_request = slack.wait_for(lambda: announcements(slack)[1] if len(announcements(slack)) == 2 else None)

    assert f"<@{ADMIN}> forced a deploy of acme/api to *Production* through the freeze set by <@{REQUESTER}>" in by_request
    assert "release day" in by_request
    assert by_request == by_confirmation.replace("*Staging*", "*Production*")  # one renderer, the same words
    assert len(deploy_pipelines(api, "staging")) == 1 and len(deploy_pipelines(api)) == 1

    deployed = {e.target: e for e in audited(bot, "deploy") if e.ok}
    staging, production = deployed["acme/api@Staging"], deployed["acme/api@Production"]
    forced = [{k: v for k, v in json.loads(e.detail).items() if k.startswith("forced")} for e in (staging, production)]
    assert forced[0] == forced[1] and forced[0]["forced_through"] == ["freeze"] and forced[0]["forced_through_freeze"]
    assert staging.user_id == production.user_id == ADMIN
    (request,) = audited(bot, "request deploy")
    assert json.loads(request.detail)["force"] is True
