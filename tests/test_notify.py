"""Personal notifications end to end: real webhook payloads signed into the real bot, routed into direct
messages through the outbox, delivered to the simulated Slack; `/bb notify` over signed slash commands."""

from __future__ import annotations

import copy
import json
import time

import pytest

from bot import deploys
from bot.core import ids
from tests import webhookkit
from tests.harness import ADMIN, WEBHOOK_SECRET, button, buttons_of, text_of

pytestmark = pytest.mark.both_backends

PEOPLE = {"U1": "ann", "U2": "rob", "U3": "cat"}  # Slack user -> Bitbucket nickname (ann opens, rob reviews, cat comments)


@pytest.fixture
def linked(bot, bitbucket, slack):
    """ann, rob and cat in Bitbucket; U1, U2 and U3 linked to them with `/bb link` (all settings on)."""
    for nickname in PEOPLE.values():
        bitbucket.add_user(nickname)
    bitbucket.add_repository("acme", "api", branches=("main",))
    slack.add_user("U3", "carol")
    for user, nickname in PEOPLE.items():
        assert "linked" in bot.answer_text(bot.command(f"link {nickname}", user_id=user)).lower()
    return bitbucket


def real_payload(bitbucket, name: str, *, actor: str, author: str = "ann", reviewers=("rob",), approved=()) -> dict:
    """A real Bitbucket payload (tests/fixtures), its people replaced by the simulated workspace's."""
    payload = copy.deepcopy(webhookkit.load_fixture(name))
    payload["actor"] = bitbucket.user(actor)
    pr = payload.get("pullrequest")
    if pr is not None:
        pr["author"] = bitbucket.user(author)
        pr["reviewers"] = [bitbucket.user(r) for r in reviewers]
        pr["participants"] = [
            {"type": "participant", "user": bitbucket.user(r), "role": "REVIEWER", "approved": r in approved,
             "state": "approved" if r in approved else None}
            for r in reviewers
        ]
    return payload


def deliver(bot, event_key: str, payload: dict):
    answer = webhookkit.post(f"{bot.url}/bitbucket/webhook", event_key, payload, WEBHOOK_SECRET)
    assert answer.status_code == 200, answer.text


def settle(bot, slack, timeout: float = 10.0) -> None:
    """Until every delivery is routed and every queued message sent."""
    store = bot.services.store

    def idle():
        pending = store.query_one("SELECT COUNT(*) AS n FROM deliveries WHERE state = 'pending'")["n"]
        unsent = store.query_one("SELECT COUNT(*) AS n FROM outbox WHERE state IN ('pending', 'sending')")["n"]
        return pending == 0 and unsent == 0

    slack.wait_for(idle, timeout=timeout)


def dms(slack, user: str) -> list:
    return [m for m in slack.channel_messages(user) if m.via == "chat.postMessage"]


def dm_text(slack, user: str) -> str:
    return "\n".join(text_of({"text": m.text, "blocks": m.blocks}) for m in dms(slack, user))


PR_CREATED = "pullrequest.created__goscm-pr_created.json"
PR_URL = "https://bitbucket.org/brydzewski/foo/pull-requests/1"


# --- who gets which message ----------------------------------------------------------------------------


def test_reviewers_asked_hear_of_it_and_the_author_who_asked_does_not(bot, linked, slack):
    deliver(bot, "pullrequest:created", real_payload(linked, PR_CREATED, actor="ann", reviewers=("rob", "cat")))
    slack.wait_for(lambda: dms(slack, "U2") and dms(slack, "U3"))
    settle(bot, slack)
    assert dms(slack, "U1") == []  # the actor is never told of their own action
    for user in ("U2", "U3"):
        (message,) = dms(slack, user)
        text = text_of({"text": message.text, "blocks": message.blocks})
        assert "asked you to review" in text and "You got this because you are a reviewer" in text
        assert f"<{PR_URL}|#1 " in json.dumps(message.blocks)  # it links the pull request
        assert {b["action_id"] for b in buttons_of({"blocks": message.blocks})} >= {ids.APPROVE, ids.REQUEST_CHANGES}
    # The DM went to the person's direct-message channel, opened with conversations.open (im:write).
    assert {call.args.get("users") for call in slack.calls_to("conversations.open")} >= {"U2", "U3"}


@pytest.mark.parametrize("event_key, fixture, actor, words", [
    ("pullrequest:approved", "pullrequest.approved__zulip-approved_or_unapproved.json", "rob", "approved it"),
    ("pullrequest:fulfilled", "pullrequest.fulfilled__goscm-pr_fulfilled.json", "rob", "merged it"),
    ("pullrequest:rejected", "pullrequest.rejected__goscm-pr_declined.json", "cat", "declined it"),
])
def test_the_author_hears_what_others_did_to_their_pull_request(bot, linked, slack, event_key, fixture, actor, words):
    deliver(bot, event_key, real_payload(linked, fixture, actor=actor))
    slack.wait_for(lambda: dms(slack, "U1"))
    settle(bot, slack)
    text = dm_text(slack, "U1")
    assert words in text and "this is your pull request" in text
    assert dms(slack, PEOPLE_BY_NAME[actor]) == []
    assert dms(slack, "U2" if actor != "rob" else "U3") == []  # nobody else is told


