"""Builds in chat end to end: `/bb builds`, Re-run and Stop, the merge gate and the deploy CI gate, against the
simulated Bitbucket (pipelines, steps, build statuses) and Slack."""

import json

import pytest

from bot.core import ids
from bot.bitbucket import BearerToken, BitbucketClient, ResolvedRef, pipeline_body, pipeline_target_for
from tests.harness import ADMIN, BITBUCKET_TOKEN, button, buttons_of, text_of

CHANNEL = "C1"
MERGER = "UMERGER"
GUEST = "UGUEST"


@pytest.fixture
def api(bitbucket):
    bitbucket.add_user("ann", "Ann Author")
    bitbucket.add_repository("acme", "api", branches=("main", "feature/login"))
    bitbucket.set_pipeline_script("acme", "api", None, "FAILED", steps=("Build", "Test"))
    bitbucket.add_environment("acme", "api", "Staging", environment_type="Staging")
    bitbucket.set_pipeline_script("acme", "api", "deploy-to-staging")
    return bitbucket


def run_pipeline(bitbucket, branch="main", *, finish=None) -> dict:
    """A pipeline on `branch`, started as Bitbucket's own users would (not through the bot)."""
    client = BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN))
    head = bitbucket.branches("acme", "api")[branch]
    pipeline = client.trigger_pipeline("acme", "api", pipeline_body(pipeline_target_for(ResolvedRef("branch", branch, head))))
    bitbucket.advance_pipeline("acme", "api", pipeline["uuid"], "IN_PROGRESS")
    if finish:
        bitbucket.advance_pipeline("acme", "api", pipeline["uuid"], "COMPLETED", finish)
    return pipeline


def ask(bot, text, *, user_id=ADMIN):
    return bot.answers(bot.command(text, user_id=user_id, channel_id=CHANNEL))[0]


def click(bot, message, action_id, *, user_id=ADMIN, count=1):
    sent = bot.click(action_id, button(message, action_id)["value"], user_id=user_id, channel_id=CHANNEL)
    return bot.answers(sent, count)


def started(bitbucket):
    return [r.json for r in bitbucket.requests_to("POST", "/pipelines/")]


# --- /bb builds, Re-run, Stop ------------------------------------------------------------------------------


def test_builds_lists_the_latest_pipelines_with_state_trigger_who_duration_and_buttons(bot, api):
    run_pipeline(api, finish="FAILED")
    run_pipeline(api, "feature/login")
    listing = ask(bot, "builds api")
    shown = text_of(listing)
    assert "#1" in shown and "failed" in shown and "#2" in shown and "running" in shown
    assert "branch `main`" in shown and "branch `feature/login`" in shown
    assert "manual by ChatOps bot" in shown and "took " in shown and "running for " in shown
    assert "https://bitbucket.org/acme/api/pipelines/results/1" in json.dumps(listing["blocks"])
    actions = [b["action_id"] for b in buttons_of(listing)]
    assert actions == [ids.STOP_PIPELINE, ids.RERUN_PIPELINE]  # newest first: #2 runs, #1 is done

    only_main = text_of(ask(bot, "builds api main"))
    assert "#1" in only_main and "#2" not in only_main
    assert api.requests_to("GET", "/pipelines/")[-1].query["target.ref_name"] == ["main"]


def test_rerun_makes_exactly_one_new_pipeline_on_the_same_target(bot, api, slack):
    first = run_pipeline(api, finish="FAILED")
    listing = ask(bot, "builds api")
    before = len(started(api))
    value = button(listing, ids.RERUN_PIPELINE)["value"]
    one = bot.click(ids.RERUN_PIPELINE, value, user_id=ADMIN, channel_id=CHANNEL, message_ts="1700000000.000001")
    two = bot.click(ids.RERUN_PIPELINE, value, user_id=ADMIN, channel_id=CHANNEL, message_ts="1700000000.000001")
    answers = bot.answers(one) + bot.answers(two)
    assert len(started(api)) == before + 1
    (body,) = started(api)[before:]
    assert body["target"] == {"type": "pipeline_ref_target", "ref_type": "branch", "ref_name": "main",
                              "commit": {"type": "commit", "hash": first["target"]["commit"]["hash"]}}
    texts = [text_of(a) for a in answers]
    assert any("re-ran pipeline #1 of acme/api" in t and "now #2" in t for t in texts)
    assert any("already under way or done" in t for t in texts)
    again = ask(bot, "builds api")  # a new list: a deliberate second re-run of #1 is possible
    sent = bot.click(ids.RERUN_PIPELINE, [b for b in buttons_of(again) if '"n":1' in b["value"]][0]["value"], user_id=ADMIN, channel_id=CHANNEL)
    assert "now #3" in bot.answer_text(sent)
    entries = [e for e in bot.services.audit.recent() if e.action == "rerun"]
    assert [e.result for e in entries] == ["pipeline #3 started", "pipeline #2 started"]
    assert all(e.ok and e.user_id == ADMIN for e in entries)


