"""The figures of /bb stats, computed by pure functions on hand-made histories whose medians are known."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.insights import figures
from bot.insights.figures import compute, median, percentile

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)  # a fixed clock, passed in
HOUR = 3600


def at(days_ago: float = 0, hours: float = 0) -> datetime:
    return NOW - timedelta(days=days_ago) + timedelta(hours=hours)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def user(nickname: str) -> dict:
    return {"display_name": nickname.title(), "nickname": nickname, "uuid": "{%s-0000}" % nickname}


def pr(number: int, *, created: datetime, state: str = "OPEN", updated: datetime | None = None, author: str = "ann",
       reviewers: tuple[str, ...] = (), title: str = "") -> dict:
    return {"id": number, "title": title or f"Change {number}", "state": state, "author": user(author),
            "created_on": iso(created), "updated_on": iso(updated or created), "reviewers": [user(r) for r in reviewers],
            "links": {"html": {"href": f"https://bitbucket.org/acme/api/pull-requests/{number}"}}}


def review(number: int, kind: str, who: str, moment: datetime) -> dict:
    stub = {"id": number, "type": "pullrequest"}
    if kind == "comment":
        return {"comment": {"created_on": iso(moment), "user": user(who)}, "pull_request": stub}
    return {kind: {"date": iso(moment), "user": user(who)}, "pull_request": stub}


def update(number: int, state: str, moment: datetime, who: str = "ann") -> dict:
    return {"update": {"state": state, "date": iso(moment), "author": user(who)}, "pull_request": {"id": number}}


def test_median_and_nearest_rank_p90():
    assert median([]) is None and percentile([], 90) is None
    assert median([5]) == 5 and percentile([5], 90) == 5
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5  # the mean of the two middle values
    assert percentile(list(range(1, 11)), 90) == 9  # ceil(0.9 × 10) = 9th of 10
    assert percentile(list(range(1, 21)), 90) == 18
    assert percentile([10, 20, 30], 90) == 30  # ceil(2.7) = 3rd


def history() -> tuple[list[dict], list[dict]]:
    """Four pull requests opened in the last 30 days, reviewed after 1h, 2h, 4h and not at all; three merged after
    1, 2 and 6 days; one declined; one opened 40 days ago (the previous period) and merged 35 days ago."""
    prs = [
        pr(1, created=at(20), state="MERGED", updated=at(19), reviewers=("bob",)),
        pr(2, created=at(10), state="MERGED", updated=at(8), reviewers=("bob", "cat")),
        pr(3, created=at(9), state="DECLINED", updated=at(8)),
        pr(4, created=at(2, 0), reviewers=("cat",)),
        pr(5, created=at(40), state="MERGED", updated=at(35)),
        pr(6, created=at(45), state="MERGED", updated=at(20) + timedelta(hours=1)),  # its merge date comes from the log
        pr(7, created=at(100), reviewers=("bob", "cat")),  # open for 100 days
    ]
    activity = [
        # #1: its author's own comment is not a review; bob's comment at +1h is the first review
        review(1, "comment", "ann", at(20, 0.5)), review(1, "comment", "bob", at(20, 1)), review(1, "approval", "bob", at(19, 2)),
        update(1, "MERGED", at(19)),
        # #2: cat asks for changes at +2h, bob approves later
        review(2, "changes_requested", "cat", at(10, 2)), review(2, "approval", "bob", at(9)), update(2, "MERGED", at(8)),
        # #3: approved at +4h, then declined
        review(3, "approval", "bob", at(9, 4)), update(3, "DECLINED", at(8)),
        # #4: not reviewed yet
        # #5 (previous period): reviewed after 10h, merged after 5 days
        review(5, "approval", "cat", at(40, 10)), update(5, "MERGED", at(35)),
        # #6: merged 20 days ago per the log (its updated_on moved later, with a comment after the merge)
        update(6, "MERGED", at(20)), review(6, "comment", "dan", at(20, 1)),
    ]
    return prs, activity


def test_throughput_review_and_merge_times_of_the_period():
    prs, activity = history()
    insights = compute("acme/api", 30, NOW, prs, activity)
    current = insights.current
    assert (current.opened, current.merged, current.declined) == (4, 3, 1)
    assert sorted(current.first_review) == [1 * HOUR, 2 * HOUR, 4 * HOUR] and current.not_reviewed == 1
    assert current.first_review_median == 2 * HOUR and current.first_review_p90 == 4 * HOUR
    # merged: #1 after 1 day, #2 after 2 days, #6 after 25 days (created 45 days ago, merged 20 days ago per the log)
    assert sorted(current.to_merge) == [86400, 2 * 86400, 25 * 86400]
    assert current.merge_median == 2 * 86400 and current.merge_p90 == 25 * 86400
    assert insights.covered == 7 and not insights.capped


def test_the_previous_period_is_the_same_length_before():
    prs, activity = history()
    previous = compute("acme/api", 30, NOW, prs, activity).previous
    assert (previous.period.start, previous.period.end) == (at(60), at(30))
    assert (previous.opened, previous.merged, previous.declined) == (2, 1, 0)  # #5 and #6 opened; #5 merged
    # #5 reviewed after 10h; #6 first commented on by dan (no author) 25 days and 1 hour after it was opened
    assert previous.first_review == [10 * HOUR, 25 * 86400 + HOUR] and previous.not_reviewed == 0
    assert previous.to_merge == [5 * 86400]


def test_a_seven_day_period_counts_only_its_week():
    prs, activity = history()
    current = compute("acme/api", 7, NOW, prs, activity).current
    assert (current.opened, current.merged, current.declined) == (1, 0, 0)
    assert current.first_review == [] and current.not_reviewed == 1 and current.first_review_median is None


def test_open_pull_requests_by_age_and_the_oldest_first():
    prs, activity = history()
    insights = compute("acme/api", 30, NOW, prs, activity)
    assert dict(insights.open_by_age) == {"under 1 day": 0, "1–3 days": 1, "3–7 days": 0, "1–4 weeks": 0, "over 4 weeks": 1}
    assert [p.id for p in insights.oldest_open] == [7, 4]


def test_review_load_counts_pull_requests_of_others_reviewed_and_open_ones_assigned():
    prs, activity = history()
    loads = {load.who.name: (load.reviewed, load.assigned_open) for load in compute("acme/api", 30, NOW, prs, activity).review_load}
    # bob reviewed #1, #2, #3 (two activities on #1 count once); cat reviewed #2; dan commented on #6; ann's own comment is no review
    assert loads == {"Bob": (3, 1), "Cat": (1, 2), "Dan": (1, 0)}
    assert [load.who.name for load in compute("acme/api", 30, NOW, prs, activity).review_load][0] == "Bob"


def midnight(day: int, zone=timezone.utc) -> datetime:
    return datetime(2026, 6, day, tzinfo=zone)


def test_buckets_for_the_chart_are_weeks_for_thirty_days_and_days_for_seven():
    prs, activity = history()
    weekly = compute("acme/api", 30, NOW, prs, activity).buckets
    assert len(weekly) == 5 and sum(b.merged for b in weekly) == 3
    daily = compute("acme/api", 7, NOW, prs, activity).buckets
    assert len(daily) == 7 and all(b.days == 1 for b in daily)


def test_days_are_calendar_days_and_today_is_the_last_so_a_merge_shows_under_its_own_day():
    """NOW is 15 June, 12:00: a merge at 09:00 today is today's, not in a 24-hour window begun yesterday noon."""
    merged_today = pr(1, created=at(1), state="MERGED", updated=NOW - timedelta(hours=3))
    merged_yesterday_evening = pr(2, created=at(2), state="MERGED", updated=midnight(15) - timedelta(hours=2))
    daily = compute("acme/api", 7, NOW, [merged_today, merged_yesterday_evening], []).buckets
    assert [b.start for b in daily] == [midnight(d) for d in range(9, 16)]
    assert [b.end for b in daily] == [midnight(d) for d in range(10, 16)] + [NOW]  # today: so far
    assert [b.merged for b in daily][-2:] == [1, 1]


