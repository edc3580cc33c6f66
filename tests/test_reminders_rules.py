"""The pure rules behind reminders that respect people's time: working-day age, what is noise, when a snooze
holds, what waits on a person, and the grammar of `/bb hours`, `/bb remind me`, `/bb digest`. Every moment is
given: no test reads today's date."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot import reminders
from bot.core.errors import UsageError, UserError
from bot.relay import noise
from bot.reminders import inbox, snooze, workdays
from bot.accounts import LinkedUser
from bot.registry import COMMANDS
from tests.test_reminders import pr

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# --- working days -------------------------------------------------------------------------------------------


def test_after_2d_on_a_monday_morning_reaches_back_to_thursday():
    assert workdays.cutoff(MONDAY_9, 2 * 86400, UTC) == datetime(2026, 2, 26, 9, 0, tzinfo=UTC)
    thursday_10, wednesday_20 = datetime(2026, 2, 26, 10, tzinfo=UTC), datetime(2026, 2, 25, 20, tzinfo=UTC)
    stale = reminders.select_stale([pr(1, idle=MONDAY_9 - thursday_10), pr(2, idle=MONDAY_9 - wednesday_20)], now=MONDAY_9,
                                   after_seconds=2 * 86400, cutoff=workdays.cutoff(MONDAY_9, 2 * 86400, UTC))
    assert [p.id for p in stale] == [2]  # calendar age would have called Thursday's stale too
    assert [p.id for p in reminders.select_stale([pr(1, idle=MONDAY_9 - thursday_10)], now=MONDAY_9, after_seconds=2 * 86400)] == [1]


def test_holidays_do_not_age_either():
    friday = ("2026-02-27",)
    assert workdays.cutoff(MONDAY_9, 2 * 86400, UTC, friday) == datetime(2026, 2, 25, 9, 0, tzinfo=UTC)
    assert workdays.working_seconds(datetime(2026, 2, 26, 9, tzinfo=UTC), MONDAY_9, UTC, friday) == 24 * 3600
    assert workdays.working_seconds(datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC), UTC) == 0


def test_days_are_read_in_the_zone_and_a_short_night_counts_its_real_length():
    # Berlin's Monday 30 March 2026 begins at Sunday 22:00 UTC (summer time began that Sunday at 01:00 UTC).
    monday_0930 = datetime(2026, 3, 30, 9, 30, tzinfo=BERLIN)
    assert workdays.cutoff(monday_0930, 3600, BERLIN) == monday_0930 - timedelta(hours=1)
    assert workdays.cutoff(monday_0930, 12 * 3600, BERLIN).astimezone(BERLIN) == datetime(2026, 3, 27, 21, 30, tzinfo=BERLIN)
    assert workdays.working_seconds(datetime(2026, 3, 27, 22, tzinfo=BERLIN), monday_0930, BERLIN) == 11.5 * 3600


# --- noise --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("title", "wip"), [
    ("WIP: login", True), ("[WIP] login", True), ("wip login", True), ("Draft: login", True), ("[ wip ] x", True),
    ("Wipe the cache", False), ("Fix the WIP label", False), ("", False),
])
def test_work_in_progress_is_read_from_the_start_of_the_title(title, wip):
    assert noise.is_wip_title(title) is wip


def test_drafts_work_in_progress_and_bots_are_noise():
    bots = ("renovate", "dependabot")
    assert noise.noise({"draft": True, "title": "x", "author": {"nickname": "ann"}}, bots) == "draft"
    assert noise.noise({"title": "WIP x", "author": {"nickname": "ann"}}, bots) == "wip"
    assert noise.noise({"title": "Bump", "author": {"type": "app_user", "nickname": "ci"}}, bots) == "bot"
    assert noise.noise({"title": "Bump", "author": {"type": "user", "nickname": "Renovate"}}, bots) == "bot"
    assert noise.noise({"title": "Real work", "author": {"type": "user", "nickname": "ann"}}, bots) is None


# --- snoozes ------------------------------------------------------------------------------------------------


def test_a_day_snooze_lasts_until_the_persons_next_day_and_a_push_ends_any():
    clicked = datetime(2026, 3, 2, 10, 0, tzinfo=BERLIN)
    until = snooze.until_for("day", clicked, BERLIN)
    assert until == datetime(2026, 3, 3, 0, 0, tzinfo=BERLIN)
    held = snooze.Snooze("acme/api", 1, "U1", "abcdef123456", until.timestamp())
    assert held.holds(clicked + timedelta(hours=13), "abcdef123456")
    assert not held.holds(datetime(2026, 3, 3, 9, 30, tzinfo=BERLIN), "abcdef123456")  # back in the next reminder
    assert not held.holds(clicked + timedelta(hours=1), "0123456789ab")  # a new push
    push = snooze.Snooze("acme/api", 1, "U1", "abcdef123456", None)
    assert push.holds(clicked + timedelta(days=30), "abcdef1234567890") and not push.holds(clicked, "fedcba654321")


@pytest.mark.parametrize("value", [
    {"r": "acme/api", "p": "1", "h": "abcdef1", "u": "day", "d": "2026-03-02"},
    {"r": "acme/api", "p": True, "h": "abcdef1", "u": "day", "d": "2026-03-02"},
    {"r": "<!channel>", "p": 1, "h": "abcdef1", "u": "day", "d": "2026-03-02"},
    {"r": "acme/api", "p": 1, "h": "main", "u": "day", "d": "2026-03-02"},
    {"r": "acme/api", "p": 1, "h": "abcdef1", "u": "week", "d": "2026-03-02"},
    {"r": "acme/api", "p": 1, "h": "abcdef1", "u": "day", "d": "monday"},
])
def test_a_snooze_buttons_value_is_checked(value):
    with pytest.raises(UserError):
        snooze.SnoozeRequest.from_value(value)


# --- what waits on a person ---------------------------------------------------------------------------------

BOB = LinkedUser("U2", "bob", "{bob}", "557058:bob")


def user(nickname):
    return {"display_name": nickname.title(), "nickname": nickname, "uuid": f"{{{nickname}}}", "account_id": f"557058:{nickname}"}


def raw(*, author="ann", reviewers=("bob",), verdicts=None, draft=False, title="Add login", state="OPEN"):
    verdicts = verdicts or {}
    return {
        "id": 1, "title": title, "state": state, "draft": draft, "author": user(author),
        "reviewers": [user(r) for r in reviewers],
        "participants": [{"user": user(who), "role": "REVIEWER", "approved": state_ == "approved", "state": state_,
                          "participated_on": when.isoformat()} for who, (state_, when) in verdicts.items()],
        "source": {"commit": {"hash": "abcdef123456"}},
    }


def test_a_pull_request_waits_on_a_reviewer_until_they_review_after_the_last_push():
    asked = lambda: pytest.fail("the last push is read only when the reviewer has a verdict")  # noqa: E731
    assert inbox.waits_on(raw(), BOB, asked)
    assert not inbox.waits_on(raw(reviewers=("cat",)), BOB, asked)
    assert not inbox.waits_on(raw(author="bob", reviewers=("bob",)), BOB, asked)
    assert not inbox.waits_on(raw(draft=True), BOB, asked) and not inbox.waits_on(raw(title="WIP login"), BOB, asked)
    approved = raw(verdicts={"bob": ("approved", MONDAY_9)})
    assert not inbox.waits_on(approved, BOB, lambda: MONDAY_9 - timedelta(hours=1))
    assert inbox.waits_on(approved, BOB, lambda: MONDAY_9 + timedelta(hours=1))  # pushed since
    assert inbox.waits_on(raw(verdicts={"bob": ("changes_requested", MONDAY_9)}), BOB, lambda: MONDAY_9 + timedelta(minutes=5))


def test_ready_to_merge_means_the_authors_approved_by_others_without_changes_asked():
    assert inbox.approved_enough(raw(author="bob", verdicts={"ann": ("approved", MONDAY_9)}), BOB)
    assert not inbox.approved_enough(raw(author="bob"), BOB)
    assert not inbox.approved_enough(raw(author="bob", verdicts={"bob": ("approved", MONDAY_9)}), BOB)  # their own
    assert not inbox.approved_enough(raw(author="bob", verdicts={"ann": ("approved", MONDAY_9),
                                                                "cat": ("changes_requested", MONDAY_9)}), BOB)
    assert not inbox.approved_enough(raw(author="bob", draft=True, verdicts={"ann": ("approved", MONDAY_9)}), BOB)
    assert not inbox.approved_enough(raw(author="ann", verdicts={"cat": ("approved", MONDAY_9)}), BOB)


# --- grammar ------------------------------------------------------------------------------------------------


def test_hours_read_as_typed():
    assert COMMANDS.parse("hours").args == {}
    assert COMMANDS.parse("hours 08:30-17:00").args == {"start": "08:30", "end": "17:00", "days": None, "tz": ""}
    assert COMMANDS.parse("hours 9:00-13:00 mon,wed tz Asia/Tokyo").args == {
        "start": "09:00", "end": "13:00", "days": ("mon", "wed"), "tz": "Asia/Tokyo"}


@pytest.mark.parametrize(("text", "named"), [
    ("hours 25:00-17:00", "`25:00` is not a time of day"),
    ("hours 09:00-17:00 tz Mars/Olympus", "`Mars/Olympus` is not a time zone"),
    ("hours 17:00-09:00", "an empty range"),
    ("hours 09:00-09:00", "an empty range"),
    ("hours 09:00-17:00 ,", "is not a set of days"),
    ("hours nine-five", "is not a range of hours"),
])
def test_bad_hours_are_refused_with_the_grammar(text, named):
    with pytest.raises(UsageError) as caught:
        COMMANDS.parse(text)
    assert named in caught.value.message
    assert caught.value.usage == "/bb hours HH:MM-HH:MM [DAYS] [tz ZONE] · /bb hours"


def test_remind_me_and_a_bare_remind_or_digest_read_as_typed():
    assert COMMANDS.parse("remind").name == "reminders"  # bare: shows, never resets
    assert COMMANDS.parse("remind me").args == {"at": None, "days": None}
    assert COMMANDS.parse("remind me at 8:15 on mon-thu").args == {"at": "08:15", "days": ("mon", "tue", "wed", "thu")}
    assert COMMANDS.parse("remind me off").name == "remind_me_off" and COMMANDS.parse("remind me now").name == "remind_me_now"
    with pytest.raises(UsageError):
        COMMANDS.parse("remind me later")
    assert COMMANDS.parse("digest").name == "digests" and COMMANDS.parse("digests").name == "digests"
    now = COMMANDS.parse("digest now acme/now")
    assert (now.name, now.repo.workspace, now.repo.slug) == ("digest_now", "acme", "now")
    assert COMMANDS.parse("digest acme/api on fri at 16:30").args == {"at": "16:30", "days": ("fri",)}