def test_rerun_keeps_a_custom_pipeline_and_its_commit(bot, api):
    client = BitbucketClient(api.base_url, BearerToken(BITBUCKET_TOKEN))
    head = api.branches("acme", "api")["main"]
    client.trigger_pipeline("acme", "api", pipeline_body(pipeline_target_for(ResolvedRef("commit", head, head), "deploy-to-staging")))
    api.advance_pipeline("acme", "api", "1", "COMPLETED", "FAILED")
    click(bot, ask(bot, "builds api"), ids.RERUN_PIPELINE)
    assert started(api)[-1]["target"] == {"type": "pipeline_commit_target", "commit": {"type": "commit", "hash": head},
                                          "selector": {"type": "custom", "pattern": "deploy-to-staging"}}


def test_stop_stops_a_running_pipeline(bot, api):
    pipeline = run_pipeline(api)
    (answer,) = click(bot, ask(bot, "builds api"), ids.STOP_PIPELINE)
    assert answer["response_type"] == "in_channel" and "stopped pipeline #1 of acme/api" in text_of(answer)
    assert api.pipelines("acme", "api")[0]["state"]["result"]["name"] == "STOPPED"
    assert len(api.requests_to("POST", "stopPipeline")) == 1
    assert api.requests_to("POST", "stopPipeline")[0].path.endswith(pipeline["uuid"].replace("{", "%7B").replace("}", "%7D") + "/stopPipeline")
    assert [e.result for e in bot.services.audit.recent() if e.action == "stop"] == ["stopped"]


def test_a_guests_click_is_refused_and_nothing_reaches_bitbucket(bot, api):
    run_pipeline(api, finish="FAILED")
    run_pipeline(api)
    listing = ask(bot, "builds api", user_id=GUEST)  # reading is for everyone
    before = len(api.requests)
    for action_id in (ids.RERUN_PIPELINE, ids.STOP_PIPELINE):
        (answer,) = click(bot, listing, action_id, user_id=GUEST)
        assert "You need the `merger` role on `acme/api`" in text_of(answer) and "/bb login" in text_of(answer)
    assert api.requests[before:] == []

    ask(bot, f"grant <@{MERGER}> merger acme/api")
    (answer,) = click(bot, listing, ids.STOP_PIPELINE, user_id=MERGER)
    assert "stopped pipeline #2" in text_of(answer)


def test_a_bitbucket_refusal_is_shown_in_its_own_words(bot, api):
    run_pipeline(api)
    listing = ask(bot, "builds api")
    api.fail_next("POST", "stopPipeline", status=403, body={"type": "error", "error": {"message": "Forbidden <b>", "detail": "no pipeline:write"}})
    (answer,) = click(bot, listing, ids.STOP_PIPELINE)
    assert "Bitbucket said: Forbidden &lt;b&gt; (no pipeline:write)" in text_of(answer)


# --- the merge gate -------------------------------------------------------------------------------------------


@pytest.fixture
def pull_request(api):
    return api.add_pull_request("acme", "api", title="Add login", source="feature/login", author="ann")["id"]


