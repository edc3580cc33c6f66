"""Stale pull request reminders end to end: the real bot over HTTP, its real scheduler and outbox, against the
simulated Slack and Bitbucket. The bot's clock is injected; it runs at the machine's pace from a chosen moment."""

import time
from datetime import datetime, timedelta, timezone

import pytest

from bot import reminders
from tests.harness import ADMIN, RunningBot, text_of

pytestmark = pytest.mark.both_backends

CHANNEL = "C1"
MONDAY = datetime(2026, 3, 2, tzinfo=timezone.utc)


class MovableClock:
    """Runs at the machine's pace from a chosen moment; `move_to` jumps."""

    def __init__(self, start: datetime):
        self.move_to(start)

    def move_to(self, moment: datetime) -> None:
        self._base, self._started = moment, time.monotonic()

    def __call__(self) -> datetime:
        return self._base + timedelta(seconds=time.monotonic() - self._started)


@pytest.fixture
def repo(bitbucket):
    """acme/api: two stale pull requests (5 and 4 days idle: 3 and 2 working days), a fresh one, a stale draft and an old merged one."""
    bitbucket.add_repository("acme", "api")
    for nickname, name in (("alice", "Alice Author"), ("bob", "Bob Builder"), ("carol", "Carol <!channel>")):
        bitbucket.add_user(nickname, name)
    days = lambda n: MONDAY - timedelta(days=n)  # noqa: E731
    bitbucket.add_pull_request("acme", "api", title="Add <!channel> login", source="feature/login", author="alice",
                               reviewers=("bob", "carol"), created_on=days(9), updated_on=days(5))
    bitbucket.add_pull_request("acme", "api", title="Tidy the README", source="docs/readme", author="bob",
                               reviewers=("alice", "carol"), approved_by=("alice",), created_on=days(5), updated_on=days(4))
    bitbucket.add_pull_request("acme", "api", title="Fresh work", source="feature/fresh", author="carol",
                               reviewers=("bob",), created_on=days(1), updated_on=MONDAY.replace(hour=7))
    bitbucket.add_pull_request("acme", "api", title="Half done", source="wip/draft", author="carol", draft=True,
                               created_on=days(20), updated_on=days(20))
    bitbucket.add_pull_request("acme", "api", title="Old and merged", source="feature/old", author="alice",
                               created_on=days(30), updated_on=days(30), state="MERGED")
    return bitbucket


def start(settings, slack, clock, *, scheduler=True):
    return RunningBot(settings, slack, scheduler=scheduler, clock=clock)


def say(bot, text, *, user_id="U1"):
    """Type a command; return the text of its first answer."""
    return text_of(bot.answers(bot.command(text, user_id=user_id, channel_id=CHANNEL))[0])


def posted(slack, channel=CHANNEL):
    """What the bot posted on its own (through the outbox), not answers to commands."""
    return [m for m in slack.channel_messages(channel) if m.via == "chat.postMessage"]


def test_set_list_change_and_stop_a_reminder(settings, slack, repo):
    bot = start(settings, slack, MovableClock(MONDAY.replace(hour=10)), scheduler=False)
    try:
        answer = bot.answers(bot.command("remind acme/api", channel_id=CHANNEL))[0]
        assert answer["response_type"] == "in_channel"
        assert "set up reminders here for `acme/api`" in text_of(answer)
        assert "no activity for 48h, at 09:00 on mon-fri (UTC)" in text_of(answer)
        assert "Next: Tue 3 Mar 09:00 (UTC)" in text_of(answer)

        changed = say(bot, "remind api after 36h at 16:30 on mon,wed")  # bare slug: BITBUCKET_WORKSPACE
        assert "changed reminders here for `acme/api`" in changed and "36h, at 16:30 on mon,wed" in changed
        assert "Next: Mon 2 Mar 16:30" in changed

        listed = say(bot, "reminders")
        assert "`acme/api`: pull requests with no activity for 36h, at 16:30 on mon,wed (UTC) · next Mon 2 Mar 16:30" in listed

        stopped = say(bot, "remind off")  # the channel's only reminder
        assert "stopped the stale pull request reminders for `acme/api`" in stopped
        assert "no reminders" in say(bot, "reminders")
        actions = [(e.action, e.result) for e in reversed(bot.services.audit.recent())]
        assert actions == [("remind", "created"), ("remind", "changed"), ("remind_off", "stopped")]
    finally:
        bot.stop()


