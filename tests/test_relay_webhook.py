"""`POST /bitbucket/webhook` end to end: the real app over HTTP, signed deliveries, the fake Slack and Bitbucket."""

from __future__ import annotations

import json
import socket
import time

import pytest

from bot.relay.render import RENDERERS
from handlers.webhook import signature_valid
from tests import webhookkit
from tests.harness import WEBHOOK_SECRET, text_of

pytestmark = pytest.mark.both_backends

CHANNEL = "C1"


@pytest.fixture
def repo(bitbucket):
    bitbucket.add_user("ann", "Ann Author")
    bitbucket.add_user("rob", "Rob Reviewer")
    bitbucket.add_repository("acme", "api", branches=("main", "feature/login"))
    return bitbucket


def subscribe(bot, text: str = "acme/api", channel: str = CHANNEL) -> str:
    sent = bot.command(f"subscribe {text}", channel_id=channel)
    return bot.answer_text(sent)


def hook(bot, event_key: str, payload: dict | bytes, *, request_uuid: str | None = None, secret: str | None = WEBHOOK_SECRET, headers=None):
    return webhookkit.post(f"{bot.url}/bitbucket/webhook", event_key, payload, secret, request_uuid=request_uuid, headers=headers)


def top_level(slack, channel: str = CHANNEL) -> list:
    """What the relay posted in the channel (the answers to /bb commands come through response_url)."""
    return [m for m in slack.channel_messages(channel) if not m.thread_ts and m.via == "chat.postMessage"]


def deliveries_stored(bot) -> int:
    return bot.services.store.query("SELECT COUNT(*) AS n FROM deliveries")[0]["n"]


def open_pull_request(bitbucket, title: str = "Add login") -> int:
    return bitbucket.add_pull_request("acme", "api", title=title, source="feature/login", author="ann", reviewers=["rob"])["id"]


# --- the door: signature, body, size -------------------------------------------------------------------


def test_the_signature_matches_bitbuckets_own_test_vector():
    body = (webhookkit.FIXTURES / "repo.push__jenkins-signed_payload.json").read_bytes()
    good = "sha256=f205c729821c6954aff2afe72b965c34015b4baf96ea8ddc2cc44999c014a035"
    assert signature_valid("Gkvl$k$wyNpQAF42", body, good)
    assert not signature_valid("Gkvl$k$wyNpQAF42", body + b" ", good)
    assert not signature_valid("another secret", body, good)
    assert not signature_valid("Gkvl$k$wyNpQAF42", body, good.replace("sha256=", "sha1="))
    assert not signature_valid("", body, good)


@pytest.mark.parametrize("secret", [None, "wrong-secret"], ids=["missing", "wrong"])
def test_an_unsigned_or_badly_signed_delivery_is_refused_and_not_stored(bot, repo, secret):
    payload = webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[("b" * 40, "Fix")])
    answer = hook(bot, "repo:push", payload, secret=secret)
    assert answer.status_code == 401
    assert deliveries_stored(bot) == 0


def test_a_signature_over_other_bytes_is_refused(bot, repo):
    payload = json.dumps({"repository": {"full_name": "acme/api"}}).encode()
    answer = hook(bot, "repo:push", payload, headers={"X-Hub-Signature": webhookkit.sign(WEBHOOK_SECRET, payload + b"\n")})
    assert answer.status_code == 401


def test_malformed_json_is_a_bad_request(bot):
    assert hook(bot, "repo:push", b"{not json").status_code == 400
    assert hook(bot, "repo:push", b"[1, 2]").status_code == 400
    assert hook(bot, "repo:push", b"\xff\xfe").status_code == 400
    assert deliveries_stored(bot) == 0


def test_a_delivery_without_event_key_is_a_bad_request(bot):
    assert hook(bot, "", {"repository": {"full_name": "acme/api"}}).status_code == 400


