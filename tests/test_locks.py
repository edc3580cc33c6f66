"""Environment locks end to end, on both databases: one person holds an environment; deploys, rollbacks, re-runs of
its deploy pipeline and "Deploy anyway" by anyone else are refused, naming holder, reason and since when; the
holder deploys as usual; a lock ends at its time and its holder is told ten minutes before (the scheduler's job);
an admin's unlock is audited and told to the holder."""

import json

import pytest

from bot.core import ids
from bot.environments import locks, protections
from bot.environments.jobs import EnvironmentsPace
from tests.deploykit import CHANNEL, Clock, ask, grant, rerun_value, run_deploy_pipeline, said, seed
from tests.harness import ADMIN, RunningBot, button, text_of

pytestmark = pytest.mark.both_backends

ANN, BOB = "UANN", "UBOB"
REFUSED = "is locked by"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def bot(settings, slack, clock):
    running = RunningBot(settings, slack, clock=clock)
    yield running
    running.stop()


@pytest.fixture
def api(bitbucket, bot):
    hashes = seed(bitbucket)
    bitbucket.add_deployment("acme", "api", "Staging", commit=hashes["first"], release_name="#1")
    bitbucket.add_deployment("acme", "api", "Staging", commit=hashes["merge"], release_name="#2")
    for user in (ANN, BOB):
        grant(bot, user, "deployer")
    return bitbucket


def audited(bot, action):
    return [e for e in bot.services.audit.recent(200) if e.action == action]


def test_a_lock_refuses_everyone_else_names_holder_reason_and_since_and_lets_the_holder_deploy(bot, api):
    answer = ask(bot, "lock api staging for 2h testing the migration", user_id=ANN)
    assert answer["response_type"] == "in_channel"
    told = text_of(answer)
    assert f"<@{ANN}> locked *Staging* of acme/api until" in told and "(in 2h)" in told and "testing the migration" in told
    (entry,) = audited(bot, "lock")
    assert entry.user_id == ANN and entry.target == "acme/api@Staging" and json.loads(entry.detail)["reason"] == "testing the migration"

    for text in ("deploy api main to staging", "rollback api staging"):
        refused = said(bot, text, user_id=BOB)
        assert f"*Staging* of acme/api {REFUSED} <@{ANN}> since" in refused, refused
        assert "testing the migration" in refused and "Nothing was started" in refused
    assert REFUSED in said(bot, "deploy api main to staging --force")  # an admin unlocks; --force does not go through
    assert "Deploy *acme/api*" in said(bot, "deploy api main to staging", user_id=ANN)  # the holder deploys as usual
    assert "Deploy *acme/api*" in said(bot, "deploy api main to production", user_id=BOB)  # other environments go on
    assert api.requests_to("POST", "/pipelines/") == []


def test_a_click_on_a_confirmation_shown_before_the_lock_starts_nothing(bot, api):
    question = ask(bot, "deploy api main to staging", user_id=BOB)
    said(bot, "lock api staging", user_id=ANN)
    sent = bot.click(ids.CONFIRM_DEPLOY, button(question, ids.CONFIRM_DEPLOY)["value"], user_id=BOB, channel_id=CHANNEL)
    assert REFUSED in bot.answer_text(sent)
    assert api.requests_to("POST", "/pipelines/") == []


def test_deploy_anyway_past_failed_builds_is_refused_by_a_lock_too(bot, api):
    head = api.branches("acme", "api")["main"]
    api.add_commit_status("acme", "api", head, key="ci", state="FAILED", name="Unit tests")
    question = ask(bot, "deploy api main to staging", user_id=ADMIN)
    anyway = button(question, ids.CONFIRM_DEPLOY)
    assert anyway["text"]["text"] == "Deploy anyway"
    said(bot, "lock api staging for 1h hands off", user_id=ANN)
    sent = bot.click(ids.CONFIRM_DEPLOY, anyway["value"], user_id=ADMIN, channel_id=CHANNEL)
    assert REFUSED in bot.answer_text(sent) and "hands off" in bot.answer_text(sent)
    assert api.requests_to("POST", "/pipelines/") == []


def test_a_rerun_of_the_environments_deploy_pipeline_is_refused_like_a_deploy(bot, api):
    run_deploy_pipeline(api, "staging")
    said(bot, "lock api staging for 1h", user_id=ANN)
    before = len(api.pipelines("acme", "api"))
    sent = bot.click(ids.RERUN_PIPELINE, rerun_value(bot, 1), user_id=BOB, channel_id=CHANNEL)
    assert REFUSED in bot.answer_text(sent)
    assert len(api.pipelines("acme", "api")) == before
    sent = bot.click(ids.RERUN_PIPELINE, rerun_value(bot, 1), user_id=ANN, channel_id=CHANNEL)
    assert "Deploy *acme/api*" in bot.answer_text(sent)  # the holder's re-run asks as usual


def test_bad_input_unknown_environment_and_a_lock_already_held(bot, api):
    refused = said(bot, "lock api prod", user_id=ANN)
    assert "There is no environment `prod`" in refused and "`Staging`" in refused and "`Production`" in refused
    said(bot, "lock api staging for 1h first come", user_id=ANN)
    held = said(bot, "lock api staging for 3h mine now", user_id=BOB)
    assert f"already locked by <@{ANN}>" in held and "first come" in held and "nothing was changed" in held
    assert "You need the" in said(bot, "lock api staging", user_id="UGUEST")
    usage = bot.command("lock api staging for soon", user_id=ANN, channel_id=CHANNEL).http.json()
    assert "`for soon` is not a duration" in text_of(usage)
    assert len(audited(bot, "lock")) == 1


