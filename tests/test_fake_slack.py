"""FakeSlack against the real slack_sdk clients, and the request helpers in tests/slackkit.py."""

import json
import threading
import time
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.sandbox.slack import FakeSlack
from tests import slackkit

slackkit.ensure_no_proxy_for_loopback()


@pytest.fixture
def fake():
    with FakeSlack() as server:
        yield server


@pytest.fixture
def client(fake):
    return WebClient(token="xoxb-test", base_url=fake.api_url)


def section(text, block_id=None):
    block = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def error_of(call):
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value.response


def test_auth_test_returns_the_bot_identity_and_scopes(client):
    response = client.auth_test()
    assert (response["team_id"], response["user_id"], response["bot_id"]) == ("T0001", "UBOT", "B0001")
    assert response["url"].startswith("https://")
    assert "chat:write" in response.headers["x-oauth-scopes"]


def test_post_message_thread_and_update(fake, client):
    parent = client.chat_postMessage(channel="C1", text="PR #1 opened", blocks=[section("*PR #1*")])
    reply = client.chat_postMessage(channel="C1", text="approved", thread_ts=parent["ts"])
    assert parent["channel"] == "C1" and parent["message"]["user"] == "UBOT"
    assert parent["ts"] == "1700000000.000100" and float(reply["ts"]) > float(parent["ts"])

    updated = client.chat_update(channel="C1", ts=parent["ts"], text="PR #1 merged", blocks=[section("*merged*")])
    assert updated["ts"] == parent["ts"]

    message = fake.message("C1", parent["ts"])
    assert (message.text, message.updated_count) == ("PR #1 merged", 1)
    assert message.blocks == [section("*merged*")]
    assert [v.text for v in message.history] == ["PR #1 opened"]
    assert [m.text for m in fake.thread("C1", parent["ts"])] == ["PR #1 merged", "approved"]
    assert len(fake.channel_messages("C1")) == 2
    (call,) = fake.calls_to("chat.update")
    assert call.args["blocks"] == [section("*merged*")] and call.headers["authorization"] == "Bearer xoxb-test"


def test_update_and_delete_refuse_unknown_and_foreign_messages(fake, client):
    assert error_of(lambda: client.chat_update(channel="C1", ts="1.2", text="x"))["error"] == "message_not_found"
    human = fake.add_message("C1", "hello", user="U1")
    assert error_of(lambda: client.chat_update(channel="C1", ts=human.ts, text="x"))["error"] == "cant_update_message"
    assert error_of(lambda: client.chat_postMessage(channel="", text="x"))["error"] == "channel_not_found"

    posted = client.chat_postMessage(channel="C1", text="bye")
    client.chat_delete(channel="C1", ts=posted["ts"])
    assert fake.message("C1", posted["ts"]).deleted
    assert [m.text for m in fake.channel_messages("C1")] == ["hello"]


def test_posting_to_a_user_id_lands_in_their_dm(fake, client):
    response = client.chat_postMessage(channel="U2", text="reminder")
    assert response["channel"] == "DU2"
    assert [m.text for m in fake.channel_messages("U2")] == ["reminder"]


def test_ephemeral_message(fake, client):
    response = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    (ephemeral,) = fake.ephemerals
    assert (ephemeral.ts, ephemeral.ephemeral_to, ephemeral.text) == (response["message_ts"], "U1", "only you")
    assert fake.channel_messages("C1") == []


def test_views_open_exchanges_a_trigger_once_and_update_checks_hash(fake, client):
    view = {"type": "modal", "callback_id": "merge", "title": {"type": "plain_text", "text": "Merge"},
            "blocks": [section("Merge PR #1?")]}
    opened = client.views_open(trigger_id="trig-1", view=view)["view"]
    assert opened["callback_id"] == "merge" and opened["id"] == fake.views[0].id
    assert error_of(lambda: client.views_open(trigger_id="trig-1", view=view))["error"] == "exchanged_trigger_id"

    stale = error_of(lambda: client.views_update(view_id=opened["id"], hash="wrong", view=view))
    assert stale["error"] == "hash_conflict"
    client.views_update(view_id=opened["id"], hash=opened["hash"], view={**view, "callback_id": "merge2"})
    assert fake.views[0].callback_id == "merge2" and fake.views[0].updated_count == 1

    too_long_title = {**view, "title": {"type": "plain_text", "text": "x" * 25}}
    assert error_of(lambda: client.views_open(trigger_id="trig-2", view=too_long_title))["error"] == "invalid_arguments"


def test_bad_or_missing_token(fake):
    bad = WebClient(token="xoxb-wrong", base_url=fake.api_url)
    assert error_of(bad.auth_test)["error"] == "invalid_auth"
    anonymous = WebClient(base_url=fake.api_url)
    assert error_of(lambda: anonymous.chat_postMessage(channel="C1", text="x"))["error"] == "not_authed"
    assert fake.calls[-1].status == 200