PEOPLE_BY_NAME = {nickname: user for user, nickname in PEOPLE.items()}


def test_the_author_approving_their_own_pull_request_hears_nothing(bot, linked, slack):
    deliver(bot, "pullrequest:approved", real_payload(linked, "pullrequest.approved__zulip-approved_or_unapproved.json", actor="ann"))
    settle(bot, slack)
    assert all(dms(slack, user) == [] for user in PEOPLE)


def test_a_mention_reaches_the_person_mentioned_and_bitbucket_text_stays_text(bot, linked, slack):
    payload = real_payload(linked, "pullrequest.comment_created__goscm-pr_comment_created.json", actor="cat")
    rob = linked.user("rob")
    payload["comment"]["content"]["raw"] = (
        f"@{{{rob['account_id']}}} could you look? <!channel> <@U1> <https://evil.example.com|click> & more"
    )
    deliver(bot, "pullrequest:comment_created", payload)
    slack.wait_for(lambda: dms(slack, "U1") and dms(slack, "U2"))
    settle(bot, slack)
    mention, comment = dm_text(slack, "U2"), dm_text(slack, "U1")
    assert "mentioned you" in mention and "@rob could you look?" in mention and "you were mentioned" in mention
    assert "commented" in comment and "this is your pull request" in comment
    assert dms(slack, "U3") == []  # cat wrote it
    for user in ("U1", "U2"):
        raw = json.dumps([m.blocks for m in dms(slack, user)]) + "".join(m.text for m in dms(slack, user))
        assert "<!channel>" not in raw and "<@U1>" not in raw and "<https://evil" not in raw
        assert "&lt;!channel&gt;" in raw and "&amp; more" in raw


def test_a_failed_build_on_the_source_branch_reaches_the_author(bot, linked, slack):
    deliver(bot, "pullrequest:created", real_payload(linked, PR_CREATED, actor="ann", reviewers=()))
    status = copy.deepcopy(webhookkit.load_fixture("repo.commit_status_created__goscm-pipeline_hook_created.json"))
    created = webhookkit.load_fixture(PR_CREATED)
    status["repository"] = created["repository"]
    status["actor"] = linked.user("ann")
    status["commit_status"].update(state="FAILED", refname=created["pullrequest"]["source"]["branch"]["name"])
    deliver(bot, "repo:commit_status_created", status)
    slack.wait_for(lambda: dms(slack, "U1"))
    settle(bot, slack)
    text = dm_text(slack, "U1")
    assert "failed on `develop`" in text and "a build failed on your pull request's source branch" in text
    # The same failure told again is not a new message.
    deliver(bot, "repo:commit_status_updated", status)
    settle(bot, slack)
    assert len(dms(slack, "U1")) == 1 and dms(slack, "U1")[0].updated_count == 0


def test_people_not_linked_hear_nothing(bot, bitbucket, slack):
    for nickname in PEOPLE.values():
        bitbucket.add_user(nickname)
    deliver(bot, "pullrequest:created", real_payload(bitbucket, PR_CREATED, actor="ann", reviewers=("rob", "cat")))
    settle(bot, slack)
    assert all(dms(slack, user) == [] for user in PEOPLE)


# --- a burst is one message ---------------------------------------------------------------------------


def test_a_burst_of_ten_events_is_one_message_per_person_updated_in_place(bot, linked, slack):
    approved = "pullrequest.approved__zulip-approved_or_unapproved.json"
    comment = "pullrequest.comment_created__goscm-pr_comment_created.json"
    for n in range(10):
        actor = ("rob", "cat")[n % 2]
        if n % 3 == 0:  # an approval of the same pull request as the comments
            payload = real_payload(linked, approved, actor=actor)
            same = real_payload(linked, comment, actor=actor)
            payload.update(repository=same["repository"], pullrequest=same["pullrequest"])
            payload["approval"] = {"date": f"2026-01-01T00:00:0{n}+00:00", "user": linked.user(actor)}  # not a replay
            deliver(bot, "pullrequest:approved", payload)
        else:
            payload = real_payload(linked, comment, actor=actor)
            payload["comment"]["content"]["raw"] = f"note {n} @{{{linked.user('rob' if actor == 'cat' else 'cat')['account_id']}}}"
            deliver(bot, "pullrequest:comment_created", payload)
    settle(bot, slack, timeout=20)
    for user in PEOPLE:
        assert len(dms(slack, user)) == 1, slack.dump()
    (ann,) = dms(slack, "U1")
    # Posted once, then updated: with each of the nine others at most (versions queued behind each other while one was
    # in flight are sent once, at the newest).
    assert ann.updated_count <= 9
    assert "note 8" in dm_text(slack, "U1") and "approved it" in dm_text(slack, "U1")
    assert len([c for c in slack.calls_to("chat.postMessage") if c.args.get("channel", "").startswith("D")]) == 3


