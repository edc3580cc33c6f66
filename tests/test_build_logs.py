"""A failed pipeline relayed into a channel names its failing step and shows the end of its log, read after the
webhook's answer by the log reader, on both databases."""

import json

import pytest

from bot.bitbucket import BearerToken, BitbucketClient, ResolvedRef, pipeline_body, pipeline_target_for
from bot import builds
from bot.builds import logs
from tests import webhookkit
from tests.harness import BITBUCKET_TOKEN, WEBHOOK_SECRET, buttons_of, text_of

pytestmark = pytest.mark.both_backends

CHANNEL = "C1"
HOSTILE = "<!channel> <@U999> see https://evil.example/x and www.evil.example ``` mail me@evil.example <https://x|y>"


@pytest.fixture(autouse=True)
def quick_reader(monkeypatch):
    """The reader's pace, so a test does not wait a second for it."""
    monkeypatch.setattr(logs, "POLL_SECONDS", 0.05)


@pytest.fixture
def api(bitbucket):
    bitbucket.add_user("ann", "Ann Author")
    bitbucket.add_repository("acme", "api", branches=("main",))
    log = "".join(f"step output line {n}\n" for n in range(1, 41))
    log += "export TOKEN=$DEPLOY_TOKEN\n" + HOSTILE + "\n" + "\x1b[31mError: 3 tests failed\x1b[0m\n"
    bitbucket.set_pipeline_script("acme", "api", None, "FAILED", steps=("Build", "Unit tests"), logs={"Unit tests": log})
    return bitbucket


def fail_a_pipeline(bitbucket) -> dict:
    """A pipeline on main that fails; the build status Bitbucket posted for it, as its webhook carries it."""
    client = BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN))
    head = bitbucket.branches("acme", "api")["main"]
    pipeline = client.trigger_pipeline("acme", "api", pipeline_body(pipeline_target_for(ResolvedRef("branch", "main", head))))
    bitbucket.advance_pipeline("acme", "api", pipeline["uuid"], "COMPLETED", "FAILED")
    (status,) = client.list_commit_statuses("acme", "api", head)
    return {"actor": bitbucket.user("ann"), "repository": webhookkit.repository_json(bitbucket, "acme", "api"), "commit_status": status}


def relay(bot, payload):
    bot.answer_text(bot.command("subscribe acme/api builds", channel_id=CHANNEL))
    answer = webhookkit.post(f"{bot.url}/bitbucket/webhook", "repo:commit_status_updated", payload, WEBHOOK_SECRET)
    assert answer.status_code == 200


def relayed(slack, text):
    """The relayed message (by the relay, not an answer to a command), once it says `text`."""
    def found():
        messages = [m for m in slack.channel_messages(CHANNEL) if m.via == "chat.postMessage" and "Pipeline #1" in m.text]
        return messages if messages and text in text_of(messages[0].to_api()) else None

    (message,) = slack.wait_for(found, timeout=10)
    return message


def test_a_failed_pipeline_names_its_step_and_shows_an_inert_tail_of_its_log(bot, api, slack):
    relay(bot, fail_a_pipeline(api))
    message = relayed(slack, "Failed in step")
    assert message.updated_count == 1  # posted at once, then updated with the log: one message
    posted = message.history[0]
    assert "Reading the failed step" in json.dumps(posted.blocks)

    blocks = json.dumps(message.blocks)
    shown = text_of(message.to_api())
    assert "Failed in step *Unit tests*" in shown and "Reading the failed step" not in blocks
    (code,) = [b["text"]["text"] for b in message.blocks if b.get("text", {}).get("text", "").startswith("```")]
    body = code[4:-4]
    lines = body.split("\n")
    assert len(lines) == 20 and len(body) <= 2500
    assert lines[-1] == "Error: 3 tests failed"  # colour codes dropped
    assert "step output line 24" in body and "step output line 23" not in body
    assert "export TOKEN=$DEPLOY_TOKEN" in body  # what Bitbucket masked stays masked
    hostile = lines[-2]
    assert "<" not in hostile and "&lt;!channel&gt;" in hostile and "&lt;@" in hostile and "U999" in hostile
    assert "https://evil" not in hostile and "www.evil" not in hostile and "me@evil" not in hostile
    assert "```" not in body
    assert [b["text"]["text"] for b in buttons_of(message.to_api())] == ["Re-run"]

    assert api.requests_to("GET", "/log")[0].headers["range"] == "bytes=-16384"
    job = bot.services.store.query("SELECT state, attempts FROM build_log_jobs")
    assert job == [{"state": "done", "attempts": 1}]
    assert builds.check_lines(bot.services.store) == [("ok ", "failed builds: 0 log(s) waiting to be read")]
    created = bot.services.store.query("SELECT created_at FROM build_log_jobs")[0]["created_at"]
    assert logs.prune(bot.services.store, now=created + 6 * 86400) == 0
    assert logs.prune(bot.services.store, now=created + 8 * 86400) == 1