def test_rate_limit_answers_429_with_retry_after(fake, client):
    fake.fail_next("chat.postMessage", status=429, retry_after=1)
    response = error_of(lambda: client.chat_postMessage(channel="C1", text="x"))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1" and response["error"] == "ratelimited"
    client.chat_postMessage(channel="C1", text="x")  # only the next call failed
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 200]


def test_injected_error_and_unknown_methods(fake, client):
    fake.fail_next("chat.postMessage", error="is_archived", times=2)
    for _ in range(2):
        assert error_of(lambda: client.chat_postMessage(channel="C1", text="x"))["error"] == "is_archived"
    assert client.api_call("pins.add", json={"channel": "C1", "timestamp": "1.0"})["ok"] is True  # not simulated: ok


def test_reactions_and_user_groups(fake, client):
    ts = client.chat_postMessage(channel="C1", text="card")["ts"]
    client.reactions_add(channel="C1", timestamp=ts, name="x")
    assert error_of(lambda: client.reactions_add(channel="C1", timestamp=ts, name="x"))["error"] == "already_reacted"
    assert fake.message("C1", ts).to_api()["reactions"] == [{"name": "x", "users": ["UBOT"], "count": 1}]
    client.reactions_remove(channel="C1", timestamp=ts, name="x")
    assert error_of(lambda: client.reactions_remove(channel="C1", timestamp=ts, name="x"))["error"] == "no_reaction"
    assert error_of(lambda: client.reactions_add(channel="C1", timestamp="9.9", name="x"))["error"] == "message_not_found"
    fake.add_usergroup("S1", "devs", ["U1", "U2"])
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]
    assert error_of(lambda: client.usergroups_users_list(usergroup="S9"))["error"] == "no_such_subteam"
    fake.scopes = "chat:write"
    assert error_of(lambda: client.usergroups_users_list(usergroup="S1"))["error"] == "missing_scope"


def test_channel_errors_and_joining(fake, client):
    fake.set_channel_error("C9", "not_in_channel")
    assert error_of(lambda: client.chat_postMessage(channel="C9", text="x"))["error"] == "not_in_channel"
    client.conversations_join(channel="C9")
    client.chat_postMessage(channel="C9", text="x")

    fake.set_channel_error("C8", "channel_not_found")
    assert error_of(lambda: client.conversations_info(channel="C8"))["error"] == "channel_not_found"
    assert client.conversations_info(channel="C1")["channel"]["id"] == "C1"


def test_outage_answers_503_everywhere(fake, client):
    fake.outage = True
    assert error_of(lambda: client.chat_postMessage(channel="C1", text="x")).status_code == 503
    webhook = WebhookClient(fake.response_url("k"))
    assert webhook.send(text="x").status_code == 503
    fake.outage = False
    assert webhook.send(text="x").status_code == 200


def test_block_limits(fake, client):
    too_many = [section(f"line {n}") for n in range(51)]
    refused = error_of(lambda: client.chat_postMessage(channel="C1", text="x", blocks=too_many))
    assert refused["error"] == "invalid_blocks" and "no more than 50" in refused["response_metadata"]["messages"][0]
    too_long = error_of(lambda: client.chat_postMessage(channel="C1", text="x", blocks=[section("y" * 3001)]))
    assert too_long["error"] == "invalid_blocks"
    at_the_limits = [section("y" * 3000)] + [section(f"line {n}") for n in range(49)]
    client.chat_postMessage(channel="C1", text="x", blocks=at_the_limits)
    assert len(fake.channel_messages("C1")) == 1


def test_long_text_is_truncated_with_a_warning(fake, client):
    response = client.chat_postMessage(channel="C1", text="z" * 40_001)
    assert response["warning"] == "message_truncated"
    assert len(fake.channel_messages("C1")[0].text) == 40_000


def test_blocks_sent_as_a_form_string_are_parsed(fake, client):
    client.api_call("chat.postMessage", params={"channel": "C1", "text": "x", "blocks": json.dumps([section("hi")])})
    assert fake.channel_messages("C1")[0].blocks == [section("hi")]
    assert fake.calls_to("chat.postMessage")[0].args["blocks"] == [section("hi")]


def test_response_url_replaces_the_original_message_and_allows_five_uses(fake, client):
    posted = client.chat_postMessage(channel="C1", text="Merge PR #1?", blocks=[section("Merge PR #1?")])
    url = fake.response_url("click", channel="C1", message_ts=posted["ts"], user="U1")
    webhook = WebhookClient(url)

    answer = webhook.send(text="Merged", replace_original=True)
    assert (answer.status_code, answer.body) == (200, "ok")
    message = fake.message("C1", posted["ts"])
    assert (message.text, message.blocks, message.updated_count) == ("Merged", [], 1)
    assert fake.responses_for("click")[0].body["replace_original"] is True

    for _ in range(4):
        assert webhook.send(text="more").status_code == 200
    assert webhook.send(text="sixth").status_code == 404
    assert fake.responses_for("click")[-1].error == "used_url"
    assert len(fake.ephemerals) == 4  # default response_type is ephemeral


