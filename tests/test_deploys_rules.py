"""The pure middle of deploys: environment matching, the rollback choice, pipeline states, backoff, rendering."""

from datetime import datetime, timedelta, timezone

import pytest

from bot.deploys import render as deploy_render
from bot import deploys
from bot.bitbucket import Account, Deployment, Environment, Pipeline, ResolvedRef
from bot.core.errors import UserError

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
TEST = Environment("{e-test}", "Test", "Test", 0)
STAGING = Environment("{e-staging}", "Staging", "Staging", 1)
PRODUCTION = Environment("{e-prod}", "Production", "Production", 2)


def deployment(env, commit, days_ago, *, status="SUCCESSFUL", state="COMPLETED", name=None, uuid=None):
    when = NOW - timedelta(days=days_ago)
    return Deployment(
        uuid=uuid or f"{{d-{commit}-{days_ago}}}",
        environment_uuid=env.uuid.upper(),  # Bitbucket's uuids may differ in case and braces
        state=state,
        status=status if state == "COMPLETED" else None,
        release_name=name or f"#{100 - days_ago}",
        commit=commit,
        pipeline_url=None,
        deployer=Account("Alice"),
        started_on=when - timedelta(minutes=3),
        completed_on=when if state == "COMPLETED" else None,
        url=None,
    )


def pipeline(state, *, stage=None, result=None, number=7):
    return Pipeline(
        uuid="{p}", build_number=number, state=state, stage=stage, result=result, ref_type=None, ref_name=None,
        commit=None, pattern="deploy-to-production", creator=None, created_on=None, completed_on=None, url=None,
    )


def test_environment_matches_without_regard_to_case():
    assert deploys.match_environment([TEST, STAGING, PRODUCTION], "PRODUCTION") is PRODUCTION
    assert deploys.match_environment([TEST, STAGING, PRODUCTION], "staging") is STAGING


def test_unknown_environment_lists_the_real_ones():
    with pytest.raises(UserError) as refused:
        deploys.match_environment([TEST, STAGING, PRODUCTION], "prod")
    assert "`prod`" in refused.value.message
    for name in ("Test", "Staging", "Production"):
        assert f"`{name}`" in refused.value.message


def test_no_environments_at_all_says_where_to_set_them_up():
    with pytest.raises(UserError, match="no deployment environments"):
        deploys.match_environment([], "production")


def test_pipeline_name_uses_the_lower_case_environment():
    assert deploys.pipeline_name("deploy-to-{environment}", "Production") == "deploy-to-production"
    assert deploys.pipeline_name("release", "Staging") == "release"
    with pytest.raises(UserError, match="DEPLOY_PIPELINE"):
        deploys.pipeline_name("deploy-{env}", "Staging")


def test_rollback_goes_to_the_last_successful_release_with_another_commit():
    history = [
        deployment(PRODUCTION, "c1", 5),
        deployment(PRODUCTION, "c2", 4),
        deployment(PRODUCTION, "c3", 3, status="FAILED"),
        deployment(PRODUCTION, "c2", 2),  # c2 deployed again: rolling back to c2 would change nothing
        deployment(STAGING, "c9", 1),  # another environment
    ]
    current, earlier = deploys.choose_rollback(history, PRODUCTION)
    assert (current.commit, current.release_name) == ("c2", "#98")
    assert (earlier.commit, earlier.release_name) == ("c1", "#95")


def test_rollback_ignores_a_deploy_in_progress_and_a_failed_newest_one():
    history = [
        deployment(PRODUCTION, "c1", 3),
        deployment(PRODUCTION, "c2", 2),
        deployment(PRODUCTION, "c3", 1, status="FAILED"),
        deployment(PRODUCTION, "c4", 0, state="IN_PROGRESS"),
    ]
    current, earlier = deploys.choose_rollback(history, PRODUCTION)
    assert (current.commit, earlier.commit) == ("c2", "c1")


def test_rollback_with_no_history_or_one_release():
    assert deploys.choose_rollback([], PRODUCTION) == (None, None)
    only = deployment(PRODUCTION, "c1", 1)
    assert deploys.choose_rollback([only, deployment(PRODUCTION, "c1", 2)], PRODUCTION) == (only, None)


