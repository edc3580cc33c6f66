"""Pure rendering: escaping, Slack's limits, fallback text, and the console view of a message."""

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from slack_sdk.models.blocks import SectionBlock

from bot import ids, render
from bot.bitbucket import BitbucketError, NotFound, PullRequest
from bot.errors import NotAllowed, UsageError
from bot.textview import message_to_text

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
        render.pull_request_list("acme/api", [pr], 1, NOW),
        render.merge_confirmation("acme/api", pr, "squash", "k"),
        render.merged("acme/api", pr, "U1", None),
        render.declined("acme/api", pr, "U1"),
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
    message = render.pull_request_list("amuniz/test-repos", prs, len(prs), NOW)
    actions = [b for b in message.blocks if b["type"] == "actions"]
    assert len(actions) == len(prs)
    for pr, block in zip(prs, actions):
        expected = {ids.APPROVE, ids.REQUEST_CHANGES, ids.ASK_DECLINE} | (set() if pr.draft else {ids.ASK_MERGE})
        assert {e["action_id"] for e in block["elements"]} == expected
    assert "_draft_" in json.dumps(message.blocks)  # the fixture's draft pull request says so


def test_a_long_list_stays_within_fifty_blocks_and_says_how_many_more():
    pr = real_pull_requests()[0]
    message = render.pull_request_list("a/b", [dataclasses.replace(pr, id=n) for n in range(1, 61)], 75, NOW, repo_url="https://bitbucket.org/a/b")
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
    message = render.pull_request_list("a/b", [PullRequest.from_api(data)], 1, NOW)
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in message.blocks)


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
    assert "Not allowed" not in render.error_message(NotAllowed("You need the `merger` role.")).text
    said = render.error_message(NotFound(404, "Repository acme/<x> not found", "detail & more")).text
    assert said == ":x: Bitbucket said: Repository acme/&lt;x&gt; not found (detail &amp; more)"
    generic = render.error_message(RuntimeError("token=xoxb-secret leaked?")).text
    assert "xoxb" not in generic and "went wrong" in generic
    assert isinstance(NotFound(404, "m", None), BitbucketError)


def test_help_lists_every_command_within_limits():
    from bot.commands import COMMANDS

    message = render.help_message()
    assert len(message.blocks) <= 50
    for spec in COMMANDS:
        assert spec.usage in json.dumps(message.blocks, ensure_ascii=False)
    assert "deploy" in render.help_message("deploy").text


def test_console_view_numbers_buttons_and_undoes_escapes():
    pr = hostile_pull_request()
    message = render.pull_request_list("acme/api", [pr, dataclasses.replace(pr, id=pr.id + 1)], 2, NOW)
    text, buttons = message_to_text(message.to_dict(), first_number=3)
    assert [b.number for b in buttons] == list(range(3, 11))
    assert "[3] Approve" in text and "[6] Decline…" in text
    assert "<!channel>" in text  # shown as typed in the console, where it pings nobody


def test_pull_request_timestamps_are_aware():
    pr = real_pull_requests()[0]
    assert pr.created_on.tzinfo is not None and pr.updated_on - pr.created_on < timedelta(days=3650)
