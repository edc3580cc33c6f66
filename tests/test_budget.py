"""The Bitbucket request budget (issue 25): one count in the database that every replica adds to and reads, the
priorities (background work waits or answers from what it kept; a person's action goes through), the Home tab
answered from what webhooks said, `/bb usage` and the metrics. Bitbucket's requests are counted in the simulated
Bitbucket; the bots are driven over HTTP."""

from __future__ import annotations

import threading
import time

import pytest

from bot import budget
from bot.bitbucket.metering import BACKGROUND, BOT, PERSON, PERSONAL, RELAY, Credential, Tag
from bot.bitbucket.transport import RateLimit
from bot.core import ids
from bot.accounts import signin
from bot.core.meter import RequestBudget, minute_of, person_credential
from bot.core.scheduler import ScheduledJobs
from bot.home import HomeCache
from tests import eventkit, webhookkit
from tests.harness import ADMIN, SIGNING_SECRET, WEBHOOK_SECRET, RunningBot, button, text_of
from tests.conftest import database_settings
from tests.test_accounts import (CALLBACK, CLIENT_ID, CLIENT_SECRET, PUBLIC_URL, SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, click_on_card, log_in,
                                 oauth_settings, post_card)
from tests.test_metrics import samples, value

pytestmark = pytest.mark.both_backends


@pytest.fixture
def team(bitbucket):
    """acme/api: rob's pull request #1 waits on ann's review; acme/web has none."""
    for nickname, name in (("ann", "Ann"), ("rob", "Rob")):
        bitbucket.add_user(nickname, name)
    bitbucket.add_repository("acme", "api", branches=("main", "f/review", "f/later"))
    bitbucket.add_pull_request("acme", "api", title="Review me", source="f/review", author="rob", reviewers=["ann"])
    return bitbucket


def follow_and_link(bot, slack):
    assert "subscribed" in bot.answer_text(bot.command("subscribe acme/api", user_id=ADMIN, channel_id="CAPI"))
    assert "linked" in bot.answer_text(bot.command("link ann", user_id="U1")).lower()


def open_home(bot, slack, user="U1") -> str:
    count = len([c for c in slack.calls_to("views.publish") if c.args.get("user_id") == user])
    eventkit.post_event(bot.url, eventkit.app_home_opened(user), SIGNING_SECRET)
    slack.wait_for(lambda: len([c for c in slack.calls_to("views.publish") if c.args.get("user_id") == user]) > count)
    bot.services.wait_idle()
    return text_of({"blocks": slack.home_views[user]["blocks"]})


