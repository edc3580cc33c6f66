"""The dashboard's pure parts and the readers it added to other features: charts, query strings and CSV, commits
per week, the webhook secret's generation, environments' states, the simulated Bitbucket's commit listing, the
DASHBOARD setting and its `check` line."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest

from bot import relay
from bot.bitbucket import BearerToken, BitbucketClient, Deployment, Environment
from bot.core.config import Settings
from bot.dashboard import charts, tables
from bot.deploys.overview import latest_by_environment
from bot.insights.codebase import commits_per_week, fetch
from tests.harness import BITBUCKET_TOKEN
from tests.test_cli import run_cli

NOW = datetime(2025, 3, 12, 15, 0, tzinfo=timezone.utc)


def test_a_bar_chart_scales_to_a_round_top_and_says_every_bar_in_words():
    chart = charts.bar_chart("Merged", [("Mon", 0), ("Tue", 3), ("Wed", 6)], "merged")
    assert [bar.value for bar in chart.bars] == [0, 3, 6] and [tick for _, tick in chart.ticks] == [0, 5, 10]
    assert chart.bars[0].height == 0 and chart.bars[2].height == pytest.approx(2 * chart.bars[1].height, abs=0.2)
    assert all(bar.y + bar.height == pytest.approx(chart.base, abs=0.2) for bar in chart.bars)
    assert chart.description == "Merged. Mon: 0 merged; Tue: 3 merged; Wed: 6 merged."
    assert [charts.nice_top(n) for n in (0, 1, 2, 3, 7, 10, 11, 49, 500)] == [1, 1, 2, 5, 10, 10, 20, 50, 500]
    assert charts.bar_chart("Nothing", [], "x").description == "Nothing. no data."


def test_the_audit_filter_reads_a_query_string_and_drops_what_is_malformed():
    where, shown = tables.audit_filter({"user": " U2 ", "action": "merge", "repo": "Acme/API", "since": "2025-03-01", "until": "2025-03-09"})
    assert (where.user_id, where.action, where.repo) == ("U2", "merge", "acme/api")
    assert where.since == datetime(2025, 3, 1, tzinfo=timezone.utc).timestamp()
    assert where.until == datetime(2025, 3, 10, tzinfo=timezone.utc).timestamp()  # the last day is included
    where, shown = tables.audit_filter({"since": "yesterday", "until": "2025-13-01"})
    assert where.since is None and where.until is None and shown["since"] == shown["until"] == ""
    assert [tables.page_number(q) for q in ({}, {"page": "3"}, {"page": "-1"}, {"page": "x"}, {"page": "0"})] == [1, 3, 1, 1, 1]
    assert tables.repository("Acme/API") == "acme/api" and tables.repository("acme") is None and tables.repository("a/b/c") is None


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_as_text():
    text = tables.to_csv(("a", "b"), [('=HYPERLINK("x")', "plain"), ("+1", None), ("@SUM(A1)", "-2")])
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ["'=HYPERLINK(\"x\")", "plain"], ["'+1", ""], ["'@SUM(A1)", "'-2"]]


def test_times_and_durations_read_plainly():
    assert tables.when(NOW) == "2025-03-12 15:00 UTC" and tables.when(NOW.timestamp()) == "2025-03-12 15:00 UTC"
    assert tables.when(None) == "" and tables.duration(None) == "–"
    assert [tables.duration(s) for s in (59, 2700, 7200, 90000, 3 * 86400)] == ["1 min", "45 min", "2.0 h", "25.0 h", "3.0 d"]


def test_commits_per_week_counts_seven_day_spans_ending_now():
    moments = [NOW - timedelta(days=d) for d in (0.5, 6.9, 7, 7.1, 13, 20.9, 21, 30)] + [NOW, NOW + timedelta(hours=1)]
    weeks = commits_per_week(moments, NOW, 3)
    assert [start for start, _ in weeks] == [NOW - timedelta(days=21), NOW - timedelta(days=14), NOW - timedelta(days=7)]
    assert [count for _, count in weeks] == [2, 2, 3]  # NOW itself and later are not in; 30 days ago is before


def test_the_main_branchs_commits_and_the_branches_come_from_bitbucket(bitbucket):
    bitbucket.clock = lambda: NOW
    bitbucket.add_repository("acme", "api", branches=("main", "feature/a"))
    for days in (1, 2, 8, 40):
        bitbucket.add_commit("acme", "api", "main", message=f"m{days}", date=NOW - timedelta(days=days))
    bitbucket.add_commit("acme", "api", "feature/a", message="not on main", date=NOW - timedelta(days=1))
    client = BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN), max_retries=0)
    assert client.count_branches("acme", "api") == 2
    pages = list(client.iter_commit_pages("acme", "api", "main", fields="next,values.hash,values.date"))
    messages = [commit.get("message") for page in pages for commit in page]
    assert messages == [None] * 5  # only the fields asked for
    found = fetch(client, "acme/api", NOW, weeks=2)
    assert (found.main_branch, found.branches) == ("main", 2)
    assert [count for _, count in found.commits_per_week] == [1, 2]
    listed = [r for r in bitbucket.requests if r.path.endswith("/commits")]
    assert listed and all(r.query.get("include") == ["main"] for r in listed)


def test_the_simulated_bitbucket_lists_commits_like_git_log(bitbucket):
    bitbucket.clock = lambda: NOW - timedelta(days=10)
    bitbucket.add_repository("acme", "api", branches=("main",))
    first = bitbucket.add_commit("acme", "api", "main", message="one", date=NOW - timedelta(days=2))
    bitbucket.add_branch("acme", "api", "topic", commit=first)
    bitbucket.add_commit("acme", "api", "topic", message="topic work", date=NOW - timedelta(days=1))
    bitbucket.add_commit("acme", "api", "main", message="two", date=NOW - timedelta(hours=1))
    client = BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN), max_retries=0)
    main = [c["message"] for page in client.iter_commit_pages("acme", "api", "main") for c in page]
    assert main == ["two", "one", "Initial commit"]
    topic_only = client._call("GET", client._url("/repositories/{workspace}/{repo_slug}/commits", workspace="acme", repo_slug="api"),
                              params={"include": "topic", "exclude": "main"})
    assert [c["message"] for c in topic_only["values"]] == ["topic work"]


def test_a_webhooks_secret_generation_is_told_by_a_mark_never_the_secret():
    hook = relay.Registration("acme/api", "{h}", "https://x/bitbucket/webhook", "main", "U1", 0.0, relay.secret_mark("old-secret"))
    assert relay.secret_generation(hook, "new-secret", ("old-secret",)) == "former"
    assert relay.secret_generation(hook, "old-secret", ()) == "current"
    assert relay.secret_generation(hook, "new-secret", ()) == "unknown"
    assert relay.secret_generation(relay.Registration("acme/api", "", "", "", "U1", 0.0, ""), "new-secret", ()) == "unknown"
    assert "old-secret" not in relay.secret_mark("old-secret") and len(relay.secret_mark("old-secret")) == 12


def test_each_environment_shows_its_newest_successful_deployment_and_its_latest():
    staging, production = Environment("{s}", "Staging", "Staging", 1), Environment("{p}", "Production", "Production", 2)

    def deployment(uuid, env, status, hours):
        return Deployment(uuid, env, "COMPLETED", status, f"#{uuid}", "a" * 40, None, None, None, NOW - timedelta(hours=hours), None)

    history = [deployment("1", "{p}", "SUCCESSFUL", 5), deployment("2", "{p}", "FAILED", 1), deployment("3", "{s}", "SUCCESSFUL", 2)]
    states = latest_by_environment([staging, production], history)
    assert [(s.environment.name, s.current.uuid, s.latest.uuid) for s in states] == [("Staging", "3", "3"), ("Production", "1", "2")]
    assert latest_by_environment([Environment("{t}", "Test", "Test", 0)], history)[0].current is None


def test_the_dashboard_setting():
    assert Settings.from_env({}, dotenv=False).dashboard is True
    for word in ("off", "OFF", "false", "0", "no"):
        assert Settings.from_env({"DASHBOARD": word}, dotenv=False).dashboard is False
    assert Settings.from_env({"DASHBOARD": "on"}, dotenv=False).dashboard is True


def test_check_says_whether_the_dashboard_is_on_and_where(tmp_path, slack, bitbucket):
    bitbucket.add_repository("acme", "api")
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": slack.api_url,
        "BITBUCKET_API_URL": bitbucket.base_url, "BITBUCKET_ACCESS_TOKEN": "bot-access-token", "BITBUCKET_WORKSPACE": "acme",
        "BITBUCKET_WEBHOOK_SECRET": "w", "DATABASE_PATH": str(tmp_path / "chatops.db"),
    }
    assert "the dashboard is on but nobody can sign in to it: set SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, PUBLIC_URL" in run_cli(
        "check", env=env, cwd=tmp_path).stdout
    ready = run_cli("check", env={**env, "PUBLIC_URL": "https://bot.example.com", "SLACK_CLIENT_ID": "1.2",
                                  "SLACK_CLIENT_SECRET": "slack-secret-value"}, cwd=tmp_path).stdout
    assert "[ok ] the dashboard is on at https://bot.example.com/dashboard" in ready
    assert "https://bot.example.com/dashboard/oidc/callback" in ready and "slack-secret-value" not in ready
    assert "the dashboard is off (DASHBOARD=off)" in run_cli("check", env={**env, "DASHBOARD": "off"}, cwd=tmp_path).stdout
