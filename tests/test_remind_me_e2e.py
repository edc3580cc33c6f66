"""A person's own reminder end to end: the real bot over HTTP, its scheduler and outbox, the simulated Slack (with
people's time zones) and Bitbucket. The bot's clock is injected (it runs at the machine's pace from a chosen
moment), so every date here is written down: a reviewer in Tokyo and one in Berlin, a week with Berlin's change
to summer time (Sunday 29 March 2026)."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot import budget, relay
from bot.core import ids
from bot.core.scheduler import Scheduler
from bot.reminders import personal, personal_render
from tests.harness import RunningBot, buttons_of, text_of
from tests.test_reminders_e2e import MovableClock

UTC = timezone.utc
TOKYO, BERLIN = ZoneInfo("Asia/Tokyo"), ZoneInfo("Europe/Berlin")
THURSDAY = datetime(2026, 3, 26, 12, 0, tzinfo=UTC)
KENJI, GRETA, BOB = "UKENJI", "UGRETA", "UBOB"


@pytest.fixture
def team(bitbucket, slack):
    """acme/api: #1 by ann waits on kenji (Tokyo) and greta (Berlin); bob (Berlin) authors elsewhere."""
    bitbucket.add_repository("acme", "api")
    for nickname in ("ann", "kenji", "greta", "bob", "cat"):
        bitbucket.add_user(nickname, nickname.title())
    slack.add_user(KENJI, "kenji", tz="Asia/Tokyo")
    slack.add_user(GRETA, "greta", tz="Europe/Berlin")
    slack.add_user(BOB, "bob", tz="Europe/Berlin")
    bitbucket.add_pull_request("acme", "api", title="Add login", source="feature/login", author="ann",
                               reviewers=("kenji", "greta"), created_on=THURSDAY - timedelta(days=20),
                               updated_on=THURSDAY - timedelta(days=20))
    return bitbucket


def start(settings, slack, moment, *, scheduler=False):
    return RunningBot(settings, slack, scheduler=scheduler, clock=MovableClock(moment))


def say(bot, text, *, user_id, channel_id="C1"):
    return text_of(bot.answers(bot.command(text, user_id=user_id, channel_id=channel_id))[0])


def dms(slack, user):
    return [m for m in slack.channel_messages(user) if m.via == "chat.postMessage"]


def as_dict(message):
    return {"text": message.text, "blocks": message.blocks}


def follow_and_link(bot, *people):
    relay.subscribe(bot.services.store, channel_id="C1", repo="acme/api", families=("pullrequests",), branch_glob="",
                    user_id="U1", now=bot.services.clock().timestamp())
    for user_id, nickname in people:
        assert "is linked to the Bitbucket account" in say(bot, f"link {nickname}", user_id=user_id)


def sync_at(bot, moment):
    """What the leading replica's scheduler does at start and every minute, at `moment`: send what is owed."""
    personal.PersonalJobs(bot.services, Scheduler(clock=lambda: moment)).sync()


def test_tokyo_and_berlin_each_hear_at_their_0930_once_also_across_the_change_to_summer_time(settings, slack, team):
    setup = start(settings, slack, THURSDAY)
    try:
        follow_and_link(setup, (KENJI, "kenji"), (GRETA, "greta"))
        assert "at 09:30 on mon-fri (your working days), `Asia/Tokyo`" in say(setup, "remind me", user_id=KENJI)
        berlin = say(setup, "remind me", user_id=GRETA)
        assert "`Europe/Berlin`" in berlin and "Next: Fri 27 Mar 09:30" in berlin
    finally:
        setup.stop()

    # Friday 09:30 in Tokyo is 00:30 UTC; in Berlin (winter time, UTC+1) 08:30 UTC.
    tokyo_morning = start(settings, slack, datetime(2026, 3, 27, 0, 29, 57, tzinfo=UTC), scheduler=True)
    try:
        (sent,) = slack.wait_for(lambda: dms(slack, KENJI), timeout=15)
        assert "1 pull request waits on your review" in sent.text and "#1 Add login" in text_of(as_dict(sent))
        assert dms(slack, GRETA) == []
    finally:
        tokyo_morning.stop()
    berlin_morning = start(settings, slack, datetime(2026, 3, 27, 8, 29, 57, tzinfo=UTC), scheduler=True)
    try:
        slack.wait_for(lambda: dms(slack, GRETA), timeout=15)
        sync_at(berlin_morning, datetime(2026, 3, 27, 8, 45, tzinfo=UTC))  # a later look, a restart: nothing more
        sync_at(berlin_morning, datetime(2026, 3, 27, 11, 0, tzinfo=UTC))
        berlin_morning.services.wait_idle()
        assert berlin_morning.services.store.query("SELECT COUNT(*) AS n FROM outbox")[0]["n"] == 2
    finally:
        berlin_morning.stop()

    # Monday 30 March, after the change: Berlin's 09:30 is 07:30 UTC now.
    monday = start(settings, slack, datetime(2026, 3, 30, 7, 29, 57, tzinfo=UTC), scheduler=True)
    try:
        slack.wait_for(lambda: len(dms(slack, GRETA)) == 2, timeout=15)
        sync_at(monday, datetime(2026, 3, 30, 8, 30, 5, tzinfo=UTC))  # what 09:30 was in winter: not again
        marks = monday.services.store.query("SELECT slack_user_id, day FROM personal_reminder_sent ORDER BY sent_at")
        assert marks == [{"slack_user_id": KENJI, "day": "2026-03-27"}, {"slack_user_id": GRETA, "day": "2026-03-27"},
                         {"slack_user_id": GRETA, "day": "2026-03-30"}]
        assert len(dms(slack, GRETA)) == 2 and len(dms(slack, KENJI)) == 1
    finally:
        monday.stop()
    # Slack's time zone is asked once a day per person, not at every look: on Thursday (kept through Friday's
    # looks, all within a day of it) and on Monday.
    asked = [call.args.get("user") for call in slack.calls_to("users.info")]
    assert asked.count(KENJI) == 2 and asked.count(GRETA) == 2


