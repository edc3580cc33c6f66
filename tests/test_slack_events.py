"""The Events API end to end: signed JSON callbacks to the real bot; the Home tab (views.publish) and unfurls
(chat.unfurl) seen in the simulated Slack, Bitbucket's calls counted in the simulated Bitbucket."""

from __future__ import annotations

import json

import pytest

from bot.notify.grammar import NOTIFY_KINDS
from bot.core import ids
from tests import eventkit, webhookkit
from tests.harness import SIGNING_SECRET, WEBHOOK_SECRET, buttons_of, text_of

pytestmark = pytest.mark.both_backends


def send(bot, body, *, retry_num=None, secret=SIGNING_SECRET):
    return eventkit.post_event(bot.url, body, secret, retry_num=retry_num)


# --- the door ---------------------------------------------------------------------------------------------


def test_url_verification_is_answered_with_its_challenge(bot):
    answer = send(bot, {"token": "unused", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"})
    assert answer.status_code == 200
    assert answer.json()["challenge"] == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"


@pytest.mark.parametrize("secret", [None, "wrong-secret"], ids=["unsigned", "forged"])
def test_an_unsigned_or_forged_event_is_refused_and_not_acted_on(bot, slack, secret):
    assert send(bot, eventkit.app_home_opened("U1"), secret=secret).status_code == 401
    assert send(bot, {"type": "url_verification", "challenge": "x"}, secret=secret).status_code == 401
    bot.services.wait_idle()
    assert slack.calls_to("views.publish") == []


def test_a_retried_event_is_acted_on_once(bot, slack):
    body = eventkit.app_home_opened("U1", event_id="Ev0RETRIED01")
    assert send(bot, body).status_code == 200
    for retry in (1, 2, 3):
        assert send(bot, body, retry_num=retry).status_code == 200  # answered, so Slack stops retrying
    slack.wait_for(lambda: slack.calls_to("views.publish"))
    bot.services.wait_idle()
    assert len(slack.calls_to("views.publish")) == 1
    # Another opening of the tab is another event.
    send(bot, eventkit.app_home_opened("U1", event_id="Ev0RETRIED02"))
    slack.wait_for(lambda: len(slack.calls_to("views.publish")) == 2)


# --- the Home tab -------------------------------------------------------------------------------------------


@pytest.fixture
def workspace(bot, bitbucket, slack):
    """ann (U1, linked) opens pull requests and reviews rob's and cat's in acme/api and acme/web, which
    channels follow; acme/infra is not followed."""
    for nickname in ("ann", "rob", "cat"):
        bitbucket.add_user(nickname)
    for slug in ("api", "web", "infra"):
        bitbucket.add_repository("acme", slug, branches=("main",))
    bitbucket.add_pull_request("acme", "api", title="Old review <!channel>", source="f/old", author="rob", reviewers=["ann"],
                               created_on=_at(1))
    bitbucket.add_pull_request("acme", "web", title="New review", source="f/new", author="cat", reviewers=["ann", "rob"],
                               created_on=_at(3))
    bitbucket.add_pull_request("acme", "api", title="Already approved", source="f/done", author="cat", reviewers=["ann"],
                               approved_by=["ann"], created_on=_at(2))
    bitbucket.add_pull_request("acme", "infra", title="Not followed", source="f/infra", author="rob", reviewers=["ann"])
    bitbucket.add_pull_request("acme", "api", title="Ann's work", source="f/mine", author="ann", reviewers=["rob", "cat"],
                               approved_by=["rob"], changes_requested_by=["cat"], created_on=_at(0))
    for channel, repo in (("CAPI", "acme/api"), ("CWEB", "acme/web")):
        assert "subscribed" in bot.answer_text(bot.command(f"subscribe {repo} builds", user_id="U9", channel_id=channel))
    # The relay hears of a failed build on ann's branch (what the tab and the unfurl show, with no call).
    status = webhookkit.commit_status_payload("acme", "api", actor=bitbucket.user("rob"), name="Pipeline #4 for f/mine",
                                              state="FAILED", refname="f/mine")
    assert webhookkit.post(f"{bot.url}/bitbucket/webhook", "repo:commit_status_created", status, WEBHOOK_SECRET).status_code == 200
    slack.wait_for(lambda: any("Pipeline #4" in text_of(m.to_api()) for m in slack.channel_messages("CAPI")))  # relayed
    assert "linked" in bot.answer_text(bot.command("link ann", user_id="U1")).lower()
    return bitbucket


def _at(day: int):
    from datetime import datetime, timedelta, timezone

    return datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=day)


def home_of(bot, slack, user: str, *, count: int = 1) -> dict:
    slack.wait_for(lambda: len([c for c in slack.calls_to("views.publish") if c.args.get("user_id") == user]) >= count)
    bot.services.wait_idle()
    return slack.home_views[user]


def pull_request_calls(bitbucket) -> list:
    return [r for r in bitbucket.requests_to("GET") if "pullrequests" in r.path]


def test_the_home_tab_shows_reviews_oldest_first_then_own_pull_requests_and_settings(bot, workspace, slack):
    send(bot, eventkit.app_home_opened("U1"))
    view = home_of(bot, slack, "U1")
    text = text_of({"blocks": view["blocks"]})
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    reviews = text.index("Waiting on your review (2)")
    mine = text.index("Your open pull requests (1)")
    settings = text.index("Your notifications")
    assert reviews < text.index("Old review") < text.index("New review") < mine < text.index("Ann's work") < settings
    assert "Already approved" not in text and "Not followed" not in text
    assert "1 approval" in text and "✋ changes requested by Cat" in text and "❌ Pipeline for f/mine" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in json.dumps(view)
    assert len([b for b in buttons_of(view) if b["action_id"] == ids.NOTIFY_TOGGLE]) == len(NOTIFY_KINDS)  # one per kind

    # One call for ann's own pull requests; each followed repository never read before is read once (its open
    # pull requests), and from then on webhooks keep what the reviews are drawn from.
    calls = pull_request_calls(workspace)
    assert len(calls) == 3, [c.path for c in calls]
    assert sum("/workspaces/acme/pullrequests/" in c.path for c in calls) == 1
    reviews_calls = [c for c in calls if c.path.startswith("/2.0/repositories/")]
    assert sorted(c.path.split("/")[4] for c in reviews_calls) == ["api", "web"]
    assert all(c.query["state"] == ["OPEN"] and "q" not in c.query for c in reviews_calls)

    # Within the minute, opening the tab again asks Bitbucket nothing.
    send(bot, eventkit.app_home_opened("U1"))
    home_of(bot, slack, "U1", count=2)
    assert len(pull_request_calls(workspace)) == 3


def test_a_settings_button_on_the_home_tab_flips_it_and_redraws_the_tab(bot, workspace, slack):
    send(bot, eventkit.app_home_opened("U1"))
    view = home_of(bot, slack, "U1")
    flip = next(b for b in buttons_of(view) if '"k":"mentions"' in b["value"])
    bot.click(ids.NOTIFY_TOGGLE, flip["value"], user_id="U1")
    view = home_of(bot, slack, "U1", count=2)
    assert "*mentions* · :white_circle: off" in text_of({"blocks": view["blocks"]})
    assert "*mentions* · :white_circle: off" in bot.answer_text(bot.command("notify", user_id="U1"))


def test_an_unlinked_person_is_told_how_to_link(bot, slack, bitbucket):
    send(bot, eventkit.app_home_opened("U2"))
    text = text_of({"blocks": home_of(bot, slack, "U2")["blocks"]})
    assert "/bb login" in text and "Link your Bitbucket account" in text
    assert bitbucket.requests_to("GET", "pullrequests") == []


def test_a_bitbucket_error_is_a_short_notice_not_a_blank_tab(bot, workspace, slack):
    workspace.fail_next("GET", r"/repositories/acme/web/pullrequests", status=403, times=10)  # not retried
    send(bot, eventkit.app_home_opened("U1"))
    text = text_of({"blocks": home_of(bot, slack, "U1", count=1)["blocks"]})
    assert "Reviews in acme/web could not be read" in text
    assert "Old review" in text and "Ann's work" in text  # what could be read is shown


# --- unfurls -----------------------------------------------------------------------------------------------


def test_a_pull_request_link_unfurls_as_its_card(bot, workspace, slack):
    workspace.add_commit_status("acme", "api", "f/mine", key="lint", state="SUCCESSFUL", name="Lint")
    workspace.add_commit_status("acme", "api", "f/mine", key="tests", state="INPROGRESS", name="Tests")
    workspace.add_commit_status("acme", "api", "f/mine", key="tests", state="FAILED", name="Tests")
    url = "https://bitbucket.org/acme/api/pull-requests/3"
    send(bot, eventkit.link_shared([url, "https://example.com/not-bitbucket"]))
    slack.wait_for(lambda: slack.unfurls)
    (unfurl,) = slack.unfurls
    assert list(unfurl["unfurls"]) == [url]
    card = {"blocks": unfurl["unfurls"][url]["blocks"]}
    text = text_of(card)
    assert "Ann's work" in text and "Ann" in text and "`f/mine` → `main`" in text
    assert "Rob ✅" in text and "Cat ✋" in text and "Open" in text
    assert "Builds: " in text and "❌ Tests" in text and "✅ Lint" in text and "⏳" not in text
    assert {b["action_id"] for b in buttons_of(card)} >= {ids.APPROVE, ids.REQUEST_CHANGES, ids.ASK_MERGE}
    assert unfurl["unfurl_id"] and unfurl["source"]


def test_a_title_in_an_unfurl_mentions_nobody(bot, workspace, slack):
    url = "https://bitbucket.org/acme/api/pull-requests/1"
    send(bot, eventkit.link_shared([url]))
    slack.wait_for(lambda: slack.unfurls)
    raw = json.dumps(slack.unfurls[0]["unfurls"][url])
    assert "Old review &lt;!channel&gt;" in raw and "<!channel>" not in raw


def test_commit_and_pipeline_links_unfurl_as_one_line(bot, workspace, slack):
    commit = workspace.add_commit("acme", "api", "main", message="Fix the <!here> login\n\nmore")
    workspace.set_pipeline_script("acme", "api", None)
    pipeline = bot.services.bitbucket.trigger_pipeline("acme", "api", {"target": {"type": "pipeline_ref_target", "ref_type": "branch",
                                                                                    "ref_name": "main"}})
    urls = [f"https://bitbucket.org/acme/api/commits/{commit}", f"https://bitbucket.org/acme/api/pipelines/results/{pipeline['build_number']}"]
    send(bot, eventkit.link_shared(urls))
    slack.wait_for(lambda: slack.unfurls)
    unfurls = slack.unfurls[0]["unfurls"]
    assert sorted(unfurls) == sorted(urls)
    commit_line = text_of(unfurls[urls[0]])
    assert commit[:7] in commit_line and "Fix the &lt;!here&gt; login" in commit_line and "more" not in commit_line
    assert len(unfurls[urls[0]]["blocks"]) == 1 and len(unfurls[urls[1]]["blocks"]) == 1
    assert f"Pipeline #{pipeline['build_number']}" in text_of(unfurls[urls[1]]) and "`main`" in text_of(unfurls[urls[1]])


def test_a_link_the_bot_cannot_read_is_left_alone(bot, workspace, slack):
    workspace.fail_next("GET", r"/repositories/acme/secret/", status=403, times=5)
    send(bot, eventkit.link_shared(["https://bitbucket.org/acme/secret/pull-requests/1",
                                    "https://bitbucket.org/acme/api/pull-requests/99"]))
    bot.services.wait_idle()
    assert slack.calls_to("chat.unfurl") == []
    assert slack.channel_messages("C1") == []  # nothing said in the channel either


def test_a_closed_pull_request_unfurls_without_buttons(bot, workspace, slack):
    merged = workspace.add_pull_request("acme", "api", title="Shipped", source="f/shipped", author="rob", state="MERGED")
    url = f"https://bitbucket.org/acme/api/pull-requests/{merged['id']}"
    send(bot, eventkit.link_shared([url]))
    slack.wait_for(lambda: slack.unfurls)
    card = {"blocks": slack.unfurls[0]["unfurls"][url]["blocks"]}
    assert "Merged" in text_of(card) and buttons_of(card) == []


def test_builds_the_bot_may_not_read_are_those_the_relay_saw(bot, workspace, slack):
    workspace.fail_next("GET", r"/pullrequests/3/statuses", status=403)
    url = "https://bitbucket.org/acme/api/pull-requests/3"
    send(bot, eventkit.link_shared([url]))
    slack.wait_for(lambda: slack.unfurls)
    assert "Builds: ❌ Pipeline for f/mine" in text_of(slack.unfurls[0]["unfurls"][url])
