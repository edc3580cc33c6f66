"""What ships, end to end: every deploy question (and the dry run) names the commits between what runs in the
environment and the ref, with their pull requests, and warns of a downgrade; `/bb where` says what runs where and
whether you may deploy; the simulated Bitbucket answers the two calls as documented."""

import pytest

from bot import deploys
from bot.bitbucket import BearerToken, BitbucketClient, NotFound
from bot.core import ids
from bot.deploys import records as deploy_records
from tests.deploykit import CHANNEL, Clock, ask, deploy_pipelines, grant, run_deploy_pipeline, said, seed
from tests.harness import ADMIN, BITBUCKET_TOKEN, RunningBot, button, text_of

pytestmark = pytest.mark.both_backends

DEPLOYER = "UDEPLOY"


@pytest.fixture
def bot(settings, slack):
    running = RunningBot(settings, slack, clock=Clock(), parts=(deploys.FollowerPace(first_interval=0.02, max_interval=0.1),))
    yield running
    running.stop()


@pytest.fixture
def api(bitbucket):
    return seed(bitbucket)


def client(bitbucket):
    return BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN), max_retries=0)


# --- the simulated Bitbucket, through the client -----------------------------------------------------------------


def test_the_commits_between_two_revisions_newest_first_without_a_count(bitbucket, api):
    page = client(bitbucket).list_commits_between("acme", "api", api["typo"], api["first"], pagelen=2)
    assert [c["hash"] for c in page.values] == [api["typo"], api["merge"]] and page.total is None  # more follow
    whole = client(bitbucket).list_commits_between("acme", "api", api["typo"], api["first"])
    assert [c["hash"] for c in whole.values] == [api["typo"], api["merge"], api["feature"]] and whole.total == 3
    raw = bitbucket.requests_to("GET", "/commits/")[-1]
    assert raw.query["exclude"] == [api["first"]] and raw.path.endswith(f"/commits/{api['typo']}")
    assert client(bitbucket).list_commits_between("acme", "api", api["first"], api["typo"]).values == []
    with pytest.raises(NotFound):
        client(bitbucket).list_commits_between("acme", "api", "0" * 40, api["first"])


def test_the_pull_requests_of_a_commit_and_404_before_bitbucket_indexed_them(bitbucket, api):
    found = client(bitbucket).list_commit_pull_requests("acme", "api", api["feature"])
    assert [(pr["id"], pr["state"]) for pr in found] == [(1, "MERGED")]
    assert client(bitbucket).list_commit_pull_requests("acme", "api", api["typo"]) == []
    bitbucket.commit_links_indexed = False
    with pytest.raises(NotFound):
        client(bitbucket).list_commit_pull_requests("acme", "api", api["feature"])


def test_the_tags_on_commits_in_one_request_filtered_by_their_target_hash(bitbucket, api):
    bitbucket.add_tag("acme", "api", "v1.0.0", commit=api["first"])
    bitbucket.add_tag("acme", "api", "stable", commit=api["first"])
    bitbucket.add_tag("acme", "api", "v1.1.0", commit=api["merge"])
    found = client(bitbucket).tags_on_commits("acme", "api", [api["first"], api["typo"], api["first"], "not a hash"])
    assert found == {api["first"]: ["stable", "v1.0.0"]}  # the typo fix carries none; v1.1.0 is on another commit
    (sent,) = bitbucket.requests_to("GET", "/refs/tags")
    assert sent.query["q"] == [" OR ".join(f'target.hash = "{h}"' for h in sorted([api["first"], api["typo"]]))]
    assert client(bitbucket).tags_on_commits("acme", "api", []) == {} and len(bitbucket.requests_to("GET", "/refs/tags")) == 1


# --- every question says what ships ---------------------------------------------------------------------------


def test_a_deploy_confirmation_lists_what_ships_with_its_pull_requests(bot, api, bitbucket):
    shown = said(bot, "deploy api main to production")
    assert "What ships*: 3 commits since *Production* got `#1`" in shown
    assert "Fix a typo in the README" in shown and "Merged in feature/login (pull request #1)" in shown
    assert shown.count("#1 Add login") == 1  # the feature's own commit: Bitbucket's pull requests of a commit
    assert "pull-requests/1|#1>" in shown  # the merge commit: its own message names the pull request
    assert "downgrade" not in shown
    assert bitbucket.requests_to("GET", "/commits/")[0].query["exclude"][0].startswith(api["first"][:12])


def test_without_bitbucket_s_commit_links_the_merge_message_still_names_the_pull_request(bot, api, bitbucket):
    bitbucket.commit_links_indexed = False
    shown = said(bot, "deploy api main to production")
    assert "pull-requests/1|#1>" in shown and "Add login" not in shown  # the 404 is not an error
    assert len(bitbucket.requests_to("GET", "/pullrequests")) <= 1  # asked once, then no more


def test_a_ref_behind_what_runs_is_a_downgrade_and_says_what_would_be_taken_out(bot, api, bitbucket):
    bitbucket.add_deployment("acme", "api", "Production", commit=api["typo"], release_name="#2")
    shown = said(bot, f"deploy api {api['first'][:12]} to production")
    assert "*A downgrade*: this commit lacks 3 commits that *Production* runs now" in shown
    assert "Fix a typo in the README" in shown
    rollback = said(bot, "rollback api production")
    assert "Roll back *acme/api*" in rollback and "*A downgrade*" in rollback


