"""Noise control end to end: `/bb subscribe` with filters over HTTP, signed deliveries, the simulated Bitbucket's
diffstats and Slack's reactions. Each filter on payloads as Bitbucket sends them (a renovate pull request, a draft
published later), builds:failures, builds:reactions, thread-only, the context line, the refusals."""

from __future__ import annotations

import time

import pytest

from bot import relay
from bot.core import outbox
from tests import webhookkit
from tests.harness import WEBHOOK_SECRET, text_of

pytestmark = pytest.mark.both_backends

CHANNEL = "C1"


@pytest.fixture
def repo(bitbucket):
    bitbucket.add_user("ann", "Ann Author")
    bitbucket.add_user("rob", "Rob Reviewer")
    bitbucket.add_user("renovate", "Renovate Bot")
    bitbucket.add_repository("acme", "api", branches=("main", "feature/login"))
    return bitbucket


def say(bot, text: str, channel: str = CHANNEL, answers: int = 1) -> str:
    return bot.answer_text(bot.command(text, channel_id=channel), answers)


def subscribe(bot, text: str, channel: str = CHANNEL) -> str:
    return say(bot, f"subscribe {text}", channel, answers=2)  # the subscription, and how to add the webhook by hand


def hook(bot, event_key: str, payload: dict):
    answer = webhookkit.post(f"{bot.url}/bitbucket/webhook", event_key, payload, WEBHOOK_SECRET)
    assert answer.status_code == 200
    return answer


def settle(bot, timeout: float = 10.0) -> None:
    """Every delivery routed (files read included) and every queued message sent."""
    deadline = time.monotonic() + timeout
    store = bot.services.store
    while relay.waiting_deliveries(store) or outbox.waiting(store, now=time.time() + 3600):
        assert time.monotonic() < deadline, "the relay did not settle"
        time.sleep(0.02)


def top_level(slack, channel: str = CHANNEL) -> list:
    return [m for m in slack.channel_messages(channel) if not m.thread_ts and m.via == "chat.postMessage"]


def why_of(message) -> str:
    """The context line a relayed message ends with."""
    last = message.blocks[-1]
    assert last.get("block_id") == "why", message.blocks
    return last["elements"][0]["text"]


def open_pr(bitbucket, title="Add login", author="ann", *, source="feature/login", files=("src/login.py",), draft=False, destination=None) -> int:
    if source not in bitbucket.branches("acme", "api"):
        bitbucket.add_branch("acme", "api", source, author=author)
    bitbucket.add_commit("acme", "api", source, message=title, files=files)
    return bitbucket.add_pull_request("acme", "api", title=title, source=source, author=author, draft=draft, destination=destination)["id"]


def opened(bitbucket, pr_id, actor="ann"):
    return webhookkit.pull_request_payload(bitbucket, "acme", "api", pr_id, actor=actor)


# --- pull request filters ------------------------------------------------------------------------------------


def test_a_renovate_pull_request_stays_out_of_a_channel_without_bots_and_the_card_says_why(bot, repo, slack):
    subscribe(bot, "acme/api pullrequests -author:bots")
    bump = open_pr(repo, "Update dependency requests to v2.32", author="renovate", source="renovate/requests")
    hook(bot, "pullrequest:created", opened(repo, bump, actor="renovate"))
    mine = open_pr(repo, "Add login")
    hook(bot, "pullrequest:created", opened(repo, mine))
    settle(bot)
    cards = top_level(slack)
    assert [c.text.split(" by ")[0] for c in cards] == ["#2 Add login"]
    assert why_of(cards[0]) == "acme/api · pull requests into main · not from bots"


def test_a_draft_is_left_out_until_it_is_published_then_its_card_is_posted(bot, repo, slack):
    subscribe(bot, "acme/api pullrequests -drafts")
    pr_id = open_pr(repo, "Add login", draft=True)
    hook(bot, "pullrequest:created", opened(repo, pr_id))
    settle(bot)
    assert top_level(slack) == []
    published = opened(repo, pr_id)
    published["pullrequest"].update(draft=False, updated_on="2099-01-01T00:00:00+00:00")
    hook(bot, "pullrequest:updated", published)
    card = slack.wait_for(lambda: top_level(slack))[0]
    assert "#1 Add login" in card.text and "_draft_" not in text_of(card.to_api())
    assert why_of(card) == "acme/api · pull requests into main · no drafts"


def test_title_author_and_target_filters(bot, repo, slack):
    repo.add_branch("acme", "api", "release/1.0")
    subscribe(bot, "acme/api pullrequests -title:WIP author:ann target:main")
    wip = open_pr(repo, "WIP: login", source="feature/wip")
    robs = open_pr(repo, "Rob's change", author="rob", source="feature/rob")
    release = open_pr(repo, "Backport", source="feature/backport", destination="release/1.0")
    kept = open_pr(repo, "Add login")
    for pr_id, actor in ((wip, "ann"), (robs, "rob"), (release, "ann"), (kept, "ann")):
        hook(bot, "pullrequest:created", opened(repo, pr_id, actor))
    settle(bot)
    cards = top_level(slack)
    assert [c.text.split(" by ")[0] for c in cards] == [f"#{kept} Add login"]
    assert why_of(cards[0]) == "acme/api · pull requests into main · by `ann` · titles without `WIP`"


