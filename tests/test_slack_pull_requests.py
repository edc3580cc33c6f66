"""End to end: signed slash commands and clicks against the real app, with simulated Slack and Bitbucket."""

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests

from bot.core import ids
from tests import slackkit
from tests.harness import ADMIN, SIGNING_SECRET, button, text_of


@pytest.fixture
def repo(bitbucket):
    """acme/api with two people, a couple of branches and one open pull request (#1)."""
    bitbucket.add_repository("acme", "api", branches=("main", "feature/login", "feature/ABC-12-fix-cache"))
    alice = bitbucket.add_user("alice", "Alice")
    bob = bitbucket.add_user("bob", "Bob")
    bitbucket.add_pull_request("acme", "api", title="Add login", source="feature/login", author=alice, reviewers=[bob])
    return bitbucket


def writes(bitbucket):
    return [r for r in bitbucket.requests if r.method in ("POST", "PUT", "DELETE")]


# --- verification and bad input -------------------------------------------------------------------


def test_a_bad_signature_is_refused_and_does_nothing(bot, repo):
    body = slackkit.slash_command_body("prs api", response_url=bot.slack.response_url("forged"))
    before = len(repo.requests)
    forged = slackkit.post_signed(f"{bot.url}/slack/events", body, "not-the-secret")
    stale = slackkit.post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET, timestamp=1_600_000_000)
    assert (forged.status_code, stale.status_code) == (401, 401)
    assert len(repo.requests) == before
    assert bot.slack.responses_for("forged") == []


def test_an_unknown_command_gets_usage_and_a_suggestion_in_the_ack(bot, repo):
    sent = bot.command("mreg api 1")
    assert sent.http.status_code == 200
    answer = sent.http.json()
    assert answer["response_type"] == "ephemeral"
    assert "Did you mean `/bb merge`?" in answer["text"] and "/bb merge REPO ID" in answer["text"]
    assert "/bb prs" not in answer["text"] and len(answer["text"].splitlines()) == 2  # the guess and its usage


def test_help_lists_every_command(bot):
    from bot.registry import COMMANDS

    text = text_of(bot.command("help").http.json())
    for spec in COMMANDS.specs:
        assert f"/bb {spec.name}" in text


def test_malformed_payloads_get_a_4xx_not_a_500(bot):
    for body in (b"payload=not-json", b"payload=%7B%22type%22%3A%22block_actions%22%7D", b"\xff\xfe"):
        status = slackkit.post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET).status_code
        assert 400 <= status < 500, (body, status)


def test_routes_health_and_sizes(bot):
    with requests.Session() as session:
        session.trust_env = False
        assert session.get(f"{bot.url}/healthz").json()["status"] == "ok"
        head = session.head(f"{bot.url}/healthz")
        assert head.status_code == 200 and head.content == b""
        assert session.get(f"{bot.url}/healthz").json()["status"] == "ok"  # the kept-alive connection is still sound
        assert session.get(f"{bot.url}/nowhere").status_code == 404
        assert session.get(f"{bot.url}/slack/events").status_code == 405
        huge = session.post(f"{bot.url}/slack/events", data=b"x" * (2 * 1024 * 1024))
        assert huge.status_code == 413


# --- /bb prs --------------------------------------------------------------------------------------


def test_prs_lists_newest_first_with_buttons_and_escaped_titles(bot, repo):
    alice = repo.user("alice")
    # A day after #1, whatever today is: "newest" is relative to the pull request already there.
    first_opened = repo.clock()
    repo.add_pull_request("acme", "api", title="<!channel> & <b>", source="feature/ABC-12-fix-cache", author=alice, created_on=first_opened + timedelta(days=1))
    answer = bot.answers(bot.command("prs api"))[0]
    text = text_of(answer)
    assert "<!channel>" not in json.dumps(answer)
    assert "&lt;!channel&gt; &amp; &lt;b&gt;" in text
    assert text.index("#2 ") < text.index("#1 Add login")  # newest first
    assert button(answer, ids.ASK_MERGE)["value"] == json.dumps({"p": 2, "r": "acme/api"}, separators=(",", ":"), sort_keys=True)
    assert "Reviewers: Bob" in text and "Alice" in text


