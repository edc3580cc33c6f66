"""A feature plugs in through the registry alone: a throwaway feature (a table, a command, a button, a `check` line and
a scheduled job), declared once and handed to the registry's functions with `features=`, is in the help, is
dispatched to over HTTP, has its `check` line and its job run by the scheduler; no other module knows it."""

from __future__ import annotations

import threading

import pytest

from bot import registry
from bot.app.check import check_lines
from bot.core import render
from bot.core.commands import CommandSpec, no_args
from bot.core.feature import Feature
from bot.core.store import Migration
from tests.harness import RunningBot, buttons_of, text_of

PONG = "bb_throwaway_pong"  # Slack's buttons reach the bot's listener by the `bb_` prefix


class Throwaway:
    """One throwaway feature and what it saw happen."""

    def __init__(self):
        self.job_ran = threading.Event()
        self.clicks: list[dict] = []
        self.feature = Feature(
            "throwaway",
            migrations=[Migration("throwaway", 1, ("CREATE TABLE IF NOT EXISTS throwaway_pings (who TEXT NOT NULL)",))],
            commands=(CommandSpec("ping", "/bb ping", "answers pong, with a button", no_args("ping"), ("pingme",), "Channel"),),
            command_handlers={"ping": self.ping},
            actions={PONG: self.pong},
            jobs=self.start_jobs,
            check=self.check,
        )

    def ping(self, inv, command) -> None:
        inv.services.store.execute("INSERT INTO throwaway_pings (who) VALUES (?)", (inv.user_id,))
        button = {"type": "button", "text": {"type": "plain_text", "text": "Pong back"}, "action_id": PONG,
                  "value": render.encode_value({"n": 7})}
        inv.reply(render.message("pong", [render.section("pong"), {"type": "actions", "elements": [button]}]))

    def pong(self, inv, value: dict) -> None:
        self.clicks.append(value)
        inv.reply(render.notice(f"pong number {value['n']} clicked by {inv.user_id}"))

    def check(self, store) -> list[tuple[str, str]]:
        pings = store.query_one("SELECT COUNT(*) AS n FROM throwaway_pings")["n"]
        return [("ok ", f"throwaway: {pings} ping(s) so far")]

    def start_jobs(self, services, scheduler):
        scheduler.every("throwaway:tick", self.job_ran.set, 3600)  # runs at once, then hourly
        return Stopper(scheduler)


class Stopper:
    def __init__(self, scheduler):
        self.scheduler = scheduler

    def stop(self) -> None:
        self.scheduler.remove("throwaway:tick")


@pytest.fixture
def throwaway():
    return Throwaway()


def test_the_registry_builds_its_tables_from_the_features_it_is_given(throwaway):
    features = registry.FEATURES + (throwaway.feature,)
    table = registry.command_table(features)
    assert table.parse("pingme").name == "ping"
    assert "/bb ping" in text_of(render.help_message(table).to_dict())
    assert registry.command_handlers(features)["ping"] == throwaway.ping
    assert registry.action_handlers(features)[PONG] == throwaway.pong
    assert throwaway.start_jobs in registry.job_starters(features)
    assert ("throwaway", 1) in {(m.feature, m.version) for m in registry.migrations(features)}
    # The registry's own list does not know it.
    assert registry.COMMANDS.spec_for("ping") is None and PONG not in registry.action_handlers()


def test_a_throwaway_feature_is_served_from_the_registry_alone(settings, slack, throwaway):
    bot = RunningBot(settings, slack, scheduler=True, features=registry.FEATURES + (throwaway.feature,))
    try:
        help_text = text_of(bot.command("help").http.json())
        assert "/bb ping" in help_text and "answers pong" in help_text and "/bb prs" in help_text

        pinged = bot.command("ping", user_id="U7")
        answer = bot.answers(pinged)[0]
        assert "pong" in text_of(answer)
        (button,) = [b for b in buttons_of(answer) if b["action_id"] == PONG]

        clicked = bot.click(PONG, button["value"], user_id="U8")
        assert "pong number 7 clicked by U8" in bot.answer_text(clicked)
        assert throwaway.clicks == [{"n": 7}]

        assert throwaway.job_ran.wait(10), "the scheduler did not run the throwaway feature's job"
    finally:
        bot.stop()

    lines = [str(line) for line in check_lines(settings, features=registry.FEATURES + (throwaway.feature,))]
    assert "[ok ] throwaway: 1 ping(s) so far" in lines
    assert not any(line.text.startswith("throwaway:") for line in check_lines(settings))  # the registry alone: not there


def test_without_it_the_bot_does_not_know_the_command(bot):
    answer = bot.command("ping").http.json()
    assert "is not a command" in answer["text"]