def test_a_body_over_a_megabyte_is_refused_without_being_read(bot):
    # Announce 50 MB, send 1 KB: the answer must come from the header alone.
    with socket.create_connection(("127.0.0.1", int(bot.url.rsplit(":", 1)[1])), timeout=10) as conn:
        conn.sendall(
            b"POST /bitbucket/webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"X-Event-Key: repo:push\r\nContent-Length: 50000000\r\n\r\n" + b"{" * 1024
        )
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")
    assert deliveries_stored(bot) == 0


def test_a_large_delivery_under_the_limit_is_accepted(bot, repo):
    # Bitbucket does not send deliveries over 256 KB; one just under it is taken.
    payload = webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[("b" * 40, "x" * 120_000)])
    assert hook(bot, "repo:push", payload).status_code == 200


# --- what gets relayed ----------------------------------------------------------------------------------


def test_a_pull_request_gets_one_card_and_a_thread(bot, repo, slack):
    subscribe(bot)
    pr_id = open_pull_request(repo)
    assert hook(bot, "pullrequest:created", webhookkit.pull_request_payload(repo, "acme", "api", pr_id, actor="ann")).status_code == 200
    card = slack.wait_for(lambda: top_level(slack))[0]
    assert "#1 Add login" in card.text and "Open" in text_of(card.to_api())
    assert [b["action_id"] for b in webhookkit_buttons(card)] == ["bb_approve", "bb_request_changes", "bb_ask_merge", "bb_ask_decline",
                                                                 "bb_card_menu"]  # its overflow menu: Nudge reviewers

    approve_as(repo, pr_id, "rob")
    hook(bot, "pullrequest:approved", webhookkit.pull_request_payload(repo, "acme", "api", pr_id, actor="rob", approval={"user": repo.user("rob")}))
    slack.wait_for(lambda: len(slack.thread(CHANNEL, card.ts)) == 2)
    assert "1 approval" in text_of(slack.message(CHANNEL, card.ts).to_api())
    assert "Rob Reviewer approved." in slack.thread(CHANNEL, card.ts)[1].text

    merge_as(repo, pr_id, "ann")
    hook(bot, "pullrequest:fulfilled", webhookkit.pull_request_payload(repo, "acme", "api", pr_id, actor="ann"))
    slack.wait_for(lambda: len(slack.thread(CHANNEL, card.ts)) == 3)
    final = slack.message(CHANNEL, card.ts)
    assert "*Merged* by Ann Author" in text_of(final.to_api())
    assert webhookkit_buttons(final) == []
    assert len(top_level(slack)) == 1  # one message per pull request, however many events


def test_a_pull_request_first_seen_through_a_later_event_gets_its_card_then(bot, repo, slack):
    subscribe(bot)
    pr_id = open_pull_request(repo)
    hook(bot, "pullrequest:comment_created", webhookkit.pull_request_payload(
        repo, "acme", "api", pr_id, actor="rob", comment={"content": {"raw": "Looks <!here> good"}, "user": repo.user("rob")}
    ))
    card = slack.wait_for(lambda: top_level(slack))[0]
    thread = slack.wait_for(lambda: len(slack.thread(CHANNEL, card.ts)) == 2 and slack.thread(CHANNEL, card.ts))
    assert "#1 Add login" in card.text
    reply = text_of(thread[1].to_api())
    assert "Rob Reviewer commented" in reply and "&lt;!here&gt;" in reply and "<!here>" not in reply


def test_events_of_a_pull_request_arrive_in_order(bot, repo, slack):
    subscribe(bot)
    pr_id = open_pull_request(repo)
    for n in range(6):
        hook(bot, "pullrequest:comment_created", webhookkit.pull_request_payload(
            repo, "acme", "api", pr_id, actor="rob", comment={"content": {"raw": f"comment {n}"}, "user": repo.user("rob")}
        ))
    card = slack.wait_for(lambda: top_level(slack))[0]
    thread = slack.wait_for(lambda: len(slack.thread(CHANNEL, card.ts)) == 7 and slack.thread(CHANNEL, card.ts))
    said = [text_of(m.to_api()).split(">")[-1].strip().splitlines()[0] for m in thread[1:]]  # the quote, before the context line
    assert said == [f"comment {n}" for n in range(6)]


