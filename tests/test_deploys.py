"""Deploy and roll back from Slack, end to end: the real bot over HTTP, against the simulated Slack and Bitbucket."""

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests

from bot import deploys
from bot.core import ids
from tests.harness import ADMIN, RunningBot, button, text_of

pytestmark = pytest.mark.both_backends

CHANNEL = "C1"


QUICK = {"first_interval": 0.02, "max_interval": 0.1}  # the follower's pace, so a test does not wait seconds for a poll


def running(settings, slack, **pace) -> RunningBot:
    """The bot, its follower at a quick pace (or at `pace`), given to it as `serve` gives it its settings."""
    return RunningBot(settings, slack, parts=[deploys.FollowerPace(**{**QUICK, **pace})])


@pytest.fixture
def bot(settings, slack):
    started = running(settings, slack)
    yield started
    started.stop()


@pytest.fixture
def api(bitbucket):
    """acme/api with Test, Staging and Production, each with its deploy pipeline, a tag and a branch."""
    bitbucket.add_repository("acme", "api", branches=("main", "release/1.4"))
    for environment in ("Test", "Staging", "Production"):
        bitbucket.add_environment("acme", "api", environment)
        bitbucket.set_pipeline_script("acme", "api", f"deploy-to-{environment.lower()}")
    bitbucket.add_commit("acme", "api", "main", message="Release 1.4.0")
    bitbucket.add_tag("acme", "api", "v1.4.0", commit="main")
    return bitbucket


def ask(bot, text, *, user_id=ADMIN):
    """Type a command; return the (private) answer."""
    return bot.answers(bot.command(text, user_id=user_id, channel_id=CHANNEL))[0]


def confirm(bot, question, action_id, *, user_id=ADMIN):
    """Click the confirmation's button; return the answer that replaced it."""
    sent = bot.click(action_id, button(question, action_id)["value"], user_id=user_id, channel_id=CHANNEL)
    return bot.answers(sent)[-1]


def pipelines_started(bitbucket):
    return [r.json for r in bitbucket.requests_to("POST", "/pipelines/")]


def only_pipeline(bitbucket):
    (pipeline,) = bitbucket.pipelines("acme", "api")
    return pipeline


def deploy_card(slack):
    """The deploy's one top-level message in the channel, once posted."""
    slack.wait_for(lambda: [m for m in slack.channel_messages(CHANNEL) if not m.thread_ts])
    (card,) = [m for m in slack.channel_messages(CHANNEL) if not m.thread_ts]
    return card


def wait_for_thread(slack, card, text, timeout=10.0):
    """The replies in the card's thread, once one contains `text`."""
    def replies():
        found = [m.text for m in slack.thread(CHANNEL, card.ts) if m.ts != card.ts]
        return found if any(text in reply for reply in found) else None

    return slack.wait_for(replies, timeout=timeout)


def wait_for_card(slack, card, text, timeout=10.0):
    return slack.wait_for(lambda: text in slack.message(CHANNEL, card.ts).text and slack.message(CHANNEL, card.ts), timeout=timeout)


def start_deploy(bot, text):
    question = ask(bot, text)
    note = confirm(bot, question, ids.CONFIRM_DEPLOY)
    assert "started" in text_of(note), text_of(note)
    return question, note


# --- deploying a tag, a branch, a commit ---------------------------------------------------------------


