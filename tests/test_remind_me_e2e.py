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

from bot import relay
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
