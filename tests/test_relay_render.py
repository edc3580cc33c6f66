"""The relay's renderers against every real payload in the fixtures, and the escaping of Bitbucket text."""

from __future__ import annotations

import copy
import json

import pytest

from bot import relay
from bot.relay import render as relay_render
from bot.core import render
from bot.bitbucket import PullRequest
from bot.sandbox.slack import block_problems
from tests import webhookkit
from tests.harness import text_of
from bot.pull_requests import render as pr_render

RELAYED_FIXTURES = [p for p in webhookkit.fixture_files() if webhookkit.event_key_of(p) in relay_render.RENDERERS]
# Real payloads that have nothing to say: a push whose `changes` is empty, a PR opened without a description.
SILENT = {
    "repo.push__jenkins-events-emptyPayload.json",
    "repo.push__zulip-push_without_changes.json",
    "pullrequest.created__jenkins-events-createPayloadOrigin.json",
    "pullrequest.created__jenkins-pullrequest_created.json",
}
EVIL = "<!channel> & <@U999|boss> <https://evil.example|click>"


def assert_valid(message) -> None:
    assert message.text, "a fallback text is required"
    assert not block_problems(message.blocks, max_blocks=50), block_problems(message.blocks, max_blocks=50)


def assert_no_raw_control_text(message) -> None:
    text = text_of(message.to_dict())
    for needle in ("<!channel>", "<@U999", "<https://evil.example"):
        assert needle not in text, f"{needle} reached Slack unescaped: {text}"


# --- the Zulip-style guard -------------------------------------------------------------------------


def test_every_relayed_event_key_has_a_renderer_and_is_registered():
    assert set(relay_render.RELAYED_EVENTS) == set(relay_render.RENDERERS)
    assert set(relay_render.RELAYED_EVENTS) == {
        "repo:push", "pullrequest:created", "pullrequest:updated", "pullrequest:approved", "pullrequest:unapproved",
        "pullrequest:changes_request_created", "pullrequest:fulfilled", "pullrequest:rejected",
        "pullrequest:comment_created", "repo:commit_status_created", "repo:commit_status_updated",
        # Conversations (issue 22): a relayed comment follows its edits, deletion and resolution.
        "pullrequest:comment_updated", "pullrequest:comment_deleted", "pullrequest:comment_resolved", "pullrequest:comment_reopened",
    }


def test_issue_events_are_not_relayed():
    # Bitbucket Issues was shut down in August 2026.
    assert not [key for key in relay_render.RENDERERS if key.startswith("issue:")]


def test_the_fixtures_cover_most_relayed_keys():
    covered = {webhookkit.event_key_of(p) for p in RELAYED_FIXTURES}
    without_real_payload = {"pullrequest:unapproved", "pullrequest:changes_request_created",  # INDEX.md: none published
                            # none published either; their body is the comment's, like comment_created's
                            "pullrequest:comment_updated", "pullrequest:comment_resolved", "pullrequest:comment_reopened"}
    assert covered == set(relay_render.RENDERERS) - without_real_payload


@pytest.mark.parametrize("path", RELAYED_FIXTURES, ids=lambda p: p.name)
def test_every_fixture_of_a_relayed_key_renders(path):
    key, payload = webhookkit.event_key_of(path), json.loads(path.read_text())
    message = relay_render.RENDERERS[key](payload)
    if path.name in SILENT:
        assert message is None
    else:
        assert message is not None
        assert_valid(message)
    if key.startswith("pullrequest:"):
        card = relay_render.pull_request_card(payload["repository"]["full_name"].lower(), relay.slim_pull_request(key, payload))
        assert_valid(card)
        assert f"#{payload['pullrequest']['id']}" in card.text


