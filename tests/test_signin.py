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
from bot.core import ids
from bot.core import manifest as app_manifest
from bot.core.config import Settings
from bot.sandbox.slack import FakeSlack
from tests.browser import Browser
from tests.harness import RunningBot, button, make_settings, text_of

CALLBACK = "https://bot.example.com/slack/oidc/callback"


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


# --- the Slack app's manifest must declare `openid` as a user scope -------------------------------------


def _without_user_scopes(manifest: dict) -> dict:
    """The manifest as it was before Sign in with Slack was declared: bot scopes only."""
    scopes = {kind: listed for kind, listed in manifest["oauth_config"]["scopes"].items() if kind != "user"}
    return {**manifest, "oauth_config": {**manifest["oauth_config"], "scopes": scopes}}


def _authorize(slack, settings: Settings) -> requests.Response:
    """The browser at Slack's authorize page, with the address the bot builds."""
    url = signin.authorize_url(settings, "state-1", "nonce-1")
    return requests.get(url, allow_redirects=False, timeout=5)


def test_the_repositorys_manifest_declares_openid_as_a_user_scope():
    declared = app_manifest.declared_scopes(app_manifest.load())
    assert "openid" in declared["user"]
    assert app_manifest.missing_scopes(app_manifest.load(), {"user": ["openid"]}) == {}


def test_the_simulated_slack_refuses_sign_in_for_an_app_whose_manifest_lacks_openid():
    without = _without_user_scopes(app_manifest.load())
    with FakeSlack(manifest=without) as slack:
        slack.oidc.add_app("1.2", "cs", redirect_uris=[CALLBACK])
        settings = Settings(slack_client_id="1.2", public_url="https://bot.example.com", slack_oidc_authorize_url=slack.oidc_authorize_url)
        refused = _authorize(slack, settings)
        assert refused.status_code == 400 and refused.text == "invalid_scope_requested"
        assert "Location" not in refused.headers  # no code, and no way back to the bot
        # The app's configuration given when it is added wins: the repository's manifest declares openid.
        slack.oidc.add_app("1.2", "cs", redirect_uris=[CALLBACK], manifest=app_manifest.MANIFEST_PATH)
        granted = _authorize(slack, settings)
        assert granted.status_code == 302 and "code" in parse_qs(urlsplit(granted.headers["Location"]).query)
    with FakeSlack() as slack:  # by default the simulated Slack installs the repository's manifest
        slack.oidc.add_app("1.2", "cs", redirect_uris=[CALLBACK])
        settings = Settings(slack_client_id="1.2", public_url="https://bot.example.com", slack_oidc_authorize_url=slack.oidc_authorize_url)
        assert _authorize(slack, settings).status_code == 302
        # A scope asked for and not declared is refused too, even beside openid.
        url = signin.authorize_url(settings, "s", "n").replace("scope=openid", "scope=openid+email")
        assert requests.get(url, allow_redirects=False, timeout=5).status_code == 400


def test_bb_login_fails_at_slack_when_the_apps_manifest_lacks_openid_and_works_with_the_real_one(tmp_path, slack, bitbucket):
    public_url = "https://chatops.example.com"
    bitbucket.add_oauth_consumer("people", "people-secret", redirect_uri=public_url + "/bitbucket/oauth/callback", owner="chatops-bot")
    alice = bitbucket.add_user("alice", "Alice Liddell")
    bitbucket.consent_user = "alice"
    slack.oidc.add_app("1234.5678", "slack-secret", redirect_uris=[public_url + signin.CALLBACK_PATH],
                       manifest=_without_user_scopes(app_manifest.load()))
    bot = RunningBot(make_settings(
        tmp_path, slack, bitbucket, bitbucket_oauth_client_id="people", bitbucket_oauth_client_secret="people-secret",
        public_url=public_url, chatops_secret_key="test-key-for-people's-tokens-0123456789", slack_client_id="1234.5678",
        slack_client_secret="slack-secret", slack_oidc_authorize_url=slack.oidc_authorize_url,
    ), slack)
    try:
        def log_in():
            link = button(bot.answers(bot.command("login"))[0], ids.OPEN_LINK)["url"]
            browser = Browser(public_url, bot.url)
            try:
                return browser.open(link)
            finally:
                browser.close()

        slack.oidc_user = "U1"
        refused = log_in()
        assert refused.status_code == 400 and refused.text == "invalid_scope_requested"  # Slack's page; never back at the bot
        assert not bitbucket.requests_to("GET", "/2.0/user")  # nobody was linked
        slack.oidc.add_app("1234.5678", "slack-secret", redirect_uris=[public_url + signin.CALLBACK_PATH])  # the real manifest
        linked = log_in()
        assert linked.status_code == 200 and alice["display_name"] in linked.text
    finally:
        bot.stop()