def test_response_url_for_a_slash_command(fake):
    webhook = WebhookClient(fake.response_url("cmd", channel="C1", user="U1"))
    webhook.send(text="Working…", response_type="in_channel")
    webhook.send(text="Done", replace_original=True)
    assert [m.text for m in fake.channel_messages("C1")] == ["Done"]
    webhook.send(text="", delete_original=True)
    assert fake.channel_messages("C1") == []


def test_users(client):
    assert client.users_info(user="U1")["user"]["profile"]["email"] == "alice@example.com"
    assert error_of(lambda: client.users_info(user="UNOPE"))["error"] == "user_not_found"
    assert client.users_lookupByEmail(email="bob@example.com")["user"]["id"] == "U2"


def test_users_list_pages_with_cursors_as_slack_documents(fake, client):
    for n in range(5):
        fake.add_user(f"UP{n}", f"person{n}", real_name=f"Person {n}", display_name=f"P{n}")
    first = client.users_list(limit=3)
    assert [m["id"] for m in first["members"]] == ["UBOT", "U1", "U2"]
    cursor = first["response_metadata"]["next_cursor"]
    assert cursor and isinstance(first["cache_ts"], int)
    second = client.users_list(limit=3, cursor=cursor)
    assert [m["id"] for m in second["members"]] == ["UP0", "UP1", "UP2"]
    assert second["members"][0]["profile"]["display_name"] == "P0" and second["members"][0]["real_name"] == "Person 0"
    last = client.users_list(limit=3, cursor=second["response_metadata"]["next_cursor"])
    assert [m["id"] for m in last["members"]] == ["UP3", "UP4"] and last["response_metadata"]["next_cursor"] == ""
    assert len(client.users_list()["members"]) == 8  # no limit: everything, in a small team
    assert error_of(lambda: client.users_list(cursor="bm90IGEgY3Vyc29y"))["error"] == "invalid_cursor"


def test_users_methods_need_their_scopes(fake, client):
    fake.scopes = "commands,chat:write"
    refused = error_of(lambda: client.users_list(limit=10))
    assert (refused["error"], refused["needed"], refused["provided"]) == ("missing_scope", "users:read", "commands,chat:write")
    assert error_of(lambda: client.users_lookupByEmail(email="bob@example.com"))["needed"] == "users:read.email"


def test_wait_for_returns_the_result_or_dumps_state(fake, client):
    threading.Timer(0.05, lambda: client.chat_postMessage(channel="C1", text="later")).start()
    (message,) = fake.wait_for(lambda: fake.channel_messages("C1"), timeout=2)
    assert message.text == "later"
    with pytest.raises(AssertionError, match="chat.postMessage 200 ok"):
        fake.wait_for(lambda: fake.channel_messages("C2"), timeout=0.05)


def test_echo_prints_a_readable_line_per_message():
    lines = []
    with FakeSlack(echo=lines.append) as server:
        WebClient(token="xoxb-test", base_url=server.api_url).chat_postMessage(
            channel="C1", text="fallback", blocks=[{"type": "header", "text": {"type": "plain_text", "text": "PR #7"}}]
        )
    assert lines == ["#C1 1700000000.000100:\n    == PR #7 =="]


def test_sign_verifies_with_slack_sdk():
    body = slackkit.slash_command_body("merge repo 1", response_url="http://127.0.0.1/response/r1")
    headers = slackkit.sign("s3cret", body)
    assert SignatureVerifier("s3cret").is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    old = slackkit.sign("s3cret", body, timestamp=int(time.time()) - 600)
    assert not SignatureVerifier("s3cret").is_valid_request(body, old)


def test_request_bodies_have_slacks_shapes():
    command = parse_qs(slackkit.slash_command_body("pr list", response_url="u").decode())
    assert command["command"] == ["/bb"] and command["text"] == ["pr list"] and command["response_url"] == ["u"]

    click = slackkit.block_action_body(action_id="merge", value="1", response_url="u")
    action = json.loads(parse_qs(click.decode())["payload"][0])
    assert action["type"] == "block_actions" and action["actions"][0]["value"] == "1"
    assert action["container"]["message_ts"] == action["message"]["ts"]

    submission = slackkit.view_submission_body(callback_id="tag", values={"name": {"input": "v1.0"}})
    view = json.loads(parse_qs(submission.decode())["payload"][0])["view"]
    assert view["state"]["values"]["name"]["input"] == {"type": "plain_text_input", "value": "v1.0"}