def test_a_log_that_cannot_be_read_gets_a_link(bot, api, slack):
    api.fail_next("GET", r"/log$", status=404)
    relay(bot, fail_a_pipeline(api))
    message = relayed(slack, "could not be read")
    assert "Failed in step *Unit tests*" in text_of(message.to_api())
    assert "<https://bitbucket.org/acme/api/pipelines/results/1|open it in Bitbucket>" in json.dumps(message.blocks)


def test_bitbuckets_passing_trouble_is_waited_out(bot, api, slack, monkeypatch):
    monkeypatch.setattr(logs, "RETRY_BASE_SECONDS", 0.05)
    api.fail_next("GET", r"/steps/$", status=503, times=5)  # more than the client's own retries of one call
    relay(bot, fail_a_pipeline(api))
    relayed(slack, "Failed in step *Unit tests*")
    assert bot.services.store.query("SELECT state, attempts FROM build_log_jobs") == [{"state": "done", "attempts": 2}]


def test_a_pull_requests_card_shows_the_build_state_of_its_source_commit(bot, api, slack):
    api.add_branch("acme", "api", "feature/login")
    api.add_user("rob", "Rob Reviewer")
    pr = api.add_pull_request("acme", "api", title="Add login", source="feature/login", author="ann", reviewers=["rob"])
    bot.answer_text(bot.command("subscribe acme/api", channel_id=CHANNEL))
    url = f"{bot.url}/bitbucket/webhook"
    webhookkit.post(url, "pullrequest:created", webhookkit.pull_request_payload(api, "acme", "api", pr["id"], actor="ann"), WEBHOOK_SECRET)

    def card(text):
        def found():
            cards = [m for m in slack.channel_messages(CHANNEL) if not m.thread_ts and "Add login" in m.text]
            return cards if cards and text in text_of(cards[0].to_api()) else None
        (message,) = slack.wait_for(found, timeout=10)
        return message

    card("Open")
    commit = api.branches("acme", "api")["feature/login"]

    def status(state, minute):
        payload = webhookkit.commit_status_payload("acme", "api", actor=api.user("ann"), name="Unit tests <!here>", state=state,
                                                   refname="feature/login", key="unit", commit=commit,
                                                   updated_on=f"2026-01-01T10:{minute:02d}:00+00:00")
        webhookkit.post(url, "repo:commit_status_updated", payload, WEBHOOK_SECRET)

    status("FAILED", 1)
    failed = card("Builds: :x:")
    assert "Unit tests &lt;!here&gt;> failed" in text_of(failed.to_api()) and "<!here>" not in json.dumps(failed.blocks)
    webhookkit.post(url, "pullrequest:approved", webhookkit.pull_request_payload(api, "acme", "api", pr["id"], actor="rob",
                                                                          approval={"user": api.user("rob")}), WEBHOOK_SECRET)
    slack.wait_for(lambda: slack.thread(CHANNEL, failed.ts)[1:])  # the approval's reply: the card was redrawn too
    assert "Builds: :x:" in text_of(card("Builds").to_api())  # an event on the same commit keeps the builds
    status("SUCCESSFUL", 2)
    assert "Builds: :white_check_mark:" in text_of(card("passed").to_api())


def test_a_run_that_fails_again_gets_a_message_of_its_own(bot, api, slack):
    status = fail_a_pipeline(api)["commit_status"]
    bot.answer_text(bot.command("subscribe acme/api builds", channel_id=CHANNEL))
    for state, minute in (("FAILED", 1), ("INPROGRESS", 2), ("FAILED", 3)):  # "rerun failed steps" keeps the number
        payload = {"actor": api.user("ann"), "repository": webhookkit.repository_json(api, "acme", "api"),
                   "commit_status": {**status, "state": state, "updated_on": f"2026-01-01T10:{minute:02d}:00+00:00"}}
        assert webhookkit.post(f"{bot.url}/bitbucket/webhook", "repo:commit_status_updated", payload, WEBHOOK_SECRET).status_code == 200

    def both_told():
        messages = [m for m in slack.channel_messages(CHANNEL) if m.via == "chat.postMessage" and "Pipeline #1" in m.text]
        return messages if len(messages) == 2 and all("Failed in step" in text_of(m.to_api()) for m in messages) else None

    slack.wait_for(both_told, timeout=10)