def test_path_filters_wait_for_the_diffstat_off_the_request_path_then_relay(bot, repo, slack):
    subscribe(bot, "acme/api pullrequests path:src/** -path:docs/**")
    docs = open_pr(repo, "Docs only", source="feature/docs", files=("docs/a.md", "docs/b.md"))
    code = open_pr(repo, "Add login", files=("src/login.py", "docs/login.md"))
    hook(bot, "pullrequest:created", opened(repo, docs))
    hook(bot, "pullrequest:created", opened(repo, code))
    card = slack.wait_for(lambda: top_level(slack))[0]
    settle(bot)
    assert [c.text.split(" by ")[0] for c in top_level(slack)] == [f"#{code} Add login"]
    assert why_of(card) == "acme/api · pull requests into main · changing `src/**` · not only `docs/**`"
    # Read once per pull request update: an approval of the same update asks Bitbucket nothing more.
    asked = len(repo.requests_to("GET", "/diffstat"))
    hook(bot, "pullrequest:approved", webhookkit.pull_request_payload(repo, "acme", "api", code, actor="rob", approval={"user": repo.user("rob")}))
    slack.wait_for(lambda: len(slack.thread(CHANNEL, card.ts)) == 2)
    assert len(repo.requests_to("GET", "/diffstat")) == asked
    assert len(repo.requests_to("GET", f"/pullrequests/{code}/diffstat")) == 1


def test_a_diffstat_bitbucket_cannot_give_lets_the_event_through_marked(bot, repo, slack):
    subscribe(bot, "acme/api pullrequests path:src/**")
    pr_id = open_pr(repo, "Add login", files=("README.md",))
    repo.fail_next("GET", r"/pullrequests/\d+/diffstat$", status=404)
    hook(bot, "pullrequest:created", opened(repo, pr_id))
    card = slack.wait_for(lambda: top_level(slack))[0]
    assert why_of(card) == "acme/api · pull requests into main · changing `src/**` · files unknown"


def test_a_push_is_filtered_by_the_files_of_its_range(bot, repo, slack):
    subscribe(bot, "acme/api pushes path:src/**")
    before = repo.branches("acme", "api")["main"]
    docs = repo.add_commit("acme", "api", "main", message="Docs", files=("docs/a.md",))
    actor = repo.user("ann")
    hook(bot, "repo:push", _push(before, docs, "Docs", actor))
    code = repo.add_commit("acme", "api", "main", message="Code", files=("src/a.py",))
    hook(bot, "repo:push", _push(docs, code, "Code", actor))
    message = slack.wait_for(lambda: top_level(slack))[0]
    settle(bot)
    assert len(top_level(slack)) == 1 and "Code" in text_of(message.to_api())
    assert why_of(message) == "acme/api · pushes · changing `src/**`"


def _push(old: str, new: str, text: str, actor: dict) -> dict:
    payload = webhookkit.push_payload("acme", "api", actor=actor, branch="main", commits=[(new, text)])
    payload["push"]["changes"][0]["old"]["target"]["hash"] = old
    return payload


# --- builds -----------------------------------------------------------------------------------------------------


def _status(repo, state: str, when: int, refname: str = "feature/login", commit: str = "a" * 40, key: str = "ci"):
    return webhookkit.commit_status_payload("acme", "api", actor=repo.user("ann"), name=f"CI for {refname}", state=state,
                                            refname=refname, key=key, updated_on=f"2026-01-01T00:00:0{when}+00:00", commit=commit)


def test_builds_failures_red_red_green_posts_two_and_a_green_on_main_is_not_told(bot, repo, slack):
    subscribe(bot, "acme/api builds builds:failures")
    for state, when in (("FAILED", 1), ("FAILED", 2), ("SUCCESSFUL", 3)):
        hook(bot, "repo:commit_status_updated", _status(repo, state, when))
    hook(bot, "repo:commit_status_updated", _status(repo, "SUCCESSFUL", 4, refname="main", key="main-ci"))
    settle(bot)
    told = top_level(slack)
    assert ["failed" in m.text for m in told] == [True, False] and "(fixed)" in told[1].text
    assert why_of(told[0]) == "acme/api · builds · failures and fixes only"


def test_builds_all_tells_a_green_on_main(bot, repo, slack):
    subscribe(bot, "acme/api builds builds:all")
    hook(bot, "repo:commit_status_updated", _status(repo, "SUCCESSFUL", 4, refname="main", key="main-ci"))
    assert "(main branch)" in slack.wait_for(lambda: top_level(slack))[0].text