@pytest.mark.parametrize("path", RELAYED_FIXTURES, ids=lambda p: p.name)
def test_bitbucket_text_is_escaped_in_every_renderer(path):
    key, payload = webhookkit.event_key_of(path), poisoned(json.loads(path.read_text()))
    message = relay_render.RENDERERS[key](payload)
    if message is not None:
        assert_no_raw_control_text(message)
    if key.startswith("pullrequest:"):
        card = relay_render.pull_request_card("acme/api", relay.slim_pull_request(key, payload))
        assert_no_raw_control_text(card)
        assert "&lt;!channel&gt;" in card.text


def poisoned(payload: dict) -> dict:
    """Every string a person can write in Bitbucket replaced by mention and link injection attempts."""
    payload = copy.deepcopy(payload)
    names = {"title", "description", "display_name", "nickname", "username", "message", "raw", "name", "reason", "refname", "full_name"}

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and key in names:
                    node[key] = EVIL
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload)
    return payload


# --- pushes ------------------------------------------------------------------------------------------


def test_a_push_lists_the_first_commits_then_how_many_more():
    message = relay_render.push(webhookkit.load_fixture("repo.push__zulip-push_multiple_committers_with_others.json"))
    text = text_of(message.to_dict())
    assert text.count("first commit") == relay_render.MAX_COMMITS_SHOWN
    assert "…and 5 more" in text
    assert "created branch" in text


def test_a_truncated_push_says_there_were_more_and_links_to_them():
    message = relay_render.push(webhookkit.load_fixture("repo.push__jenkins-commit_created.json"))
    text = text_of(message.to_dict())
    assert "*force-pushed*" in text
    assert "…and more: <https://bitbucket.org/amuniz/test-repos/branch/feature/issue-819|see them all>" in text


def test_a_normal_push_counts_its_commits_and_shows_their_first_lines():
    payload = webhookkit.push_payload("acme", "api", actor={"display_name": "Ann"}, branch="main",
                                      commits=[("b" * 40, "Fix the login\n\nLong body"), ("c" * 40, "Add a test")])
    text = text_of(relay_render.push(payload).to_dict())
    assert "Ann pushed 2 commits to" in text
    assert "Fix the login" in text and "Long body" not in text
    assert "`bbbbbbb`" not in text and "|bbbbbbb>" in text


def test_branch_and_tag_creation_and_deletion():
    assert "deleted branch `master`" in text_of(relay_render.push(webhookkit.load_fixture("repo.push__zulip-remove_branch.json")).to_dict())
    assert "deleted tag `a`" in text_of(relay_render.push(webhookkit.load_fixture("repo.push__zulip-push_remove_tag.json")).to_dict())
    tagged = text_of(relay_render.push(webhookkit.load_fixture("repo.push__jenkins-annotated_tag_created.json")).to_dict())
    assert "tagged <https://bitbucket.org/amuniz/test-repos/commits/tag/test-tag|test-tag> at `7ef5981`" in tagged
    assert ">This is an annotated tag" in tagged
    several = text_of(relay_render.push(webhookkit.load_fixture("repo.push__jenkins-events-multipleChangesPayload.json")).to_dict())
    assert "pushed 1 commit to" in several and "created branch" in several and "tagged" in several


# --- pull requests -------------------------------------------------------------------------------------


def card_text(key: str, fixture: str) -> str:
    payload = webhookkit.load_fixture(fixture)
    return text_of(relay_render.pull_request_card("acme/api", relay.slim_pull_request(key, payload)).to_dict())


def test_the_card_shows_the_state_and_approvals():
    assert "*Open* · 1 approval" in card_text("pullrequest:approved", "pullrequest.approved__zulip-approved_or_unapproved.json")
    assert "Tomasz ✅" in card_text("pullrequest:approved", "pullrequest.approved__zulip-approved_or_unapproved.json")
    assert "*Merged* by Brad Rydzewski as `4f8f6de`" in card_text("pullrequest:fulfilled", "pullrequest.fulfilled__goscm-pr_fulfilled.json")
    assert "*Declined* by Tomasz: Declined!" in card_text("pullrequest:rejected", "pullrequest.rejected__zulip-merged_or_rejected.json")