def test_a_retried_delivery_is_answered_and_not_relayed_again(bot, repo, slack):
    """Deduplicated by X-Request-UUID, and by content: the same body under a new UUID, or under a new UUID and
    another event key it also fits (`X-Event-Key` is not signed), is a duplicate too."""
    subscribe(bot)
    payload = webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[("b" * 40, "Fix the build")])
    first = hook(bot, "repo:push", payload, request_uuid="same-uuid")
    again = hook(bot, "repo:push", payload, request_uuid="same-uuid")
    replayed = hook(bot, "repo:push", payload, request_uuid="another-uuid")
    rekeyed = hook(bot, "repo:push", payload, request_uuid="a-third-uuid", headers={"X-Event-Key": "pullrequest:updated"})
    assert (first.status_code, first.json()["duplicate"]) == (200, False)
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert (replayed.status_code, replayed.json()["duplicate"]) == (200, True)
    assert (rekeyed.status_code, rekeyed.json()["duplicate"]) == (200, True)
    assert deliveries_stored(bot) == 1
    hook(bot, "repo:push", webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[("c" * 40, "Later")]))
    slack.wait_for(lambda: len(top_level(slack)) == 2)
    assert [m.text.count("pushed") for m in top_level(slack)] == [1, 1]
    assert "Fix the build" in text_of(top_level(slack)[0].to_api())


def test_unknown_and_issue_events_are_accepted_and_ignored(bot, repo, slack):
    subscribe(bot)
    for key in ("issue:created", "repo:fork", "repo:commit_comment_created", "made:up"):
        assert key not in RENDERERS
        # each its own body (one body is one event, whatever the key) and one that fits the key
        answer = hook(bot, key, {"repository": {"full_name": "acme/api"}, "actor": repo.user("ann"), "comment": {"id": key}})
        assert answer.status_code == 200 and answer.json()["duplicate"] is False
    hook(bot, "repo:push", webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[("b" * 40, "Fix")]))
    slack.wait_for(lambda: top_level(slack))
    assert len(slack.calls_to("chat.postMessage")) == 1
    states = bot.services.store.query("SELECT event_key, state FROM deliveries ORDER BY id")
    assert [row["state"] for row in states] == ["ignored"] * 4 + ["relayed"]


def test_branch_filters_and_families_per_channel(bot, repo, slack):
    subscribe(bot, "acme/api pushes branch:main", channel="CMAIN")
    subscribe(bot, "acme/api tags", channel="CTAGS")
    for branch in ("feature/login", "main"):
        hook(bot, "repo:push", webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch=branch, commits=[("b" * 40, f"on {branch}")]))
    hook(bot, "repo:push", webhookkit.load_fixture("repo.push__zulip-push_one_tag.json") | {"repository": webhookkit.repository_json(repo, "acme", "api")})
    slack.wait_for(lambda: top_level(slack, "CMAIN") and top_level(slack, "CTAGS"))
    hook(bot, "repo:push", webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[("c" * 40, "last")]))
    slack.wait_for(lambda: len(top_level(slack, "CMAIN")) == 2)
    assert ["on main" in text_of(m.to_api()) for m in top_level(slack, "CMAIN")] == [True, False]
    assert [("tagged" in m.text) for m in top_level(slack, "CTAGS")] == [True]


def test_a_failed_build_is_told_and_a_plain_success_is_not(bot, repo, slack):
    subscribe(bot, "acme/api builds")
    def build(state, key, minute):
        return webhookkit.commit_status_payload("acme", "api", actor=repo.user("ann"), name=f"Pipeline #{key} for feature/login",
                                                state=state, refname="feature/login", key=key, updated_on=f"2026-01-01T10:{minute:02d}:00+00:00")
    for state, key, minute in (("INPROGRESS", "1", 0), ("SUCCESSFUL", "1", 1), ("FAILED", "2", 5), ("SUCCESSFUL", "3", 9)):
        assert hook(bot, "repo:commit_status_updated", build(state, key, minute)).status_code == 200
    slack.wait_for(lambda: len(top_level(slack)) == 2)
    texts = [text_of(m.to_api()) for m in top_level(slack)]
    assert "failed on `feature/login`" in texts[0] and "passed" in texts[1] and "(fixed)" in texts[1]


# --- Slack misbehaving ----------------------------------------------------------------------------------


