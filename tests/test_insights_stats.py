"""/bb stats end to end: the real bot over HTTP against the simulated Bitbucket and Slack. The figures in the
channel, the chart uploaded in Slack's three steps, few and bounded Bitbucket calls, the cache, and refusals."""

from __future__ import annotations

import math
import struct
from datetime import datetime, timedelta, timezone

import numpy
import pytest

from bot import reminders
from bot.insights import chart, collect
from bot.insights.figures import compute
from bot.sandbox.history import seed_history
from tests.harness import RunningBot, text_of

CHANNEL = "C1"
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)
PEOPLE = ["ann", "bob", "cat", "dan"]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def repo(bitbucket):
    for nickname in PEOPLE:
        bitbucket.add_user(nickname, nickname.title() + " <!here>" if nickname == "dan" else nickname.title())
    bitbucket.add_repository("acme", "api")
    return bitbucket


@pytest.fixture
def bot(settings, slack):
    running = RunningBot(settings, slack, clock=lambda: NOW)
    yield running
    running.stop()


def test_the_chart_is_a_png_of_sensible_size():
    prs = [{"id": n, "title": "x", "state": "MERGED", "author": {"nickname": "ann"}, "created_on": (NOW - timedelta(days=n)).isoformat(),
            "updated_on": (NOW - timedelta(days=n - 0.5)).isoformat()} for n in range(1, 29)]
    activity = [{"approval": {"date": (NOW - timedelta(days=n, hours=-n % 5 - 1)).isoformat(), "user": {"nickname": "bob"}},
                 "pull_request": {"id": n}} for n in range(1, 29)]
    for days in (7, 30, 90):
        data = chart.chart_png(compute("acme/api", days, NOW, prs, activity))
        assert png_size(data) == (800, 400)
        assert 5_000 < len(data) < 300_000
    empty = chart.chart_png(compute("acme/empty", 30, NOW, [], []))  # nothing to draw still draws
    assert png_size(empty) == (800, 400)


def test_the_legend_covers_no_bar_and_no_point():
    """A tall first bar (and a review point at the top) under the legend's usual corner."""
    prs = [{"id": n, "title": "x", "state": "MERGED", "author": {"nickname": "ann"}, "created_on": (NOW - timedelta(days=6, hours=2)).isoformat(),
            "updated_on": (NOW - timedelta(days=6, hours=1)).isoformat()} for n in range(1, 10)]
    activity = [{"approval": {"date": (NOW - timedelta(days=6, hours=1, minutes=30)).isoformat(), "user": {"nickname": "bob"}},
                 "pull_request": {"id": 1}}]
    for days in (7, 30):
        figure = chart.chart_figure(compute("acme/api", days, NOW, prs, activity))
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        bars, line = figure.axes
        legend = (bars.get_legend() or figure.legends[0]).get_window_extent(renderer)
        assert bars.patches and not any(legend.overlaps(patch.get_window_extent(renderer)) for patch in bars.patches)
        points = line.lines[0].get_xydata()
        shown = line.transData.transform(points[~numpy.isnan(points).any(axis=1)])
        assert len(shown) and not any(legend.contains(x, y) for x, y in shown)


def test_a_repository_without_merges_gets_an_axis_from_zero():
    figure = chart.chart_figure(compute("acme/empty", 30, NOW, [], []))
    bars, line = figure.axes
    assert bars.get_ylim() == (0, 1) and line.get_ylim()[0] == 0
    assert all(float(tick).is_integer() for tick in bars.get_yticks() if 0 <= tick <= 1)


def test_a_short_bucket_and_today_say_so_in_their_labels():
    weekly = chart.bucket_labels(compute("acme/api", 30, NOW, [], []).buckets)
    assert weekly == ["17–18 May\n(2 days)", "19–25 May", "26 May–01 Jun", "02–08 Jun", "09–15 Jun"]
    daily = chart.bucket_labels(compute("acme/api", 7, NOW, [], []).buckets)
    assert daily[-1] == "today" and daily[0] == "Tue 09"


def test_stats_posts_the_figures_and_uploads_the_chart_in_three_steps(bot, slack, repo):
    seed_history(repo, "acme", "api", people=PEOPLE, count=40, now=NOW, days=60)
    sent = bot.command("stats acme/api", channel_id=CHANNEL)
    working, figures = bot.answers(sent, 2)[:2]
    assert "Working on the figures of `acme/api` for the last 30 days" in text_of(working)
    assert working["response_type"] == "ephemeral" and figures["response_type"] == "in_channel"
    text = text_of(figures)
    assert "acme/api: the last 30 days" in text and "*Opened* " in text and "*Merged* " in text and "*Declined* " in text
    assert "*Time to first review* median " in text and "p90 " in text and "*Time to merge* median " in text
    assert "*Open now* " in text and "*Review load*" in text and "Compared with the 30 days before" in text
    assert "Covered 40 pull requests" in text
    assert "Dan &lt;!here&gt;" in text and "<!here>" not in text  # names from Bitbucket are escaped

    (shared,) = slack.wait_for(lambda: slack.shared_files(CHANNEL), timeout=10)
    methods = [call.method for call in slack.calls if call.method.startswith("files.")]
    assert methods == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    asked = slack.calls_to("files.getUploadURLExternal")[0].args
    assert asked["filename"] == "api-stats-30d.png" and int(asked["length"]) == len(shared.data)
    assert png_size(shared.data) == (800, 400)
    assert "acme/api" in shared.title
    (message,) = [m for m in slack.channel_messages(CHANNEL) if m.via == "files.completeUploadExternal"]
    assert message.files[0]["id"] == shared.id and message.files[0]["mimetype"] == "image/png"