def test_an_open_card_has_the_buttons_and_a_closed_one_has_none():
    open_payload = webhookkit.load_fixture("pullrequest.created__zulip-created_or_updated.json")
    card = relay_render.pull_request_card("acme/api", relay.slim_pull_request("pullrequest:created", open_payload))
    actions = [e["action_id"] for b in card.blocks if b["type"] == "actions" for e in b["elements"]]
    assert actions == ["bb_approve", "bb_request_changes", "bb_ask_merge", "bb_ask_decline", "bb_card_menu"]
    assert json.loads(card.blocks[1]["elements"][0]["value"]) == {"r": "acme/api", "p": 1}
    menu = card.blocks[1]["elements"][-1]
    assert menu["type"] == "overflow" and [o["text"]["text"] for o in menu["options"]] == ["Nudge reviewers", "Open in Bitbucket"]
    assert json.loads(menu["options"][0]["value"]) == {"r": "acme/api", "p": 1, "o": "nudge"}
    merged = webhookkit.load_fixture("pullrequest.fulfilled__goscm-pr_fulfilled.json")
    closed = relay_render.pull_request_card("acme/api", relay.slim_pull_request("pullrequest:fulfilled", merged))
    assert not [b for b in closed.blocks if b["type"] == "actions"]


def test_changes_requested_shows_on_the_card_and_in_the_thread():
    payload = webhookkit.load_fixture("pullrequest.approved__zulip-approved_or_unapproved.json")
    payload["pullrequest"]["participants"][0].update(approved=False, state="changes_requested")
    payload["changes_request"] = {"user": payload["actor"], "date": "2016-07-04T19:40:30+00:00"}
    card = text_of(relay_render.pull_request_card("acme/api", relay.slim_pull_request("pullrequest:changes_request_created", payload)).to_dict())
    assert "changes requested by Tomasz" in card and "0 approvals" in card
    assert "Tomasz requested changes." in relay_render.pull_request_changes_requested(payload).text
    assert "Tomasz removed their approval." in relay_render.pull_request_unapproved(payload).text


def test_a_comment_is_quoted_with_its_link_and_place():
    payload = webhookkit.load_fixture("pullrequest.comment_created__goscm-pr_comment_created.json")
    payload["comment"]["inline"] = {"path": "src/app.py", "to": 12}
    payload["comment"]["content"]["raw"] = "Line one\nLine two"
    text = text_of(relay_render.pull_request_comment(payload).to_dict())
    assert "|commented> on `src/app.py:12`:" in text
    assert ">Line one\n>Line two" in text


def cut(char: str, limit: int) -> str:
    """`limit` characters of `char` as a cut leaves them: one less, and `…`."""
    return char * (limit - 1) + "…"


def assert_cut(text: str, char: str, limit: int) -> None:
    assert cut(char, limit) in text, f"not cut to {limit}: {text[:200]}…"
    assert char * limit not in text


def test_a_long_comment_is_cut():
    payload = webhookkit.load_fixture("pullrequest.comment_created__goscm-pr_comment_created.json")
    payload["comment"]["content"]["raw"] = "x" * 10_000
    message = relay_render.pull_request_comment(payload)
    assert_valid(message)
    assert len(text_of(message.to_dict())) < 2 * relay_render.MAX_COMMENT_CHARS
    assert message.blocks[1]["text"]["text"] == ">" + cut("x", relay_render.MAX_COMMENT_CHARS)


def test_a_comment_that_escaping_makes_longer_than_a_section_is_cut_to_slacks_limit():
    payload = webhookkit.load_fixture("pullrequest.comment_created__goscm-pr_comment_created.json")
    payload["comment"]["content"]["raw"] = "<" * relay_render.MAX_COMMENT_CHARS  # 4,000 characters once escaped
    message = relay_render.pull_request_comment(payload)
    assert_valid(message)
    quoted = message.blocks[1]["text"]["text"]
    assert render.MAX_SECTION_TEXT - 5 < len(quoted) <= render.MAX_SECTION_TEXT and quoted.endswith("&lt;…")