def snooze_button(message, action_id):
    return next(b for b in buttons_of(as_dict(message)) if b["action_id"] == action_id)


def test_snooze_holds_for_a_day_and_ends_at_a_new_push(settings, slack, team):
    team.add_pull_request("acme", "api", title="Tidy", source="docs/tidy", author="ann", reviewers=("bob",),
                          created_on=THURSDAY - timedelta(days=10), updated_on=THURSDAY - timedelta(days=10))
    monday_10 = datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN)
    clock = MovableClock(monday_10)
    bot = RunningBot(settings, slack, clock=clock)
    try:
        follow_and_link(bot, (GRETA, "greta"))
        assert "Sent you a direct message: 1 to review" in say(bot, "remind me now", user_id=GRETA)
        (first,) = slack.wait_for(lambda: dms(slack, GRETA))
        buttons = {b["action_id"] for b in buttons_of(as_dict(first))}
        assert {ids.APPROVE, ids.OPEN_LINK, personal_render.SNOOZE_DAY, personal_render.SNOOZE_PUSH} <= buttons
        approve = next(b for b in buttons_of(as_dict(first)) if b["action_id"] == ids.APPROVE)
        assert json.loads(approve["value"]) == {"p": 1, "r": "acme/api"}  # the pull request list's own shape

        day = snooze_button(first, personal_render.SNOOZE_DAY)["value"]
        clicked = bot.answer_text(bot.click(personal_render.SNOOZE_DAY, day, user_id=GRETA, channel_id="DUGRETA"))
        assert "Snoozed #1 in `acme/api` until Tue 31 Mar 00:00 (Europe/Berlin)" in clicked
        assert "snoozed already" in bot.answer_text(bot.click(personal_render.SNOOZE_DAY, day, user_id=GRETA, channel_id="DUGRETA"))
        assert "Nothing waits on you (1 snoozed)" in say(bot, "remind me now", user_id=GRETA)

        # The channel's reminder leaves it out too, and says so.
        assert "Posted the reminder for `acme/api` in this channel: 1 pull request" in say(bot, "remind now acme/api", user_id="U1")
        (channel,) = slack.wait_for(lambda: [m for m in slack.channel_messages("C1") if m.via == "chat.postMessage"])
        assert "#2 Tidy" in text_of(as_dict(channel)) and "#1 Add login" not in text_of(as_dict(channel))
        assert "1 snoozed" in text_of(as_dict(channel))

        clock.move_to(datetime(2026, 3, 31, 9, 30, tzinfo=BERLIN))  # the next morning: back
        assert "Sent you a direct message: 1 to review" in say(bot, "remind me now", user_id=GRETA)
        second = slack.wait_for(lambda: dms(slack, GRETA)[1:])[0]
        until_push = snooze_button(second, personal_render.SNOOZE_PUSH)["value"]
        assert "until its next push" in bot.answer_text(bot.click(personal_render.SNOOZE_PUSH, until_push, user_id=GRETA, channel_id="DUGRETA"))
        clock.move_to(datetime(2026, 4, 6, 9, 30, tzinfo=BERLIN))  # a week on, no push: still snoozed
        assert "Nothing waits on you (1 snoozed)" in say(bot, "remind me now", user_id=GRETA)
        team.add_commit("acme", "api", "feature/login", message="Address the review")
        assert "Sent you a direct message: 1 to review" in say(bot, "remind me now", user_id=GRETA)
    finally:
        bot.stop()


