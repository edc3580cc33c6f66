"""The weekly digest end to end: set over HTTP, sent by the real scheduler through the outbox, once, across a
restart; on SQLite and on PostgreSQL. The bot's clock is injected and runs at the machine's pace from a chosen moment."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot import reminders
from bot.insights import digest
from bot.sandbox.history import seed_history
from tests.harness import RunningBot, text_of
from tests.test_reminders_e2e import MovableClock

pytestmark = pytest.mark.both_backends

MONDAY = datetime(2026, 3, 2, tzinfo=timezone.utc)
PEOPLE = ["ann", "bob", "cat"]


@pytest.fixture
def repo(bitbucket):
    for nickname in PEOPLE:
        bitbucket.add_user(nickname, nickname.title())
    bitbucket.add_repository("acme", "api")
    seed_history(bitbucket, "acme", "api", people=PEOPLE, count=30, now=MONDAY.replace(hour=9), days=21)
    return bitbucket


def start(settings, slack, clock, *, scheduler=True):
    return RunningBot(settings, slack, scheduler=scheduler, clock=clock)


def say(bot, text, *, channel="C1", user_id="U1"):
    return text_of(bot.answers(bot.command(text, user_id=user_id, channel_id=channel))[0])


def digests_in(slack, channel):
    return [m for m in slack.channel_messages(channel) if m.via == "chat.postMessage" and "Weekly digest" in m.text + str(m.blocks)]


def test_set_change_and_stop_a_digest(settings, slack, repo):
    bot = start(settings, slack, MovableClock(MONDAY.replace(hour=10)), scheduler=False)
    try:
        assert "set up the weekly digest of `acme/api` here, on mon at 09:00 (UTC). Next: Mon 9 Mar 09:00." in say(bot, "digest acme/api")
        assert "changed the weekly digest of `acme/api` here, on fri at 16:30 (UTC)" in say(bot, "digest api on fri at 16:30")
        assert "I cannot read `acme/nope`" in say(bot, "digest acme/nope")
        assert "no weekly digest of `acme/web`" in say(bot, "digest off acme/web")
        assert "stopped the weekly digest of `acme/api` here" in say(bot, "digest off")
        assert "This channel has no weekly digest" in say(bot, "digest off")
        actions = [(e.action, e.result) for e in reversed(bot.services.audit.recent())]
        assert actions == [("digest", "created"), ("digest", "changed"), ("digest_off", "stopped")]
    finally:
        bot.stop()


def test_the_real_scheduler_sends_the_digest_once_across_a_restart(settings, slack, repo):
    clock = MovableClock(MONDAY.replace(hour=8, minute=59, second=57))
    bot = start(settings, slack, clock)
    try:
        say(bot, "digest acme/api")  # Monday 09:00 by default: three seconds from now
        say(bot, "digest acme/api at 09:15", channel="C2")
        (sent,) = slack.wait_for(lambda: digests_in(slack, "C1"), timeout=15)
        text = text_of({"text": sent.text, "blocks": sent.blocks})
        assert "Weekly digest: acme/api" in text and "*Merged* " in text and "*Time to first review* median" in text
        assert "Compared with the 7 days before" in text
        marks = bot.services.store.query("SELECT d.channel_id, s.day FROM digest_sent s JOIN digests d ON d.id = s.digest_id")
        assert marks == [{"channel_id": "C1", "day": "2026-03-02"}]
        (chart,) = slack.wait_for(lambda: slack.shared_files("C1"), timeout=10)  # with its chart
        assert chart.filename == "api-digest-2026-03-02.png" and chart.data[:4] == b"\x89PNG"
    finally:
        bot.stop()

    # Back at 09:30: C2's 09:15 was missed while down and is sent now; C1's was sent already and is not again.
    again = start(settings, slack, MovableClock(MONDAY.replace(hour=9, minute=30)))
    try:
        slack.wait_for(lambda: digests_in(slack, "C2"), timeout=15)
        again.services.wait_idle()
        assert len(digests_in(slack, "C1")) == 1 and len(digests_in(slack, "C2")) == 1
        slack.wait_for(lambda: slack.shared_files("C2"), timeout=10)
        assert len(slack.shared_files("C1")) == 1
        days = again.services.store.query("SELECT day FROM digest_sent ORDER BY digest_id")
        assert days == [{"day": "2026-03-02"}, {"day": "2026-03-02"}]
    finally:
        again.stop()


def test_a_digest_that_is_not_due_or_already_sent_is_not_sent(settings, slack, repo):
    bot = start(settings, slack, MovableClock(MONDAY.replace(hour=8)), scheduler=False)
    try:
        say(bot, "digest acme/api")
        (saved,) = digest.channel_digests(bot.services.store, "C1")
        zone = reminders.zone_of(settings)
        assert digest.run_due(bot.services, saved, now=MONDAY.replace(hour=8, minute=59), zone=zone) == "not due"
        assert digest.run_due(bot.services, saved, now=MONDAY.replace(hour=9, minute=1), zone=zone) == "sent"
        assert digest.run_due(bot.services, saved, now=MONDAY.replace(hour=9, minute=2), zone=zone) == "already sent"
        assert digest.run_due(bot.services, saved, now=MONDAY + timedelta(days=2, hours=9), zone=zone) == "not due"  # a Wednesday
        assert bot.services.store.query_one("SELECT COUNT(*) AS n FROM outbox WHERE key LIKE ?", ("digest:%",))["n"] == 1
    finally:
        bot.stop()


def test_a_bare_digest_shows_the_channels_digests_and_changes_nothing(settings, slack, repo):
    bot = start(settings, slack, MovableClock(MONDAY.replace(hour=10)), scheduler=False)
    try:
        assert "no weekly digest" in say(bot, "digest")  # nothing set: told how, and nothing is set up
        assert digest.channel_digests(bot.services.store, "C1") == []
        say(bot, "digest acme/api on fri at 16:30")
        for text in ("digest", "digests"):
            assert "`acme/api`: on fri at 16:30 (UTC) · next Fri 6 Mar 16:30" in say(bot, text)
        (kept,) = digest.channel_digests(bot.services.store, "C1")
        assert (kept.days, kept.at) == (("fri",), "16:30")
        assert [e.action for e in bot.services.audit.recent()] == ["digest"]
    finally:
        bot.stop()


def test_digest_now_posts_this_weeks_digest_and_sets_up_nothing(settings, slack, repo):
    bot = start(settings, slack, MovableClock(MONDAY.replace(hour=10)), scheduler=False)
    try:
        assert "Working on the figures of `acme/api`" in say(bot, "digest now acme/api")
        (sent,) = slack.wait_for(lambda: digests_in(slack, "C1"), timeout=10)
        assert "Weekly digest: acme/api" in text_of({"text": sent.text, "blocks": sent.blocks})
        slack.wait_for(lambda: slack.shared_files("C1"), timeout=10)
        assert digest.channel_digests(bot.services.store, "C1") == []
        assert bot.services.store.query("SELECT * FROM digest_sent") == []
        assert "I cannot read `acme/now`" in say(bot, "digest now now")  # a repository named `now` is still one
    finally:
        bot.stop()