def test_prs_says_the_total_when_more_than_it_shows(bot, repo):
    alice = repo.user("alice")
    for n in range(2, 27):
        repo.add_branch("acme", "api", f"feature/{n}")
        repo.add_pull_request("acme", "api", title=f"Change {n}", source=f"feature/{n}", author=alice)
    answer = bot.answers(bot.command("prs acme/api"))[0]
    assert "Open pull requests in acme/api (26)" in text_of(answer)
    assert "Showing the 20 newest of 26" in text_of(answer)
    assert len(answer["blocks"]) <= 50
    lists = repo.requests_to("GET", "/pullrequests")
    assert len(lists) == 1 and lists[0].query["pagelen"] == ["50"]


def test_prs_shows_the_newest_even_when_older_ones_were_touched_last(bot, repo):
    alice = repo.user("alice")
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for n in range(2, 25):  # older pull requests, all updated after the newest one was opened
        repo.add_branch("acme", "api", f"old/{n}")
        repo.add_pull_request("acme", "api", title=f"Old {n}", source=f"old/{n}", author=alice,
                              created_on=base + timedelta(days=n), updated_on=base + timedelta(days=300))
    repo.add_branch("acme", "api", "new/one")
    repo.add_pull_request("acme", "api", title="Brand new", source="new/one", author=alice,
                          created_on=base + timedelta(days=200), updated_on=base + timedelta(days=200))
    text = text_of(bot.answers(bot.command("prs api"))[0])
    assert "Brand new" in text and text.index("Brand new") < text.index("Old 24")
    assert repo.requests_to("GET", "/pullrequests")[0].query["sort"] == ["-created_on"]


def test_prs_survives_a_bitbucket_429(bot, repo):
    repo.fail_next("GET", r"/pullrequests$", status=429, body="Rate limit for this resource has been exceeded")
    assert "Add login" in bot.answer_text(bot.command("prs api"))


def test_prs_of_a_missing_repository_answers_in_bitbuckets_words(bot, repo):
    text = bot.answer_text(bot.command("prs acme/nope"))
    assert "Bitbucket said" in text and "nope" in text


def test_a_bare_slug_without_a_default_workspace_is_explained(settings, slack, repo):
    from tests.harness import RunningBot

    running = RunningBot(settings.with_overrides(bitbucket_workspace=""), slack)
    try:
        assert "workspace/api" in running.answer_text(running.command("prs api"))
    finally:
        running.stop()


# --- /bb pr ---------------------------------------------------------------------------------------


def test_pr_opens_a_pull_request_and_tells_the_channel(bot, repo):
    answer = bot.answers(bot.command("pr api feature/ABC-12-fix-cache into main"))[0]
    assert answer["response_type"] == "in_channel"
    created = repo.requests_to("POST", "/pullrequests")[0].json
    assert created["source"]["branch"]["name"] == "feature/ABC-12-fix-cache"
    assert created["destination"]["branch"]["name"] == "main"
    assert created["title"] == "ABC-12 Fix cache"
    assert "opened" in text_of(answer) and "#2" in text_of(answer)
    audit = bot.services.audit.recent()
    assert (audit[0].action, audit[0].target, audit[0].ok) == ("create_pull_request", "acme/api#2", True)


def test_pr_from_a_missing_branch_answers_in_bitbuckets_words(bot, repo):
    text = bot.answer_text(bot.command("pr api feature/ghost"))
    assert "Bitbucket said" in text and "ghost" in text
    assert bot.services.audit.recent()[0].ok is False