def test_builds_reactions_put_the_state_on_the_card_and_post_nothing(bot, repo, slack):
    subscribe(bot, "acme/api pullrequests builds builds:reactions")
    pr_id = open_pr(repo, "Add login")
    payload = opened(repo, pr_id)
    head = payload["pullrequest"]["source"]["commit"]["hash"]
    hook(bot, "pullrequest:created", payload)
    card = slack.wait_for(lambda: top_level(slack))[0]
    hook(bot, "repo:commit_status_updated", _status(repo, "INPROGRESS", 1, commit=head))
    slack.wait_for(lambda: "hourglass_flowing_sand" in slack.message(CHANNEL, card.ts).reactions)
    hook(bot, "repo:commit_status_updated", _status(repo, "FAILED", 2, commit=head))
    slack.wait_for(lambda: list(slack.message(CHANNEL, card.ts).reactions) == ["x"])
    hook(bot, "repo:commit_status_updated", _status(repo, "SUCCESSFUL", 3, commit=head))
    slack.wait_for(lambda: list(slack.message(CHANNEL, card.ts).reactions) == ["white_check_mark"])
    settle(bot)
    assert len(top_level(slack)) == 1 and slack.thread(CHANNEL, card.ts) == [slack.message(CHANNEL, card.ts)]


# --- thread-only -------------------------------------------------------------------------------------------------


def test_thread_only_keeps_everything_about_a_pull_request_in_its_thread(bot, repo, slack):
    subscribe(bot, "acme/api thread-only")
    pr_id = open_pr(repo, "Add login")
    hook(bot, "pullrequest:created", opened(repo, pr_id))
    card = slack.wait_for(lambda: top_level(slack))[0]
    hook(bot, "repo:commit_status_updated", _status(repo, "FAILED", 1))
    head = repo.add_commit("acme", "api", "feature/login", message="Fix the test", files=("src/login.py",))
    push = webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="feature/login", commits=[(head, "Fix the test")])
    hook(bot, "repo:push", push)
    payload = opened(repo, pr_id)
    payload["pullrequest"].update(state="MERGED", updated_on="2099-01-01T00:00:00+00:00")
    hook(bot, "pullrequest:fulfilled", payload)
    slack.wait_for(lambda: len(slack.thread(CHANNEL, card.ts)) == 4)
    settle(bot)
    assert top_level(slack) == [slack.message(CHANNEL, card.ts)]
    replies = [text_of(m.to_api()) for m in slack.thread(CHANNEL, card.ts)[1:]]
    assert "failed" in replies[0] and "Fix the test" in replies[1] and "merged" in replies[2]
    assert all(line.rstrip().endswith("thread only") for line in replies)
    assert "*Merged*" in text_of(slack.message(CHANNEL, card.ts).to_api())


def test_without_thread_only_a_failed_build_is_told_in_the_channel(bot, repo, slack):
    subscribe(bot, "acme/api")
    pr_id = open_pr(repo, "Add login")
    hook(bot, "pullrequest:created", opened(repo, pr_id))
    slack.wait_for(lambda: top_level(slack))
    hook(bot, "repo:commit_status_updated", _status(repo, "FAILED", 1))
    slack.wait_for(lambda: len(top_level(slack)) == 2)


# --- the command ---------------------------------------------------------------------------------------------------


def test_subscribing_again_replaces_the_filters_and_says_what_changed(bot, repo, slack):
    first = subscribe(bot, "acme/api -author:bots")
    assert "subscribed this channel to" in first and "everything · not from bots" in first
    again = subscribe(bot, "acme/api pullrequests -drafts")
    assert "changed this channel's subscription to" in again
    assert "now pull requests, no drafts; no longer everything, not from bots" in again
    listed = say(bot, "subscriptions")
    assert "acme/api: pull requests · no drafts" in listed and "bots" not in listed


def test_refused_filters_change_nothing(bot, repo, slack):
    subscribe(bot, "acme/api builds:failures")
    for text in ("acme/api nope:1", "acme/api builds:all builds:failures", "acme/api pushes -drafts", "acme/api path:" + "a" * 201):
        answer = bot.command(f"subscribe {text}").http.json()["text"]  # refused in the ack itself
        assert "Nothing was changed" in answer and "[thread-only]" in answer
    assert "acme/api: everything · builds failures and fixes only" in say(bot, "subscriptions")


def test_a_bare_subscribe_shows_the_channels_subscriptions_and_changes_nothing(bot, repo, slack):
    assert "relays nothing yet" in say(bot, "subscribe")
    subscribe(bot, "acme/api pullrequests path:src/**")
    shown = say(bot, "subscribe")
    assert "This channel relays" in shown and "acme/api: pull requests · changing `src/**`" in shown
    assert [r for r in repo.requests if r.method != "GET"] == []
    assert relay.channel_subscriptions(bot.services.store, CHANNEL)[0].filters.paths == ("src/**",)