def wait_until(condition, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("the condition did not hold in time")


def bot_requests_in_store(store) -> int:
    return budget.hour_used(store, time.time()).get(BOT, (BOT, 0))[1]


# --- one count, shared by the replicas ----------------------------------------------------------------------


def test_two_replicas_add_to_one_count_and_the_second_holds_back_what_the_first_spent(settings, slack, team, store):
    limit = 12
    first = RunningBot(settings, slack, parts=(RequestBudget(limit=limit),))
    second = RunningBot(settings, slack, parts=(RequestBudget(limit=limit),))
    try:
        follow_and_link(first, slack)
        while len(team.requests) < limit - 2:  # people's commands on the first replica spend the bot's hour
            assert "Review me" in first.answer_text(first.command("prs acme/api", user_id="U2"))
        spent = len(team.requests)
        wait_until(lambda: bot_requests_in_store(store) == spent)  # written by the first, within a second or two

        # The second replica counts what the first spent: its /bb usage and its decisions.
        usage = second.answer_text(second.command("usage", user_id=ADMIN))
        assert f"{spent} of {limit} requests in the last hour" in usage and "pull_requests" in usage
        text = open_home(second, slack)
        assert "saving its Bitbucket requests" in text and "Review me" not in text
        assert len(team.requests) == spent  # the Home tab asked Bitbucket nothing
    finally:
        first.stop()
        second.stop()


def test_the_count_is_written_in_batches_that_replicas_add_to_the_same_rows(store):
    minute = minute_of(time.time())
    budget.record(store, {(BOT, BOT, minute, PERSON, "pull_requests"): 3, (BOT, BOT, minute, BACKGROUND, "home"): 2})
    budget.record(store, {(BOT, BOT, minute, PERSON, "pull_requests"): 4})  # another replica, the same minute
    budget.record(store, {(BOT, BOT, minute - 61, BACKGROUND, "home"): 50})  # more than an hour ago: not counted
    assert budget.hour_used(store, time.time()) == {BOT: (BOT, 9)}
    assert budget.hour_by_feature(store, time.time()) == [(BOT, PERSON, "pull_requests", 7), (BOT, BACKGROUND, "home", 2)]


# --- priorities ---------------------------------------------------------------------------------------------


def test_below_a_fifth_left_the_home_tab_shows_what_it_kept_and_a_persons_merge_goes_through(settings, slack, team, store):
    moments = [1000.0]
    bot = RunningBot(settings, slack, parts=(HomeCache(clock=lambda: moments[0]),))
    try:
        follow_and_link(bot, slack)
        assert "Review me" in open_home(bot, slack)
        # Other replicas spent most of the hour: 850 of 1000, with what this one spent less than 150 are left.
        budget.record(store, {(BOT, BOT, minute_of(time.time()), BACKGROUND, "home"): 850})
        wait_until(lambda: value(samples(bot), "bitbucket_budget_remaining", credential_kind="bot") < 200)
        before = len(team.requests)

        moments[0] += 12 * 60  # the tab's answers are old now: asking again would spend the budget
        text = open_home(bot, slack)
        assert "Review me" in text  # the reviews: from what webhooks and the last read said
        assert "figures from 12 minutes ago" in text  # its own pull requests: what was kept, saying how old
        assert len(team.requests) == before  # nothing asked of Bitbucket

        # A person's merge is never held back for the budget.
        confirm = button(bot.answers(bot.command("merge acme/api 1", user_id=ADMIN))[0], ids.CONFIRM_MERGE)
        answers = bot.answers(bot.click(ids.CONFIRM_MERGE, confirm["value"], user_id=ADMIN), count=2)
        assert "merged" in text_of(answers[1])
        assert len(team.requests_to("POST", "/merge")) == 1
    finally:
        bot.stop()


def test_the_budget_says_who_may_spend_and_bitbucket_s_answers_correct_it():
    now = [100_000.0]
    meter = RequestBudget(limit=100, clock=lambda: now[0])
    tag = Tag(BACKGROUND, "home")
    for _ in range(79):
        meter.before(Credential(), tag)
    assert meter.used() == 79 and meter.remaining() == 21
    assert meter.allows(BACKGROUND) and meter.allows(RELAY) and meter.allows(PERSON)
    meter.before(Credential(), tag)  # 20 % left: background waits, relay and people go on
    assert not meter.allows(BACKGROUND) and meter.allows(RELAY) and meter.allows(PERSON)

    taken = meter.take()  # written by the budget feature; counted until the sums come back
    assert sum(taken.values()) == 80 and meter.used() == 80
    meter.settle({BOT: (BOT, 80)})
    assert meter.used() == 80
    meter.before(Credential(), tag)
    meter.settle(None)  # a write that failed: the count is kept, to be written next time
    assert meter.used() == 81 and sum(meter.take().values()) == 1

    # Bitbucket's headers: the real allowance, and that it is nearly spent.
    seen = RateLimit.from_headers({"X-RateLimit-Limit": "2500", "X-RateLimit-NearLimit": "false"}, now[0])
    meter.after(Credential(), tag, 200, seen)
    assert meter.limit_of() == 2500 and meter.allows(BACKGROUND)
    meter.after(Credential(), tag, 200, RateLimit.from_headers({"X-RateLimit-NearLimit": "true"}, now[0]))
    assert not meter.allows(BACKGROUND) and meter.allows(PERSON)
    now[0] += 600  # an old warning no longer holds
    assert meter.allows(BACKGROUND)
    meter.after(Credential(), tag, 429, None)  # refused: nothing is left for a minute, whatever the count says
    assert meter.remaining() == 0 and not meter.allows(RELAY) and meter.allows(PERSON)
    now[0] += 61
    assert meter.remaining() > 0


def test_scheduled_work_waits_while_the_budget_is_low():
    class Services:
        settings = type("S", (), {"reminder_timezone": "UTC"})()

        def __init__(self, meter):
            self.meter = meter

        def part(self, kind):
            return self.meter if kind is RequestBudget else None

    class Jobs(ScheduledJobs):
        def __init__(self, services):
            self.services, self._running, self.ran = services, set(), []
            self._lock = threading.Lock()

        def get_row(self, row_id):
            return row_id

        def run_due(self, row):
            self.ran.append(row)
            return "sent"

    low = RequestBudget(limit=10)
    for _ in range(9):
        low.before(Credential(), Tag())
    jobs = Jobs(Services(low))
    jobs.run(1)
    assert jobs.ran == []  # waits for the next look
    jobs = Jobs(Services(RequestBudget(limit=10)))
    jobs.run(1)
    assert jobs.ran == [1]


# --- the Home tab from what webhooks said -------------------------------------------------------------------


def test_the_home_tab_is_answered_from_what_webhooks_said_with_no_request(bot, slack, team):
    follow_and_link(bot, slack)
    assert "Review me" in open_home(bot, slack)  # the first look reads the repository's open pull requests once
    team.add_pull_request("acme", "api", title="Later one", source="f/later", author="rob", reviewers=["ann"])
    created = webhookkit.pull_request_payload(team, "acme", "api", 2, actor="rob")
    assert webhookkit.post(f"{bot.url}/bitbucket/webhook", "pullrequest:created", created, WEBHOOK_SECRET).status_code == 200
    slack.wait_for(lambda: any("Later one" in text_of(m.to_api()) for m in slack.channel_messages("CAPI")))
    before = len(team.requests)

    text = open_home(bot, slack)
    assert "Waiting on your review (2)" in text and "Later one" in text and "Review me" in text
    assert len(team.requests) == before  # no request: webhooks told it, and the tab's own were kept

    merged = webhookkit.pull_request_payload(team, "acme", "api", 1, actor="rob")
    merged["pullrequest"]["state"] = "MERGED"
    merged["pullrequest"]["updated_on"] = "2999-01-01T00:00:00+00:00"
    assert webhookkit.post(f"{bot.url}/bitbucket/webhook", "pullrequest:fulfilled", merged, WEBHOOK_SECRET).status_code == 200
    wait_until(lambda: "Review me" not in open_home(bot, slack))  # merged: off the tab, as the webhook said
    assert len(team.requests) == before


# --- /bb usage and the metrics ------------------------------------------------------------------------------


def test_usage_is_for_admins_and_shows_the_hours_spend_by_feature(bot, slack, team):
    assert "Only admins" in bot.answer_text(bot.command("usage", user_id="U1"))
    bot.answer_text(bot.command("prs acme/api", user_id="U1"))
    text = bot.answer_text(bot.command("usage", user_id=ADMIN))
    spent = len(team.requests)
    assert f"{spent} of 1000 requests in the last hour" in text
    assert f"`bot` · person · pull_requests: *{spent}*" in text


def test_requests_are_counted_by_credential_kind_and_priority_and_what_is_left_is_published(bot, slack, team):
    before = samples(bot)
    bot.answer_text(bot.command("prs acme/api", user_id="U1"))
    by_person = len(team.requests)
    follow_and_link(bot, slack)
    linking = len(team.requests)
    open_home(bot, slack)
    by_home = len(team.requests) - linking
    after = samples(bot)

    def moved(**labels):
        return value(after, "bitbucket_requests_total", **labels) - value(before, "bitbucket_requests_total", **labels)

    assert by_person >= 1 and by_home >= 1
    assert moved(credential_kind="bot", priority="person") == linking
    assert moved(credential_kind="bot", priority="background") == by_home
    spent = len(team.requests)
    wait_until(lambda: value(samples(bot), "bitbucket_budget_remaining", credential_kind="bot") == 1000 - spent)
    assert value(samples(bot), "bitbucket_budget_remaining", credential_kind="person") == 1000  # no one's token spent any


def test_a_persons_token_is_counted_under_its_own_hashed_credential(tmp_path, slack, bitbucket, store, database):
    """Approve acts as the person: their request is counted under a hash of who they are, never the token."""
    bitbucket.add_repository("acme", "api", branches=("main", "feature/login"))
    for nickname in ("alice", "carol"):
        bitbucket.add_user(nickname)
    bitbucket.add_pull_request("acme", "api", title="Add login", source="feature/login", author="carol", reviewers=["alice"])
    bitbucket.add_oauth_consumer(CLIENT_ID, CLIENT_SECRET, redirect_uri=CALLBACK, owner="chatops-bot")
    slack.oidc.add_app(SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, redirect_uris=[PUBLIC_URL + signin.CALLBACK_PATH])
    app = RunningBot(oauth_settings(tmp_path, slack, bitbucket, **database_settings(database)), slack)
    try:
        log_in(app, bitbucket, "alice", "U1")
        before = samples(app)
        ts = post_card(slack, bitbucket)
        assert "You approved" in app.answer_text(click_on_card(app, ids.APPROVE, ts, user_id="U1"), 2)
        after = samples(app)
        moved = (value(after, "bitbucket_requests_total", credential_kind="person", priority="person")
                 - value(before, "bitbucket_requests_total", credential_kind="person", priority="person"))
        assert moved >= 1
        mine = person_credential("U1").id
        used = wait_until(lambda: budget.hour_used(store, time.time()).get(mine))
        assert used[0] == PERSONAL and used[1] == moved + 1  # and the login's own GET /user
        rows = store.query("SELECT credential_id FROM bitbucket_requests")
        assert all("Bearer" not in row["credential_id"] and len(row["credential_id"]) <= 16 for row in rows)
        assert "People's own tokens:* 1" in app.answer_text(app.command("usage", user_id=ADMIN))
    finally:
        app.stop()


def test_the_login_s_own_question_who_am_i_is_counted_under_the_person(tmp_path, slack, bitbucket, store, database):
    """The `GET /user` that finishes a login spends the person's new token: counted there, as a person's action."""
    bitbucket.add_user("alice")
    bitbucket.add_oauth_consumer(CLIENT_ID, CLIENT_SECRET, redirect_uri=CALLBACK, owner="chatops-bot")
    slack.oidc.add_app(SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, redirect_uris=[PUBLIC_URL + signin.CALLBACK_PATH])
    app = RunningBot(oauth_settings(tmp_path, slack, bitbucket, **database_settings(database)), slack)
    try:
        before = samples(app)
        log_in(app, bitbucket, "alice", "U1")
        asked = len(bitbucket.requests_to("GET", "/2.0/user"))
        after = samples(app)
        moved = (value(after, "bitbucket_requests_total", credential_kind="person", priority="person")
                 - value(before, "bitbucket_requests_total", credential_kind="person", priority="person"))
        assert asked == 1 and moved == 1
        mine = person_credential("U1").id
        assert wait_until(lambda: budget.hour_used(store, time.time()).get(mine)) == (PERSONAL, 1)
        assert ("person", "person", "login", 1) in budget.hour_by_feature(store, time.time())
    finally:
        app.stop()


def test_a_pull_request_link_webhooks_told_of_unfurls_with_no_request(bot, slack, team):
    follow_and_link(bot, slack)
    created = webhookkit.pull_request_payload(team, "acme", "api", 1, actor="rob")
    assert webhookkit.post(f"{bot.url}/bitbucket/webhook", "pullrequest:created", created, WEBHOOK_SECRET).status_code == 200
    slack.wait_for(lambda: any("Review me" in text_of(m.to_api()) for m in slack.channel_messages("CAPI")))
    before = len(team.requests)
    eventkit.post_event(bot.url, eventkit.link_shared(["https://bitbucket.org/acme/api/pull-requests/1"]), SIGNING_SECRET)
    slack.wait_for(lambda: slack.unfurls)
    bot.services.wait_idle()
    assert "Review me" in str(slack.unfurls[-1])
    assert len(team.requests) == before