def test_pr_with_only_a_repo_opens_a_form_and_its_submission_opens_the_pr(bot, repo):
    sent = bot.command("pr api", trigger_id="trig-modal")
    assert sent.http.status_code == 200
    opened = bot.slack.wait_for(lambda: bot.slack.calls_to("views.open"))
    view = opened[0].args["view"]
    assert opened[0].args["trigger_id"] == "trig-modal" and view["callback_id"] == ids.CREATE_PR_MODAL
    refused = bot.submit_view(ids.CREATE_PR_MODAL, {ids.PR_SOURCE_BLOCK: {ids.PR_SOURCE_INPUT: ""}}, view["private_metadata"])
    assert refused.json()["response_action"] == "errors"
    values = {ids.PR_SOURCE_BLOCK: {ids.PR_SOURCE_INPUT: "feature/ABC-12-fix-cache"}, ids.PR_TITLE_BLOCK: {ids.PR_TITLE_INPUT: "Faster cache"}}
    assert bot.submit_view(ids.CREATE_PR_MODAL, values, view["private_metadata"]).status_code == 200
    posted = bot.slack.wait_for(lambda: bot.slack.channel_messages("C1"))
    assert "Faster cache" in posted[0].text
    assert repo.pull_request("acme", "api", 2)["title"] == "Faster cache"


# --- /bb merge and /bb decline ---------------------------------------------------------------------


def ask_and_confirm(bot, text, confirm_action, *, user_id=ADMIN):
    confirmation = bot.answers(bot.command(text, user_id=user_id))[0]
    confirm = button(confirmation, confirm_action)
    return confirmation, confirm


def test_merge_needs_the_merger_role_and_asks_nothing_of_bitbucket(bot, repo):
    text = bot.answer_text(bot.command("merge api 1", user_id="U1"))
    assert "`merger` role" in text and "/bb grant" in text
    assert writes(repo) == []


def test_merge_confirms_then_merges_once_and_tells_the_channel(bot, repo):
    confirmation, confirm = ask_and_confirm(bot, "merge api 1 squash", ids.CONFIRM_MERGE)
    assert "Merge" in text_of(confirmation) and "squash" in text_of(confirmation)
    assert writes(repo) == []  # nothing happens before the click
    clicked = bot.click(ids.CONFIRM_MERGE, confirm["value"], user_id=ADMIN)
    answers = bot.answers(clicked, count=2)
    assert answers[0].get("delete_original") is True
    assert answers[1]["response_type"] == "in_channel"
    assert f"<@{ADMIN}> merged" in text_of(answers[1]) and "squash" in text_of(answers[1])
    assert repo.pull_request("acme", "api", 1)["state"] == "MERGED"
    merge_calls = repo.requests_to("POST", "/merge")
    assert len(merge_calls) == 1 and merge_calls[0].json["merge_strategy"] == "squash"
    assert bot.services.audit.recent()[0].action == "merge"