def test_days_follow_the_time_zone_of_now():
    zone = ZoneInfo("America/Los_Angeles")
    now = NOW.astimezone(zone)  # 15 June, 05:00 there
    evening_there = pr(1, created=at(3), state="MERGED", updated=datetime(2026, 6, 15, 2, 0, tzinfo=timezone.utc))  # 14 June, 19:00
    daily = compute("acme/api", 7, now, [evening_there], []).buckets
    assert daily[-1].start == midnight(15, zone) and daily[-2].start == midnight(14, zone)
    assert [b.merged for b in daily][-2:] == [1, 0]


@pytest.mark.parametrize("days, sizes", [(30, [2, 7, 7, 7, 7]), (90, [6] + [7] * 12), (7, [1] * 7)])
def test_weeks_end_with_today_and_a_short_first_one_says_how_many_days_it_holds(days, sizes):
    buckets = compute("acme/api", days, NOW, [], []).buckets
    assert [b.days for b in buckets] == sizes
    assert buckets[-1].end == NOW and buckets[0].start == midnight(16) - timedelta(days=days)
    assert all(a.end == b.start for a, b in zip(buckets, buckets[1:]))  # no gap, no overlap


@pytest.mark.parametrize("item", [
    {"pull_request": {"id": 1}},
    {"approval": {"date": "not a date", "user": {}}, "pull_request": {"id": 1}},
    {"approval": {"date": "2026-01-01T00:00:00+00:00"}, "pull_request": {}},
    {"task": {"created_on": "2026-01-01T00:00:00+00:00"}, "pull_request": {"id": 1}},
])
def test_activity_that_cannot_be_read_is_left_out(item):
    assert figures.activity_event(item) is None


