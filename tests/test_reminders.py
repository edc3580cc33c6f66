"""Reminders: the pure choices (what is stale, when a reminder is owed, who is mentioned), the message, and a
reminder's run against the simulated Bitbucket with an injected clock: on time, caught up, never twice."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.reminders import render as reminder_render
from bot import accounts, reminders
from bot.bitbucket import Account, BitbucketClient, PullRequest, ServerError
from bot.accounts import LinkedUser
from bot.reminders import Schedule
from bot.core.scheduler import OnClock, Scheduler, reminder_job_id
from bot.reminders import ReminderJobs
from bot.core.services import Services, bitbucket_auth
from bot.registry import build_services

pytestmark = pytest.mark.both_backends

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def schedule(at="09:00", days=WEEKDAYS, after_seconds=48 * 3600, changed_at=MONDAY_9 - timedelta(days=30), **kw):
    return Schedule(id=kw.get("id", 1), channel_id="C1", repo="acme/api", after_seconds=after_seconds, at=at,
                    days=tuple(days), changed_at=changed_at.timestamp())


def account(nickname, uuid=None, account_id=None):
    return Account(display_name=nickname.title(), nickname=nickname, uuid=uuid or f"{{{nickname}-uuid}}",
                   account_id=account_id or f"557058:{nickname}")


def pr(pr_id, *, idle, state="OPEN", draft=False, reviewers=(), approved=(), changes=(), title=None, now=MONDAY_9):
    return PullRequest(
        id=pr_id, title=title or f"Change {pr_id}", state=state, draft=draft, author=account("alice"),
        source_branch=f"feature/{pr_id}", destination_branch="main", repository="acme/api",
        reviewers=tuple(reviewers), approved_by=tuple(approved), changes_requested_by=tuple(changes),
        created_on=now - idle - timedelta(days=1), updated_on=now - idle,
        url=f"https://bitbucket.org/acme/api/pull-requests/{pr_id}", comment_count=0, merge_commit=None,
    )


# --- what is stale -----------------------------------------------------------------------------------------


def test_stale_means_open_not_draft_and_idle_for_age_longest_idle_first():
    prs = [
        pr(1, idle=timedelta(hours=50)),
        pr(2, idle=timedelta(hours=47, minutes=59)),  # not yet
        pr(3, idle=timedelta(days=9)),
        pr(4, idle=timedelta(days=9), draft=True),
        pr(5, idle=timedelta(days=9), state="MERGED"),
        pr(6, idle=timedelta(hours=48)),  # exactly AGE counts
    ]
    stale = reminders.select_stale(prs, now=MONDAY_9, after_seconds=48 * 3600)
    assert [p.id for p in stale] == [3, 1, 6]


def test_waiting_on_the_reviewers_who_have_not_approved():
    bob, carol, dave = account("bob"), account("carol"), account("dave")
    assert reminders.waiting_on(pr(1, idle=timedelta(0), reviewers=(bob, carol, dave), approved=(carol,), changes=(dave,))) == [bob, dave]


def test_mentions_match_by_uuid_then_account_id_then_nickname_in_any_case():
    bob = account("bob", uuid="{B0B}")
    assert accounts.slack_user_for(bob, [LinkedUser("U9", bitbucket_uuid="{b0b}")]) == "U9"
    assert accounts.slack_user_for(bob, [LinkedUser("U8", account_id="557058:bob")]) == "U8"
    assert accounts.slack_user_for(bob, [LinkedUser("U7", nickname="BoB")]) == "U7"
    # A nickname does not tie two accounts that say they are different people.
    assert accounts.slack_user_for(bob, [LinkedUser("U6", nickname="bob", bitbucket_uuid="{other}")]) is None
    assert accounts.slack_user_for(bob, [LinkedUser("U5", nickname="robert")]) is None
    links = [LinkedUser("U7", nickname="bob"), LinkedUser("U9", bitbucket_uuid="{b0b}")]
    assert accounts.slack_user_for(bob, links) == "U9"


def test_a_workspace_member_is_found_by_nickname_uuid_or_account_id():
    members = [{"user": {"display_name": "Bob Builder", "nickname": "bob", "uuid": "{abc}", "account_id": "557058:1"}}]
    for wanted in ("BOB", "{ABC}", "abc", "557058:1"):
        assert accounts.find_member(members, wanted).display_name == "Bob Builder"
    assert accounts.find_member(members, "bobby") is None


# --- when a reminder is owed -------------------------------------------------------------------------------


@pytest.mark.parametrize(("now", "owed"), [
    (MONDAY_9, MONDAY_9),  # on time
    (MONDAY_9 - timedelta(seconds=1), MONDAY_9),  # a job that woke a moment early
    (MONDAY_9 - timedelta(minutes=1), None),
    (MONDAY_9 + timedelta(hours=5, minutes=59), MONDAY_9),  # missed, still within the grace period
    (MONDAY_9 + timedelta(hours=6, minutes=1), None),  # too late: tomorrow's will do
    (datetime(2026, 3, 7, 9, 30, tzinfo=UTC), None),  # Saturday
])
def test_the_occurrence_owed_now(now, owed):
    assert reminders.due_occurrence(schedule(), now, ZoneInfo("UTC")) == owed


def test_a_reminder_set_after_todays_time_owes_nothing_today():
    assert reminders.due_occurrence(schedule(changed_at=MONDAY_9 + timedelta(hours=1)), MONDAY_9 + timedelta(hours=2), UTC) is None


def test_times_are_in_the_reminder_zone_across_daylight_saving():
    paris_nine = schedule()
    assert reminders.next_occurrence(paris_nine, MONDAY_9, PARIS) == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    # Europe/Paris moves to summer time on Sunday 29 March 2026: 09:00 is then 07:00 UTC.
    assert reminders.next_occurrence(paris_nine, datetime(2026, 3, 27, 12, tzinfo=UTC), PARIS) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    summer_nine = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert reminders.due_occurrence(paris_nine, summer_nine, PARIS) == summer_nine
    assert reminders.due_occurrence(paris_nine, summer_nine - timedelta(minutes=1), PARIS) is None  # 08:59 in Paris
    # The Friday before, still in winter time, 09:00 was 08:00 UTC: owed from then, and not an hour earlier.
    winter_nine = datetime(2026, 3, 27, 8, 0, tzinfo=UTC)
    assert reminders.due_occurrence(paris_nine, winter_nine + timedelta(minutes=5), PARIS) == winter_nine
    assert reminders.due_occurrence(paris_nine, winter_nine - timedelta(hours=1), PARIS) is None


def test_next_occurrence_skips_to_the_next_scheduled_day():
    friday_10 = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
    assert reminders.next_occurrence(schedule(), friday_10, UTC) == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    assert reminders.next_occurrence(schedule(days=("wed",)), friday_10, UTC) == datetime(2026, 3, 11, 9, 0, tzinfo=UTC)


def test_schedules_read_as_typed():
    assert [reminder_render.describe_days(d) for d in (WEEKDAYS, ("mon", "wed", "fri"), ("sat", "sun"), reminders.WEEKDAYS, ("mon", "tue", "thu"))] == [
        "mon-fri", "mon,wed,fri", "sat,sun", "daily", "mon,tue,thu"]
    assert [reminder_render.describe_age(s) for s in (36 * 3600, 48 * 3600, 3 * 86400, 604800, 90 * 60)] == ["36h", "48h", "3d", "1w", "90m"]


def test_the_scheduler_reads_its_triggers_on_the_injected_clock():
    from apscheduler.triggers.cron import CronTrigger

    machine_now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    bot_now = MONDAY_9 - timedelta(seconds=2)
    trigger = OnClock(CronTrigger(hour=9, minute=0, timezone=UTC), lambda: bot_now)
    assert trigger.get_next_fire_time(None, machine_now) == machine_now + timedelta(seconds=2)


# --- the message -------------------------------------------------------------------------------------------


def test_the_message_escapes_bitbucket_text_and_mentions_only_linked_reviewers():
    bob, mallory = account("bob"), Account(display_name="<!here> Mallory", nickname="mallory", uuid="{m}")
    item = pr(7, idle=timedelta(days=4), title="Fix <@U123> & <!channel>", reviewers=(bob, mallory), changes=(mallory,))
    message = reminder_render.stale_pull_requests("acme/api", [item], now=MONDAY_9, after_seconds=48 * 3600,
                                                  waiting={7: [bob, mallory]}, mentions={bob: "U2"})
    section = message.blocks[1]["text"]["text"]
    assert "*<https://bitbucket.org/acme/api/pull-requests/7|#7 Fix &lt;@U123&gt; &amp; &lt;!channel&gt;>* · idle 4d" in section
    assert "Waiting on <@U2>, &lt;!here&gt; Mallory ✋" in section
    assert "<!" not in message.text and "<@U123>" not in message.text
    assert message.text.endswith("Waiting on <@U2>")


def test_a_long_list_shows_the_longest_idle_and_says_how_many_more():
    stale = [pr(n, idle=timedelta(days=40 - n)) for n in range(1, 31)]
    message = reminder_render.stale_pull_requests("acme/api", stale, now=MONDAY_9, after_seconds=48 * 3600,
                                                  waiting={}, mentions={})
    sections = [b for b in message.blocks if b["type"] == "section"]
    assert len(sections) == reminder_render.MAX_LISTED and "#1 " in sections[0]["text"]["text"]
    assert "…and 15 more, less idle" in message.blocks[-1]["elements"][0]["text"]
    assert message.blocks[0]["text"]["text"].startswith(":hourglass: 30 pull requests in acme/api")
    assert len(message.blocks) <= 50


def test_age_reads_in_hours_then_days():
    message = reminder_render.stale_pull_requests("acme/api", [pr(1, idle=timedelta(hours=30))], now=MONDAY_9,
                                                  after_seconds=24 * 3600, waiting={}, mentions={})
    assert "idle 30h" in message.blocks[1]["text"]["text"] and "No reviewers assigned" in message.blocks[1]["text"]["text"]


# --- a reminder's run, with an injected clock --------------------------------------------------------------


@pytest.fixture
def services(settings):
    built = build_services(settings)
    # The client's own backoff between retries, at no cost in time.
    built.bitbucket = BitbucketClient(settings.bitbucket_api_url, bitbucket_auth(settings), sleep=lambda seconds: None)
    yield built
    built.shutdown()


@pytest.fixture
def api(bitbucket):
    bitbucket.add_repository("acme", "api")
    bitbucket.add_user("bob", "Bob Builder")
    bitbucket.add_pull_request("acme", "api", title="Old", source="feature/old", author="alice", reviewers=("bob",),
                               created_on=MONDAY_9 - timedelta(days=9), updated_on=MONDAY_9 - timedelta(days=4))
    return bitbucket


def saved(services, *, at="09:00", channel_id="C1", repo="acme/api", changed=MONDAY_9 - timedelta(days=1)):
    return reminders.save_schedule(services.store, channel_id=channel_id, repo=repo, after_seconds=48 * 3600, at=at,
                                   days=WEEKDAYS, user_id="U1", now=changed)[0]


def queued(services):
    return services.store.query("SELECT channel, key, message FROM outbox ORDER BY id")


def marks(services):
    return services.store.query("SELECT reminder_id, day, stale_count, outbox_id FROM reminder_sent ORDER BY day")


def test_a_reminder_is_sent_once_a_day_and_the_mark_names_its_message(services, api):
    reminder = saved(services)
    run = lambda now: reminders.run_due(services, reminder, now=now, zone=UTC)  # noqa: E731
    assert run(MONDAY_9 - timedelta(minutes=5)) == "not due"
    assert run(MONDAY_9) == "sent"
    assert run(MONDAY_9 + timedelta(seconds=30)) == "already sent"
    assert run(MONDAY_9 + timedelta(hours=3)) == "already sent"
    assert run(MONDAY_9 + timedelta(days=1)) == "sent"
    (first, second) = queued(services)
    assert (first["channel"], first["key"]) == ("C1", "reminder:C1:acme/api")
    assert [(m["day"], m["stale_count"]) for m in marks(services)] == [("2026-03-02", 1), ("2026-03-03", 1)]
    assert all(m["outbox_id"] is not None for m in marks(services))


def test_nothing_stale_posts_nothing_but_counts_as_done(services, api):
    friday = datetime(2026, 2, 27, 9, 0, tzinfo=UTC)  # the pull request was then one day idle
    reminder = saved(services, changed=friday - timedelta(days=1))
    assert reminders.run_due(services, reminder, now=friday, zone=UTC) == "nothing stale"
    assert queued(services) == [] and marks(services)[0]["outbox_id"] is None
    assert reminders.run_due(services, reminder, now=friday + timedelta(minutes=1), zone=UTC) == "already sent"


def test_a_lasting_refusal_is_told_to_the_channel_and_a_passing_one_is_tried_again(services, api):
    reminder = saved(services)
    api.fail_next("GET", r"/pullrequests$", status=503, times=5)  # the first try and the client's four retries
    with pytest.raises(ServerError):
        reminders.run_due(services, reminder, now=MONDAY_9, zone=UTC)
    assert marks(services) == [] and queued(services) == []

    gone = saved(services, repo="acme/gone", channel_id="C2")
    assert reminders.run_due(services, gone, now=MONDAY_9, zone=UTC) == "sent"
    assert "could not list its pull requests. Bitbucket said: Repository acme/gone not found" in queued(services)[0]["message"]
    assert reminders.run_due(services, reminder, now=MONDAY_9 + timedelta(minutes=1), zone=UTC) == "sent"


def test_a_reminder_stopped_meanwhile_is_not_sent(services, api):
    reminder = saved(services)
    reminders.delete_schedule(services.store, reminder.id)
    assert reminders.run_due(services, reminder, now=MONDAY_9, zone=UTC) == "stopped"
    assert queued(services) == []


def test_one_list_request_per_50_open_pull_requests(services, bitbucket):
    bitbucket.add_repository("acme", "big")
    for n in range(120):
        bitbucket.add_pull_request("acme", "big", title=f"PR {n}", source=f"f/{n}", author="alice", reviewers=("bob",),
                                   created_on=MONDAY_9 - timedelta(days=10), updated_on=MONDAY_9 - timedelta(days=5, minutes=n))  # Wednesday: 72h of working days
    bitbucket.requests.clear()
    reminder = reminders.compose(services, "acme/big", 48 * 3600, MONDAY_9)
    assert len(reminder.stale) == 120 and reminder.stale[0].title == "PR 119"
    assert [r.path for r in bitbucket.requests] == ["/2.0/repositories/acme/big/pullrequests"] * 3
    assert all(r.query["fields"] == ["+values.reviewers,+values.participants"] for r in bitbucket.requests)


def test_after_a_restart_a_missed_reminder_is_caught_up_once(services, api):
    """Each ReminderJobs is one run of `serve`; its scheduler is not started, so only `sync` (what `serve` runs at
    start and every minute) acts, at the moments the injected clock says."""
    saved(services)
    now = [MONDAY_9 + timedelta(hours=2)]
    first = ReminderJobs(services, Scheduler(clock=lambda: now[0]))
    first.sync()
    first.sync()
    assert len(queued(services)) == 1

    now[0] = MONDAY_9 + timedelta(hours=4)
    ReminderJobs(services, Scheduler(clock=lambda: now[0])).sync()
    assert len(queued(services)) == 1 and len(marks(services)) == 1


def test_jobs_follow_the_reminders_table(services, api):
    scheduler = Scheduler(clock=lambda: MONDAY_9)
    jobs = ReminderJobs(services, scheduler)
    first, second = saved(services), saved(services, channel_id="C2")
    jobs.reschedule()
    assert scheduler.job_ids() == {reminder_job_id(first.id), reminder_job_id(second.id)}
    reminders.delete_schedule(services.store, first.id)
    jobs.reschedule()
    assert scheduler.job_ids() == {reminder_job_id(second.id)}
