"""The pure rules of a person's own reminder: when it is sent, given their working hours (a schedule and a moment
in, a send time out), and how many approvals make their pull request ready to merge (the branch restrictions as
Bitbucket answers them). Every moment is written down: nothing depends on today's date."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.reminders import Schedule, approvals, timing, workdays
from bot.people import Hours

UTC = timezone.utc
BERLIN, TOKYO = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Tokyo")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
EVERY_DAY = WEEKDAYS + ("sat", "sun")
# Monday 23 March 2026; Berlin changes to summer time on Sunday 29 March.
MONDAY = datetime(2026, 3, 23, tzinfo=BERLIN)


def schedule(at: str, days=WEEKDAYS, *, set_at: datetime = MONDAY - timedelta(days=30)) -> Schedule:
    return Schedule(1, "UGRETA", "", 0, at, tuple(days), set_at.timestamp(), "UGRETA")


def hours(start="09:00", end="17:30", days=WEEKDAYS, zone=BERLIN) -> Hours:
    return Hours(start, end, tuple(days), zone.key, "set", explicit=True)


def local(day_offset: int, hh: int, mm: int = 0, zone=BERLIN) -> datetime:
    return datetime(2026, 3, 23 + day_offset, hh, mm, tzinfo=zone)


# --- working hours ------------------------------------------------------------------------------------------


def test_a_moment_within_the_hours_stays_and_one_outside_moves_to_the_next_start():
    nine_to_half_five = hours()
    assert workdays.next_working_moment(local(0, 10), nine_to_half_five) == local(0, 10)
    assert workdays.next_working_moment(local(0, 9), nine_to_half_five) == local(0, 9)  # the start is within
    assert workdays.next_working_moment(local(0, 7), nine_to_half_five) == local(0, 9)
    assert workdays.next_working_moment(local(0, 17, 30), nine_to_half_five) == local(1, 9)  # the end is not
    assert workdays.next_working_moment(local(4, 18), nine_to_half_five) == local(7, 9)  # Friday evening: Monday
    assert workdays.next_working_moment(local(5, 11), nine_to_half_five) == local(7, 9)  # Saturday
    # Read in the hours' zone, whatever zone the moment is written in.
    assert workdays.next_working_moment(datetime(2026, 3, 23, 7, 0, tzinfo=UTC), nine_to_half_five) == local(0, 9)


def test_an_occurrence_within_the_hours_is_sent_on_time():
    at_0930 = schedule("09:30")
    assert timing.next_send(at_0930, hours(), local(-4, 13)) == local(-3, 9, 30)  # Thursday 19th: Friday 09:30
    assert timing.due_send(at_0930, hours(), local(0, 9, 30) + timedelta(seconds=1)) == local(0, 9, 30)
    assert not timing.reaches_outside("09:30", WEEKDAYS, hours())


def test_before_the_start_it_waits_for_the_start_and_is_not_sent_early():
    at_0700 = schedule("07:00")
    assert timing.next_send(at_0700, hours(), local(0, 6)) == local(0, 9)
    assert timing.due_send(at_0700, hours(), local(0, 7) + timedelta(seconds=5)) is None
    assert timing.due_send(at_0700, hours(), local(0, 9) + timedelta(seconds=5)) == local(0, 9)
    assert timing.due_send(at_0700, hours(), local(0, 14)) == local(0, 9)  # a late look still owes it (grace)
    assert timing.reaches_outside("07:00", WEEKDAYS, hours())


def test_after_the_end_it_comes_the_next_working_morning_and_fridays_on_monday():
    at_1800 = schedule("18:00")
    assert timing.next_send(at_1800, hours(), local(0, 17, 59)) == local(1, 9)  # Monday's: Tuesday 09:00
    assert timing.next_send(at_1800, hours(), local(4, 17, 59)) == local(7, 9)  # Friday's: Monday 09:00
    assert timing.due_send(at_1800, hours(), local(4, 18, 1)) is None  # not at 18:00
    assert timing.due_send(at_1800, hours(), local(7, 9, 0) + timedelta(seconds=1)) == local(7, 9)


def test_weekend_occurrences_come_once_on_monday_and_mondays_own_is_not_a_second_send():
    every_day_at_11 = schedule("11:00", EVERY_DAY)
    assert timing.reaches_outside("11:00", EVERY_DAY, hours())
    saturday, monday_0900 = local(5, 11), local(7, 9)
    assert timing.due_send(every_day_at_11, hours(), saturday + timedelta(seconds=5)) is None
    assert timing.next_send(every_day_at_11, hours(), local(4, 12)) == monday_0900  # Saturday's and Sunday's
    assert timing.due_send(every_day_at_11, hours(), monday_0900 + timedelta(seconds=5)) == monday_0900
    # Monday's own 11:00 falls on a day that has its send already: the next one is Tuesday's.
    assert timing.next_send(every_day_at_11, hours(), monday_0900) == local(8, 11)
    assert timing.due_send(every_day_at_11, hours(), local(7, 11, 0) + timedelta(seconds=5)) == monday_0900


def test_an_occurrence_from_before_the_reminder_was_set_is_not_owed_when_moved():
    set_at_0830 = schedule("08:00", set_at=local(0, 8, 30))
    assert timing.due_send(set_at_0830, hours(), local(0, 9) + timedelta(seconds=5)) is None
    assert timing.next_send(set_at_0830, hours(), local(0, 8, 30)) == local(1, 9)


def test_each_person_is_read_in_their_own_zone_also_across_the_change_to_summer_time():
    at_0800 = schedule("08:00")
    # Berlin, winter time: Friday 27 March 09:00 is 08:00 UTC; summer time: Monday 30 March 09:00 is 07:00 UTC.
    friday = timing.next_send(at_0800, hours(), datetime(2026, 3, 26, 12, tzinfo=UTC))
    assert friday.astimezone(UTC) == datetime(2026, 3, 27, 8, tzinfo=UTC)
    monday = timing.next_send(at_0800, hours(), friday)
    assert monday.astimezone(UTC) == datetime(2026, 3, 30, 7, tzinfo=UTC)
    # The same schedule and hours in Tokyo: its own 09:00, Thursday 00:00 UTC.
    tokyo = timing.next_send(at_0800, hours(zone=TOKYO), datetime(2026, 3, 25, 12, tzinfo=UTC))
    assert tokyo.astimezone(UTC) == datetime(2026, 3, 26, 0, tzinfo=UTC)


def test_a_reminder_on_days_without_work_waits_for_a_working_day_and_a_day_of_none_is_never():
    saturdays = schedule("10:00", ("sat",))
    assert timing.next_send(saturdays, hours(), local(0, 12)) == local(7, 9)  # Saturday 28th: Monday 30th
    assert timing.next_send(schedule("10:00", ()), hours(), local(0, 12)) is None


# --- required approvals ---------------------------------------------------------------------------------------


def restriction(value, pattern="main", *, kind=approvals.KIND, branch_type=None):
    if branch_type:
        return {"kind": kind, "branch_match_kind": "branching_model", "branch_type": branch_type, "pattern": "", "value": value}
    return {"kind": kind, "branch_match_kind": "glob", "pattern": pattern, "value": value}


MODEL = {"development": {"name": "develop", "use_mainbranch": False}, "production": {"name": "main", "use_mainbranch": True},
         "branch_types": [{"kind": "release", "prefix": "release/"}, {"kind": "hotfix", "prefix": "hotfix/"}]}


def test_the_approvals_needed_come_from_the_restrictions_matching_the_destination_by_glob():
    rules = approvals.Rules((restriction(2, "main"), restriction(3, "release/*"), restriction(5, "main", kind="require_passing_builds_to_merge")))
    assert approvals.required_for(rules, "main") == approvals.Required(2, approvals.READ, "main")
    assert approvals.required_for(rules, "release/1.4").count == 3
    assert approvals.required_for(rules, "develop") == approvals.Required(1, approvals.NO_RULE, "develop")
    # Two rules cover a branch: Bitbucket enforces both, so the larger; a rule of 0 still means someone else's approval.
    assert approvals.required_for(approvals.Rules((restriction(2, "*"), restriction(4, "main"))), "main").count == 4
    assert approvals.required_for(approvals.Rules((restriction(0, "main"),)), "main").count == 1


def test_the_approvals_needed_come_from_the_branching_model_where_a_restriction_names_a_branch_type():
    rules = approvals.Rules((restriction(3, branch_type="production"), restriction(2, branch_type="release")), MODEL)
    assert approvals.branch_types_of("main", MODEL) == {"production"}
    assert approvals.branch_types_of("release/2.0", MODEL) == {"release"}
    assert approvals.required_for(rules, "main").count == 3
    assert approvals.required_for(rules, "release/2.0").count == 2
    assert approvals.required_for(rules, "develop").source == approvals.NO_RULE
    # Without the model, a branching-model restriction matches nothing (only globs can be read).
    assert approvals.required_for(approvals.Rules(rules.restrictions), "main").source == approvals.NO_RULE


def test_restrictions_the_bot_may_not_read_count_one_approval_and_say_so():
    forbidden = approvals.required_for(approvals.Rules(None), "main")
    assert forbidden == approvals.Required(1, approvals.FORBIDDEN, "main") and forbidden.assumed
    assert not approvals.required_for(approvals.Rules(()), "main").assumed


@pytest.mark.parametrize("at, days, outside", [
    ("09:00", WEEKDAYS, False), ("17:29", WEEKDAYS, False), ("17:30", WEEKDAYS, True), ("08:59", WEEKDAYS, True),
    ("10:00", ("mon", "sat"), True),
])
def test_whether_a_schedule_reaches_outside_the_hours(at, days, outside):
    assert timing.reaches_outside(at, days, hours()) is outside
