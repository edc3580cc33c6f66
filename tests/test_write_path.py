"""The one write path, end to end: every write action, whichever button or command starts it, is refused the same
way without the role, through a frozen environment and on a second click, and is audited once. And the defects a
new user hit at the seams between entry points: a re-run that walked past a freeze, a guessed argument that became
a write, a Cancel that did not cancel."""

import json

import pytest

from bot.core import ids
from bot.bitbucket import BearerToken, BitbucketClient, ResolvedRef, pipeline_body, pipeline_target_for
from tests.harness import ADMIN, BITBUCKET_TOKEN, button, buttons_of, text_of

pytestmark = pytest.mark.both_backends

CHANNEL = "C1"
GUEST = "UGUEST"
MERGER = "UMERGER"
DEPLOYER = "UDEPLOY"
NEED_ROLE = "You need the"
ONCE = "already under way or done"


@pytest.fixture
def api(bitbucket):
    """acme/api (and acme/web) with an open pull request, Staging and Production with their deploy pipelines."""
    bitbucket.add_user("ann", "Ann Author")
    bitbucket.add_repository("acme", "api", branches=("main", "feature/login"))
    bitbucket.add_repository("acme", "web", branches=("main",))
    bitbucket.add_pull_request("acme", "api", title="Add login", source="feature/login", author="ann")
    bitbucket.add_pull_request("acme", "api", title="Second", source="main", destination="feature/login", author="ann")
    for environment in ("Staging", "Production"):
        bitbucket.add_environment("acme", "api", environment, environment_type=environment)
        bitbucket.set_pipeline_script("acme", "api", f"deploy-to-{environment.lower()}")
    return bitbucket


def ask(bot, text, *, user_id=ADMIN):
    return bot.answers(bot.command(text, user_id=user_id, channel_id=CHANNEL))[0]


def said(bot, text, *, user_id=ADMIN) -> str:
    return text_of(ask(bot, text, user_id=user_id))


def click(bot, message, action_id, *, user_id=ADMIN, value=None):
    sent = bot.click(action_id, value or button(message, action_id)["value"], user_id=user_id, channel_id=CHANNEL)
    return bot.answer_text(sent)


def writes(bitbucket):
    return [r for r in bitbucket.requests if r.method in ("POST", "PUT", "DELETE") and "/2.0/" in r.path]


def audited(bot, action):
    return [entry for entry in bot.services.audit.recent(200) if entry.action == action]


def grant(bot, user, role):
    assert "Granted" in said(bot, f"grant <@{user}> {role}") or "already" in said(bot, f"grant <@{user}> {role}")


def run_deploy_pipeline(bitbucket, environment="staging") -> dict:
    """A deploy pipeline that ran (from Bitbucket's own UI, say), finished."""
    client = BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN))
    head = bitbucket.branches("acme", "api")["main"]
    pipeline = client.trigger_pipeline("acme", "api", pipeline_body(pipeline_target_for(ResolvedRef("branch", "main", head), f"deploy-to-{environment}")))
    bitbucket.advance_pipeline("acme", "api", pipeline["uuid"], "COMPLETED", "SUCCESSFUL")
    return pipeline


def rerun_button(bot, number):
    listing = ask(bot, "builds api")
    return [b for b in buttons_of(listing) if b["action_id"] == ids.RERUN_PIPELINE and f'"n":{number}' in b["value"]][0]


# --- each write, refused the same way without the role, once per click, audited once -----------------------


def test_every_confirmed_write_needs_its_role_on_the_click_and_acts_once_and_is_audited_once(bot, api):
    confirmations = {
        "merge": (ask(bot, "merge api 1"), ids.CONFIRM_MERGE),
        "decline": (ask(bot, "decline api 2"), ids.CONFIRM_DECLINE),
        "deploy": (ask(bot, "deploy api main to staging"), ids.CONFIRM_DEPLOY),
    }
    for action, (question, action_id) in confirmations.items():
        before = len(writes(api))
        refused = click(bot, question, action_id, user_id=GUEST)
        assert NEED_ROLE in refused, (action, refused)
        assert len(writes(api)) == before, action
        first = click(bot, question, action_id)
        second = click(bot, question, action_id)
        assert ONCE in second, (action, first, second)
        assert len([e for e in audited(bot, action) if e.ok]) == 1, action
        assert [e for e in audited(bot, action) if not e.ok] == [], action