def test_unlock_is_the_holders_or_an_admins_and_an_admins_is_told_to_the_holder(bot, api, slack):
    said(bot, "lock api staging for 1h release checks", user_id=ANN)
    refused = said(bot, "unlock api staging", user_id=BOB)
    assert f"locked by <@{ANN}>" in refused and "only they, or an admin" in refused
    assert REFUSED in said(bot, "deploy api main to staging", user_id=BOB)

    answer = ask(bot, "unlock api staging", user_id=ADMIN)
    assert answer["response_type"] == "in_channel" and f"<@{ADMIN}> unlocked *Staging* of acme/api (held by <@{ANN}>)" in text_of(answer)
    dm = slack.wait_for(lambda: [m for m in slack.channel_messages(ANN) if "ended your lock" in m.text])
    assert "release checks" in dm[0].text
    (entry,) = audited(bot, "unlock")
    assert entry.user_id == ADMIN and json.loads(entry.detail) == {"by_admin": True, "holder": ANN}
    assert "Deploy *acme/api*" in said(bot, "deploy api main to staging", user_id=BOB)
    assert "Nothing to unlock" in said(bot, "unlock api staging", user_id=ANN)

    said(bot, "lock api production", user_id=BOB)
    assert f"<@{BOB}> unlocked *Production*" in said(bot, "unlock api production", user_id=BOB)


def test_locks_lists_and_a_lock_ends_at_its_time_four_hours_unless_told(bot, api, clock):
    taken = said(bot, "lock api staging", user_id=ANN)
    assert "(in 4h)" in taken and "locks end after 4h" in taken
    said(bot, "lock api production for 30m smoke tests", user_id=BOB)
    listed = said(bot, "locks api")
    assert "*Staging* of acme/api" in listed and f"<@{ANN}>" in listed and "smoke tests" in listed
    assert "*Production*" in said(bot, "locks")
    clock.now += 31 * 60
    assert "Deploy *acme/api*" in said(bot, "deploy api main to production", user_id=ANN)
    assert "Production" not in said(bot, "locks api")
    clock.now += 4 * 3600
    assert "No environment is locked" in said(bot, "locks")
    assert "Deploy *acme/api*" in said(bot, "deploy api main to staging", user_id=BOB)


def test_the_holder_is_told_ten_minutes_before_once_across_two_replicas(settings, slack, bitbucket, clock):
    seed(bitbucket)
    pace = (EnvironmentsPace(0.1),)
    first = RunningBot(settings, slack, clock=clock, scheduler=True, parts=pace)
    second = RunningBot(settings, slack, clock=clock, scheduler=True, parts=pace)
    try:
        grant(first, ANN, "deployer")
        said(first, "lock api staging for 1h", user_id=ANN)

        def warnings():
            return [m for m in slack.channel_messages(ANN) if "Your lock on *Staging*" in m.text]

        clock.now += 45 * 60  # 15 minutes left: not yet
        said(second, "locks")
        assert warnings() == []
        clock.now += 6 * 60  # 9 minutes left
        told = slack.wait_for(warnings, timeout=10)
        assert "/bb lock acme/api staging for 1h" in told[0].text
        second.stop()  # the other replica takes the scheduler over; it tells nobody twice
        first.services.store.execute("DELETE FROM leases WHERE name = 'scheduler'")
        clock.now += 60
        slack.wait_for(lambda: len(first.services.store.query("SELECT 1 FROM leases WHERE name = 'scheduler'")) == 1, timeout=30)
        said(first, "locks")
        assert len(warnings()) == 1
    finally:
        first.stop()
        second.stop()


def test_a_lock_holds_on_another_replica(settings, slack, bitbucket, clock):
    seed(bitbucket)
    first = RunningBot(settings, slack, clock=clock)
    second = RunningBot(settings, slack, clock=clock)
    try:
        grant(first, ANN, "deployer")
        grant(first, BOB, "deployer")
        said(first, "lock api staging for 1h", user_id=ANN)
        assert REFUSED in said(second, "deploy api main to staging", user_id=BOB)
    finally:
        first.stop()
        second.stop()


def test_the_public_reads_other_features_use(store):
    """`locks.active(store, repo)` and `protections.of(store, repo)`: what a dashboard reads, without the tables."""
    locks.take(store, "Acme/API", "Staging", user_id=ANN, channel_id=CHANNEL, reason="tests", ends_at=2e9, now=1.9e9)
    assert [(lock.environment, lock.holder) for lock in locks.active(store, "acme/api", now=1.9e9)] == [("Staging", ANN)]
    assert locks.active(store, "acme/api", now=2e9) == []  # over at its time
    with pytest.raises(locks.AlreadyLocked):
        locks.take(store, "acme/api", "staging", user_id=BOB, channel_id=CHANNEL, reason="", ends_at=2e9, now=1.95e9)
    protections.protect(store, "acme/api", "Production", approvals=2, role="deployer", user_id=ADMIN, now=1.9e9)
    assert [(p.environment, p.approvals, p.role) for p in protections.of(store, "ACME/api")] == [("Production", 2, "deployer")]