def test_a_merge_is_gated_on_a_red_build_and_an_admins_merge_anyway_is_audited(bot, api, slack, pull_request):
    api.add_commit_status("acme", "api", "feature/login", key="unit", state="FAILED", name="Unit tests <!channel>",
                          url="https://ci.example.com/unit")
    api.add_commit_status("acme", "api", "feature/login", key="lint", state="SUCCESSFUL", name="Lint")
    ask(bot, f"grant <@{MERGER}> merger acme/api")
    gated = ask(bot, "merge api 1", user_id=MERGER)
    shown = text_of(gated)
    assert "1 build failed" in shown and "Unit tests &lt;!channel&gt;" in shown and "Lint" in shown and "<!channel>" not in shown
    assert buttons_of(gated) == [] and "Only an admin can merge" in shown
    assert "/pullrequests/1/statuses" in api.requests_to("GET", "statuses")[-1].path

    gated = ask(bot, "merge api 1")
    assert [b["text"]["text"] for b in buttons_of(gated)] == ["Merge anyway…", "Cancel"]
    sent = bot.click(ids.ASK_MERGE_ANYWAY, button(gated, ids.ASK_MERGE_ANYWAY)["value"], user_id=MERGER, channel_id=CHANNEL)
    assert "Only admins" in bot.answer_text(sent)
    assert slack.views == []
    bot.click(ids.ASK_MERGE_ANYWAY, button(gated, ids.ASK_MERGE_ANYWAY)["value"], user_id=ADMIN, channel_id=CHANNEL)
    (view,) = slack.wait_for(lambda: slack.views)
    assert view.callback_id == ids.MERGE_ANYWAY_MODAL
    meta = view.view["private_metadata"]

    empty = bot.submit_view(ids.MERGE_ANYWAY_MODAL, {ids.MERGE_REASON_BLOCK: {ids.MERGE_REASON_INPUT: "  "}}, meta, user_id=ADMIN)
    assert empty.json()["response_action"] == "errors"
    assert api.pull_request("acme", "api", 1)["state"] == "OPEN"

    bot.submit_view(ids.MERGE_ANYWAY_MODAL, {ids.MERGE_REASON_BLOCK: {ids.MERGE_REASON_INPUT: "hotfix, flaky test"}}, meta, user_id=ADMIN)
    told = slack.wait_for(lambda: [m for m in slack.channel_messages(CHANNEL) if "anyway" in m.text])
    assert f"<@{ADMIN}> merged" in told[0].text and "hotfix, flaky test" in told[0].text
    assert api.pull_request("acme", "api", 1)["state"] == "MERGED"
    (entry,) = [e for e in bot.services.audit.recent() if e.action == "merge"]
    detail = json.loads(entry.detail)
    assert entry.ok and detail["anyway"] is True and detail["reason"] == "hotfix, flaky test"
    assert "Unit tests <!channel>: FAILED" in detail["builds"]


def test_running_builds_gate_too_and_green_ones_are_shown(bot, api, pull_request):
    api.add_commit_status("acme", "api", "feature/login", key="unit", state="INPROGRESS", name="Unit tests")
    assert "still running" in text_of(ask(bot, "merge api 1"))
    api.add_commit_status("acme", "api", "feature/login", key="unit", state="SUCCESSFUL", name="Unit tests")
    question = ask(bot, "merge api 1")
    assert "builds passed" in text_of(question) and button(question, ids.CONFIRM_MERGE)


def test_a_build_that_fails_after_the_question_stops_the_merge_button(bot, api, pull_request):
    question = ask(bot, "merge api 1")
    assert "no builds reported" in text_of(question)
    api.add_commit_status("acme", "api", "feature/login", key="unit", state="FAILED", name="Unit tests")
    (answer,) = click(bot, question, ids.CONFIRM_MERGE)
    assert "1 build failed" in text_of(answer)
    assert api.pull_request("acme", "api", 1)["state"] == "OPEN"


# --- the deploy CI gate ---------------------------------------------------------------------------------------


def test_deploying_a_commit_whose_builds_failed_needs_deploy_anyway(bot, api):
    api.add_commit_status("acme", "api", "main", key="unit", state="FAILED", name="Unit tests")
    question = ask(bot, "deploy api main to staging")
    assert "Builds of this commit *failed*" in text_of(question) and "Unit tests" in text_of(question)
    assert button(question, ids.CONFIRM_DEPLOY)["text"]["text"] == "Deploy anyway"
    click(bot, question, ids.CONFIRM_DEPLOY)
    assert len(started(api)) == 1
    (entry,) = [e for e in bot.services.audit.recent() if e.action == "deploy"]
    assert json.loads(entry.detail)["despite_failed_builds"] is True


def test_running_builds_are_shown_and_a_failure_before_the_click_asks_again(bot, api):
    api.add_commit_status("acme", "api", "main", key="unit", state="INPROGRESS", name="Unit tests")
    question = ask(bot, "deploy api main to staging")
    assert "Builds of this commit running" in text_of(question)
    assert button(question, ids.CONFIRM_DEPLOY)["text"]["text"] == "Deploy to Staging"
    api.add_commit_status("acme", "api", "main", key="unit", state="FAILED", name="Unit tests")
    (again,) = click(bot, question, ids.CONFIRM_DEPLOY)
    assert started(api) == [] and "*failed*" in text_of(again)
    click(bot, again, ids.CONFIRM_DEPLOY)
    assert len(started(api)) == 1


def test_an_admins_force_past_failed_builds_is_announced(bot, api):
    api.add_commit_status("acme", "api", "main", key="unit", state="FAILED", name="Unit tests")
    assert "`--force` is for admins" in text_of(ask(bot, "deploy api main to staging --force", user_id=MERGER))
    question = ask(bot, "deploy api main to staging --force")
    answers = click(bot, question, ids.CONFIRM_DEPLOY, count=2)
    (announced,) = [a for a in answers if a.get("response_type") == "in_channel"]
    assert "forced a deploy of acme/api to *Staging* past failed builds" in text_of(announced)
    assert len(started(api)) == 1