def test_deploy_of_a_tag_asks_then_runs_the_custom_pipeline_and_reports_in_a_thread(bot, api, slack):
    tag_commit = api.branches("acme", "api")["main"]
    question = ask(bot, "deploy api v1.4.0 to PRODUCTION")
    asked = text_of(question)
    assert "tag `v1.4.0`" in asked and ":rotating_light: *Production* (production)" in asked
    assert f"`{tag_commit[:12]}`" in asked and "`deploy-to-production`" in asked
    assert pipelines_started(api) == []  # nothing runs before the click

    note = confirm(bot, question, ids.CONFIRM_DEPLOY)
    assert "Pipeline #1" in text_of(note) and "started" in text_of(note)
    (body,) = pipelines_started(api)
    assert body["target"] == {
        "type": "pipeline_ref_target", "ref_type": "tag", "ref_name": "v1.4.0",
        "commit": {"type": "commit", "hash": tag_commit},
        "selector": {"type": "custom", "pattern": "deploy-to-production"},
    }

    card = deploy_card(slack)
    assert "v1.4.0" in card.text and "Production" in card.text and f"<@{ADMIN}>" in card.text
    assert "https://bitbucket.org/acme/api/pipelines/results/1" in json.dumps(card.blocks)
    assert "waiting to start" in card.text

    pipeline = only_pipeline(api)
    api.advance_pipeline("acme", "api", pipeline["uuid"], "IN_PROGRESS")
    wait_for_thread(slack, card, "is running")
    wait_for_card(slack, card, "running")
    api.advance_pipeline("acme", "api", pipeline["uuid"], "COMPLETED", "SUCCESSFUL")
    replies = wait_for_thread(slack, card, "finished")
    assert "running" in replies[0] and "successful" in replies[-1] and len(replies) == 2
    assert "successful" in wait_for_card(slack, card, "successful").text

    (entry,) = [e for e in bot.services.audit.recent() if e.action == "deploy"]
    assert entry.ok and entry.user_id == ADMIN and entry.target == "acme/api@Production"
    assert json.loads(entry.detail)["commit"] == tag_commit and "pipeline #1" in entry.result


def test_deploy_of_a_branch_uses_a_branch_target(bot, api, slack):
    start_deploy(bot, "deploy acme/api release/1.4 to staging")
    (body,) = pipelines_started(api)
    assert body["target"]["ref_type"] == "branch" and body["target"]["ref_name"] == "release/1.4"
    assert body["target"]["commit"]["hash"] == api.branches("acme", "api")["release/1.4"]
    assert body["target"]["selector"]["pattern"] == "deploy-to-staging"
    assert ":rotating_light:" not in deploy_card(slack).text


def test_deploy_of_a_commit_uses_a_commit_target(bot, api, slack):
    commit = api.branches("acme", "api")["release/1.4"]
    question, _ = start_deploy(bot, f"deploy api {commit[:10]} to test")
    assert "commit `" in text_of(question)
    (body,) = pipelines_started(api)
    assert body["target"] == {
        "type": "pipeline_commit_target", "commit": {"type": "commit", "hash": commit},
        "selector": {"type": "custom", "pattern": "deploy-to-test"},
    }


# --- refusals ---------------------------------------------------------------------------------------------


def test_without_the_role_nothing_is_offered(bot, api):
    answer = text_of(ask(bot, "deploy api v1.4.0 to production", user_id="U2"))
    assert "`deployer:production` or `deployer`" in answer
    assert pipelines_started(api) == []


def test_a_scoped_role_allows_its_environment_only(bot, api):
    ask(bot, f"grant <@U2> deployer:staging acme/api")
    staging = ask(bot, "deploy api v1.4.0 to Staging", user_id="U2")
    assert button(staging, ids.CONFIRM_DEPLOY)
    refused = text_of(ask(bot, "deploy api v1.4.0 to production", user_id="U2"))
    assert "`deployer:production` or `deployer`" in refused
    assert pipelines_started(api) == []


def test_the_role_is_checked_again_on_the_click(bot, api):
    ask(bot, "grant <@U2> deployer acme/api")
    question = ask(bot, "deploy api v1.4.0 to production", user_id="U2")
    ask(bot, "revoke <@U2> deployer acme/api")
    answer = confirm(bot, question, ids.CONFIRM_DEPLOY, user_id="U2")
    assert "role" in text_of(answer)
    assert pipelines_started(api) == []


