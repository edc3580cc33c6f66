"""Pure rendering: escaping, Slack's limits, fallback text, and the console view of a message."""

import dataclasses
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from slack_sdk.models.blocks import SectionBlock

from bot.deploys import render as deploy_render
from bot.core import ids, render
from bot.relay import render as relay_render
from bot.reminders import render as reminder_render
from bot.bitbucket import (
    Account,
    BadRequest,
    BitbucketError,
    Conflict,
    Deployment,
    Environment,
    Forbidden,
    NetworkError,
    NotFound,
    PullRequest,
    RateLimited,
    ServerError,
    Unauthorized,
)
from bot.core.errors import NotAllowed, UsageError
from bot.sandbox.slack import block_problems
from bot.app.textview import message_to_text
from tests import webhookkit
from bot.pull_requests import render as pr_render

FIXTURES = Path(__file__).parent / "fixtures" / "bitbucket-cloud" / "api"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def real_pull_requests() -> list[PullRequest]:
    page = json.loads((FIXTURES / "pullrequests-list__jenkins-2.0-repositories-amuniz-test-repos-pullrequests_pagelen_50.json").read_text())
    return [PullRequest.from_api(item) for item in page["values"]]


def hostile_pull_request() -> PullRequest:
    data = json.loads((FIXTURES / "pullrequest__goscm-pr.json").read_text())
    data["title"] = "<!channel> <@U123> & <https://evil.example|click>"
    data["author"]["display_name"] = "<!here>"
    return PullRequest.from_api(data)


def all_text(message: render.Message) -> str:
    return message.text + json.dumps(message.blocks)


def test_escape_only_slacks_three_characters():
    assert render.escape("a & <b> \"c\" 'd'") == "a &amp; &lt;b&gt; \"c\" 'd'"
    assert render.escape("&lt;") == "&amp;lt;"  # & first, so nothing is double-decoded by Slack


def test_bitbucket_text_cannot_mention_or_disguise_links():
    pr = hostile_pull_request()
    for message in (
        pr_render.pull_request_list("acme/api", [pr], 1, NOW),
        pr_render.merge_confirmation("acme/api", pr, "squash", "k"),
        pr_render.merged("acme/api", pr, "U1", None),
        pr_render.declined("acme/api", pr, "U1"),
    ):
        text = all_text(message)
        for raw in ("<!channel>", "<!here>", "<@U123>", "<https://evil.example|"):
            assert raw not in text, (raw, text)


def test_link_drops_a_url_that_could_break_out():
    assert render.link("https://ok.example/x", "a<b") == "<https://ok.example/x|a&lt;b>"
    assert render.link("https://x.example/|<!channel>", "label") == "label"
    assert render.link("javascript:alert(1)", "label") == "label"


def test_ages_read_naturally():
    assert [render.age(s) for s in (30, 45 * 60, 30 * 3600, 4 * 86400)] == ["1m", "45m", "30h", "4d"]


def test_real_pull_requests_render_with_buttons_per_pull_request():
    prs = real_pull_requests()
    message = pr_render.pull_request_list("amuniz/test-repos", prs, len(prs), NOW)
    actions = [b for b in message.blocks if b["type"] == "actions"]
    assert len(actions) == len(prs)
    for pr, block in zip(prs, actions):
        expected = {ids.APPROVE, ids.REQUEST_CHANGES, ids.ASK_DECLINE} | (set() if pr.draft else {ids.ASK_MERGE})
        assert {e["action_id"] for e in block["elements"]} == expected
    assert "_draft_" in json.dumps(message.blocks)  # the fixture's draft pull request says so


def test_a_long_list_stays_within_fifty_blocks_and_says_how_many_more():
    pr = real_pull_requests()[0]
    message = pr_render.pull_request_list("a/b", [dataclasses.replace(pr, id=n) for n in range(1, 61)], 75, NOW, repo_url="https://bitbucket.org/a/b")
    assert len(message.blocks) <= render.MAX_BLOCKS
    assert "Showing the 20 newest of 75" in all_text(message)


def test_message_never_exceeds_fifty_blocks():
    many = [SectionBlock(text=f"block {n}") for n in range(80)]
    message = render.message("x" * 10_000, many)
    assert len(message.blocks) == 50 and "31 more blocks" in json.dumps(message.blocks[-1])
    assert len(message.text) < 4000