def test_a_slack_outage_loses_nothing_and_answers_do_not_wait_for_it(bot, repo, slack):
    subscribe(bot)
    slack.outage = True
    for n in range(5):
        payload = webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[(f"{n}" * 40, f"commit {n}")])
        assert hook(bot, "repo:push", payload).status_code == 200
    slack.wait_for(lambda: slack.calls_to("chat.postMessage"))  # the worker tried, and was refused
    assert top_level(slack) == []
    slack.outage = False
    slack.wait_for(lambda: len(top_level(slack)) == 5, timeout=15)
    assert [f"commit {n}" in text_of(m.to_api()) for n, m in enumerate(top_level(slack))] == [True] * 5


def test_a_429_waits_retry_after_and_then_delivers_once(bot, repo, slack):
    subscribe(bot)
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    hook(bot, "repo:push", webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[("b" * 40, "Fix")]))
    slack.wait_for(lambda: top_level(slack), timeout=10)
    calls = slack.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].time - calls[0].time >= 0.9
    assert len(top_level(slack)) == 1


def test_a_5xx_is_tried_again_until_delivered(bot, repo, slack):
    subscribe(bot)
    slack.fail_next("chat.postMessage", status=500)
    hook(bot, "repo:push", webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[("b" * 40, "Fix")]))
    slack.wait_for(lambda: top_level(slack), timeout=10)
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [500, 200]


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived"])
def test_a_channel_that_refuses_messages_marks_its_subscription_broken(bot, repo, slack, error):
    subscribe(bot, channel="CGONE")
    slack.set_channel_error("CGONE", error)
    hook(bot, "repo:push", webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[("b" * 40, "Fix")]))
    slack.wait_for(lambda: slack.calls_to("chat.postMessage"))

    slack.wait_for(lambda: any(c.response.get("error") == error for c in slack.calls_to("chat.postMessage")))
    text = eventually(lambda: bot.answer_text(bot.command("subscriptions", channel_id="CGONE")), lambda text: "broken" in text)
    assert f"`{error}`" in text
    assert slack.channel_messages("CGONE", include_deleted=True)[-1].via == "response_url"  # nothing relayed there


def eventually(produce, accept, timeout: float = 10.0):
    """Call `produce` until `accept` likes what it made (it talks to the bot over HTTP, so not under the fake's lock)."""
    deadline = time.monotonic() + timeout
    while True:
        value = produce()
        if accept(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# --- helpers that act on the fake Bitbucket, as people would ---------------------------------------------------


def approve_as(bitbucket, pr_id: int, nickname: str) -> None:
    token = f"token-{nickname}"
    bitbucket.allow_bearer(token, user=nickname)
    _call(bitbucket, "POST", f"/repositories/acme/api/pullrequests/{pr_id}/approve", token)


def merge_as(bitbucket, pr_id: int, nickname: str) -> None:
    token = f"token-{nickname}"
    bitbucket.allow_bearer(token, user=nickname)
    _call(bitbucket, "POST", f"/repositories/acme/api/pullrequests/{pr_id}/merge", token)


def _call(bitbucket, method: str, path: str, token: str) -> None:
    import requests

    with requests.Session() as session:
        session.trust_env = False
        answer = session.request(method, bitbucket.base_url + path, headers={"Authorization": f"Bearer {token}"}, json={}, timeout=10)
        assert answer.status_code in (200, 201), answer.text


def webhookkit_buttons(message) -> list[dict]:
    return [e for b in message.blocks if b.get("type") == "actions" for e in b["elements"]]


def test_a_success_on_the_main_branch_is_told(bot, repo, slack):
    subscribe(bot, "acme/api builds")  # Bitbucket says the main branch is `main`
    for refname in ("feature/login", "main"):
        payload = webhookkit.commit_status_payload("acme", "api", actor=repo.user("ann"), name=f"Pipeline #1 for {refname}",
                                                   state="SUCCESSFUL", refname=refname, key=f"k-{refname}")
        hook(bot, "repo:commit_status_created", payload)
    slack.wait_for(lambda: top_level(slack))  # same ordering key: a wrongly told first one would be here already
    assert ["passed on `main`" in m.text and "(main branch)" in m.text for m in top_level(slack)] == [True]


def test_one_malformed_delivery_never_fails_its_neighbours_and_check_shows_it(bot, repo, slack, tmp_path):
    """A signed delivery whose `repository` is a string, sent amid good ones: all answered 200, the good ones
    relayed, the bad one kept as failed with its reason, and `check` says so."""
    import concurrent.futures

    subscribe(bot)
    good = [webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[(f"{n:040x}", f"good {n}")])
            for n in range(12)]
    bad = {**good[0], "repository": "acme/api"}
    with concurrent.futures.ThreadPoolExecutor(13) as pool:
        answers = list(pool.map(lambda body: hook(bot, "repo:push", body), [*good[:6], bad, *good[6:]]))
    assert [a.status_code for a in answers] == [200] * 13
    slack.wait_for(lambda: len(top_level(slack)) == 12, timeout=10)
    failed = bot.services.store.query("SELECT state, outcome FROM deliveries WHERE state = 'failed'")
    assert len(failed) == 1 and "repository" in failed[0]["outcome"]

    from bot.app.check import check_lines

    lines = [str(line) for line in check_lines(bot.settings)]
    assert any("1 webhook delivery(ies) could not be relayed" in line and "repository" in line for line in lines), lines