def test_someone_else_clicking_a_deploy_confirmation_needs_the_role_too(bot, api):
    question = ask(bot, "deploy api v1.4.0 to production")  # asked by an admin
    answer = confirm(bot, question, ids.CONFIRM_DEPLOY, user_id="U2")
    assert "`deployer:production` or `deployer`" in text_of(answer)
    assert pipelines_started(api) == [] and bot.services.store.query("SELECT id FROM deploys") == []


def test_the_role_is_checked_again_on_the_click_of_a_rollback_and_for_someone_else(bot, api):
    seed_history(api)
    ask(bot, "grant <@U2> deployer:production acme/api")
    question = ask(bot, "rollback api production", user_id="U2")
    ask(bot, "revoke <@U2> deployer:production acme/api")
    assert "`deployer:production` or `deployer`" in text_of(confirm(bot, question, ids.CONFIRM_ROLLBACK, user_id="U2"))
    by_admin = ask(bot, "rollback api production")
    assert "`deployer:production` or `deployer`" in text_of(confirm(bot, by_admin, ids.CONFIRM_ROLLBACK, user_id="U3"))
    assert pipelines_started(api) == [] and bot.services.store.query("SELECT id FROM deploys") == []


def test_an_unknown_environment_gets_the_list_of_real_ones(bot, api):
    answer = text_of(ask(bot, "deploy api v1.4.0 to prod"))
    assert "`prod`" in answer and "`Test`, `Staging`, `Production`" in answer
    assert pipelines_started(api) == []


def test_an_unknown_ref_is_refused_before_anything_starts(bot, api):
    answer = text_of(ask(bot, "deploy api v9.9.9 to production"))
    assert "`v9.9.9` is not a branch, tag or commit" in answer
    assert pipelines_started(api) == []


def test_a_second_deploy_while_one_runs_is_refused_when_typed_and_when_clicked(bot, api, slack):
    early_question = ask(bot, "deploy api main to production")  # asked before anything runs
    start_deploy(bot, "deploy api v1.4.0 to production")
    deploy_card(slack)

    typed = text_of(ask(bot, "deploy api main to Production"))
    assert "already under way" in typed and "#1" in typed
    clicked = text_of(confirm(bot, early_question, ids.CONFIRM_DEPLOY))
    assert "already under way" in clicked
    assert len(pipelines_started(api)) == 1

    ask(bot, "deploy api main to staging")  # another environment is free
    api.advance_pipeline("acme", "api", only_pipeline(api)["uuid"], "COMPLETED", "SUCCESSFUL")
    wait_for_card(slack, deploy_card(slack), "successful")
    start_deploy(bot, "deploy api main to production")  # free again once it finished
    assert len(pipelines_started(api)) == 2


def test_a_pipeline_running_outside_the_bot_is_refused(bot, api):
    someone = api.add_user("carol")
    api.allow_bearer("carols-token", user=someone)
    target = {"type": "pipeline_ref_target", "ref_type": "branch", "ref_name": "main",
              "selector": {"type": "custom", "pattern": "deploy-to-production"}}
    started = requests.post(f"{api.base_url}/repositories/acme/api/pipelines/", json={"target": target},
                            headers={"Authorization": "Bearer carols-token"}, timeout=5)
    assert started.status_code == 201
    answer = text_of(ask(bot, "deploy api main to production"))
    assert "already running" in answer and "not started from here" in answer


def test_two_confirmations_at_once_start_one_pipeline(bot, api, slack):
    first, second = ask(bot, "deploy api v1.4.0 to production"), ask(bot, "deploy api main to production")
    sent = [
        bot.click(ids.CONFIRM_DEPLOY, button(question, ids.CONFIRM_DEPLOY)["value"], user_id=ADMIN, channel_id=CHANNEL)
        for question in (first, second)
    ]
    answers = [text_of(bot.answers(s)[-1]) for s in sent]
    assert len(pipelines_started(api)) == 1
    assert sum("progress follows" in a for a in answers) == 1 and sum("already" in a for a in answers) == 1