def test_a_long_description_is_cut():
    payload = webhookkit.load_fixture("pullrequest.created__zulip-created_or_updated.json")
    payload["pullrequest"]["description"] = "d" * 10_000
    message = relay_render.pull_request_created(payload)
    assert_valid(message)
    assert message.blocks[1]["text"]["text"] == ">" + cut("d", relay_render.MAX_DESCRIPTION_CHARS)


def test_a_long_title_is_cut_on_the_card_and_in_its_fallback():
    payload = webhookkit.load_fixture("pullrequest.created__zulip-created_or_updated.json")
    payload["pullrequest"]["title"] = "t" * 5000
    card = relay_render.pull_request_card("acme/api", relay.slim_pull_request("pullrequest:created", payload))
    assert_valid(card)
    assert_cut(card.blocks[0]["text"]["text"], "t", 200)
    assert_cut(card.text, "t", 200)


def test_a_long_decline_reason_is_cut_on_the_card_and_in_the_thread():
    payload = webhookkit.load_fixture("pullrequest.rejected__zulip-merged_or_rejected.json")
    payload["pullrequest"]["reason"] = "r" * 5000
    card = relay_render.pull_request_card("acme/api", relay.slim_pull_request("pullrequest:rejected", payload))
    assert_cut(card.blocks[0]["text"]["text"], "r", 300)
    reply = relay_render.pull_request_declined(payload)
    assert_cut(reply.blocks[0]["text"]["text"], "r", 300)
    assert_cut(reply.text, "r", 300)


def test_a_long_commit_message_shows_its_first_line_cut():
    payload = webhookkit.push_payload("acme", "api", actor={"display_name": "Ann"}, branch="main",
                                      commits=[("b" * 40, "m" * 500 + "\nbody")])
    message = relay_render.push(payload)
    assert_valid(message)
    assert_cut(message.blocks[0]["text"]["text"], "m", relay_render.MAX_COMMIT_LINE)


def test_a_long_build_name_and_description_are_cut():
    payload = webhookkit.commit_status_payload("acme", "api", actor={"display_name": "CI"}, name="n" * 1000, state="FAILED", refname="main")
    payload["commit_status"]["description"] = "e" * 5000
    message = relay_render.commit_status(payload)
    assert_valid(message)
    assert_cut(message.blocks[0]["text"]["text"], "n", 150)
    assert_cut(message.text, "n", 150)
    assert message.blocks[1]["elements"][0]["text"] == cut("e", 300)


# --- builds ----------------------------------------------------------------------------------------


def test_a_build_names_its_state_branch_and_link():
    payload = webhookkit.commit_status_payload("acme", "api", actor={"display_name": "CI"}, name="Unit tests", state="FAILED", refname="main")
    text = text_of(relay_render.commit_status(payload).to_dict())
    assert ":x: *<https://ci.example.com/build|Unit tests>* failed on `main` at `aaaaaaa`" in text
    fixed = text_of(relay_render.commit_status({**payload, "commit_status": {**payload["commit_status"], "state": "SUCCESSFUL"}}, note="fixed").to_dict())
    assert "passed on `main`" in fixed and "(fixed)" in fixed


def test_cached_card_buttons_are_renders_own():
    base = relay.slim_pull_request("pullrequest:approved", webhookkit.load_fixture("pullrequest.approved__zulip-approved_or_unapproved.json"))
    variants = [base, {**base, "participants": []}, {**base, "title": "Other"}, {**base, "state": "OPEN", "reviewers": []}, {**base, "draft": True}]
    for data in variants:
        pr = PullRequest.from_api(data)
        assert relay_render.card_buttons("acme/api", pr) == pr_render.pull_request_buttons("acme/api", pr).to_dict()
    draft = relay_render.card_buttons("acme/api", PullRequest.from_api({**base, "draft": True}))
    assert "bb_ask_merge" not in json.dumps(draft)