@pytest.mark.parametrize("command, action_id, former", [
    ("merge api 1", ids.CONFIRM_MERGE, "merge:{k}:acme/api#1"),
    ("decline api 1", ids.CONFIRM_DECLINE, "decline:{k}:acme/api#1"),
    ("deploy api main to staging", ids.CONFIRM_DEPLOY, "deploy:{k}"),
])
def test_a_confirmation_acted_on_before_the_upgrade_is_not_acted_on_again(bot, api, command, action_id, former):
    """The version before the one write path claimed a confirmation under its own key: a second click on such a
    button, after the upgrade, says it was done and writes nothing."""
    question = ask(bot, command)
    key = json.loads(button(question, action_id)["value"])["k"]
    assert bot.services.store.claim(former.format(k=key), ADMIN)  # what that version stored on the first click
    before = len(writes(api))
    assert ONCE in click(bot, question, action_id)
    assert len(writes(api)) == before


def test_writes_without_a_confirmation_need_their_role_and_are_audited_once(bot, api):
    before = len(writes(api))
    assert NEED_ROLE in said(bot, "tag api v1.0", user_id=GUEST)
    assert NEED_ROLE in said(bot, "rollback api staging", user_id=GUEST)
    assert NEED_ROLE in said(bot, "deploy api main to staging", user_id=GUEST)
    assert len(writes(api)) == before
    assert "v1.0" in said(bot, "tag api v1.0")
    assert [(e.target, e.ok) for e in audited(bot, "tag")] == [("acme/api@v1.0", True)]


def test_a_deploy_pipeline_rerun_needs_the_deployer_role_not_the_merger_role(bot, api):
    grant(bot, MERGER, "merger")
    run_deploy_pipeline(api)
    rerun = rerun_button(bot, 1)
    before = len(api.pipelines("acme", "api"))
    refused = click(bot, None, ids.RERUN_PIPELINE, user_id=MERGER, value=rerun["value"])
    assert NEED_ROLE in refused and "deployer" in refused
    assert len(api.pipelines("acme", "api")) == before


# --- defect 1: a re-run walked past a freeze ----------------------------------------------------------------


def test_rerun_of_a_deploy_pipeline_in_a_frozen_environment_is_refused_like_a_deploy(bot, api):
    run_deploy_pipeline(api)
    assert "froze deploys" in said(bot, "freeze api staging for 2h release day")
    rerun = rerun_button(bot, 1)
    before = len(api.pipelines("acme", "api"))
    answer = click(bot, None, ids.RERUN_PIPELINE, value=rerun["value"])
    assert "is frozen" in answer and "Nothing was started" in answer
    assert len(api.pipelines("acme", "api")) == before
    assert "is frozen" in said(bot, "deploy api main to staging")  # the same words as a deploy


def test_rerun_of_a_deploy_pipeline_asks_for_a_deploy_confirmation_and_starts_nothing_before(bot, api):
    run_deploy_pipeline(api)
    rerun = rerun_button(bot, 1)
    before = len(api.pipelines("acme", "api"))
    sent = bot.click(ids.RERUN_PIPELINE, rerun["value"], user_id=ADMIN, channel_id=CHANNEL)
    (question,) = bot.answers(sent)
    assert "Deploy *acme/api*" in text_of(question) and "deploy-to-staging" in text_of(question)
    assert len(api.pipelines("acme", "api")) == before  # nothing ran yet
    click(bot, question, ids.CONFIRM_DEPLOY)
    assert len(api.pipelines("acme", "api")) == before + 1
    assert api.pipelines("acme", "api")[-1]["target"]["selector"]["pattern"] == "deploy-to-staging"
    assert [e.ok for e in audited(bot, "deploy")] == [True]


def test_rerun_of_an_ordinary_pipeline_still_reruns_at_once(bot, api):
    client = BitbucketClient(api.base_url, BearerToken(BITBUCKET_TOKEN))
    head = api.branches("acme", "api")["main"]
    pipeline = client.trigger_pipeline("acme", "api", pipeline_body(pipeline_target_for(ResolvedRef("branch", "main", head))))
    api.advance_pipeline("acme", "api", pipeline["uuid"], "COMPLETED", "FAILED")
    assert "froze deploys" in said(bot, "freeze api all for 2h")  # a freeze stops deploys, not builds
    rerun = rerun_button(bot, 1)
    answer = click(bot, None, ids.RERUN_PIPELINE, value=rerun["value"])
    assert "re-ran" in answer.lower() or "#2" in answer
    assert len(api.pipelines("acme", "api")) == 2


# --- defect 2: a missing argument became a write ----------------------------------------------------------


def test_a_word_that_names_a_repository_is_never_taken_as_a_tag_name(bot, api):
    said(bot, "subscribe acme/api")
    before = len(writes(api))
    for typed in ("api", "web", "acme/web"):
        answer = said(bot, f"tag {typed}")
        assert "Which tag?" in answer and "/bb tag" in answer, answer
    assert [w for w in writes(api)[before:] if "/refs/tags" in w.path] == []
    assert "v2" in said(bot, "tag v2")  # a real tag name in the channel's one repository still works
    assert "v2" in [tag["name"] for tag in api.tags("acme", "api")]