def test_long_titles_are_cut_to_slacks_limits():
    data = json.loads((FIXTURES / "pullrequest__goscm-pr.json").read_text())
    data["title"] = "x" * 5000
    message = pr_render.pull_request_list("a/b", [PullRequest.from_api(data)], 1, NOW)
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in message.blocks)
    assert not block_problems(message.blocks, max_blocks=render.MAX_BLOCKS)
    summary = message.blocks[1]["text"]["text"]
    assert f"#{data['id']} " + "x" * 199 + "…" in summary and "x" * 200 not in summary  # the title: 200 characters
    assert len(message.text) <= render.MAX_FALLBACK_TEXT and message.text.endswith("x…")


def test_sections_contexts_headers_buttons_and_fallbacks_are_cut_to_slacks_limits():
    long = "<" * 2000  # 8,000 characters once escaped
    said = render.error_message(BadRequest(400, long, None))
    assert render.MAX_SECTION_TEXT - 5 < len(said.blocks[0]["text"]["text"]) <= render.MAX_SECTION_TEXT
    assert render.MAX_FALLBACK_TEXT - 5 < len(said.text) <= render.MAX_FALLBACK_TEXT
    context = render.context(render.escape(long)).to_dict()["elements"][0]["text"]
    assert render.MAX_SECTION_TEXT - 5 < len(context) <= render.MAX_SECTION_TEXT
    assert render.header("h" * 500).to_dict()["text"]["text"] == "h" * 149 + "…"
    assert render.button("b" * 500, ids.APPROVE).to_dict()["text"]["text"] == "b" * 74 + "…"


def test_button_values_round_trip_and_refuse_garbage():
    value = render.encode_value({"r": "acme/api", "p": 3})
    assert render.decode_value(value) == {"p": 3, "r": "acme/api"}
    for bad in ("", "[1]", "{nope"):
        try:
            render.decode_value(bad)
        except Exception as error:  # noqa: BLE001
            assert "not readable" in str(error)
        else:
            raise AssertionError(bad)


def test_errors_become_words_for_a_person():
    assert "Usage: `/bb merge" in render.error_message(UsageError("Nope.", usage="/bb merge REPO ID")).text
    assert render.error_message(NotAllowed("You need the `merger` role.")).text == ":warning: You need the `merger` role."
    said = render.error_message(NotFound(404, "Repository acme/<x> not found", "detail & more")).text
    assert said == ":x: Bitbucket said: Repository acme/&lt;x&gt; not found (detail &amp; more)"
    generic = render.error_message(RuntimeError("token=xoxb-secret leaked?")).text
    assert "xoxb" not in generic and "went wrong" in generic
    # Every kind of Bitbucket failure is told in Bitbucket's words (here, each kind's own default), none as ours.
    for kind, status in ((BadRequest, 400), (Unauthorized, 401), (Forbidden, 403), (NotFound, 404), (Conflict, 409),
                         (RateLimited, 429), (ServerError, 503), (NetworkError, None), (BitbucketError, 418)):
        assert render.error_message(kind(status)).text == f":x: Bitbucket said: {kind.default_message}", kind


def test_help_lists_every_command_within_limits():
    from bot.registry import COMMANDS

    message = render.help_message(COMMANDS)
    assert len(message.blocks) <= 50
    for spec in COMMANDS.specs:
        assert spec.usage in json.dumps(message.blocks, ensure_ascii=False)
    assert "deploy" in render.help_message(COMMANDS, "deploy").text


def test_console_view_numbers_buttons_and_undoes_escapes():
    pr = hostile_pull_request()
    message = pr_render.pull_request_list("acme/api", [pr, dataclasses.replace(pr, id=pr.id + 1)], 2, NOW)
    text, buttons = message_to_text(message.to_dict(), first_number=3)
    assert [b.number for b in buttons] == list(range(3, 11))
    assert "[3] Approve" in text and "[6] Decline…" in text
    assert "<!channel>" in text  # shown as typed in the console, where it pings nobody