def test_a_missing_pipeline_says_what_to_check(bot, api):
    api.add_environment("acme", "api", "Sandbox", environment_type="Test")  # no deploy-to-sandbox pipeline
    answer = text_of(confirm(bot, ask(bot, "deploy api v1.4.0 to sandbox"), ids.CONFIRM_DEPLOY))
    assert "Nothing was started" in answer and "`deploy-to-sandbox`" in answer
    (entry,) = [e for e in bot.services.audit.recent() if e.action == "deploy"]
    assert not entry.ok
    ask(bot, "deploy api v1.4.0 to production")  # the environment lock was released


def test_an_unclear_answer_to_the_trigger_is_checked_before_the_environment_is_freed(bot, api):
    api.fail_next("POST", r"/pipelines/$", status=502)  # Bitbucket may or may not have started it
    answer = text_of(confirm(bot, ask(bot, "deploy api v1.4.0 to test"), ids.CONFIRM_DEPLOY))
    assert "checking whether the pipeline started" in answer and "Nothing was started" not in answer
    # The follower looks at once, finds no pipeline for that commit, and frees the environment.
    bot.slack.wait_for(
        lambda: bot.services.store.query_one("SELECT phase FROM deploys")["phase"] == "NOT_STARTED", timeout=10
    )
    assert button(ask(bot, "deploy api v1.4.0 to test"), ids.CONFIRM_DEPLOY)  # free again: a new confirmation


def test_in_a_channel_the_bot_cannot_post_in_the_deployer_hears_directly(bot, api, slack):
    slack.set_channel_error(CHANNEL, "not_in_channel")  # a private channel the bot was never invited to
    start_deploy(bot, "deploy api v1.4.0 to test")
    direct = slack.wait_for(lambda: slack.channel_messages(ADMIN))
    assert "acme/api" in direct[0].text and "meant for" in str(direct[0].blocks)


# --- outcomes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("result, word", [("FAILED", "failed"), ("STOPPED", "stopped")])
def test_a_failed_or_stopped_pipeline_is_reported_as_such(bot, api, slack, result, word):
    start_deploy(bot, "deploy api v1.4.0 to production")
    card = deploy_card(slack)
    uuid = only_pipeline(api)["uuid"]
    api.advance_pipeline("acme", "api", uuid, "IN_PROGRESS")
    api.advance_pipeline("acme", "api", uuid, "COMPLETED", result)
    replies = wait_for_thread(slack, card, "finished")
    assert f"*{word}*" in replies[-1] and "successful" not in " ".join(replies)
    assert word in wait_for_card(slack, card, word).text


def test_the_follower_gives_up_after_its_time_limit(api, slack, settings):
    bot = running(settings, slack, time_limit=0.3)
    try:
        start_deploy(bot, "deploy api v1.4.0 to production")
        card = deploy_card(slack)
        replies = wait_for_thread(slack, card, "Stopped following")
        assert "check it in Bitbucket" in replies[-1]
        assert "no longer followed" in wait_for_card(slack, card, "no longer followed").text
        # The bot no longer holds Production, but the pipeline itself still runs in Bitbucket.
        answer = text_of(ask(bot, "deploy api main to production"))
        assert "already under way" not in answer and "already running" in answer
    finally:
        bot.stop()


def test_following_survives_a_restart(api, slack, settings):
    first = running(settings, slack)
    try:
        start_deploy(first, "deploy api v1.4.0 to production")
        card = deploy_card(slack)
    finally:
        first.stop()
    uuid = only_pipeline(api)["uuid"]
    api.advance_pipeline("acme", "api", uuid, "IN_PROGRESS")
    api.advance_pipeline("acme", "api", uuid, "COMPLETED", "SUCCESSFUL")  # while the bot was down

    second = running(settings, slack)
    try:
        replies = wait_for_thread(slack, card, "finished")
        assert "successful" in replies[-1]
        assert "successful" in wait_for_card(slack, card, "successful").text
        assert len([m for m in slack.channel_messages(CHANNEL) if not m.thread_ts]) == 1  # the same message, updated
    finally:
        second.stop()