@pytest.mark.parametrize(("text", "named"), [
    ("remind acme/api after soon", "`after soon` is not an age"),
    ("remind acme/api at 25:00", "`at 25:00` is not a time of day"),
    ("remind acme/api on funday", "`on funday` is not a set of days"),
    ("remind acme/api every day", "`every` is not understood here"),
])
def test_bad_input_names_the_part_that_is_wrong(bot, text, named):
    ack = bot.command(text, channel_id=CHANNEL).http.json()
    assert named in text_of(ack)


def test_a_repository_that_does_not_exist_gets_no_reminder(bot, repo):
    assert "Bitbucket said" in say(bot, "remind acme/nope")
    assert "no reminders" in say(bot, "reminders")


def test_off_and_now_ask_which_when_the_channel_has_several(bot, repo):
    repo.add_repository("acme", "web")
    say(bot, "remind acme/api")
    say(bot, "remind acme/web")
    assert "say which to stop: `acme/api`, `acme/web`" in say(bot, "remind off")
    assert "say which to send: `acme/api`, `acme/web`" in say(bot, "remind now")
    assert "no reminder for `acme/nope`" in say(bot, "remind off acme/nope")


def test_remind_now_posts_the_stale_pull_requests_with_mentions_in_one_request(settings, slack, repo):
    bot = start(settings, slack, MovableClock(MONDAY.replace(hour=10)), scheduler=False)
    try:
        assert "linked to the Bitbucket account *Bob Builder* (`bob`)" in say(bot, "link BOB", user_id="U2")
        repo.requests.clear()

        assert "Posted the reminder for `acme/api` in this channel: 2 pull requests." in say(bot, "remind now acme/api")
        (reminder,) = slack.wait_for(lambda: posted(slack))
        text = text_of({"text": reminder.text, "blocks": reminder.blocks})
        assert "2 pull requests in acme/api with no activity for 48h" in text
        first, second = (b["text"]["text"] for b in reminder.blocks if b["type"] == "section")
        assert "#1 Add &lt;!channel&gt; login" in first and "idle 5d" in first  # the longest idle first
        assert "by Alice Author · into `main` · 0 approvals" in first
        assert "Waiting on <@U2>, Carol &lt;!channel&gt;" in first  # bob is linked, carol is not
        assert "#2 Tidy the README" in second and "1 approval" in second and "Waiting on Carol" in second
        assert "Fresh work" not in text and "Half done" not in text and "Old and merged" not in text
        assert "<!channel>" not in text
        assert "Waiting on <@U2>" in reminder.text  # the notification mentions too

        (listing,) = repo.requests  # one list request with reviewers and participants, none per pull request
        assert listing.path == "/2.0/repositories/acme/api/pullrequests"
        assert listing.query["fields"] == ["+values.reviewers,+values.participants"]
        assert listing.query["pagelen"] == ["50"]
    finally:
        bot.stop()


def test_remind_now_with_nothing_stale_posts_nothing(settings, slack, repo):
    repo.add_repository("acme", "quiet")
    bot = start(settings, slack, MovableClock(MONDAY.replace(hour=10)), scheduler=False)
    try:
        assert "nothing posted" in say(bot, "remind now acme/quiet")
        # Then a pull request there goes stale, and `remind now` posts it. The outbox sends a channel's reminders
        # of one repository in the order they were queued: once this one is in Slack, anything the first
        # `remind now` had queued would have been sent before it.
        repo.add_pull_request("acme", "quiet", title="Gone quiet", source="feature/quiet", author="alice",
                              created_on=MONDAY - timedelta(days=5), updated_on=MONDAY - timedelta(days=4))
        assert "Posted the reminder for `acme/quiet` in this channel: 1 pull request" in say(bot, "remind now acme/quiet")
        slack.wait_for(lambda: [m for m in posted(slack) if "Gone quiet" in m.text])
        sent = [m.text for m in posted(slack)]
        assert len(sent) == 1 and "1 pull request in acme/quiet" in sent[0], sent
    finally:
        bot.stop()


def test_linking_someone_else_needs_an_admin(bot, repo):
    assert "Only admins" in say(bot, "link <@U2|bob> bob", user_id="U1")
    assert "<@U2> is linked to the Bitbucket account *Bob Builder*" in say(bot, "link <@U2|bob> bob", user_id=ADMIN)
    row = bot.services.store.query_one("SELECT nickname, bitbucket_uuid, linked_by FROM user_links WHERE slack_user_id = 'U2'")
    assert row == {"nickname": "bob", "bitbucket_uuid": repo.user("bob")["uuid"], "linked_by": ADMIN}
    entry = bot.services.audit.recent(1)[0]
    assert (entry.user_id, entry.action, entry.target, entry.ok) == (ADMIN, "link", "U2", True)