def test_a_captured_delivery_replayed_under_a_new_uuid_is_not_relayed_again(bot, repo, slack):
    subscribe(bot)
    payload = webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[("c" * 40, "Once")])
    assert hook(bot, "repo:push", payload, request_uuid="first").json()["duplicate"] is False
    replay = hook(bot, "repo:push", payload, request_uuid="a-new-uuid")
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    slack.wait_for(lambda: top_level(slack))
    time.sleep(0.3)
    assert len(top_level(slack)) == 1


def test_failed_deliveries_are_listed_relayed_again_once_mended_and_forgotten(bot, repo, slack, tmp_path):
    """An operator's loop: `deliveries` lists what failed and why, `--retry` relays it again, `--forget` drops it."""
    from tests.conftest import database_settings
    from tests.test_cli import run_cli

    subscribe(bot)
    bad = {**webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[("d" * 40, "Odd")]), "repository": "acme/api"}
    assert hook(bot, "repo:push", bad, request_uuid="odd-1").status_code == 200
    store = bot.services.store
    slack.wait_for(lambda: store.query("SELECT state FROM deliveries WHERE request_uuid = 'odd-1'") == [{"state": "failed"}])
    env = {key.upper(): value for key, value in database_settings(bot.settings.database_target).items()}
    listed = run_cli("deliveries", env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "odd-1" in listed.stdout and "repo:push" in listed.stdout
    assert "1 webhook delivery(ies) could not be relayed" in listed.stdout

    retried = run_cli("deliveries", "--retry", env=env, cwd=tmp_path)
    assert "1 delivery(ies) handed to the router again" in retried.stdout
    slack.wait_for(lambda: store.query("SELECT state FROM deliveries WHERE request_uuid = 'odd-1'") == [{"state": "failed"}])  # still odd

    forgotten = run_cli("deliveries", "--forget", env=env, cwd=tmp_path)
    assert "1 failed delivery(ies) dropped" in forgotten.stdout
    assert store.query("SELECT COUNT(*) AS n FROM deliveries WHERE state = 'failed'")[0]["n"] == 0
    assert "every webhook delivery was relayed" in run_cli("deliveries", env=env, cwd=tmp_path).stdout


def test_a_flood_of_forged_deliveries_does_not_hold_the_relay_back(bot, repo, slack):
    """The router steps aside (for seconds) while signed deliveries arrive; unsigned ones must not make it."""
    import threading

    subscribe(bot)
    stop = threading.Event()

    def flood():
        while not stop.is_set():
            hook(bot, "repo:push", {"repository": {"full_name": "acme/api"}}, secret="not-the-secret")

    flooders = [threading.Thread(target=flood) for _ in range(2)]
    for flooder in flooders:
        flooder.start()
    try:
        time.sleep(0.6)  # longer than the router's idle wait: it has looked at the flood by now
        payload = webhookkit.push_payload("acme", "api", actor=repo.user("ann"), branch="main", commits=[("e" * 40, "Through")])
        sent = time.monotonic()
        assert hook(bot, "repo:push", payload).status_code == 200
        slack.wait_for(lambda: top_level(slack), timeout=10)
        assert time.monotonic() - sent < 3.0  # stepping aside would have taken its 5 s
    finally:
        stop.set()
        for flooder in flooders:
            flooder.join(10)


# --- a captured body resent under another X-Event-Key; absurd JSON ----------------------------------------


@pytest.mark.parametrize("other_key", [
    "pullrequest:fulfilled", "pullrequest:rejected", "pullrequest:approved", "pullrequest:comment_created", "repo:push",
    "pullrequest:changes_request_created", "repo:commit_status_created",
])
def test_a_captured_body_resent_under_another_event_key_is_refused_kept_and_not_relayed(bot, repo, slack, other_key):
    """Bitbucket's HMAC covers the body, not X-Event-Key: a `pullrequest:created` body resent (new UUID) as a merge,
    a decline, an approval, a comment or a push is a 400, kept as failed with its reason, and relays nothing."""
    from bot import relay

    subscribe(bot)
    pr_id = open_pull_request(repo)
    created = webhookkit.pull_request_payload(repo, "acme", "api", pr_id, actor="ann")
    assert hook(bot, "pullrequest:created", created, request_uuid="genuine").json() == {"ok": True, "duplicate": False}
    card = slack.wait_for(lambda: top_level(slack))[0]

    resent = hook(bot, other_key, created, request_uuid="captured-and-resent")
    assert resent.status_code == 400 and other_key in resent.json()["error"], resent.text
    again = hook(bot, other_key, created, request_uuid="captured-and-resent-again")
    assert again.status_code == 400

    failed = relay.failed_deliveries(bot.services.store)
    assert [(f["request_uuid"], f["event_key"]) for f in failed] == [("captured-and-resent", other_key)]  # kept once
    assert "refused" in failed[0]["outcome"] and other_key in failed[0]["outcome"]
    time.sleep(0.5)
    assert len(top_level(slack)) == 1 and len(slack.thread(CHANNEL, card.ts)) == 1
    assert "Open" in text_of(slack.message(CHANNEL, card.ts).to_api())  # not turned into Merged or Declined
    relay.retry_failed(bot.services.store)  # an operator's --retry does not relay it either
    slack.wait_for(lambda: relay.failed_deliveries(bot.services.store) and bot.services.store.query(
        "SELECT state FROM deliveries WHERE request_uuid = 'captured-and-resent'") == [{"state": "failed"}])
    time.sleep(0.3)
    assert len(slack.thread(CHANNEL, card.ts)) == 1


def test_a_body_that_fits_its_key_is_taken_and_a_genuine_merge_after_a_refused_resend_is_relayed(bot, repo, slack):
    """The refusal takes no body's place: the genuine delivery of a body refused under a wrong key still counts."""
    subscribe(bot)
    pr_id = open_pull_request(repo)
    assert hook(bot, "pullrequest:created", webhookkit.pull_request_payload(repo, "acme", "api", pr_id, actor="ann")).status_code == 200
    card = slack.wait_for(lambda: top_level(slack))[0]
    merge_as(repo, pr_id, "ann")
    merged = webhookkit.pull_request_payload(repo, "acme", "api", pr_id, actor="ann")
    assert hook(bot, "pullrequest:rejected", merged).status_code == 400  # a merge is not a decline
    assert hook(bot, "pullrequest:fulfilled", merged).json() == {"ok": True, "duplicate": False}
    slack.wait_for(lambda: "*Merged* by Ann Author" in text_of(slack.message(CHANNEL, card.ts).to_api()))


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"repository": {"full_name": "acme/api"}, "pullrequest": {"id": 1, "title": ' + b"[" * 500 + b"]" * 500 + b"}}",
], ids=["100000-nested-arrays", "a-title-of-500-nested-lists"])
def test_absurdly_nested_json_is_a_400_and_nothing_is_stored(bot, repo, body):
    answer = hook(bot, "pullrequest:created", body)
    assert answer.status_code == 400, answer.text
    assert deliveries_stored(bot) == 0