def test_ready_to_merge_lists_only_those_that_are_and_drafts_and_wip_stay_out(settings, slack, team):
    monday = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    pulls = {}
    for key, title, kw in (
        ("ready", "Ready one", {"approved_by": ("ann",)}),
        ("red", "Failing build", {"approved_by": ("ann",)}),
        ("changes", "Changes asked", {"approved_by": ("ann",), "changes_requested_by": ("cat",)}),
        ("draft", "Drafted", {"approved_by": ("ann",), "draft": True}),
        ("wip", "WIP: half", {"approved_by": ("ann",)}),
        ("lonely", "Nobody approved", {}),
    ):
        pulls[key] = team.add_pull_request("acme", "api", title=title, source=f"feature/{key}", author="bob", reviewers=("ann", "cat"),
                                           created_on=monday - timedelta(days=3), updated_on=monday - timedelta(days=1), **kw)
    team.add_commit_status("acme", "api", "feature/ready", key="ci", state="SUCCESSFUL")
    team.add_commit_status("acme", "api", "feature/red", key="ci", state="FAILED")
    for key, title, draft in (("review-draft", "Drafted review", True), ("review-wip", "[WIP] review me", False)):
        team.add_pull_request("acme", "api", title=title, source=f"feature/{key}", author="ann", reviewers=("bob",), draft=draft,
                              created_on=monday - timedelta(days=3), updated_on=monday - timedelta(days=1))
    bot = start(settings, slack, monday)
    try:
        follow_and_link(bot, (BOB, "bob"))
        assert "Sent you a direct message: 0 to review, 1 ready to merge" in say(bot, "remind me now", user_id=BOB)
        (sent,) = slack.wait_for(lambda: dms(slack, BOB))
        text = text_of(as_dict(sent))
        assert "Ready one" in text and "1 of yours ready to merge" in text
        for other in ("Failing build", "Changes asked", "Drafted", "WIP: half", "Nobody approved", "review me"):
            assert other not in text
        merge = next(b for b in buttons_of(as_dict(sent)) if b["action_id"] == ids.ASK_MERGE)
        assert json.loads(merge["value"]) == {"p": pulls["ready"]["id"], "r": "acme/api"}
    finally:
        bot.stop()


def test_bad_input_and_people_who_are_not_linked(settings, slack, team):
    bot = start(settings, slack, THURSDAY)
    try:
        for text in ("hours", "hours 09:00-17:00", "remind me", "remind me now"):
            assert "run `/bb link YOUR_BITBUCKET_NICKNAME` or `/bb login` first" in say(bot, text, user_id=GRETA)
        refused = text_of(bot.command("hours 25:00-17:00", user_id=GRETA).http.json())  # answered in the ack
        assert "`25:00` is not a time of day" in refused and "Usage: `/bb hours HH:MM-HH:MM [DAYS] [tz ZONE] · /bb hours`" in refused
        follow_and_link(bot, (GRETA, "greta"))
        shown = say(bot, "hours", user_id=GRETA)
        assert "(the defaults): 09:00-17:30 on mon-fri, `Europe/Berlin` (your Slack time zone)" in shown
        assert "08:00-16:00 on mon-thu, `Asia/Tokyo` (set with `/bb hours`)" in say(bot, "hours 08:00-16:00 mon-thu tz Asia/Tokyo", user_id=GRETA)
        assert "at 09:30 on mon-thu (your working days), `Asia/Tokyo`" in say(bot, "remind me", user_id=GRETA)
        # The same command again shows it and changes nothing; options change it.
        again = say(bot, "remind me", user_id=GRETA)
        assert "Your own reminder comes at 09:30" in again
        assert "at 07:45 on mon,fri, `Asia/Tokyo`" in say(bot, "remind me at 7:45 on mon,fri", user_id=GRETA)
        assert "at 08:00 on mon,fri" in say(bot, "remind me at 8:00", user_id=GRETA)  # the days stay
        assert "is stopped" in say(bot, "remind me off", user_id=GRETA)
        assert "had no reminder" in say(bot, "remind me off", user_id=GRETA)
    finally:
        bot.stop()


