"""Socket Mode end to end (issue 27): the bot connects to the simulated Slack's real WebSocket with slack_sdk's
built-in client (`apps.connections.open` with the app-level token, `hello`), and a slash command, a button and an
event travel over it as envelopes, each acknowledged, their answers arriving as over HTTP."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bot.app.cli import connect_socket_mode
from bot.core import ids
from bot.sandbox.slack import FakeSlack
from tests.harness import ADMIN, RunningBot, button, make_settings, text_of

ROOT = Path(__file__).resolve().parent.parent
APP_TOKEN = "xapp-1-socket-test"


@pytest.fixture
def socket_slack():
    with FakeSlack(app_token=APP_TOKEN) as fake:
        yield fake


@pytest.fixture
def connected(tmp_path, socket_slack, bitbucket):
    bitbucket.add_repository("acme", "api", branches=("main", "feature/login"))
    bitbucket.add_user("alice", "Alice")
    bitbucket.add_pull_request("acme", "api", title="Add login", source="feature/login", author="alice")
    # Socket Mode: no signing secret (nothing arrives over HTTP from Slack), the app-level token instead.
    settings = make_settings(tmp_path, socket_slack, bitbucket, slack_signing_secret="", slack_app_token=APP_TOKEN)
    bot = RunningBot(settings, socket_slack)
    handler = connect_socket_mode(bot.server.wsgi.bolt_app, APP_TOKEN)
    try:
        socket_slack.wait_for_socket()
        yield bot, socket_slack
    finally:
        handler.close()
        bot.stop()


def test_a_command_a_button_and_an_event_over_the_websocket(connected):
    bot, slack = connected
    assert [call.method for call in slack.calls_to("apps.connections.open")] == ["apps.connections.open"]

    # A slash command: acked over the socket, answered through its response_url.
    listing_url = slack.response_url("listing", channel="C1", user=ADMIN)
    envelope = slack.socket_slash_command("prs api", user_id=ADMIN, response_url=listing_url)
    assert slack.wait_for_ack(envelope)["envelope_id"] == envelope
    slack.wait_for(lambda: slack.responses_for("listing"))
    listing = slack.responses_for("listing")[0].body
    assert "Open pull requests in acme/api (1)" in text_of(listing)

    # A button: Decline… asks, the confirmation's button declines, each click acked.
    ask_url = slack.response_url("ask", channel="C1", user=ADMIN)
    envelope = slack.socket_block_action(ids.ASK_DECLINE, button(listing, ids.ASK_DECLINE)["value"], user_id=ADMIN, response_url=ask_url)
    slack.wait_for_ack(envelope)
    slack.wait_for(lambda: slack.responses_for("ask"))
    confirm = button(slack.responses_for("ask")[0].body, ids.CONFIRM_DECLINE)
    done_url = slack.response_url("done", channel="C1", user=ADMIN)
    slack.wait_for_ack(slack.socket_block_action(ids.CONFIRM_DECLINE, confirm["value"], user_id=ADMIN, response_url=done_url))
    slack.wait_for(lambda: len(slack.responses_for("done")) >= 2)
    assert "declined #1 Add login" in text_of(slack.responses_for("done")[1].body)

    # An event: the Home tab is published when it is opened.
    envelope = slack.socket_event({"type": "app_home_opened", "user": "U1", "channel": "DU1", "tab": "home",
                                   "event_ts": "1700000000.000100"})
    slack.wait_for_ack(envelope)
    slack.wait_for(lambda: slack.home_views.get("U1"))


def test_the_help_travels_back_in_the_ack_itself(connected):
    _, slack = connected
    ack = slack.wait_for_ack(slack.socket_slash_command("help"))
    assert ack["payload"]["response_type"] == "ephemeral" and "/bb commands" in ack["payload"]["text"]


def test_only_the_app_level_token_opens_a_connection(socket_slack):
    with requests.Session() as http:
        http.trust_env = False
        bot_token = http.post(f"{socket_slack.api_url}apps.connections.open", headers={"Authorization": "Bearer xoxb-test"}).json()
        wrong = http.post(f"{socket_slack.api_url}apps.connections.open", headers={"Authorization": "Bearer xapp-wrong"}).json()
        right = http.post(f"{socket_slack.api_url}apps.connections.open", headers={"Authorization": f"Bearer {APP_TOKEN}"}).json()
    assert (bot_token["ok"], bot_token["error"]) == (False, "not_allowed_token_type")
    assert (wrong["ok"], wrong["error"]) == (False, "invalid_auth")
    assert right["ok"] is True and re.fullmatch(r"ws://127\.0\.0\.1:\d+/link/\?ticket=[0-9a-f]+", right["url"])


def _serve_sandbox_socket_mode(tmp_path) -> tuple[int, str]:
    """Start `serve --sandbox --socket-mode` on a free port, wait until it connected, SIGTERM it; its code and output."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost",
           "PORT": str(port), "HOST": "127.0.0.1"}
    child = subprocess.Popen([sys.executable, "-m", "bot.app.cli", "serve", "--sandbox", "--socket-mode"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "connected to Slack over Socket Mode" in line:
                break
    finally:
        child.send_signal(signal.SIGTERM)  # at once: even right after connecting, it stops cleanly
        try:
            rest, _ = child.communicate(timeout=30)  # read on, so its logs never fill the pipe
        except subprocess.TimeoutExpired:
            child.kill()
            rest, _ = child.communicate()
    return child.returncode, "".join(seen) + rest


def test_serve_sandbox_socket_mode_connects_to_the_simulated_slack(tmp_path):
    for _ in range(3):  # the probed port may be taken by another test before serve binds it: then again
        returncode, output = _serve_sandbox_socket_mode(tmp_path)
        if "Address already in use" not in output:
            break
    assert "[sandbox slack] socket mode: an app connected (1 open)" in output, output
    assert "connected to Slack over Socket Mode" in output, output
    assert returncode == 0 and "Traceback" not in output and "Logging error" not in output, output
