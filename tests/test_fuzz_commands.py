"""Fuzzing the slash grammar: whatever follows `/bb`, the answer is a reply or a usage, never a crash; a usage
that echoes what was typed stays inside Slack's limits and pings nobody."""

from __future__ import annotations

import logging

from hypothesis import HealthCheck, example, given, settings, strategies as st

from bot.core import commands, render
from bot.registry import COMMANDS
from bot.core.errors import UsageError
from tests.fuzzkit import hostile_text, message_problems

WORDS = sorted({spec.name for spec in COMMANDS.specs} | {alias for spec in COMMANDS.specs for alias in spec.aliases} | {
    "into", "to", "after", "at", "on", "off", "now", "all", "for", "--force", "branch:*", "branch:release/*",
    "pullrequests", "pushes", "tags", "builds", "merger", "releaser", "deployer", "deployer:prod", "squash", "ff",
    "36h", "2d", "0h", "99999d", "09:00", "25:00", "mon-fri", "daily", "sun-mon", "7d", "30d", "acme/api", "api",
    "https://bitbucket.org/acme/api/pull-requests/3", "#1", "0", "-1", "²", "٣", "1" * 5000, "<@U123|bob>", "<@W1>",
    '"', "'", "\u201c", "\u2019", "\\",
})


NAMES = sorted({spec.name for spec in COMMANDS.specs})


def slash_text() -> st.SearchStrategy[str]:
    """Mostly a command's name and then anything (so every parser is reached), sometimes anything at all."""
    token = st.one_of(st.sampled_from(WORDS), st.sampled_from(WORDS), hostile_text(), st.integers(-10, 10**30).map(str))
    separator = st.sampled_from([" ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u3000"])
    rest = st.lists(st.tuples(separator, token), max_size=7).map(lambda parts: "".join(s + t for s, t in parts))
    commanded = st.tuples(st.sampled_from(NAMES), rest).map("".join)
    return st.one_of(commanded, commanded, commanded, hostile_text())


@given(slash_text())
@example("merge ²")  # found by this test: "²" passed str.isdigit() and int() refused it
@example("merge api ²")
@example("decline " + "1" * 5000)  # int() refuses 4,300 digits and more
@example("remind api after ٣h at ٠٩:٣٠")
def test_any_text_parses_to_a_command_or_a_usage_never_anything_else(text):
    try:
        command = COMMANDS.parse(text)
    except UsageError as error:
        reply = render.error_message(error)
        assert error.message
        assert message_problems({"text": reply.text, "blocks": reply.blocks}) == []
    else:
        assert command.name in {spec.name for spec in COMMANDS.specs}


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=slash_text())
def test_any_text_sent_to_the_running_bot_gets_an_answer_and_no_error(bot, caplog, text):
    """Over HTTP, signed, as Slack sends it: a 200 within Slack's 3 seconds and a reply (in the ack or at the
    response_url), whatever the text; nothing is logged as an error."""
    caplog.set_level(logging.ERROR)
    caplog.clear()
    sent = bot.command(text)
    assert sent.http.status_code == 200
    if not sent.http.content:
        bot.slack.wait_for(lambda: bot.slack.responses_for(sent.response_key) or bot.slack.calls_to("views.open"), timeout=10)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