@pytest.mark.both_backends
def test_two_replicas_send_a_persons_reminder_once(settings, slack, team):
    setup = start(settings, slack, datetime(2026, 3, 26, 6, 0, tzinfo=UTC))
    try:
        follow_and_link(setup, (GRETA, "greta"))
        say(setup, "remind me", user_id=GRETA)
    finally:
        setup.stop()
    due = datetime(2026, 3, 26, 8, 30, 1, tzinfo=UTC)  # Thursday 09:30:01 in Berlin
    first, second = start(settings, slack, due), start(settings, slack, due)
    try:
        outcomes, barrier = [], threading.Barrier(2)

        def run(bot):
            schedule = personal.get_for(bot.services, GRETA, due)
            barrier.wait()
            outcomes.append(personal.run_due(bot.services, schedule, now=due))

        threads = [threading.Thread(target=run, args=(bot,)) for bot in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["already sent", "sent"]
        slack.wait_for(lambda: dms(slack, GRETA))
        assert first.services.store.query("SELECT COUNT(*) AS n FROM personal_reminder_sent")[0]["n"] == 1
        assert len(dms(slack, GRETA)) == 1
    finally:
        first.stop()
        second.stop()


# --- working hours ------------------------------------------------------------------------------------------


def marks_of(bot):
    return [(row["slack_user_id"], row["day"])
            for row in bot.services.store.query("SELECT slack_user_id, day FROM personal_reminder_sent ORDER BY day")]


def test_a_reminder_due_outside_working_hours_comes_at_their_next_start_once(settings, slack, team):
    setup = start(settings, slack, THURSDAY)
    try:
        follow_and_link(setup, (GRETA, "greta"))
        say(setup, "hours 10:00-16:00 mon-fri", user_id=GRETA)
        answer = say(setup, "remind me at 8:00 on mon-sun", user_id=GRETA)
        assert "never outside your working hours (10:00-16:00 on mon-fri)" in answer
        assert "Next: Fri 27 Mar 10:00" in answer
    finally:
        setup.stop()

    # Friday 08:00 in Berlin (winter time) is 07:00 UTC: before Greta's hours, so a look then sends nothing.
    early = start(settings, slack, datetime(2026, 3, 27, 7, 0, 5, tzinfo=UTC))
    try:
        sync_at(early, datetime(2026, 3, 27, 7, 0, 5, tzinfo=UTC))
        early.services.wait_idle()
        assert dms(slack, GRETA) == [] and marks_of(early) == []
    finally:
        early.stop()
    # The scheduler's own job, on the injected clock, sends it when her hours start: 10:00 is 09:00 UTC.
    morning = start(settings, slack, datetime(2026, 3, 27, 8, 59, 57, tzinfo=UTC), scheduler=True)
    try:
        (sent,) = slack.wait_for(lambda: dms(slack, GRETA), timeout=15)
        assert "1 pull request waits on your review" in sent.text
        sync_at(morning, datetime(2026, 3, 27, 12, 0, tzinfo=UTC))  # a later look: nothing more
    finally:
        morning.stop()

    # Saturday's and Sunday's 08:00 are not working days: nothing then; Monday 30 March's 10:00 (summer time now,
    # 08:00 UTC) brings them, with Monday's own 08:00, as one message.
    weekend = start(settings, slack, datetime(2026, 3, 28, 7, 0, 5, tzinfo=UTC))
    try:
        for look in (datetime(2026, 3, 28, 7, 0, 5, tzinfo=UTC), datetime(2026, 3, 29, 6, 0, 5, tzinfo=UTC),
                     datetime(2026, 3, 29, 12, 0, tzinfo=UTC), datetime(2026, 3, 30, 6, 0, 5, tzinfo=UTC)):
            sync_at(weekend, look)
        weekend.services.wait_idle()
        assert len(dms(slack, GRETA)) == 1
    finally:
        weekend.stop()
    monday = start(settings, slack, datetime(2026, 3, 30, 7, 59, 57, tzinfo=UTC), scheduler=True)
    try:
        slack.wait_for(lambda: len(dms(slack, GRETA)) == 2, timeout=15)
        sync_at(monday, datetime(2026, 3, 30, 8, 0, 5, tzinfo=UTC))
        sync_at(monday, datetime(2026, 3, 30, 13, 0, tzinfo=UTC))
        monday.services.wait_idle()
        assert marks_of(monday) == [(GRETA, "2026-03-27"), (GRETA, "2026-03-30")]
        assert len(dms(slack, GRETA)) == 2
    finally:
        monday.stop()


# --- required approvals ---------------------------------------------------------------------------------------


MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def bobs_pull_requests(team, **approved):
    """Bob's pull requests into main, builds green, each approved by the people named."""
    for key, approvers in approved.items():
        team.add_pull_request("acme", "api", title=f"Approved by {len(approvers)}", source=f"feature/{key}", author="bob",
                              reviewers=("ann", "cat", "greta"), approved_by=approvers,
                              created_on=MONDAY_9 - timedelta(days=3), updated_on=MONDAY_9 - timedelta(days=1))
        team.add_commit_status("acme", "api", f"feature/{key}", key="ci", state="SUCCESSFUL")


@pytest.mark.parametrize("rule", [{"pattern": "main"}, {"branch_type": "development"}], ids=["glob", "branching-model"])
def test_a_repository_requiring_two_approvals_keeps_one_with_one_approval_in_review(settings, slack, team, rule):
    team.add_branch_restriction("acme", "api", "require_approvals_to_merge", value=2, **rule)
    bobs_pull_requests(team, one=("ann",), two=("ann", "cat"))
    bot = start(settings, slack, MONDAY_9)
    try:
        follow_and_link(bot, (BOB, "bob"), (GRETA, "greta"))
        assert "0 to review, 1 ready to merge" in say(bot, "remind me now", user_id=BOB)
        (sent,) = slack.wait_for(lambda: dms(slack, BOB))
        text = text_of(as_dict(sent))
        assert "Approved by 2" in text and "(2 approvals required on `main`)" in text
        assert "Approved by 1" not in text
        # It still waits on the reviewers who have not approved it.
        assert "3 to review" in say(bot, "remind me now", user_id=GRETA)
        assert "Approved by 1" in text_of(as_dict(slack.wait_for(lambda: dms(slack, GRETA))[0]))
        # The restrictions are kept: read once for both looks, as background work in the request budget.
        assert "1 ready to merge" in say(bot, "remind me now", user_id=BOB)
        assert len(team.requests_to("GET", "/branch-restrictions")) == 1
        assert len(team.requests_to("GET", "/branching-model")) == (1 if "branch_type" in rule else 0)
        spent = lambda: [row for row in budget.hour_by_feature(bot.services.store, bot.services.timestamp())  # noqa: E731
                         if row[2] == "remind-me"]
        slack.wait_for(lambda: spent() == [("bot", "background", "remind-me", 1 + ("branch_type" in rule))], timeout=15)
    finally:
        bot.stop()


def test_restrictions_the_bot_may_not_read_count_one_approval_and_say_so_for_an_hour(settings, slack, team):
    team.add_branch_restriction("acme", "api", "require_approvals_to_merge", "main", value=2)
    bobs_pull_requests(team, one=("ann",))
    bot = RunningBot(settings, slack, clock=(clock := MovableClock(MONDAY_9)))
    try:
        follow_and_link(bot, (BOB, "bob"))
        team.fail_next("GET", r"/branch-restrictions", status=403)  # no repository admin
        assert "0 to review, 1 ready to merge" in say(bot, "remind me now", user_id=BOB)
        assert ("approved by Ann (1 approval counted as enough: the bot may not read the branch restrictions of "
                "`acme/api`, which needs repository admin)") in text_of(as_dict(slack.wait_for(lambda: dms(slack, BOB))[0]))
        assert "1 ready to merge" in say(bot, "remind me now", user_id=BOB)  # the refusal is kept too
        assert len(team.requests_to("GET", "/branch-restrictions")) == 1
        clock.move_to(MONDAY_9 + timedelta(hours=1, minutes=1))  # an hour on, asked again: now it may read them
        assert "Nothing waits on you" in say(bot, "remind me now", user_id=BOB)
        assert len(team.requests_to("GET", "/branch-restrictions")) == 2
    finally:
        bot.stop()


def test_restrictions_bitbucket_fails_to_give_count_one_approval_say_so_and_are_asked_again(settings, slack, team):
    team.add_branch_restriction("acme", "api", "require_approvals_to_merge", "main", value=2)
    bobs_pull_requests(team, one=("ann",))
    bot = RunningBot(settings, slack, clock=MovableClock(MONDAY_9))
    try:
        follow_and_link(bot, (BOB, "bob"))
        team.fail_next("GET", r"/branch-restrictions", status=404)  # an answer no retry mends
        assert "0 to review, 1 ready to merge" in say(bot, "remind me now", user_id=BOB)
        assert ("approved by Ann (1 approval counted as enough: Bitbucket did not give the branch restrictions of "
                "`acme/api` this time)") in text_of(as_dict(slack.wait_for(lambda: dms(slack, BOB))[0]))
        assert "Nothing waits on you" in say(bot, "remind me now", user_id=BOB)  # not kept: read at the next look
    finally:
        bot.stop()