def test_either_spelling_of_a_change_request_is_a_review():
    for key in ("changes_requested", "request_changes"):
        event = figures.activity_event({key: {"date": "2026-01-01T00:00:00+00:00", "user": user("bob")}, "pull_request": {"id": 3}})
        assert (event.kind, event.pr_id, event.who.name) == ("changes_requested", 3, "Bob")


def test_an_empty_repository_has_no_figures_to_speak_of():
    insights = compute("acme/empty", 30, NOW, [], [])
    assert (insights.current.opened, insights.current.merged, insights.covered) == (0, 0, 0)
    assert insights.current.merge_median is None and insights.review_load == []


def test_the_message_says_each_figure_against_the_previous_period_and_escapes_names():
    from bot.insights import render as insights_render
    from tests.harness import text_of

    prs, activity = history()
    prs.append(pr(8, created=at(1), title="<!channel> & more", author="bob"))
    activity.append(review(8, "comment", "<!here>", at(1, 3)))
    message = insights_render.stats(compute("acme/api", 30, NOW, prs, activity), by_user="U1")
    text = text_of(message.to_dict())
    assert "*Opened* 5 (+3 vs 2)" in text and "*Merged* 3 (+2 vs 1)" in text and "*Declined* 1 (+1 vs 0)" in text
    # first reviews after 1h, 2h, 3h, 4h (median 2.5h); the previous period's median was (10h + 25d 1h) / 2
    assert "*Time to first review* median 2.5h (:small_red_triangle_down: -99% vs 12.7d), p90 4h (4 pull requests · 1 opened not reviewed yet)" in text
    assert "*Time to merge* median 2d (:small_red_triangle_down: -60% vs 5d), p90 25d (3 pull requests)" in text
    assert "*Open now* 3 — under 1 day: 0" not in text and "*Open now* 3 — 1–3 days: 2 · over 4 weeks: 1" in text
    assert "&lt;!channel&gt; &amp; more" in text and "&lt;!Here&gt;: reviewed 1" in text
    assert "<!channel>" not in text and "<!here>" not in text
    assert "Covered 8 pull requests (updated in the last 60 days, or open)" in text and "Asked by <@U1>" in text
