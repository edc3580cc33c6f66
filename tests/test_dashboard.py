"""The web dashboard over plain HTTP: Sign in with Slack for members of the workspace only, every page, filters,
CSV downloads, the admins' retry and forget with CSRF, escaping, 404 for unknown repositories, and DASHBOARD=off."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

import pytest
import requests

from bot import relay
from tests import dashboardkit as kit
from tests.browser import Browser
from tests.harness import ADMIN, RunningBot

PAGES = ("/dashboard", "/dashboard/inventory", "/dashboard/audit", "/dashboard/deliveries", "/dashboard/environments",
         "/dashboard/repositories/acme/api", "/dashboard/environments/acme/api")


@pytest.fixture
def clock():
    return kit.Clock()


@pytest.fixture
def dash(tmp_path, slack, bitbucket, database, clock):
    kit.register_app(slack)
    kit.seed_bitbucket(bitbucket, clock)
    running = RunningBot(kit.settings_for(tmp_path, slack, bitbucket, database), slack, clock=clock)
    seeded = kit.seed_operations(running, bitbucket)
    running.failed_id = seeded["failed_id"]
    yield running
    running.stop()


def _get(url: str, **kwargs) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, allow_redirects=False, timeout=10, **kwargs)


def test_a_stranger_is_sent_to_sign_in_with_slack_and_sees_no_data(dash):
    stranger = Browser(kit.PUBLIC_URL, dash.url)
    for path in PAGES + ("/dashboard/audit.csv", "/dashboard/inventory.csv"):
        first = stranger.get(kit.PUBLIC_URL + path)
        assert first.status_code == 302 and first.headers["Location"].startswith("/dashboard/signin?next="), path
        page = stranger.open(kit.PUBLIC_URL + path)
        assert page.status_code == 200 and "Sign in with Slack" in page.text
        for data in ("merge", "C1", "U2", "subscription", "repo:push", "Production", "<svg", "Add login"):
            assert data not in page.text, (path, data)
    assert "Content-Security-Policy" in page.headers


def test_a_member_signs_in_with_slack_and_sees_every_page(dash, slack):
    browser = kit.sign_in(dash)
    session_cookie = next(h for h in browser.visited[-2].raw.headers.getlist("Set-Cookie") if h.startswith("bb_chatops_dashboard="))
    attributes = [part.strip().lower() for part in session_cookie.split(";")]
    assert {"httponly", "secure", "samesite=lax", "path=/dashboard"} <= set(attributes)
    assert any(a.startswith("expires=") for a in attributes)
    asked = slack.oidc.authorize_requests[-1]
    assert asked["redirect_uri"] == kit.PUBLIC_URL + kit.DASHBOARD_CALLBACK and asked["scope"] == "openid"
    expected = {
        "/dashboard": ["acme/api", "open", "stale", "merged this week", "Commits per week on main", "<svg"],
        "/dashboard/inventory": ["subscription", "owners", "reminder", "digest", "webhook", "events: pushes; branches: main",
                                 "secret: current", "2025-03-13 09:00 UTC", "paths src/billing/** → channel C9 (billing)"],
        "/dashboard/audit": ["merge", "acme/api#7", "U2", "subscribe"],
        "/dashboard/deliveries": ["repo:push", "relayed", "failed", "refused: a repo:push body without a `push` object"],
        "/dashboard/environments": ["Production", "#42", "Alice Liddell", "frozen by UADMIN"],
        "/dashboard/repositories/acme/api": ["<h1>acme/api</h1>", "Oldest open pull requests"],
        "/dashboard/environments/acme/api": ["Staging", "nothing"],
    }
    for path, wanted in expected.items():
        page = browser.get(kit.PUBLIC_URL + path)
        assert page.status_code == 200, path
        for text in wanted:
            assert text.replace("`", "&#96;") in page.text or text in page.text, (path, text)
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Content-Type-Options"] == "nosniff"


def test_the_overview_shows_the_figures_of_bb_stats_and_of_the_main_branch(dash):
    page = kit.sign_in(dash).get(kit.PUBLIC_URL + "/dashboard/repositories/acme/api").text
    # Open 2, stale 1 (idle three days), 4 merged this week; first reviews of those opened this week after 1, 2, 5 h
    # (median 2 h; the fourth was opened 8 days ago); merged
    # after 8, 20, 30, 50 h (median 25 h); branches: main, two features, four fixes.
    for label, value in (("open", "2"), ("stale", "1"), ("merged this week", "4"), ("median to first review", "2.0 h"),
                         ("median to merge", "25.0 h"), ("branches", "7")):
        assert f"<dt>{label}</dt><dd>{value}</dd>" in page, label
    last_week = sum(1 for days in kit.COMMIT_DAYS if days <= 7) + 1  # and the release, two hours ago
    assert f"05 Mar: {last_week} commits" in page and "Commits per week on main." in page
    assert "Pull requests merged per day, last 7 days" in page and "Sat 08: 1 merged" in page


def test_someone_of_another_workspace_is_refused(dash, slack):
    slack.oidc_team_id = "T-ELSEWHERE"
    slack.oidc_user = "U1"
    browser = Browser(kit.PUBLIC_URL, dash.url)
    page = browser.open(kit.PUBLIC_URL + "/dashboard/signin/start")
    assert page.status_code == 403 and "members of the bot's Slack workspace only" in html.unescape(page.text)
    assert browser.open(kit.PUBLIC_URL + "/dashboard").url.endswith("/dashboard/signin?next=/dashboard")


def test_a_slack_return_address_opened_in_another_browser_signs_nobody_in(dash, slack):
    slack.oidc_user = "U1"
    started = Browser(kit.PUBLIC_URL, dash.url)
    back = started.open(kit.PUBLIC_URL + "/dashboard/signin/start", stop_at=kit.PUBLIC_URL + kit.DASHBOARD_CALLBACK)
    return_address = back.headers["Location"]
    assert return_address.startswith(kit.PUBLIC_URL + kit.DASHBOARD_CALLBACK)
    other = Browser(kit.PUBLIC_URL, dash.url)
    page = other.open(return_address)
    assert page.status_code == 400 and "not started in this browser" in page.text
    assert "bb_chatops_dashboard" not in other.cookies or "user" not in other.cookies
    assert other.get(kit.PUBLIC_URL + "/dashboard").status_code == 302


def test_a_session_ends_after_twelve_hours(dash, clock):
    browser = kit.sign_in(dash)
    clock.now += timedelta(hours=11, minutes=59)
    assert browser.get(kit.PUBLIC_URL + "/dashboard/audit").status_code == 200
    clock.now += timedelta(minutes=2)
    assert browser.get(kit.PUBLIC_URL + "/dashboard/audit").status_code == 302


def test_signing_out_needs_the_token_and_ends_the_session(dash):
    browser = kit.sign_in(dash)
    page = browser.get(kit.PUBLIC_URL + "/dashboard/audit")
    assert browser.post(kit.PUBLIC_URL + "/dashboard/signout", {}).status_code == 403
    assert browser.get(kit.PUBLIC_URL + "/dashboard/audit").status_code == 200
    assert browser.post(kit.PUBLIC_URL + "/dashboard/signout", {"csrf_token": kit.csrf_of(page.text)}).status_code == 302
    assert browser.get(kit.PUBLIC_URL + "/dashboard/audit").status_code == 302


def _delivery(bot, delivery_id: int):
    return next(d for d in relay.recent_deliveries(bot.services.store) if d.id == delivery_id)


@pytest.mark.both_backends
def test_a_non_admin_cannot_retry_or_forget_and_a_post_without_the_token_is_refused(dash):
    before = _delivery(dash, dash.failed_id)
    member = kit.sign_in(dash, "U1")
    page = member.get(kit.PUBLIC_URL + "/dashboard/deliveries")
    assert "Retry" not in page.text and "Forget" not in page.text
    token = kit.csrf_of(page.text)
    for verb in ("retry", "forget"):
        refused = member.post(kit.PUBLIC_URL + f"/dashboard/deliveries/{dash.failed_id}/{verb}", {"csrf_token": token})
        assert refused.status_code == 403 and "Only the bot's admins" in html.unescape(refused.text)
    admin = kit.sign_in(dash, ADMIN)
    for verb in ("retry", "forget"):
        for form in ({}, {"csrf_token": "forged"}, {"csrf_token": token}):  # the member's token is not the admin's
            assert admin.post(kit.PUBLIC_URL + f"/dashboard/deliveries/{dash.failed_id}/{verb}", form).status_code == 403
    anonymous = Browser(kit.PUBLIC_URL, dash.url)
    assert anonymous.post(kit.PUBLIC_URL + f"/dashboard/deliveries/{dash.failed_id}/forget", {"csrf_token": token}).status_code == 403
    assert _delivery(dash, dash.failed_id) == before
    assert not [e for e in dash.services.audit.recent(100) if e.action.startswith("delivery_")]


@pytest.mark.both_backends
def test_an_admin_retries_then_forgets_a_failed_delivery(dash, slack):
    admin = kit.sign_in(dash, ADMIN)
    page = admin.get(kit.PUBLIC_URL + "/dashboard/deliveries?state=failed")
    assert f'action="/dashboard/deliveries/{dash.failed_id}/retry"' in page.text
    token = kit.csrf_of(page.text)
    answer = admin.post(kit.PUBLIC_URL + f"/dashboard/deliveries/{dash.failed_id}/retry", {"csrf_token": token})
    assert answer.status_code == 302
    # Routed again: its body still does not fit its event key, so it fails again, now with the router's reason.
    slack.wait_for(lambda: _delivery(dash, dash.failed_id).outcome.startswith("Malformed"))
    assert "handed to the router again" in admin.get(kit.PUBLIC_URL + answer.headers["Location"]).text
    assert admin.post(kit.PUBLIC_URL + f"/dashboard/deliveries/{dash.failed_id}/forget", {"csrf_token": token}).status_code == 302
    assert [d.request_uuid for d in relay.recent_deliveries(dash.services.store)] == ["good-1"]
    done = [(e.user_id, e.action, e.target, e.ok) for e in dash.services.audit.recent(100) if e.action.startswith("delivery_")]
    assert done == [(ADMIN, "delivery_forget", f"delivery {dash.failed_id}", True), (ADMIN, "delivery_retry", f"delivery {dash.failed_id}", True)]


def _csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.both_backends
def test_the_audit_filters_page_and_its_csv_match(dash):
    browser = kit.sign_in(dash)
    log = dash.services.audit
    everything = log.query(kit_filter(), limit=1000)
    assert {"merge", "tag", "subscribe"} <= {e.action for e in everything}
    cases = {
        "user=U2": lambda e: e.user_id == "U2",
        "action=merge&repo=acme/api": lambda e: e.action == "merge" and e.target == "acme/api#7",
        "repo=acme/api2": lambda e: e.target.startswith("acme/api2"),
        "since=2025-03-01&until=2025-03-09": lambda e: e.action == "merge",  # three days before NOW, not the tag 20 days before
        "until=2025-02-28": lambda e: e.action == "tag",
        "repo=ACME/API&action=tag": lambda e: e.action == "tag",
    }
    for query, keep in cases.items():
        wanted = [e for e in everything if keep(e)]
        assert wanted, query
        page = browser.get(kit.PUBLIC_URL + "/dashboard/audit?" + query)
        assert page.status_code == 200 and f"{len(wanted)} entr" in page.text, query
        rows = _csv_rows(browser.get(kit.PUBLIC_URL + "/dashboard/audit.csv?" + query).text)
        assert [(r["who"], r["action"], r["target"], r["result"].lstrip("'")) for r in rows] == \
               [(e.user_id, e.action, e.target, e.result) for e in wanted], query
    csv_answer = browser.get(kit.PUBLIC_URL + "/dashboard/audit.csv?user=U2")
    assert csv_answer.headers["Content-Type"].startswith("text/csv")
    assert csv_answer.headers["Content-Disposition"] == 'attachment; filename="audit.csv"'


def kit_filter():
    from bot.core.audit import AuditFilter

    return AuditFilter()


def test_the_audit_is_paged(dash):
    from bot.core.audit import AuditLog

    log = AuditLog(dash.services.store, clock=lambda: kit.NOW.timestamp())
    for number in range(120):
        log.record("U9", "tag", f"acme/api@v{number}", ok=True)
    browser = kit.sign_in(dash)
    first = browser.get(kit.PUBLIC_URL + "/dashboard/audit?user=U9").text
    assert "120 entries, page 1 of 3" in first and "acme/api@v119" in first and "acme/api@v69<" not in first
    third = browser.get(kit.PUBLIC_URL + "/dashboard/audit?user=U9&page=3").text
    assert "acme/api@v0<" in third and "acme/api@v119" not in third and "← newer" in third
    assert len(_csv_rows(browser.get(kit.PUBLIC_URL + "/dashboard/audit.csv?user=U9").text)) == 120


def test_an_unknown_repository_is_a_404_not_an_empty_page(dash):
    browser = kit.sign_in(dash)
    for path in ("/dashboard/repositories/acme/nope", "/dashboard/environments/acme/nope", "/dashboard/inventory?repo=acme/nope",
                 "/dashboard/deliveries?repo=acme/nope", "/dashboard/audit?repo=acme/nope", "/dashboard/audit.csv?repo=acme/nope",
                 "/dashboard/inventory?repo=not-a-repo", "/dashboard/repositories/acme/api/extra", "/dashboard/nothing-here"):
        page = browser.get(kit.PUBLIC_URL + path)
        assert page.status_code == 404, path
        assert "Content-Security-Policy" in page.headers
    # A repository the bot does not watch but whose writes the audit holds is no stranger there.
    assert browser.get(kit.PUBLIC_URL + "/dashboard/audit?repo=acme/api2").status_code == 200
    assert browser.get(kit.PUBLIC_URL + "/dashboard/inventory?repo=acme/api").status_code == 200
    assert browser.get(kit.PUBLIC_URL + "/dashboard/deliveries?repo=acme/api").status_code == 200


def test_every_page_escapes_bitbucket_and_slack_text(dash):
    browser = kit.sign_in(dash)
    for path in ("/dashboard", "/dashboard/audit", "/dashboard/environments", "/dashboard/inventory"):
        page = browser.get(kit.PUBLIC_URL + path)
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in browser.get(kit.PUBLIC_URL + "/dashboard").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in browser.get(kit.PUBLIC_URL + "/dashboard/environments").text


def test_the_inventory_csv_lists_every_row(dash):
    browser = kit.sign_in(dash)
    rows = _csv_rows(browser.get(kit.PUBLIC_URL + "/dashboard/inventory.csv").text)
    assert [(r["kind"], r["channel"]) for r in rows] == [("subscription", "C1"), ("subscription", "C2"), *[("owners", "C1")] * 3,
                                                         ("reminder", "C1"), ("digest", "C2"), ("webhook", "")]
    assert rows[5]["next run"] == "2025-03-13 09:00 UTC" and rows[6]["next run"] == "2025-03-17 09:00 UTC"
    assert "secret: current" in rows[7]["details"]
    assert rows[2]["details"] == f"paths docs/** → person U4 ({kit.HOSTILE_LABEL})"


def test_the_inventory_shows_the_owners_rules_escaped_and_of_one_repository(dash):
    browser = kit.sign_in(dash)
    page = browser.get(kit.PUBLIC_URL + "/dashboard/inventory").text
    assert "not part of this build" not in page and "public reader" not in page
    owners_rows = [row for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S) if '<span class="tag owners">owners</span>' in row]
    assert [html.unescape(" ".join(re.sub(r"<[^>]+>", " ", row).split())) for row in owners_rows] == [
        f"owners acme/api C1 paths docs/** → person U4 ({kit.HOSTILE_LABEL})",
        "owners acme/api C1 paths src/billing/** → channel C9 (billing)",
        "owners acme/api C1 paths src/billing/** → user group S1 (@billing-devs), 2 people",
    ]
    assert kit.HOSTILE_LABEL not in page and "(&lt;img/src=x/onerror=alert(1))" in page
    # A large group is named in the channel its rule was made in; a repository known by its owners rules alone is no 404.
    dash.slack.add_usergroup("S2", "everyone", [f"U{n}" for n in range(10, 21)])
    assert "more than 10 people" in dash.answer_text(dash.command("owners acme/api2 ** <!subteam^S2|@everyone>", channel_id="C2", user_id=kit.ADMIN))
    one = browser.get(kit.PUBLIC_URL + "/dashboard/inventory?repo=acme/api2")
    assert one.status_code == 200 and "<h1>Inventory of acme/api2</h1>" in one.text
    assert "user group S2 (@everyone), 11 people: more than 10, so named in C2 instead" in one.text
    assert "acme/api<" not in one.text and "src/billing" not in one.text
    rows = _csv_rows(browser.get(kit.PUBLIC_URL + "/dashboard/inventory.csv?repo=acme/api2").text)
    assert [(r["kind"], r["repository"], r["channel"]) for r in rows] == [("owners", "acme/api2", "C2")]
    # Removed with `/bb owners … off`, gone from the page.
    dash.answer_text(dash.command("owners acme/api off docs/**", channel_id="C1", user_id=kit.ADMIN))
    assert "docs/**" not in browser.get(kit.PUBLIC_URL + "/dashboard/inventory").text


def test_the_dashboard_is_off_with_dashboard_off(tmp_path, slack, bitbucket, database):
    kit.register_app(slack)
    bot = RunningBot(kit.settings_for(tmp_path, slack, bitbucket, database, dashboard=False), slack)
    try:
        for path in ("/dashboard", "/dashboard/signin", "/dashboard/static/dashboard.css"):
            answer = _get(bot.url + path)
            assert answer.status_code == 404 and answer.json() == {"error": "not found"}
        assert _get(bot.url + "/healthz").status_code == 200
    finally:
        bot.stop()


def test_without_sign_in_with_slack_set_up_the_dashboard_says_what_is_missing(tmp_path, slack, bitbucket, database):
    bot = RunningBot(kit.settings_for(tmp_path, slack, bitbucket, database, slack_client_id="", slack_client_secret=""), slack)
    try:
        page = Browser(kit.PUBLIC_URL, bot.url).open(kit.PUBLIC_URL + "/dashboard")
        assert page.status_code == 503 and "SLACK_CLIENT_ID, SLACK_CLIENT_SECRET" in page.text and "Sign in with Slack" not in page.text
    finally:
        bot.stop()


def test_the_environments_page_shows_locks_and_protections(dash):
    assert "protect" in dash.answer_text(dash.command("protect acme/api staging approvals:2", channel_id="C1", user_id=kit.ADMIN)).lower()
    locked = dash.answer_text(dash.command("lock acme/api staging for 2h database migration", channel_id="C1", user_id=kit.ADMIN))
    assert "lock" in locked.lower()
    browser = kit.sign_in(dash)
    page = browser.get(kit.PUBLIC_URL + "/dashboard/environments/acme/api")
    assert page.status_code == 200
    assert f"held by {kit.ADMIN}" in page.text and "database migration" in page.text
    assert "2 approvals by deployer" in page.text
    assert "not part of this build" not in page.text
