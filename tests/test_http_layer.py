"""The HTTP door, over real sockets: sizes, content types, methods, malformed signatures, slow clients, and the
webhook secret's rotation."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from bot.app.server import HTTP_THREADS
from handlers.webhook import WEBHOOK_MAX_BYTES, signature_valid
from tests import slackkit, webhookkit
from tests.harness import SIGNING_SECRET, WEBHOOK_SECRET, RunningBot, make_settings, text_of

OLD_SECRET, OLDER_SECRET = "the-secret-being-rotated-out", "an-even-older-secret"


def deliveries_stored(bot) -> int:
    return bot.services.store.query("SELECT COUNT(*) AS n FROM deliveries")[0]["n"]


def raw_request(bot, data: bytes, *, timeout: float = 10) -> bytes:
    """Send bytes as they are; the first bytes of the answer."""
    with socket.create_connection(("127.0.0.1", bot.server.port), timeout=timeout) as conn:
        conn.sendall(data)
        return conn.recv(4096)


def push_body() -> bytes:
    return json.dumps({"push": {"changes": []}, "repository": {"full_name": "acme/api"}, "actor": {"display_name": "Ann"}}).encode()


# --- signatures --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [
    "sha256=" + "é" * 64,  # not ASCII: hmac.compare_digest raised TypeError on such a str (a 500)
    "sha256=" + "ü" * 32,
    "sha256=",
    "sha256=zz",
    "sha256=" + "g" * 64,
    "sha256=" + "0" * 65,
    "sha1=" + "0" * 40,
    "SHA256=" + "0" * 64,
    "sha256=" + "0" * 10_000,
    "x",
])
def test_any_malformed_signature_header_is_a_401_and_nothing_is_stored(bot, header):
    body = push_body()
    headers = {**webhookkit.headers_for("repo:push", body, None), "X-Hub-Signature": header.encode("utf-8")}
    with requests.Session() as session:
        session.trust_env = False
        answer = session.post(f"{bot.url}/bitbucket/webhook", data=body, headers=headers, timeout=10)
    assert answer.status_code == 401
    assert deliveries_stored(bot) == 0


@pytest.mark.parametrize("signature, timestamp", [
    ("v0=" + "é" * 64, None),  # hmac.compare_digest raised TypeError on it: a 500
    ("v0=" + "0" * 64, "\u00b2"),
    ("v0=" + "0" * 64, "9" * 5000),
    ("", ""),
])
def test_a_malformed_slack_signature_or_timestamp_is_a_401(bot, signature, timestamp):
    body = slackkit.slash_command_body("help", user_id="U1", channel_id="C1", response_url="http://127.0.0.1:9/r", trigger_id="t")
    headers = {**slackkit.sign(SIGNING_SECRET, body), "Content-Type": "application/x-www-form-urlencoded",
               "X-Slack-Signature": signature.encode("utf-8")}
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp.encode("utf-8")
    with requests.Session() as session:
        session.trust_env = False
        assert session.post(f"{bot.url}/slack/events", data=body, headers=headers, timeout=10).status_code == 401


@pytest.mark.parametrize("attempt", ["\u00b2", "9" * 5000, "-1", "", "\u0663"])
def test_a_strange_attempt_number_is_read_as_a_first_attempt_not_a_500(bot, attempt):
    body = push_body()
    headers = {**webhookkit.headers_for("repo:push", body, WEBHOOK_SECRET), "X-Attempt-Number": attempt.encode("utf-8")}
    with requests.Session() as session:
        session.trust_env = False
        assert session.post(f"{bot.url}/bitbucket/webhook", data=body, headers=headers, timeout=10).status_code == 200
    assert bot.services.store.query("SELECT attempt FROM deliveries")[0]["attempt"] == 1


def test_signature_checks_take_any_text_and_any_list_of_secrets():
    body = b"{}"
    good = webhookkit.sign("s", body)
    assert signature_valid(("other", "s"), body, good) and signature_valid("s", body, good)
    assert not signature_valid((), body, good) and not signature_valid(("",), body, good)
    upper = "sha256=" + good[7:].upper()  # hex digits in either case
    for header in (upper, good.upper(), good + "\u0301", "sha256=\udcff" * 3, "sha256=" + "\x00" * 64, None, ""):
        assert signature_valid(("s",), body, header) is (header == upper)


@pytest.fixture
def rotating(tmp_path, slack, bitbucket):
    """A bot mid-rotation: deliveries signed with the new secret or either former one are taken."""
    settings = make_settings(tmp_path, slack, bitbucket, bitbucket_old_webhook_secrets=(OLD_SECRET, OLDER_SECRET))
    running = RunningBot(settings, slack)
    yield running
    running.stop()


def test_deliveries_signed_with_a_former_webhook_secret_are_accepted_during_a_rotation(rotating):
    url = f"{rotating.url}/bitbucket/webhook"
    for number, secret in enumerate((WEBHOOK_SECRET, OLD_SECRET, OLDER_SECRET)):
        body = json.dumps({"repository": {"full_name": "acme/api"}, "push": {"changes": []}, "n": number}).encode()
        assert webhookkit.post(url, "repo:push", body, secret).status_code == 200
    assert deliveries_stored(rotating) == 3
    assert webhookkit.post(url, "repo:push", push_body(), "never-a-secret-here").status_code == 401
    assert deliveries_stored(rotating) == 3


def test_without_a_rotation_a_former_secret_is_refused(bot):
    assert webhookkit.post(f"{bot.url}/bitbucket/webhook", "repo:push", push_body(), OLD_SECRET).status_code == 401


# --- sizes, content types, methods ---------------------------------------------------------------------


class BodyReadSpy:
    """Wraps the bot's WSGI application: how many bytes of each request's body the application read."""

    def __init__(self, bot):
        self.server, self.app, self.read = bot.server.http, bot.server.http.application, []
        self.server.application = self

    def __call__(self, environ, start_response):
        stream, counted = environ["wsgi.input"], [0]
        self.read.append(counted)

        class Counting:
            def read(self, *args):
                data = stream.read(*args)
                counted[0] += len(data)
                return data

        environ["wsgi.input"] = Counting()
        return self.app(environ, start_response)


def announced_request(bot, path: str, content_type: bytes, body: bytes, extra: bytes = b"") -> bytes:
    """A complete request whose Content-Length is its body's true length (waitress hands it over whole)."""
    head = b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n" % (
        path.encode(), content_type, extra, len(body))
    with socket.create_connection(("127.0.0.1", bot.server.port), timeout=10) as conn:
        conn.sendall(head + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_a_delivery_announced_over_256_kb_is_our_413_and_not_one_byte_is_read(bot):
    """Between our 256 KB and waitress's own limit (1 MB): only our check of Content-Length can answer, with our
    JSON, and the application reads none of the body (waitress's 413 is a plain-text page)."""
    spy = BodyReadSpy(bot)
    body = b"x" * (WEBHOOK_MAX_BYTES + 100_000)
    answer = announced_request(bot, "/bitbucket/webhook", b"application/json", body, b"X-Event-Key: repo:push\r\n")
    assert answer.startswith(b"HTTP/1.1 413") and answer.endswith(b'{"error": "request body too large"}'), answer[:300]
    assert [n[0] for n in spy.read] == [0]


def test_a_slack_request_announced_over_its_limit_is_our_413_and_not_one_byte_is_read(bot, monkeypatch):
    """The same on Slack's route; its limit is waitress's own, so it is lowered here to leave room between them."""
    from handlers import slack_http

    monkeypatch.setattr(slack_http, "SLACK_MAX_BYTES", 64 * 1024)
    spy = BodyReadSpy(bot)
    body = b"command=%2Fbb&text=" + b"x" * 100_000
    answer = announced_request(bot, "/slack/events", b"application/x-www-form-urlencoded", body)
    assert answer.startswith(b"HTTP/1.1 413") and answer.endswith(b'{"error": "request body too large"}'), answer[:300]
    assert [n[0] for n in spy.read] == [0]


def test_a_delivery_over_bitbuckets_256_kb_is_a_413_before_it_is_checked_or_parsed(bot):
    big = json.dumps({"repository": {"full_name": "acme/api"}, "pad": "x" * WEBHOOK_MAX_BYTES}).encode()
    assert webhookkit.post(f"{bot.url}/bitbucket/webhook", "repo:push", big, WEBHOOK_SECRET).status_code == 413  # even signed
    just_under = json.dumps({"repository": {"full_name": "acme/api"}, "push": {"changes": []}, "pad": "x" * (WEBHOOK_MAX_BYTES - 100)}).encode()
    assert webhookkit.post(f"{bot.url}/bitbucket/webhook", "repo:push", just_under, WEBHOOK_SECRET).status_code == 200
    assert deliveries_stored(bot) == 1
    # Announced far over any limit: refused from the header alone, nothing read.
    answer = raw_request(bot, (
        b"POST /bitbucket/webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"X-Event-Key: repo:push\r\nContent-Length: 5000000\r\n\r\n{"
    ))
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_slack_request_over_the_limit_is_a_413_before_it_is_read(bot):
    answer = raw_request(bot, (
        b"POST /slack/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 5000000\r\n\r\ncommand=%2Fbb"
    ))
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_chunked_body_over_the_limit_is_a_413_too(bot):
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(WEBHOOK_MAX_BYTES // len(chunk) + 1)) + b"0\r\n\r\n"
    answer = raw_request(bot, (
        b"POST /bitbucket/webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nX-Event-Key: repo:push\r\n\r\n" + body
    ))
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_wrong_content_type_is_a_415(bot):
    body = push_body()
    headers = {**webhookkit.headers_for("repo:push", body, WEBHOOK_SECRET), "Content-Type": "text/plain"}
    with requests.Session() as session:
        session.trust_env = False
        assert session.post(f"{bot.url}/bitbucket/webhook", data=body, headers=headers, timeout=10).status_code == 415
    slash = slackkit.slash_command_body("help", user_id="U1", channel_id="C1", response_url="http://127.0.0.1:9/r", trigger_id="t")
    refused = slackkit.post_signed(f"{bot.url}/slack/events", slash, SIGNING_SECRET, content_type="text/xml")
    assert refused.status_code == 415
    assert deliveries_stored(bot) == 0


@pytest.mark.parametrize("method, path, allowed", [
    ("GET", "/bitbucket/webhook", "POST"),
    ("PUT", "/bitbucket/webhook", "POST"),
    ("GET", "/slack/events", "POST"),
    ("DELETE", "/slack/events", "POST"),
    ("POST", "/healthz", "GET"),
    ("POST", "/bitbucket/oauth/callback", "GET"),
    ("POST", "/bitbucket/oauth/start", "GET"),
    ("POST", "/slack/oidc/callback", "GET"),
])
def test_a_wrong_method_is_a_405_that_names_the_right_one(bot, method, path, allowed):
    with requests.Session() as session:
        session.trust_env = False
        answer = session.request(method, f"{bot.url}{path}", timeout=10)
    assert answer.status_code == 405 and answer.headers["Allow"] == allowed


# --- slow and half-sent requests -------------------------------------------------------------------------


def test_half_sent_and_slow_requests_do_not_hold_the_worker_threads(bot):
    """More stalled clients than the server has worker threads: half-sent bodies, unfinished headers. waitress
    buffers requests in its event loop and hands a worker only complete ones, so the bot still answers."""
    stalled = []
    try:
        for number in range(max(HTTP_THREADS * 2, 150)):  # past waitress's default limit of 100 connections too
            conn = socket.create_connection(("127.0.0.1", bot.server.port), timeout=10)
            if number % 2:
                conn.sendall(b"POST /slack/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                             b"Content-Length: 1000\r\n\r\ncommand=%2Fbb&text=")  # 20 bytes of 1000, then nothing
            else:
                conn.sendall(b"POST /bitbucket/webhook HTTP/1.1\r\nHost: localhost\r\nX-Event-")  # headers never end
            stalled.append(conn)
        time.sleep(0.3)
        started = time.monotonic()
        with requests.Session() as session:
            session.trust_env = False
            assert session.get(f"{bot.url}/healthz", timeout=5).status_code == 200
        sent = bot.command("help")
        assert sent.http.status_code == 200 and "/bb prs" in text_of(sent.http.json())
        assert time.monotonic() - started < 3
    finally:
        for conn in stalled:
            conn.close()


# --- absurd or misshapen JSON on Slack's route -------------------------------------------------------------


def _block_action(**changes) -> dict:
    from urllib.parse import parse_qs

    body = slackkit.block_action_body(action_id="bb_merge", value='{"repo": "acme/api", "pr": 1}', response_url="http://127.0.0.1:9/r")
    return {**json.loads(parse_qs(body.decode())["payload"][0]), **changes}


def _nested(depth: int):
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("body, content_type", [
    (b'{"type": "event_callback", "event": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json"),
    (json.dumps({"type": "event_callback", "team_id": "T0001", "event": {"type": "app_home_opened", "user": "U1", "tab": "home",
                                                                         "text": _nested(500)}}).encode(), "application/json"),
    (b"payload=" + b"%5B" * 100_000 + b"%5D" * 100_000, FORM),
    (slackkit.payload_body(_block_action(message={"type": "message", "ts": "1.2", "text": _nested(500)})), FORM),
    (slackkit.payload_body(_block_action(actions="bb_merge")), FORM),
    (slackkit.payload_body(_block_action(actions=[{"action_id": ["bb_merge"]}])), FORM),
    (slackkit.payload_body(_block_action(user=["U1"])), FORM),
    (json.dumps({"type": "event_callback", "team_id": "T0001", "authorizations": "all", "event": {"type": "app_home_opened"}}).encode(),
     "application/json"),
], ids=["events-api-100000-nested-arrays", "events-api-500-nested-lists", "payload-100000-nested-arrays",
        "payload-500-nested-lists", "actions-a-string", "action-id-a-list", "user-a-list", "authorizations-a-string"])
def test_absurd_or_misshapen_slack_json_is_a_400_and_nothing_is_acted_on(bot, body, content_type):
    before = len(bot.slack.calls)
    answer = slackkit.post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET, content_type=content_type)
    assert answer.status_code == 400, answer.text
    time.sleep(0.3)
    assert bot.slack.calls[before:] == []