def test_a_rollback_without_its_environment_asks_which_one(bot, api):
    said(bot, "subscribe acme/api")
    answer = said(bot, "rollback api")
    assert "Which environment of `acme/api`" in answer and "`staging`" in answer and "`production`" in answer


# --- defect 3: Cancel did not cancel -------------------------------------------------------------------------


def test_cancel_consumes_the_confirmation_a_later_click_declines_nothing_and_says_who_cancelled(bot, api):
    question = ask(bot, "decline api 1")
    sent = bot.click(ids.CANCEL, button(question, ids.CANCEL)["value"], user_id=ADMIN, channel_id=CHANNEL)
    bot.answers(sent)
    before = len(writes(api))
    answer = click(bot, question, ids.CONFIRM_DECLINE)  # the same message's Decline, from a second device
    assert "cancelled by" in answer and f"<@{ADMIN}>" in answer
    assert len(writes(api)) == before
    assert api.pull_request("acme", "api", 1)["state"] == "OPEN"
    assert audited(bot, "decline") == []


# --- crafted button values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("repo", ["../acme/api", "acme%2Fapi", "acme/api/../x", "{uuid}/api", "acme", ""])
def test_a_crafted_repository_in_a_button_reaches_nothing(bot, api, repo):
    before = len(api.requests)
    value = '{"r": "%s", "p": 1, "k": "abc"}' % repo
    answer = bot.answer_text(bot.click(ids.CONFIRM_DECLINE, value, user_id=ADMIN, channel_id=CHANNEL))
    assert "not readable" in answer
    assert len(api.requests) == before


# --- defect 8: merge strategies ----------------------------------------------------------------------------


def test_every_strategy_bitbucket_accepts_is_in_the_grammar_and_the_help():
    from bot.pull_requests.grammar import MERGE_STRATEGIES
    from bot.registry import COMMANDS

    assert MERGE_STRATEGIES == ("merge_commit", "squash", "fast_forward", "squash_fast_forward", "rebase_fast_forward", "rebase_merge")
    usage = COMMANDS.spec_for("merge").usage
    assert all(strategy in usage for strategy in MERGE_STRATEGIES)
    for strategy in MERGE_STRATEGIES:
        assert COMMANDS.parse(f"merge acme/api 1 {strategy}").args["strategy"] == strategy


def test_the_confirmation_offers_only_what_the_branch_allows_and_refuses_the_rest(bot, bitbucket):
    bitbucket.add_user("ann", "Ann Author")
    bitbucket.add_repository("acme", "infra", branches=("main", "fix"), merge_strategies=("squash", "fast_forward"))
    bitbucket.add_pull_request("acme", "infra", title="Fix", source="fix", author="ann")
    refused = said(bot, "merge acme/infra 1 rebase_merge")
    assert "does not allow `rebase_merge`" in refused and "`squash`" in refused and "`fast_forward`" in refused
    question = ask(bot, "merge acme/infra 1")
    offered = [b for b in buttons_of(question) if b["action_id"] == ids.CONFIRM_MERGE]
    assert [b["text"]["text"] for b in offered] == ["Merge (squash)", "Merge (fast_forward)"]
    click(bot, None, ids.CONFIRM_MERGE, value=offered[1]["value"])
    merges = bitbucket.requests_to("POST", "/merge")
    assert merges[-1].json["merge_strategy"] == "fast_forward"
    assert ONCE in click(bot, None, ids.CONFIRM_MERGE, value=offered[0]["value"])  # one confirmation, one merge
    assert len(bitbucket.requests_to("POST", "/merge")) == 1


def test_the_chosen_strategy_is_kept_through_the_failed_builds_gate(bot, bitbucket):
    bitbucket.add_user("ann", "Ann Author")
    bitbucket.add_repository("acme", "api", branches=("main", "feature/x"))
    bitbucket.add_pull_request("acme", "api", title="X", source="feature/x", author="ann")
    commit = bitbucket.pull_request("acme", "api", 1)["source"]["commit"]["hash"]
    bitbucket.add_commit_status("acme", "api", commit, key="ci", state="FAILED", name="Unit tests")
    gated = ask(bot, "merge acme/api 1 squash")
    assert "with `squash`" in text_of(gated) and "failed" in text_of(gated)
    anyway = button(gated, ids.ASK_MERGE_ANYWAY)
    assert '"s": "squash"' in anyway["value"] or '"s":"squash"' in anyway["value"]
