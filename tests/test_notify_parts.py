"""The pure parts of notifications, Home tab and unfurls, and the event-id ledger, one by one."""

from __future__ import annotations

import pytest

from bot.core import slack_events
from bot.notify.messages import pull_request_dm
from bot.notify.planning import (
    BURST_SECONDS,
    choose,
    enabled_kinds,
    mentioned_account_ids,
    pull_request_reasons,
    within_burst,
)
from bot.accounts import LinkedUser
from bot.unfurl import BitbucketLink, parse_link

ANN = {"display_name": "Ann", "uuid": "{a}", "account_id": "1:ann", "nickname": "ann"}
ROB = {"display_name": "Rob", "uuid": "{b}", "account_id": "1:rob", "nickname": "rob"}
PEOPLE = [LinkedUser("U1", "ann", "{a}", "1:ann"), LinkedUser("U2", "rob", "{b}", "1:rob")]


def pr(**extra):
    return {"id": 7, "title": "T", "state": "OPEN", "author": ANN, "reviewers": [ROB], "participants": [],
            "links": {"html": {"href": "https://bitbucket.org/acme/api/pull-requests/7"}}, **extra}


def test_mentions_are_read_from_bitbuckets_raw_markup():
    assert mentioned_account_ids("hi @{1:rob} and @{557058:x-y} and @{1:rob} again, not @rob or @{}") == ["1:rob", "557058:x-y"]


def test_a_reviewer_added_later_is_told_and_one_already_there_is_not():
    before = pr(reviewers=[])
    assert list(pull_request_reasons("pullrequest:updated", {"actor": ANN}, pr(), before, PEOPLE)) == ["U2"]
    assert pull_request_reasons("pullrequest:updated", {"actor": ANN}, pr(), pr(), PEOPLE) == {}
    assert pull_request_reasons("pullrequest:updated", {"actor": ANN}, pr(), None, PEOPLE) == {}  # unknown before: say nothing


def test_a_mention_comes_before_the_authors_own_reason_and_the_actor_is_left_out():
    payload = {"actor": ROB, "comment": {"content": {"raw": "@{1:ann} look"}}}
    reasons = pull_request_reasons("pullrequest:comment_created", payload, pr(), None, PEOPLE)
    assert list(reasons) == ["U1"] and [r.kind for r in reasons["U1"]] == ["mentions", "mine"]
    assert choose(reasons["U1"], {"mine"}).kind == "mine" and choose(reasons["U1"], set()) is None


def test_settings_default_to_on():
    assert enabled_kinds([]) == {"reviews", "mine", "mentions", "builds", "deploys", "owners"}
    assert enabled_kinds([("builds", 0), ("mine", 1)]) == {"reviews", "mine", "mentions", "deploys", "owners"}


def test_a_burst_lasts_a_minute_from_its_first_event():
    assert within_burst(100.0, 100.0) and within_burst(100.0, 100.0 + BURST_SECONDS - 0.1)
    assert not within_burst(100.0, 100.0 + BURST_SECONDS) and not within_burst(None, 100.0) and not within_burst(200.0, 100.0)


def test_the_message_keeps_the_last_lines_and_says_why():
    lines = [{"kind": "mine", "line": f"line {n}"} for n in range(12)] + [{"kind": "mentions", "line": "last"}]
    text = str(pull_request_dm("acme/api", pr(title="<!here> x"), lines).blocks)
    assert "line 0" not in text and "line 3" in text and "_…3 earlier_" in text
    assert "this is your pull request and you were mentioned in it" in text and "&lt;!here&gt; x" in text


@pytest.mark.parametrize("url, expected", [
    ("https://bitbucket.org/acme/api/pull-requests/12", BitbucketLink("pull_request", "acme/api", "12")),
    ("https://bitbucket.org/Acme/API/pull-requests/12/diff#chg-x", BitbucketLink("pull_request", "acme/api", "12")),
    ("https://bitbucket.org/acme/api/commits/0a1b2c3d", BitbucketLink("commit", "acme/api", "0a1b2c3d")),
    ("https://bitbucket.org/acme/api/pipelines/results/42", BitbucketLink("pipeline", "acme/api", "42")),
    ("https://bitbucket.org/acme/api/addon/pipelines/home#!/results/42", BitbucketLink("pipeline", "acme/api", "42")),
    ("https://bitbucket.org/acme/api/src/main/README.md", None),
    ("https://evil.example.com/acme/api/pull-requests/1", None),
    ("https://bitbucket.org.evil.com/acme/api/pull-requests/1", None),
    ("javascript:alert(1)", None),
])
def test_links_are_recognised(url, expected):
    assert parse_link(url) == expected


@pytest.mark.both_backends
def test_an_event_id_is_taken_once_and_forgotten_after_an_hour(store):
    assert slack_events.first_time(store, "Ev1", "app_home_opened", now=1000.0)
    assert not slack_events.first_time(store, "Ev1", now=1000.0 + 300)
    assert slack_events.first_time(store, "Ev2", now=1000.0 + 301)
    assert slack_events.first_time(store, "Ev1", now=1000.0 + slack_events.RETENTION_SECONDS + 1)


def _route(store, event_key: str, payload: dict, *, now: float) -> None:
    import json
    import uuid

    from bot import registry
    from bot.relay import Delivery, route_pending, store_delivery

    with store.transaction() as db:
        assert store_delivery(db, Delivery(event_key, json.dumps(payload).encode(), str(uuid.uuid4())), now=now)
    assert [r.state for r in route_pending(store, now=now, hooks=registry.relay_hooks())] == ["relayed"]


@pytest.mark.both_backends
def test_news_after_the_minute_starts_a_new_message_and_settings_are_read_at_routing(store):
    import copy

    from bot import notify
    from tests import webhookkit

    store.execute("INSERT INTO user_links (slack_user_id, nickname, bitbucket_uuid, account_id, linked_by, linked_at) "
                  "VALUES ('U1', 'ann', '{a}', '1:ann', 'U1', 0)")
    base = webhookkit.load_fixture("pullrequest.approved__zulip-approved_or_unapproved.json")

    def approval(n: int) -> dict:
        payload = copy.deepcopy(base)
        payload["actor"] = {**ROB, "n": n}  # a different body each time: not a replay
        payload["pullrequest"]["author"] = ANN
        return payload

    _route(store, "pullrequest:approved", approval(1), now=1000.0)
    _route(store, "pullrequest:approved", approval(2), now=1000.0 + BURST_SECONDS - 1)
    _route(store, "pullrequest:approved", approval(3), now=1000.0 + BURST_SECONDS + 1)
    anchors = [row["anchor"] for row in store.query("SELECT anchor FROM outbox WHERE channel = 'U1' ORDER BY id")]
    assert len(anchors) == 3 and anchors[0] == anchors[1] != anchors[2]
    notify.set_enabled(store, "U1", ("mine",), False)
    _route(store, "pullrequest:approved", approval(4), now=2000.0)
    assert store.query_one("SELECT COUNT(*) AS n FROM outbox WHERE channel = 'U1'")["n"] == 3


def test_check_names_the_scopes_an_older_install_lacks(tmp_path, slack, bitbucket):
    from bot.app.check import check_lines
    from tests.harness import make_settings

    settings = make_settings(tmp_path, slack, bitbucket)
    assert not any("lacks the scopes" in line.text for line in check_lines(settings))
    slack.scopes = "commands,chat:write,chat:write.public"
    (line,) = [line for line in check_lines(settings) if "lacks the scopes" in line.text]
    assert line.status == "FIX" and "im:write (core: direct messages" in line.text and "links:write (unfurl: unfurl them)" in line.text
