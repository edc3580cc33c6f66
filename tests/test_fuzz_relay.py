"""Fuzzing every webhook renderer with real Bitbucket payloads, mutated: whatever a repository's people type
(titles, comments, branch names, commit messages, build names) and whatever shape the JSON takes, a renderer
answers a message inside Slack's limits, or nothing, and never turns that text into a mention, a ping or a link."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from bot.relay import render as relay_render
from bot.core import render
from bot.relay.render import RENDERERS
from bot.core.render import Message
from tests import webhookkit
from tests.fuzzkit import hostile_text, message_problems, mutated

FIXTURES = {
    path.name: (webhookkit.event_key_of(path), json.loads(path.read_text()))
    for path in webhookkit.fixture_files() if webhookkit.event_key_of(path) in RENDERERS
}
PULL_REQUESTS = [payload["pullrequest"] for key, payload in FIXTURES.values() if key.startswith("pullrequest:")]


def as_dict(message) -> dict:
    assert isinstance(message, Message)
    return {"text": message.text, "blocks": message.blocks}


# Comment events without a captured payload: their body is the comment's, as comment_created's (issue 22).
COMMENT_KEYS = ["pullrequest:comment_updated", "pullrequest:comment_resolved", "pullrequest:comment_reopened"]


def test_every_renderer_has_real_payloads_to_start_from():
    assert {key for key, _ in FIXTURES.values()} == set(RENDERERS) - {"pullrequest:unapproved", "pullrequest:changes_request_created",
                                                                        *COMMENT_KEYS}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_the_real_payloads_render_inside_slacks_limits(name):
    key, payload = FIXTURES[name]
    message = RENDERERS[key](payload)
    if message is not None:
        assert message_problems(as_dict(message)) == []


@st.composite
def event(draw):
    name = draw(st.sampled_from(sorted(FIXTURES)))
    key, payload = FIXTURES[name]
    # The two events without a captured payload take an approval's shape, as Bitbucket sends them.
    key = draw(st.sampled_from([key, "pullrequest:unapproved", "pullrequest:changes_request_created"])) if key == "pullrequest:approved" else key
    key = draw(st.sampled_from([key, *COMMENT_KEYS])) if key == "pullrequest:comment_created" else key
    return key, draw(mutated(payload))


@given(event())
def test_any_mutated_payload_renders_inside_slacks_limits_without_live_mentions(key_and_payload):
    key, payload = key_and_payload
    message = RENDERERS[key](payload)
    if message is not None:
        assert message_problems(as_dict(message)) == []


@given(st.sampled_from(PULL_REQUESTS).flatmap(mutated), hostile_text())
def test_any_pull_request_card_stays_inside_slacks_limits_without_live_mentions(pull_request, repo):
    card = relay_render.pull_request_card(repo, pull_request)
    assert message_problems(as_dict(card)) == []


@given(hostile_text())
def test_hostile_text_in_every_field_of_a_push_stays_text(text):
    _, payload = FIXTURES["repo.push__zulip-push.json"] if "repo.push__zulip-push.json" in FIXTURES else next(
        v for v in FIXTURES.values() if v[0] == "repo:push")
    change = payload["push"]["changes"][0]
    hostile = {**payload, "actor": {"display_name": text}, "repository": {**payload["repository"], "full_name": text},
               "push": {"changes": [{**change, "new": {**(change.get("new") or {}), "name": text},
                                     "commits": [{"hash": text, "message": text, "author": {"raw": text}}] * 7}]}}
    message = RENDERERS["repo:push"](hostile)
    assert message is not None and message_problems(as_dict(message)) == []


def test_a_cut_never_leaves_a_link_or_an_entity_open():
    """Found by the fuzzing above: a section cut at 3,000 characters inside `<https://…|label>`."""
    text = "x" * 2990 + render.link("https://bitbucket.org/acme/api", "a long label") + " &amp; more"
    assert render.clip(text, 3000) == "x" * 2990 + "…"
    assert render.clip("a &amp;&amp;&amp;", 9) == "a &amp;…"
    assert render.clip("short", 3000) == "short"


def test_a_line_break_in_a_name_does_not_split_a_link():
    assert render.link("https://bitbucket.org/a/b", "two\rlines\u2028here") == "<https://bitbucket.org/a/b|two lines here>"
    assert render.link("https://bitbucket.org/a/b\nhttps://evil.example", "x") == "x"
    assert render.code("a\nb`c") == "`a b'c`"
