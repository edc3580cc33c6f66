"""Sign in with Slack: the Slack app's own credentials never turn the bot into an OAuth-installing Bolt app, the
pure pieces of the OpenID Connect dance, and the simulated Slack's side of it."""

import base64
import hashlib
import json
import os
from urllib.parse import parse_qs, urlsplit

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.accounts import signin
from bot.core.config import Settings
from tests.harness import RunningBot, make_settings, text_of


def test_a_bot_with_the_slack_apps_client_id_and_secret_in_its_environment_still_answers_commands(tmp_path, slack, bitbucket, monkeypatch):
    """Bolt reads SLACK_CLIENT_ID and SLACK_CLIENT_SECRET from the environment and, with both, turns on OAuth
    installs (multi-workspace, file-based installation stores): the bot keeps them from Bolt, answers commands on
    its bot token as before, and still has them for Sign in with Slack."""
    monkeypatch.setenv("SLACK_CLIENT_ID", "1234.5678")
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "slack-app-client-secret")
    settings = Settings.from_env(dotenv=False)
    assert (settings.slack_client_id, settings.slack_client_secret) == ("1234.5678", "slack-app-client-secret")
    bot = RunningBot(make_settings(tmp_path, slack, bitbucket, slack_client_id=settings.slack_client_id,
                                   slack_client_secret=settings.slack_client_secret), slack)
    try:
        # What Bolt does with both in sight (slack_bolt 1.30): it turns on OAuth installs with file-based stores.
        bolt = bot.server.wsgi.bolt_app
        assert bolt.oauth_flow is None and bolt.installation_store is None
        sent = bot.command("help")
        assert sent.http.status_code == 200
        assert "/bb prs" in text_of(sent.http.json())
    finally:
        bot.stop()
    assert os.environ["SLACK_CLIENT_ID"] == "1234.5678"  # given back once the app was built


def test_the_authorize_url_asks_for_openid_with_a_state_and_a_nonce():
    settings = Settings(slack_client_id="1.2", public_url="https://bot.example.com/",
                        slack_oidc_authorize_url="https://slack.example/openid/connect/authorize")
    url = signin.authorize_url(settings, "st&te", "n0nce")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("https://slack.example/openid/connect/authorize?")
    assert query == {"response_type": ["code"], "scope": ["openid"], "client_id": ["1.2"], "state": ["st&te"], "nonce": ["n0nce"],
                     "redirect_uri": ["https://bot.example.com/slack/oidc/callback"]}
    assert Settings().slack_oidc_authorize_url == "https://slack.com/openid/connect/authorize"
    assert signin.start_url(settings, "a b") == "https://bot.example.com/bitbucket/oauth/start?state=a+b"


def _jwt(claims) -> str:
    encode = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{encode({'alg': 'RS256'})}.{encode(claims)}.c2ln"


def test_id_token_claims_and_the_nonce_check_take_anything_without_failing():
    assert signin.id_token_claims(_jwt({"nonce": "n", "aud": "1.2"})) == {"nonce": "n", "aud": "1.2"}
    for junk in ("", "a.b", "a.b.c", "a.!!!.c", _jwt(["not", "a", "dict"]), "..", "a.b.c.d"):
        assert signin.id_token_claims(junk) == {}
    digest = hashlib.sha256(b"n").hexdigest()
    assert signin.nonce_matches("n", digest)
    assert not signin.nonce_matches("m", digest) and not signin.nonce_matches(None, digest) and not signin.nonce_matches("", "")
    assert not signin.nonce_matches(["n"], digest)


def test_the_browser_cookie_is_httponly_lax_scoped_to_the_callback_and_secure_behind_https():
    header = signin.cookie_header("v", Settings(public_url="https://bot.example.com"), max_age=600)
    assert header.startswith("bb_chatops_login=v;") and "HttpOnly" in header and "SameSite=Lax" in header
    assert "Path=/bitbucket/oauth/callback" in header and "Secure" in header and "Max-Age=600" in header
    assert "Secure" not in signin.cookie_header("v", Settings(public_url="http://localhost:3000"), max_age=600)
    assert signin.cookie_value("a=1; bb_chatops_login=xyz; b=2") == "xyz"
    assert signin.cookie_value("bb_chatops_login=") is None and signin.cookie_value(None) is None


def test_the_simulated_slack_signs_in_the_chosen_person_once_per_code(slack):
    slack.oidc.add_app("1.2", "cs", redirect_uris=["https://bot.example.com/slack/oidc/callback"])
    slack.oidc_user = "U2"
    base = {"response_type": "code", "scope": "openid", "client_id": "1.2", "state": "s", "nonce": "n"}
    wrong = requests.get(slack.oidc_authorize_url, params={**base, "redirect_uri": "https://evil.example/cb"}, allow_redirects=False, timeout=5)
    assert wrong.status_code == 400 and "Location" not in wrong.headers  # an unlisted redirect URL gets no code
    answer = requests.get(slack.oidc_authorize_url, params={**base, "redirect_uri": "https://bot.example.com/slack/oidc/callback"},
                          allow_redirects=False, timeout=5)
    back = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert answer.status_code == 302 and back["state"] == ["s"]
    client = WebClient(base_url=slack.api_url)
    try:
        client.openid_connect_token(client_id="1.2", client_secret="wrong", code=back["code"][0], redirect_uri="https://bot.example.com/slack/oidc/callback")
        raise AssertionError("a wrong secret was accepted")
    except SlackApiError as error:
        assert error.response["error"] == "bad_client_secret"
    token = client.openid_connect_token(client_id="1.2", client_secret="cs", code=back["code"][0], redirect_uri="https://bot.example.com/slack/oidc/callback")
    assert signin.id_token_claims(token["id_token"])["nonce"] == "n"
    person = WebClient(token=token["access_token"], base_url=slack.api_url).openid_connect_userInfo()
    assert person["https://slack.com/user_id"] == "U2" and person["https://slack.com/team_id"] == slack.team_id
    try:
        client.openid_connect_token(client_id="1.2", client_secret="cs", code=back["code"][0], redirect_uri="https://bot.example.com/slack/oidc/callback")
        raise AssertionError("a code worked twice")
    except SlackApiError as error:
        assert error.response["error"] == "invalid_code"
    assert "cs" not in json.dumps([call.args for call in slack.calls])


def test_the_real_serve_process_with_the_slack_apps_credentials_still_answers_commands(tmp_path, slack, bitbucket):
    """The same, as an operator runs it: `bitbucket-chatops serve` with both variables in its environment."""
    from tests import slackkit
    from tests.harness import SIGNING_SECRET
    from tests.process_harness import ServeProcess

    process = ServeProcess(tmp_path, slack, bitbucket, SLACK_CLIENT_ID="1234.5678", SLACK_CLIENT_SECRET="slack-app-client-secret")
    try:
        process.start()
        body = slackkit.slash_command_body("help", response_url=slack.response_url("process"))
        answer = slackkit.post_signed(f"{process.url}/slack/events", body, SIGNING_SECRET)
        assert answer.status_code == 200 and "/bb prs" in text_of(answer.json())
    finally:
        process.stop()
    assert "slack-app-client-secret" not in process.log()
    assert "InstallationStore" not in process.log()  # Bolt says so when it turns on OAuth installs