def test_two_clicks_at_once_merge_once(bot, repo):
    repo.latency = 0.2  # both clicks arrive while the first merge is still in Bitbucket
    _, confirm = ask_and_confirm(bot, "merge api 1", ids.CONFIRM_MERGE)
    clicks = []
    threads = [threading.Thread(target=lambda: clicks.append(bot.click(ids.CONFIRM_MERGE, confirm["value"], user_id=ADMIN))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    texts = [bot.answer_text(sent) for sent in clicks]
    bot.slack.wait_for(lambda: any("merged" in bot.answer_text(s, count=len(bot.slack.responses_for(s.response_key))) for s in clicks) or None)
    assert len(repo.requests_to("POST", "/merge")) == 1
    assert any("already under way or done" in text for text in texts)


def test_merge_refused_by_bitbucket_shows_its_words_and_can_be_retried(bot, repo):
    repo.add_repository("acme", "infra", branches=("main", "feature/x"), merge_strategies=("squash",))
    repo.add_pull_request("acme", "infra", title="Infra change", source="feature/x", author=repo.user("alice"))
    _, confirm = ask_and_confirm(bot, "merge infra 1", ids.CONFIRM_MERGE)
    repo.fail_next("POST", r"/merge$", status=400, body={"type": "error", "error": {"message": "You can't merge until the checks pass"}})
    refusal = bot.answers(bot.click(ids.CONFIRM_MERGE, confirm["value"], user_id=ADMIN))[0]
    assert refusal["replace_original"] is True and "Bitbucket said" in text_of(refusal) and "checks pass" in text_of(refusal)
    assert repo.pull_request("acme", "infra", 1)["state"] == "OPEN"
    assert bot.services.audit.recent()[0].ok is False
    again = bot.click(ids.CONFIRM_MERGE, confirm["value"], user_id=ADMIN)
    assert "already under way" not in bot.answer_text(again)  # the failed attempt released its claim


def test_a_merge_without_a_clear_answer_is_not_repeated_by_the_same_confirmation(bot, repo):
    repo.fail_next("POST", r"/merge$", status=503)  # Bitbucket may or may not have merged
    _, confirm = ask_and_confirm(bot, "merge api 1", ids.CONFIRM_MERGE)
    assert "did not answer clearly" in bot.answer_text(bot.click(ids.CONFIRM_MERGE, confirm["value"], user_id=ADMIN))
    assert "already under way or done" in bot.answer_text(bot.click(ids.CONFIRM_MERGE, confirm["value"], user_id=ADMIN))
    assert len(repo.requests_to("POST", "/merge")) == 1  # a 5xx on a merge is never retried blindly


def test_an_async_merge_is_followed_to_the_end(bot, repo):
    repo.merge_mode = "async"
    _, confirm = ask_and_confirm(bot, "merge api 1", ids.CONFIRM_MERGE)
    answers = bot.answers(bot.click(ids.CONFIRM_MERGE, confirm["value"], user_id=ADMIN), count=2)
    assert "merged" in text_of(answers[1])
    assert repo.requests_to("GET", "/task-status/")


def test_merging_a_closed_pull_request_says_so_before_asking(bot, repo):
    _, confirm = ask_and_confirm(bot, "merge api 1", ids.CONFIRM_MERGE)
    bot.answers(bot.click(ids.CONFIRM_MERGE, confirm["value"], user_id=ADMIN), count=2)
    assert "already merged" in bot.answer_text(bot.command("merge api 1", user_id=ADMIN))


def test_the_role_is_checked_again_on_the_click(bot, repo):
    bot.answers(bot.command("grant <@U7|carol> merger acme/api", user_id=ADMIN))
    _, confirm = ask_and_confirm(bot, "merge api 1", ids.CONFIRM_MERGE, user_id="U7")
    bot.answers(bot.command("revoke <@U7|carol> merger acme/api", user_id=ADMIN))
    refusal = bot.answer_text(bot.click(ids.CONFIRM_MERGE, confirm["value"], user_id="U7"))
    assert "`merger` role" in refusal
    assert repo.requests_to("POST", "/merge") == []


def test_someone_else_clicking_a_confirmation_needs_the_role_too(bot, repo):
    _, confirm = ask_and_confirm(bot, "merge api 1", ids.CONFIRM_MERGE)
    assert "`merger` role" in bot.answer_text(bot.click(ids.CONFIRM_MERGE, confirm["value"], user_id="U1"))
    assert repo.requests_to("POST", "/merge") == []


def test_the_role_is_checked_again_on_the_click_of_a_decline(bot, repo):
    """Decline has no gate of its own before the write: only the confirmed write's own check stands here."""
    bot.answers(bot.command("grant <@U7|carol> merger acme/api", user_id=ADMIN))
    _, confirm = ask_and_confirm(bot, "decline api 1", ids.CONFIRM_DECLINE, user_id="U7")
    bot.answers(bot.command("revoke <@U7|carol> merger acme/api", user_id=ADMIN))
    refusal = bot.answer_text(bot.click(ids.CONFIRM_DECLINE, confirm["value"], user_id="U7"))
    assert "`merger` role" in refusal
    assert repo.requests_to("POST", "/decline") == [] and writes(repo) == []
    assert repo.pull_request("acme", "api", 1)["state"] == "OPEN"


def test_someone_else_clicking_a_decline_confirmation_needs_the_role_too(bot, repo):
    _, confirm = ask_and_confirm(bot, "decline api 1", ids.CONFIRM_DECLINE)  # asked by an admin
    assert "`merger` role" in bot.answer_text(bot.click(ids.CONFIRM_DECLINE, confirm["value"], user_id="U1"))
    assert repo.requests_to("POST", "/decline") == [] and writes(repo) == []
    assert repo.pull_request("acme", "api", 1)["state"] == "OPEN"


def test_decline_from_a_list_button(bot, repo):
    listing = bot.answers(bot.command("prs api", user_id=ADMIN))[0]
    ask = bot.click(ids.ASK_DECLINE, button(listing, ids.ASK_DECLINE)["value"], user_id=ADMIN)
    confirm = button(bot.answers(ask)[0], ids.CONFIRM_DECLINE)
    answers = bot.answers(bot.click(ids.CONFIRM_DECLINE, confirm["value"], user_id=ADMIN), count=2)
    assert "declined" in text_of(answers[1])
    assert repo.pull_request("acme", "api", 1)["state"] == "DECLINED"


def test_cancel_removes_the_confirmation(bot, repo):
    confirmation, _ = ask_and_confirm(bot, "decline api 1", ids.CONFIRM_DECLINE)
    cancel = button(confirmation, ids.CANCEL)
    assert bot.answers(bot.click(ids.CANCEL, cancel["value"], user_id=ADMIN))[0]["delete_original"] is True
    assert writes(repo) == []


def test_a_forged_button_value_is_answered_not_crashed(bot, repo):
    answer = bot.answer_text(bot.click(ids.CONFIRM_MERGE, "{not json", user_id=ADMIN))
    assert "not readable" in answer
    assert writes(repo) == []


# --- /bb tag --------------------------------------------------------------------------------------


def test_tag_needs_the_releaser_role(bot, repo):
    assert "`releaser` role" in bot.answer_text(bot.command("tag api v1.0.0"))
    assert writes(repo) == []


def test_tag_the_main_branch_by_default_then_refuse_a_duplicate(bot, repo):
    bot.answers(bot.command("grant <@U1|alice> releaser", user_id=ADMIN))
    answer = bot.answers(bot.command("tag api v1.0.0"))[0]
    assert answer["response_type"] == "in_channel" and "v1.0.0" in text_of(answer)
    main_hash = repo.branches("acme", "api")["main"]
    assert [t["target"]["hash"] for t in repo.tags("acme", "api") if t["name"] == "v1.0.0"] == [main_hash]
    assert "Bitbucket said" in bot.answer_text(bot.command("tag api v1.0.0"))
    assert [e.ok for e in bot.services.audit.recent()[:2]] == [False, True]


def test_tag_an_unknown_ref_is_refused(bot, repo):
    text = bot.answer_text(bot.command("tag api v2 nosuchbranch", user_id=ADMIN))
    assert "nosuchbranch" in text
    assert repo.requests_to("POST", "/refs/tags") == []


# --- /bb grant and /bb revoke ---------------------------------------------------------------------


def test_only_admins_grant(bot, repo):
    assert "Only admins" in bot.answer_text(bot.command("grant <@U2|bob> merger", user_id="U1"))
    assert bot.services.permissions.grants_of("U2") == []


def test_grant_then_merge_then_revoke(bot, repo):
    granted = bot.answers(bot.command("grant <@U2|bob> merger api", user_id=ADMIN))[0]
    assert granted["response_type"] == "in_channel" and "merger on acme/api" in text_of(granted)
    confirmation = bot.answers(bot.command("merge api 1", user_id="U2"))[0]
    assert button(confirmation, ids.CONFIRM_MERGE)
    revoked = bot.answers(bot.command("revoke <@U2|bob> merger api", user_id=ADMIN))[0]
    assert "revoked" in text_of(revoked)
    assert "does not have" in bot.answer_text(bot.command("revoke <@U2|bob> merger api", user_id=ADMIN))
    actions = [e.action for e in bot.services.audit.recent()]
    assert actions.count("grant") == 1 and actions.count("revoke") == 2