def test_pull_request_timestamps_are_aware():
    pr = real_pull_requests()[0]  # "created_on": "2026-04-07T09:12:30.828883+00:00", "updated_on": "…31.222021+00:00"
    assert pr.created_on.tzinfo is not None and pr.updated_on.tzinfo is not None
    assert pr.created_on == datetime(2026, 4, 7, 9, 12, 30, 828883, tzinfo=timezone.utc)
    assert pr.updated_on == datetime(2026, 4, 7, 9, 12, 31, 222021, tzinfo=timezone.utc)
    assert pr.updated_on - pr.created_on == timedelta(microseconds=393138)
    # A listing says "updated 1h ago" from them, whatever the machine's own time zone.
    assert "updated 1h ago" in pr_render.pull_request_summary("amuniz/test-repos", pr, pr.updated_on + timedelta(minutes=90))


# --- cutting escaped text ----------------------------------------------------------------------------------

BROKEN_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")  # every `&` that reaches Slack begins a whole entity


def texts(node) -> list[str]:
    """Every string in a message (fallback text, block texts), each checked on its own."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in texts(value)]
    if isinstance(node, list):
        return [text for item in node for text in texts(item)]
    return []


def assert_cut_without_broken_entity(message: render.Message) -> None:
    strings = texts(message.to_dict())
    assert any(text.endswith("…") for text in strings), "the text was meant to be long enough to be cut"
    for text in strings:
        assert not BROKEN_ENTITY.search(text), f"an entity was cut in half: …{text[-12:]!r}"


@pytest.mark.parametrize("raw", ["<" * 40, "&" * 40, "<&>" * 14, "a<b&c>" * 7, "x&lt;" * 8])
def test_a_cut_at_any_point_of_escaped_text_keeps_entities_whole(raw):
    escaped = render.escape(raw)
    for limit in range(1, len(escaped) + 2):
        cut = render.truncate(escaped, limit)
        assert len(cut) <= limit
        assert not BROKEN_ENTITY.search(cut), (limit, cut)
        if cut != escaped:
            kept = cut.removesuffix("…")
            assert cut.endswith("…") and escaped.startswith(kept)
            assert len(kept) >= limit - 5  # moved back by at most the length of one entity, no more


def long_error(shift: int) -> render.Message:
    """Bitbucket's words are escaped, then the section (3,000) and the fallback (3,900) are cut."""
    return render.error_message(BadRequest(400, "x" * shift + "<&>" * 1500, None))


def long_comment(shift: int) -> render.Message:
    """A comment is cut to 1,000 characters, then escaped to up to 5,000, then its section is cut to 3,000."""
    data = webhookkit.load_fixture("pullrequest.comment_created__goscm-pr_comment_created.json")
    data["comment"]["content"]["raw"] = "x" * shift + "&" * 999
    return relay_render.pull_request_comment(data)


def long_reminder(shift: int) -> render.Message:
    """Fifteen titles of `<` escape to a fallback over 3,900 characters."""
    pr = hostile_pull_request()
    stale = [dataclasses.replace(pr, id=n, title=("x" * shift if n == 1 else "") + "<" * 100) for n in range(1, 16)]
    return reminder_render.stale_pull_requests("acme/api", stale, now=NOW, after_seconds=48 * 3600, waiting={}, mentions={})


def long_deployments(shift: int) -> render.Message:
    """An environment's name and release name, escaped into its section and into the fallback."""
    environment = Environment("{e}", "x" * shift + "<" * 1000, "Production", 2)
    deployment = Deployment(
        uuid="{d}", environment_uuid="{e}", state="COMPLETED", status="SUCCESSFUL", release_name="&" * 1000,
        commit="c" * 40, pipeline_url=None, deployer=Account("Alice"), started_on=NOW - timedelta(minutes=3),
        completed_on=NOW, url=None,
    )
    return deploy_render.deployments_overview("acme/api", [environment], {"{e}": [deployment]}, NOW)


@pytest.mark.parametrize("render_long", [long_error, long_comment, long_reminder, long_deployments])
@pytest.mark.parametrize("shift", range(5))  # entities are 4 or 5 long: one of these shifts lands in one
def test_renderers_cut_escaped_text_without_splitting_an_entity(render_long, shift):
    assert_cut_without_broken_entity(render_long(shift))