def test_nothing_new_and_nothing_deployed_yet_are_said(bot, api, bitbucket):
    bitbucket.add_deployment("acme", "api", "Production", commit=api["typo"], release_name="#2")
    assert "nothing new: *Production* already runs this commit" in said(bot, "deploy api main to production")
    assert "nothing has been deployed to *Staging* yet" in said(bot, "deploy api main to staging")


def test_a_dry_run_shows_what_ships_and_the_pipeline_and_starts_nothing(bot, api, bitbucket):
    before = len(bitbucket.pipelines("acme", "api"))
    answer = ask(bot, "deploy api main to production --dry-run", user_id="UGUEST")
    shown = text_of(answer)
    assert "*Dry run*" in shown and "`deploy-to-production`" in shown and "Nothing was started" in shown
    assert "3 commits since *Production*" in shown
    assert "You may not deploy there now" in shown and "deployer" in shown  # a guest is told why
    assert [b for b in answer.get("blocks", []) if b.get("type") == "actions"] == []  # no button to press
    assert len(bitbucket.pipelines("acme", "api")) == before and bitbucket.requests_to("POST", "/pipelines/") == []
    assert "You may deploy there now" in said(bot, "deploy api main to production --dry-run")


def test_the_rerun_confirmation_of_a_deploy_pipeline_says_what_ships(bot, api, bitbucket):
    run_deploy_pipeline(bitbucket)
    listing = ask(bot, "builds api")
    rerun = [b for b in listing["blocks"] for b in (b.get("elements") or []) if b.get("action_id") == ids.RERUN_PIPELINE][0]
    again = bot.answer_text(bot.click(ids.RERUN_PIPELINE, rerun["value"], user_id=ADMIN, channel_id=CHANNEL))
    assert "Deploy *acme/api*" in again and "*What ships*" in again


# --- /bb where --------------------------------------------------------------------------------------------------


def test_where_says_what_runs_and_whether_you_may_deploy_and_why_not(bot, api):
    grant(bot, DEPLOYER, "deployer:staging")
    shown = said(bot, "where api", user_id=DEPLOYER)
    assert "*Staging*" in shown and "Production" in shown
    assert "Runs #1 · commit `" + api["first"][:12] + "` · deployed" in shown and "by Ann Author" in shown
    assert "Nothing deployed yet." in shown  # Staging
    assert "You may deploy there now" in shown  # Staging
    assert "You may not deploy there now" in shown and "`deployer:production` or `deployer`" in shown
    assert ":unlock: Not locked." in shown
    one = said(bot, "where api production", user_id=ADMIN)
    assert "Production" in one and "Staging" not in one and "You may deploy there now" in one
    said(bot, "freeze api production for 1h release day")
    said(bot, "protect api staging approvals:1")
    frozen = said(bot, "where api", user_id=DEPLOYER)
    assert ":ice_cube: Frozen by" in frozen and ":shield: Protected: 1 approval by other people" in frozen
    assert "You may ask: a deploy there needs 1 approval" in frozen
    assert "There is no environment `prod`" in said(bot, "where api prod")


def _section(shown_blocks: dict, environment: str) -> str:
    return next(text_of({"blocks": [b]}) for b in shown_blocks["blocks"] if f"*{environment}*" in text_of({"blocks": [b]}))


def test_where_names_the_tag_of_a_deployment_made_outside_the_bot_and_the_commit_of_an_untagged_one(bot, api, bitbucket, slack):
    """Production runs release #1 (deployed by Ann from Bitbucket, on a tagged commit); Staging runs #2 (a push
    pipeline, say, on the untagged typo fix). One tags query serves both; what the bot deployed itself needs none."""
    bitbucket.add_tag("acme", "api", "v1.0.0", commit=api["first"])
    bitbucket.add_deployment("acme", "api", "Staging", commit=api["typo"], release_name="#2")
    shown = ask(bot, "where api")
    production, staging = _section(shown, "Production"), _section(shown, "Staging")
    assert f"Runs #1 · commit `{api['first'][:12]}` · deployed" in production and "by Ann Author · tag `v1.0.0`" in production
    assert f"Runs #2 · commit `{api['typo'][:12]}` · deployed" in staging and " · tag" not in staging  # as before
    (tags,) = bitbucket.requests_to("GET", "/refs/tags")
    assert api["first"] in tags.query["q"][0] and api["typo"] in tags.query["q"][0] and " OR " in tags.query["q"][0]

    question = ask(bot, "deploy api v1.0.0 to staging")  # the bot's own deploy: its record names the tag
    sent = bot.click(ids.CONFIRM_DEPLOY, button(question, ids.CONFIRM_DEPLOY)["value"], user_id=ADMIN, channel_id=CHANNEL)
    bot.answers(sent)
    (pipeline,) = deploy_pipelines(bitbucket, "staging")
    bitbucket.advance_pipeline("acme", "api", pipeline["uuid"], "COMPLETED", "SUCCESSFUL")
    slack.wait_for(lambda: "staging" in deploy_records.last_successful(bot.services.store, "acme/api"))
    before = len(bitbucket.requests_to("GET", "/refs/tags"))
    staging = _section(ask(bot, "where api staging"), "Staging")
    assert f"tag `v1.0.0` (`{api['first'][:12]}`) · pipeline" in staging
    assert len(bitbucket.requests_to("GET", "/refs/tags")) == before  # nothing to look up