@pytest.mark.parametrize(
    "state, stage, result, phase",
    [
        ("PENDING", None, None, "PENDING"),
        ("IN_PROGRESS", "RUNNING", None, "RUNNING"),
        ("IN_PROGRESS", "PAUSED", None, "PAUSED"),
        ("COMPLETED", None, "SUCCESSFUL", "COMPLETED"),
        (None, None, None, "PENDING"),
    ],
)
def test_phase_of_a_pipeline(state, stage, result, phase):
    assert deploys.phase_of(pipeline(state, stage=stage, result=result)) == phase


@pytest.mark.parametrize(
    "result, outcome",
    [("SUCCESSFUL", "successful"), ("STOPPED", "stopped"), ("FAILED", "failed"), ("ERROR", "failed"), ("EXPIRED", "failed")],
)
def test_outcome_of_a_result(result, outcome):
    assert deploys.outcome_of(result) == outcome


def test_running_pipeline_is_the_newest_unfinished_one():
    assert deploys.running_pipeline([pipeline("COMPLETED", result="SUCCESSFUL")]) is None
    busy = pipeline("IN_PROGRESS", stage="RUNNING", number=9)
    assert deploys.running_pipeline([busy, pipeline("PENDING", number=8)]) is busy


def test_polling_backs_off_and_starts_over_after_a_change():
    intervals, interval = [], 0.0
    for _ in range(8):
        interval = deploys.next_interval(interval, changed=False, first=5, most=30)
        intervals.append(interval)
    assert intervals[0] == 5 and intervals == sorted(intervals) and intervals[-1] == 30
    assert deploys.next_interval(30, changed=True, first=5, most=30) == 5


# --- rendering ---------------------------------------------------------------------------------------


def plan(kind="deploy", environment=PRODUCTION, **extra):
    ref = ResolvedRef("tag", "v1.4.0", "a" * 40) if kind == "deploy" else ResolvedRef("commit", "c1" * 20, "c1" * 20)
    return deploys.DeployPlan(kind, "acme/api", environment, ref, "deploy-to-production", **extra)


def test_confirmation_names_what_goes_where_and_marks_production():
    message = deploy_render.deploy_confirmation(plan(), "key1")
    text = message.blocks[0]["text"]["text"]
    assert "tag `v1.4.0`" in text and "`aaaaaaaaaaaa`" in text and "acme/api" in text
    assert ":rotating_light: *Production* (production)" in text
    confirm, cancel = message.blocks[1]["elements"]
    assert confirm["style"] == "danger" and confirm["text"]["text"] == "Deploy to Production"
    assert cancel["value"] == '{"k":"key1"}'


def test_staging_is_not_marked_as_production():
    message = deploy_render.deploy_confirmation(plan(environment=STAGING), "key1")
    assert ":rotating_light:" not in message.text and message.blocks[1]["elements"][0]["style"] == "primary"


def test_rollback_confirmation_says_from_and_back_to():
    current, earlier = deployment(PRODUCTION, "c2" * 20, 1, name="#14"), deployment(PRODUCTION, "c1" * 20, 2, name="#12")
    message = deploy_render.deploy_confirmation(plan("rollback", rollback_from=current, rollback_to=earlier), "key2")
    text = message.blocks[0]["text"]["text"]
    assert "from `#14` (`c2c2c2c2c2c2`) back to `#12` (`c1c1c1c1c1c1`)" in text
    assert message.blocks[1]["elements"][0]["action_id"] == "bb_confirm_rollback"


def test_text_from_bitbucket_is_escaped():
    sneaky = Environment("{e}", "<!channel> & co", "Test", 0)
    message = deploy_render.deploy_confirmation(plan(environment=sneaky), "k")
    assert "<!channel>" not in message.text and "&lt;!channel&gt; &amp; co" in message.blocks[0]["text"]["text"]
    history = {"{e}": [deployment(sneaky, "c1", 1, name="<@U123>")]}
    overview = deploy_render.deployments_overview("acme/api", [sneaky], history, NOW)
    assert "<@U123>" not in str(overview.blocks) and "<!channel>" not in str(overview.blocks)


def test_overview_shows_the_current_release_and_a_newer_failed_one():
    history = [deployment(PRODUCTION, "c3", 0, status="FAILED", name="#15"), deployment(PRODUCTION, "c2", 2, name="#14")]
    overview = deploy_render.deployments_overview("acme/api", [TEST, PRODUCTION], {PRODUCTION.uuid: history}, NOW)
    test_text, production_text = (block["text"]["text"] for block in overview.blocks[1:])
    assert "Nothing deployed yet" in test_text
    assert "Current: #14" in production_text and "2d ago by Alice · successful" in production_text
    assert "Latest: #15" in production_text and "failed" in production_text