# --- settings -------------------------------------------------------------------------------------------


def test_notify_shows_and_changes_the_settings_and_they_are_respected(bot, linked, slack):
    shown = bot.answer_text(bot.command("notify", user_id="U2"))
    assert all(f"*{kind}* · :large_green_circle: on" in shown for kind in ("reviews", "mine", "mentions", "builds", "deploys"))
    changed = bot.answer_text(bot.command("notify reviews off", user_id="U2"))
    assert "*reviews* · :white_circle: off" in changed and "*mine* · :large_green_circle: on" in changed
    bot.answer_text(bot.command("notify off", user_id="U3"))
    deliver(bot, "pullrequest:created", real_payload(linked, PR_CREATED, actor="ann", reviewers=("rob", "cat")))
    settle(bot, slack)
    assert dms(slack, "U2") == [] and dms(slack, "U3") == []

    bot.answer_text(bot.command("notify on", user_id="U3"))
    payload = real_payload(linked, "pullrequest.comment_created__goscm-pr_comment_created.json", actor="ann")
    payload["comment"]["content"]["raw"] = f"@{{{linked.user('rob')['account_id']}}} @{{{linked.user('cat')['account_id']}}} thoughts?"
    bot.answer_text(bot.command("notify mentions off", user_id="U2"))
    deliver(bot, "pullrequest:comment_created", payload)
    slack.wait_for(lambda: dms(slack, "U3"))
    settle(bot, slack)
    assert "mentioned you" in dm_text(slack, "U3") and dms(slack, "U2") == []


def test_a_settings_button_flips_one_kind(bot, linked, slack):
    answer = bot.answers(bot.command("notify", user_id="U1"))[0]
    flip = next(b for b in buttons_of(answer) if '"k":"builds"' in b["value"])
    sent = bot.click(ids.NOTIFY_TOGGLE, flip["value"], user_id="U1")
    assert "*builds* · :white_circle: off" in bot.answer_text(sent)
    assert "*builds* · :white_circle: off" in bot.answer_text(bot.command("notify", user_id="U1"))


def test_notify_explains_a_wrong_kind(bot):
    answer = bot.command("notify reveiws off").http.json()
    assert "not a kind of notification" in answer["text"] and "Did you mean `reviews`?" in answer["text"]


# --- deploys --------------------------------------------------------------------------------------------


def test_the_person_who_deployed_hears_when_it_finishes(bot, bitbucket, slack, monkeypatch):
    monkeypatch.setattr(deploys, "FOLLOW_FIRST_INTERVAL", 0.02)
    bitbucket.add_user("ada")
    bitbucket.add_repository("acme", "api", branches=("main",))
    bitbucket.add_environment("acme", "api", "Staging")
    bitbucket.set_pipeline_script("acme", "api", "deploy-to-staging")
    assert "linked" in bot.answer_text(bot.command("link ada", user_id=ADMIN)).lower()
    question = bot.answers(bot.command("deploy api main to staging", user_id=ADMIN))[0]
    bot.answers(bot.click(ids.CONFIRM_DEPLOY, button(question, ids.CONFIRM_DEPLOY)["value"], user_id=ADMIN))
    slack.wait_for(lambda: bitbucket.pipelines("acme", "api"))
    (pipeline,) = bitbucket.pipelines("acme", "api")
    time.sleep(0.1)
    assert dms(slack, ADMIN) == []  # nothing while it runs
    bitbucket.advance_pipeline("acme", "api", pipeline["uuid"], "COMPLETED", "SUCCESSFUL")
    slack.wait_for(lambda: dms(slack, ADMIN), timeout=15)
    text = dm_text(slack, ADMIN)
    assert "Deploy of *acme/api*" in text and "successful" in text and "you started this deploy" in text


def test_a_rate_limited_direct_message_waits_and_arrives_once(bot, linked, slack):
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    deliver(bot, "pullrequest:created", real_payload(linked, PR_CREATED, actor="ann", reviewers=("rob",)))
    slack.wait_for(lambda: dms(slack, "U2"), timeout=10)
    settle(bot, slack)
    assert len(dms(slack, "U2")) == 1
    assert [call.status for call in slack.calls_to("chat.postMessage")] == [429, 200]