def test_a_second_request_within_ten_minutes_is_answered_from_the_cache(bot, slack, repo):
    seed_history(repo, "acme", "api", people=PEOPLE, count=10, now=NOW, days=30)
    bot.answers(bot.command("stats acme/api 7d", channel_id=CHANNEL), 2)
    asked = len(repo.requests)
    again = bot.answers(bot.command("stats api 7d", channel_id=CHANNEL), 2)
    assert len(repo.requests) == asked  # not one more Bitbucket call
    assert "Figures from the last 10 minutes" in text_of(again[1])
    slack.wait_for(lambda: len(slack.shared_files(CHANNEL)) == 2, timeout=10)


def test_five_hundred_pull_requests_cost_a_few_bounded_listings(bot, repo):
    seed_history(repo, "acme", "api", people=PEOPLE, count=500, now=NOW, days=90)
    repo.requests.clear()
    sent = bot.command("stats acme/api 90d", channel_id=CHANNEL)
    assert "Covered 500 pull requests" in text_of(bot.answers(sent, 2, timeout=30)[1])

    listings = repo.requests_to("GET", "/pullrequests")
    assert len(listings) == len(repo.requests)  # nothing else was asked
    assert not [r for r in listings if any(part.isdigit() for part in r.path.split("/"))]  # never one call per pull request
    pulls = [r for r in listings if r.path.endswith("/pullrequests")]
    activity = [r for r in listings if r.path.endswith("/pullrequests/activity")]
    assert len(pulls) == math.ceil(500 / 50)
    first = pulls[0].query
    assert first["pagelen"] == ["50"] and first["state"] == ["OPEN", "MERGED", "DECLINED"]
    assert first["q"] == ['updated_on >= 2025-12-17T12:00:00+00:00 OR state = "OPEN"'] and first["sort"] == ["-updated_on"]
    assert "values.created_on" in first["fields"][0] and "values.reviewers.uuid" in first["fields"][0]
    log_items = sum(len(repo._activity_of(r, p)) for r in repo._repositories.values() for p in r.pull_requests.values())
    assert len(activity) == math.ceil(log_items / 50) <= collect.MAX_ACTIVITY_PAGES
    assert activity[0].query["pagelen"] == ["50"]


def test_past_the_cap_it_stops_and_says_so(settings, slack, repo):
    seed_history(repo, "acme", "api", people=PEOPLE, count=120, now=NOW, days=30)
    limits = collect.Limits(max_pull_requests=100, max_activity_pages=2)  # lower caps, given as a deployment could
    bot = RunningBot(settings, slack, clock=lambda: NOW, parts=[limits])
    try:
        repo.requests.clear()
        text = text_of(bot.answers(bot.command("stats acme/api", channel_id=CHANNEL), 2)[1])
    finally:
        bot.stop()
    assert "Covered 100 pull requests" in text and "Stopped at 100 pull requests, the most recently updated" in text
    assert "Stopped reading the activity log at its cap" in text
    assert len(repo.requests_to("GET", "/pullrequests/activity")) == 2
    assert len([r for r in repo.requests if r.path.endswith("/pullrequests")]) == 2


@pytest.mark.parametrize("status", [403, 404])
def test_a_repository_the_bot_cannot_read_gets_a_clear_refusal(bot, slack, repo, status):
    if status == 403:
        repo.fail_next("GET", r"/repositories/acme/secret/pullrequests$", status=403,
                       body={"type": "error", "error": {"message": "You do not have access to this repository."}})
    answers = bot.answers(bot.command("stats acme/secret", channel_id=CHANNEL), 2)
    refusal = text_of(answers[1])
    assert "I cannot read the pull requests of `acme/secret`" in refusal
    assert "may read this repository and its pull requests" in refusal
    assert answers[1]["response_type"] == "ephemeral"
    bot.services.wait_idle()
    assert slack.calls_to("files.getUploadURLExternal") == []


def test_a_channel_that_refuses_the_chart_is_told_privately(bot, slack, repo):
    slack.set_channel_error(CHANNEL, "not_in_channel")
    answers = bot.answers(bot.command("stats acme/api", channel_id=CHANNEL), 3)
    assert "the chart could not be: Slack said `not_in_channel`" in text_of(answers[2])


@pytest.mark.parametrize(("text", "named"), [
    ("stats acme/api 14d", "`14d` is not understood here"),
    ("stats acme/api 7d extra", "`extra` is not understood here"),
])
def test_a_wrong_period_is_named(bot, text, named):
    assert named in text_of(bot.command(text, channel_id=CHANNEL).http.json())


def test_help_lists_stats_and_digest_and_each_form_has_a_handler(bot):
    from bot.registry import COMMANDS

    parse = COMMANDS.parse
    from handlers.slack import COMMAND_HANDLERS

    shown = text_of(bot.command("help", channel_id=CHANNEL).http.json())
    assert "/bb stats [REPO] [7d|30d|90d]" in shown and "/bb digest [REPO] [on DAYS] [at HH:MM] · /bb digest off [REPO]" in shown
    for typed in ("stats a/b", "stats", "digest a/b on fri", "digest off"):
        assert parse(typed).name in COMMAND_HANDLERS


def test_the_cache_keeps_figures_ten_minutes_per_repository_and_period():
    moments = [1000.0]
    cache = collect.Cache(clock=lambda: moments[0])
    insights = compute("acme/api", 30, NOW, [], [])
    cache.put(insights)
    assert cache.get("acme/api", 30) is insights and cache.get("acme/api", 7) is None and cache.get("acme/web", 30) is None
    moments[0] += 599
    assert cache.get("acme/api", 30) is insights
    moments[0] += 2
    assert cache.get("acme/api", 30) is None