# --- rollback ---------------------------------------------------------------------------------------------


def seed_history(bitbucket):
    """Production: c1 (#11) ok, c2 (#12) ok, c3 (#13) failed, c2 again (#14) ok: the current release."""
    now = datetime.now(timezone.utc)
    main = bitbucket.branches("acme", "api")["main"]
    c1 = bitbucket.add_commit("acme", "api", "main", message="one")
    c2 = bitbucket.add_commit("acme", "api", "main", message="two")
    c3 = bitbucket.add_commit("acme", "api", "main", message="three")
    history = [("#11", c1, 5, "SUCCESSFUL"), ("#12", c2, 4, "SUCCESSFUL"), ("#13", c3, 3, "FAILED"), ("#14", c2, 2, "SUCCESSFUL")]
    for name, commit, days, status in history:
        bitbucket.add_deployment(
            "acme", "api", "Production", commit=commit, release_name=name, status=status,
            completed_on=now - timedelta(days=days), deployer="alice",
        )
    bitbucket.add_deployment("acme", "api", "Staging", commit=main, release_name="#15", completed_on=now - timedelta(days=1), deployer="bob")
    return c1, c2


def test_rollback_puts_back_the_last_successful_release_before_the_current_one(bot, api, slack):
    c1, c2 = seed_history(api)
    question = ask(bot, "rollback api production")
    asked = text_of(question)
    assert f"from `#14` (`{c2[:12]}`) back to `#11` (`{c1[:12]}`)" in asked
    assert ":rotating_light:" in asked

    note = confirm(bot, question, ids.CONFIRM_ROLLBACK)
    assert "started" in text_of(note)
    (body,) = pipelines_started(api)
    assert body["target"] == {
        "type": "pipeline_commit_target", "commit": {"type": "commit", "hash": c1},
        "selector": {"type": "custom", "pattern": "deploy-to-production"},
    }
    card = deploy_card(slack)
    assert "Rollback" in card.text and "#14" in card.text and "#11" in card.text
    api.advance_pipeline("acme", "api", only_pipeline(api)["uuid"], "COMPLETED", "SUCCESSFUL")
    wait_for_thread(slack, card, "finished")
    (entry,) = [e for e in bot.services.audit.recent() if e.action == "rollback"]
    assert entry.ok and json.loads(entry.detail)["commit"] == c1


def test_rollback_without_an_earlier_release_says_so(bot, api):
    assert "nothing to roll back" in text_of(ask(bot, "rollback api production"))
    api.add_deployment("acme", "api", "Staging", commit="main", release_name="#1", deployer="bob")
    answer = text_of(ask(bot, "rollback api staging"))
    assert "no other successful release before `#1`" in answer
    assert pipelines_started(api) == []


def test_rollback_refuses_when_the_environment_changed_since_the_question(bot, api, slack):
    seed_history(api)
    question = ask(bot, "rollback api production")
    api.add_deployment("acme", "api", "Production", commit="main", release_name="#16", deployer="bob")
    assert "has changed since you asked" in text_of(confirm(bot, question, ids.CONFIRM_ROLLBACK))
    assert pipelines_started(api) == []


# --- the overview -----------------------------------------------------------------------------------------


def test_deployments_lists_each_environment_and_its_current_release(bot, api):
    seed_history(api)
    answer = ask(bot, "deployments api")
    sections = [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"]
    test, staging, production = sections
    assert "Nothing deployed yet" in test
    assert "Current: #15" in staging and "by Bob" in staging and "successful" in staging
    assert ":rotating_light: *Production*" in production and "Current: #14" in production and "2d ago by Alice" in production