def test_a_nickname_nobody_has_is_linked_with_a_warning(bot, repo):
    answer = say(bot, "link bobby")
    assert "Nobody in `acme` has the nickname `bobby`" in answer


def test_the_real_scheduler_sends_the_reminder_on_time(settings, slack, repo):
    clock = MovableClock(MONDAY.replace(hour=6))
    bot = start(settings, slack, clock)
    try:
        say(bot, "link bob", user_id="U2")
        clock.move_to(MONDAY.replace(hour=8, minute=59, second=57))
        say(bot, "remind acme/api")  # at 09:00 on mon-fri, by default: three seconds from now
        (reminder,) = slack.wait_for(lambda: posted(slack), timeout=15)
        assert "2 pull requests in acme/api" in reminder.text and "<@U2>" in reminder.text
        marks = bot.services.store.query("SELECT day, stale_count FROM reminder_sent")
        assert marks == [{"day": "2026-03-02", "stale_count": 2}]
    finally:
        bot.stop()


def test_a_reminder_missed_while_down_is_sent_once_when_the_bot_is_back(settings, slack, repo):
    # Set at 08:00 on a replica that runs no scheduler (`serve --no-scheduler`), with a second reminder in C2.
    replica = start(settings, slack, MovableClock(MONDAY.replace(hour=8)), scheduler=False)
    try:
        say(replica, "remind acme/api")
        replica.command("remind acme/api at 10:45", channel_id="C2")
        replica.services.wait_idle()
        assert replica.services.part(reminders.ReminderJobs) is None
    finally:
        replica.stop()

    # Back at 10:30: 09:00 was missed, within the grace period; C2's 10:45 is not due yet.
    back = start(settings, slack, MovableClock(MONDAY.replace(hour=10, minute=30)))
    try:
        (reminder,) = slack.wait_for(lambda: posted(slack), timeout=10)
        assert "2 pull requests in acme/api" in reminder.text
    finally:
        back.stop()

    # Restarted again at 11:00: C2's 10:45 is owed now; C1's 09:00 was already sent.
    again = start(settings, slack, MovableClock(MONDAY.replace(hour=11)))
    try:
        slack.wait_for(lambda: posted(slack, "C2"), timeout=10)
        again.services.wait_idle()
        assert len(posted(slack)) == 1
        marks = again.services.store.query("SELECT reminder_id, day FROM reminder_sent ORDER BY reminder_id")
        assert marks == [{"reminder_id": 1, "day": "2026-03-02"}, {"reminder_id": 2, "day": "2026-03-02"}]
    finally:
        again.stop()


def test_a_bare_remind_shows_the_channels_reminders_and_changes_nothing(bot, repo):
    assert "no reminders" in say(bot, "remind")
    assert "set up reminders here for `acme/api`" in say(bot, "remind acme/api after 36h at 16:30 on mon,wed")
    assert "`acme/api`: pull requests with no activity for 36h, at 16:30 on mon,wed (UTC)" in say(bot, "remind")
    (kept,) = reminders.channel_schedules(bot.services.store, CHANNEL)
    assert (kept.after_seconds, kept.at, kept.days) == (36 * 3600, "16:30", ("mon", "wed"))


def test_the_channels_reminder_leaves_out_noise_and_lists_the_15_oldest(settings, slack, repo):
    for n in range(20):
        repo.add_pull_request("acme", "api", title=f"Old change {n}", source=f"feature/old-{n}", author="alice",
                              created_on=MONDAY - timedelta(days=40), updated_on=MONDAY - timedelta(days=30 - n))
    repo.add_user("renovate", "Renovate Bot")
    for title, author in (("WIP: not yet", "alice"), ("[WIP] nor this", "bob"), ("Draft: nor that", "bob"),
                          ("Bump requests", "renovate")):
        repo.add_pull_request("acme", "api", title=title, source=f"noise/{len(title)}", author=author,
                              created_on=MONDAY - timedelta(days=60), updated_on=MONDAY - timedelta(days=60))
    bot = start(settings, slack, MovableClock(MONDAY.replace(hour=10)), scheduler=False)
    try:
        assert "22 pull requests" in say(bot, "remind now acme/api")
        (reminder,) = slack.wait_for(lambda: posted(slack))
        text = text_of({"text": reminder.text, "blocks": reminder.blocks})
        sections = [b for b in reminder.blocks if b["type"] == "section"]
        assert len(sections) == 15 and "Old change 0" in sections[0]["text"]["text"]
        assert "…and 7 more, less idle: `/bb prs acme/api`" in text
        for noise in ("not yet", "nor this", "nor that", "Bump requests", "Half done"):
            assert noise not in text
    finally:
        bot.stop()
