"""End to end: people link their own Bitbucket accounts (OAuth 2.0 authorization code) and review as themselves.

The browser (tests/browser.py) opens the `/bb login` link, signs in with the simulated Slack (as its
`oidc_user`), consents on the simulated Bitbucket (as its `consent_user`) and follows every redirect.
"""

import logging
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from slack_sdk import WebClient

from bot import accounts
from bot.core import ids, render
from bot.accounts import signin
from bot.bitbucket import PullRequest
from tests.browser import Browser
from tests.harness import ADMIN, BITBUCKET_TOKEN, BOT_TOKEN, RunningBot, button, make_settings, text_of
from bot.pull_requests import render as pr_render

PUBLIC_URL = "https://chatops.example.com"
CALLBACK = PUBLIC_URL + accounts.CALLBACK_PATH
CLIENT_ID, CLIENT_SECRET = "people-consumer", "people-consumer-secret"
SECRET_KEY = "test-key-for-people's-tokens-0123456789"
SLACK_CLIENT_ID, SLACK_CLIENT_SECRET = "1234.5678", "slack-app-client-secret"
BOT_AUTHORIZATION = f"Bearer {BITBUCKET_TOKEN}"


@pytest.fixture(autouse=True)
def slack_app(slack):
    """The Slack app's Sign in with Slack credentials and redirect URL, as its settings page holds them."""
    slack.oidc.add_app(SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, redirect_uris=[PUBLIC_URL + signin.CALLBACK_PATH])


@pytest.fixture
def repo(bitbucket):
    """acme/api, pull request #1 by carol with alice and bob as reviewers, and the OAuth consumer."""
    bitbucket.add_repository("acme", "api", branches=("main", "feature/login"))
    for nickname, name in (("alice", "Alice Liddell"), ("bob", "Bob"), ("carol", "Carol")):
        bitbucket.add_user(nickname, name)
    bitbucket.add_pull_request("acme", "api", title="Add login", source="feature/login", author="carol", reviewers=["alice", "bob"])
    bitbucket.add_oauth_consumer(CLIENT_ID, CLIENT_SECRET, redirect_uri=CALLBACK, owner="chatops-bot")
    return bitbucket


def oauth_settings(tmp_path, slack, bitbucket, **overrides):
    return make_settings(tmp_path, slack, bitbucket, **{
        "bitbucket_oauth_client_id": CLIENT_ID, "bitbucket_oauth_client_secret": CLIENT_SECRET, "public_url": PUBLIC_URL,
        "chatops_secret_key": SECRET_KEY, "slack_client_id": SLACK_CLIENT_ID, "slack_client_secret": SLACK_CLIENT_SECRET,
        "slack_oidc_authorize_url": slack.oidc_authorize_url, **overrides,
    })


@pytest.fixture
def app(tmp_path, slack, repo):
    running = RunningBot(oauth_settings(tmp_path, slack, repo), slack)
    yield running
    running.stop()


# --- helpers: the person's browser, the card, who a token belongs to -----------------------------


def login_link(bot, user_id="U1") -> str:
    return button(bot.answers(bot.command("login", user_id=user_id))[0], ids.OPEN_LINK)["url"]


def visit(bot, url: str, *, as_slack_user: str = "U1") -> requests.Response:
    """A browser opens the link: it signs in with Slack as `as_slack_user`, consents on Bitbucket (as the fake's
    `consent_user`) and comes back to the bot; the last page."""
    bot.slack.oidc_user = as_slack_user
    browser = Browser(PUBLIC_URL, bot.url)
    try:
        return browser.open(url)
    finally:
        browser.close()


def log_in(bot, bitbucket, nickname, user_id="U1") -> requests.Response:
    bitbucket.consent_user = nickname
    page = visit(bot, login_link(bot, user_id), as_slack_user=user_id)
    assert page.status_code == 200, page.text
    return page


def person_authorization(bitbucket, nickname) -> str:
    """The Authorization of the bot's `GET /user` at that person's login: their access token."""
    for request in reversed(bitbucket.requests_to("GET", "/2.0/user")):
        if whose(bitbucket, request.headers["authorization"]) == nickname:
            return request.headers["authorization"]
    raise AssertionError(f"no login of {nickname}")


def whose(bitbucket, authorization: str) -> str | None:
    answer = requests.get(f"{bitbucket.base_url}/user", headers={"Authorization": authorization}, timeout=5)
    return answer.json()["nickname"] if answer.ok else None


def post_card(slack, bitbucket, channel="C1") -> str:
    """A pull request card in the channel, as `/bb prs` or the relay render it; its ts."""
    pr = PullRequest.from_api(bitbucket.pull_request("acme", "api", 1))
    card = pr_render.pull_request_list("acme/api", [pr], 1, render.utcnow())
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    return client.chat_postMessage(channel=channel, text=card.text, blocks=card.blocks)["ts"]


def click_on_card(bot, action_id, ts, *, user_id="U1", channel="C1"):
    message = bot.slack.message(channel, ts).to_api()
    return bot.click(action_id, button(message, action_id)["value"], user_id=user_id, channel_id=channel, message_ts=ts, message=message)


def reviews(bitbucket) -> dict[str, str | None]:
    return {p["user"]["nickname"]: p["state"] for p in bitbucket.pull_request("acme", "api", 1)["participants"]}


def writes_to_pull_request(bitbucket):
    return [r for r in bitbucket.requests if r.method in ("POST", "DELETE") and "/pullrequests/1/" in r.path]


# --- logging in ------------------------------------------------------------------------------------


def test_login_signs_in_with_slack_then_links_the_person_tells_them_and_whoami_knows(app, repo, slack):
    answer = app.answers(app.command("login"))[0]
    url = button(answer, ids.OPEN_LINK)["url"]
    assert url.startswith(PUBLIC_URL + signin.START_PATH + "?") and len(parse_qs(urlsplit(url).query)["state"][0]) >= 32
    assert "expires in 10 minutes" in text_of(answer) and "sign in with Slack" in text_of(answer)

    repo.consent_user = "alice"
    slack.oidc_user = "U1"
    browser = Browser(PUBLIC_URL, app.url)
    page = browser.open(url)

    assert page.status_code == 200
    assert "Alice Liddell" in page.text and "close this tab" in page.text
    assert page.headers["Content-Type"].startswith("text/html") and page.headers["Cache-Control"] == "no-store"
    # Slack's authorize page first: scope openid, a state and a nonce, our redirect URL.
    to_slack = parse_qs(urlsplit(browser.visited[0].headers["Location"]).query)
    assert browser.visited[0].headers["Location"].startswith(slack.oidc_authorize_url + "?")
    assert to_slack["scope"] == ["openid"] and to_slack["response_type"] == ["code"] and to_slack["client_id"] == [SLACK_CLIENT_ID]
    assert to_slack["redirect_uri"] == [PUBLIC_URL + signin.CALLBACK_PATH] and len(to_slack["nonce"][0]) >= 16
    assert to_slack["state"][0] not in url  # every stage has its own state
    assert [c.method for c in slack.calls if c.method.startswith("openid.")] == ["openid.connect.token", "openid.connect.userInfo"]
    # Then Bitbucket's consent page, and its code exchanged with the consumer's key and secret.
    to_bitbucket = next(v.headers["Location"] for v in browser.visited if v.headers.get("Location", "").startswith(repo.oauth_authorize_url))
    assert parse_qs(urlsplit(to_bitbucket).query)["client_id"] == [CLIENT_ID]
    exchange = repo.requests_to("POST", "/site/oauth2/access_token")[-1]
    assert parse_qs(exchange.body.decode())["grant_type"] == ["authorization_code"]
    assert exchange.headers["authorization"].startswith("Basic ")
    assert browser.cookies == {}  # the browser's proof served once and was cleared
    browser.close()
    dm = slack.wait_for(lambda: slack.channel_messages("U1"))
    assert "Alice Liddell" in dm[0].text
    assert "Alice Liddell" in app.answer_text(app.command("whoami")) and "`alice`" in app.answer_text(app.command("whoami"))
    assert "not linked" in app.answer_text(app.command("whoami", user_id="U2"))


def test_a_forwarded_login_link_opened_by_someone_else_is_refused_and_links_nothing(app, repo, slack, caplog):
    """U1 forwards their link to U2, who has consented to Bitbucket before: U2's sign-in with Slack gives them away."""
    repo.consent_user = "bob"
    link_of_u1 = login_link(app, "U1")
    page = visit(app, link_of_u1, as_slack_user="U2")

    assert page.status_code == 403 and "belongs to someone else" in page.text and "Nothing was linked" in page.text
    assert repo.requests_to("POST", "/site/oauth2/access_token") == []  # Bitbucket never saw a consent
    assert "not linked" in app.answer_text(app.command("whoami", user_id="U1"))
    assert "not linked" in app.answer_text(app.command("whoami", user_id="U2"))
    assert app.services.store.query("SELECT * FROM bitbucket_logins") == []
    refusal = app.services.audit.recent(1)[0]
    assert (refusal.user_id, refusal.action, refusal.ok) == ("U1", "login", False)
    # The link is used up: U1 cannot reuse it either, and needs a new one.
    assert visit(app, link_of_u1, as_slack_user="U1").status_code == 400


def test_a_forwarded_bitbucket_consent_address_links_nothing_in_another_browser(app, repo, slack):
    """U1 signs in with Slack, stops before Bitbucket's consent and forwards that address: another browser
    (without the cookie of U1's sign-in) is refused at the callback."""
    repo.consent_user = "bob"
    slack.oidc_user = "U1"
    forwarder = Browser(PUBLIC_URL, app.url)
    forwarder.open(login_link(app, "U1"), stop_at=repo.oauth_authorize_url)
    consent_address = forwarder.visited[-1].headers["Location"]
    assert consent_address.startswith(repo.oauth_authorize_url) and forwarder.cookies
    victim = Browser(PUBLIC_URL, app.url)
    page = victim.open(consent_address)
    assert page.status_code == 400 and "someone else" in page.text and "Nothing was linked" in page.text
    assert repo.requests_to("POST", "/site/oauth2/access_token") == []
    assert "not linked" in app.answer_text(app.command("whoami", user_id="U1"))
    forwarder.close(), victim.close()


def test_a_forwarded_slack_return_address_links_nothing_in_another_browser(app, repo, slack):
    """The attacker signs in with Slack as himself and stops before the bot's `/slack/oidc/callback`: that address
    (on the bot's own domain) forwarded to a colleague, whose browser has consented to Bitbucket before, must not
    link the attacker to her Bitbucket account. Her browser never opened the login link, so it lacks its cookie."""
    repo.consent_user = "bob"  # the victim's Bitbucket account, consented before: no prompt would appear
    slack.oidc_user = "U1"
    attacker = Browser(PUBLIC_URL, app.url)
    attacker.open(login_link(app, "U1"), stop_at=PUBLIC_URL + signin.CALLBACK_PATH)
    slack_return = attacker.visited[-1].headers["Location"]
    assert slack_return.startswith(PUBLIC_URL + signin.CALLBACK_PATH + "?") and "code=" in slack_return
    victim = Browser(PUBLIC_URL, app.url)
    page = victim.open(slack_return)

    assert page.status_code == 400 and "someone else" in page.text and "Nothing was linked" in page.text
    assert not any(v.headers.get("Location", "").startswith(repo.oauth_authorize_url) for v in victim.visited)
    assert victim.cookies == {}  # no login cookie was set in the victim's browser
    assert repo.requests_to("POST", "/site/oauth2/access_token") == []
    assert app.services.store.query("SELECT * FROM bitbucket_logins") == []
    assert "not linked" in app.answer_text(app.command("whoami", user_id="U1"))
    # The state is used up by the refused visit: the attacker cannot go on with it in his own browser either.
    assert attacker.open(slack_return).status_code == 400
    assert app.services.store.query("SELECT * FROM bitbucket_logins") == []
    attacker.close(), victim.close()


def test_a_forwarded_bitbucket_return_address_links_nothing_in_another_browser(app, repo, slack):
    """The last address of the flow, Bitbucket's return to the bot with its code, forwarded: refused too."""
    repo.consent_user = "bob"
    slack.oidc_user = "U1"
    forwarder = Browser(PUBLIC_URL, app.url)
    forwarder.open(login_link(app, "U1"), stop_at=PUBLIC_URL + accounts.CALLBACK_PATH)
    bitbucket_return = forwarder.visited[-1].headers["Location"]
    assert bitbucket_return.startswith(PUBLIC_URL + accounts.CALLBACK_PATH + "?") and "code=" in bitbucket_return
    victim = Browser(PUBLIC_URL, app.url)
    page = victim.open(bitbucket_return)
    assert page.status_code == 400 and "someone else" in page.text and "Nothing was linked" in page.text
    assert repo.requests_to("POST", "/site/oauth2/access_token") == []
    assert app.services.store.query("SELECT * FROM bitbucket_logins") == []
    forwarder.close(), victim.close()


def test_the_whole_flow_sets_each_stages_cookie_for_the_next_return_address_only(app, repo, slack):
    repo.consent_user = "alice"
    slack.oidc_user = "U1"
    browser = Browser(PUBLIC_URL, app.url)
    browser.open(login_link(app, "U1"), stop_at=PUBLIC_URL + signin.CALLBACK_PATH)
    assert {name: path for name, (_, path) in browser.cookies.items()} == {signin.SIGNIN_COOKIE: signin.CALLBACK_PATH}
    page = browser.open(browser.visited[-1].headers["Location"])
    assert page.status_code == 200 and "Alice Liddell" in page.text
    assert browser.cookies == {}  # each proof served once and was cleared
    browser.close()


def test_login_without_configuration_names_the_settings_to_add(bot):
    text = bot.answer_text(bot.command("login"))
    for name in ("BITBUCKET_OAUTH_CLIENT_ID", "BITBUCKET_OAUTH_CLIENT_SECRET", "PUBLIC_URL", "CHATOPS_SECRET_KEY", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
        assert name in text
    assert BITBUCKET_TOKEN not in text
    for path in (accounts.CALLBACK_PATH, signin.START_PATH, signin.CALLBACK_PATH):
        callback = requests.get(f"{bot.url}{path}", params={"code": "c", "state": "s"}, timeout=5)
        assert callback.status_code == 503 and "not set up" in callback.text


def test_forged_reused_and_expired_states_are_refused_and_link_nothing(app, repo, slack):
    repo.consent_user = "alice"
    url = login_link(app)
    for path in (signin.START_PATH, signin.CALLBACK_PATH, accounts.CALLBACK_PATH):
        forged = requests.get(f"{app.url}{path}", params={"code": "x", "state": "made-up"}, timeout=5)
        assert forged.status_code == 400 and "not valid" in forged.text

    browser = Browser(PUBLIC_URL, app.url)
    assert browser.session.head(app.url + url[len(PUBLIC_URL):]).status_code == 200  # a link checker's HEAD uses nothing up
    assert browser.open(url).status_code == 200
    exchanges = len(repo.requests_to("POST", "/site/oauth2/access_token"))
    tokens_asked = len(slack.calls_to("openid.connect.token"))
    ours = [answer.url for answer in browser.visited if answer.url.startswith(app.url + "/")]
    reused = [browser.get(url) for url in ours]
    assert [answer.status_code for answer in reused] == [400, 400, 400]  # the link, Slack's return, Bitbucket's return
    assert all("already been used" in answer.text for answer in reused)
    assert len(repo.requests_to("POST", "/site/oauth2/access_token")) == exchanges  # no code reached Bitbucket again
    assert len(slack.calls_to("openid.connect.token")) == tokens_asked  # nor Slack
    browser.close()

    stale_state = accounts.start_login(app.services.store, "U2", "T0001", now=time.time() - accounts.LOGIN_STATE_LIFETIME - 1)
    expired = visit(app, signin.start_url(app.settings, stale_state), as_slack_user="U2")
    assert expired.status_code == 400 and "expired" in expired.text
    assert "not linked" in app.answer_text(app.command("whoami", user_id="U2"))
    for page in (forged, *reused, expired):
        assert "code=" not in page.text and stale_state not in page.text


def test_a_state_links_only_the_person_who_asked_for_it(app, repo):
    link_of_u1, link_of_u2 = login_link(app, "U1"), login_link(app, "U2")
    repo.consent_user = "bob"
    assert visit(app, link_of_u2, as_slack_user="U2").status_code == 200
    assert "Bob" in app.answer_text(app.command("whoami", user_id="U2"))
    assert "not linked" in app.answer_text(app.command("whoami", user_id="U1"))
    repo.consent_user = "alice"
    assert visit(app, link_of_u1, as_slack_user="U1").status_code == 200
    assert "Alice" in app.answer_text(app.command("whoami", user_id="U1"))
    assert "Bob" in app.answer_text(app.command("whoami", user_id="U2"))


def test_a_slack_sign_in_that_is_cancelled_or_fails_links_nothing(app, repo, slack):
    slack.oidc_deny = True
    cancelled = visit(app, login_link(app))
    assert cancelled.status_code == 400 and "did not sign you in" in cancelled.text
    assert repo.requests_to("POST", "/site/oauth2/access_token") == []
    assert "not linked" in app.answer_text(app.command("whoami"))


def test_slack_failing_during_the_sign_in_gets_a_clear_page_and_links_nothing(app, repo, slack):
    repo.consent_user = "alice"
    slack.fail_next("openid.connect.userInfo", status=500)
    failed = visit(app, login_link(app))
    assert failed.status_code == 502 and "Nothing was linked" in failed.text and "Traceback" not in failed.text
    slack.outage = True
    down = visit(app, login_link(app))
    slack.outage = False
    assert down.status_code == 502 and "Nothing was linked" in down.text
    assert repo.requests_to("POST", "/site/oauth2/access_token") == []
    assert "not linked" in app.answer_text(app.command("whoami"))


def test_a_wrong_slack_client_secret_gets_a_clear_page_and_never_shows_the_secret(tmp_path, slack, repo):
    bot = RunningBot(oauth_settings(tmp_path, slack, repo, slack_client_secret="not-the-apps-secret"), slack)
    try:
        page = visit(bot, login_link(bot))
    finally:
        bot.stop()
    assert page.status_code == 502 and "bad_client_secret" in page.text and "Nothing was linked" in page.text
    assert "not-the-apps-secret" not in page.text and "not-the-apps-secret" not in repr(slack.calls)


def test_a_refused_consent_or_a_failing_token_endpoint_gets_a_clear_page(app, repo):
    repo.deny_consent = True
    denied = visit(app, login_link(app))
    assert denied.status_code == 400 and "did not grant access" in denied.text

    repo.deny_consent = False
    repo.consent_user = "alice"
    repo.fail_next("POST", "/site/oauth2/access_token", status=500)
    failed = visit(app, login_link(app))
    assert failed.status_code == 502 and "Nothing was linked" in failed.text and "Traceback" not in failed.text
    assert "not linked" in app.answer_text(app.command("whoami"))


# --- reviewing as oneself --------------------------------------------------------------------------


def test_approve_and_request_changes_act_as_the_clicker_and_the_card_follows(app, repo, slack):
    log_in(app, repo, "alice", "U1")
    log_in(app, repo, "bob", "U2")
    ts = post_card(slack, repo)

    approved = click_on_card(app, ids.APPROVE, ts, user_id="U1")
    assert "You approved" in app.answer_text(approved, 2) and "Alice Liddell" in app.answer_text(approved, 2)
    assert reviews(repo)["alice"] == "approved"
    card = slack.message("C1", ts)
    assert "1 approval" in card.blocks[1]["text"]["text"] and "Alice Liddell ✅" in card.blocks[1]["text"]["text"]
    assert card.blocks[0] == card.history[0].blocks[0] and card.blocks[2:] == card.history[0].blocks[2:]  # the rest is kept

    changes = click_on_card(app, ids.REQUEST_CHANGES, ts, user_id="U2")
    assert "You requested changes on" in app.answer_text(changes, 2)
    assert reviews(repo) == {"alice": "approved", "bob": "changes_requested"}
    assert "Bob ✋" in slack.message("C1", ts).blocks[1]["text"]["text"]

    approve, request_changes = (r for r in writes_to_pull_request(repo))
    assert approve.headers["authorization"] == person_authorization(repo, "alice") != BOT_AUTHORIZATION
    assert request_changes.headers["authorization"] == person_authorization(repo, "bob")
    assert [e.action for e in app.services.audit.recent(2)] == ["request_changes", "approve"]


def test_approving_twice_says_it_was_already_approved_and_writes_nothing_again(app, repo, slack):
    log_in(app, repo, "alice", "U1")
    ts = post_card(slack, repo)
    assert "You approved" in app.answer_text(click_on_card(app, ids.APPROVE, ts, user_id="U1"), 2)
    again = app.answer_text(click_on_card(app, ids.APPROVE, ts, user_id="U1"))
    assert "already approved" in again and "You approved" not in again
    assert len(writes_to_pull_request(repo)) == 1
    assert [e.action for e in app.services.audit.recent(5) if e.action == "approve"] == ["approve"]


def test_changes_requested_by_someone_not_a_reviewer_show_on_the_reviewer_line():
    from bot.pull_requests import render as pr_render

    pr = PullRequest.from_api({"id": 1, "title": "t", "reviewers": [{"display_name": "Alice", "uuid": "{a}"}],
                               "participants": [{"user": {"display_name": "Zed", "uuid": "{z}"}, "state": "changes_requested"},
                                                {"user": {"display_name": "Alice", "uuid": "{a}"}, "state": "approved"}]})
    assert pr_render.reviewers_line(pr) == "Reviewers: Alice ✅, Zed ✋"


def test_a_click_on_a_relayed_card_keeps_the_card_and_answers_in_its_thread(app, repo, slack):
    from bot.relay import render as relay_render

    log_in(app, repo, "alice", "U1")
    card = relay_render.pull_request_card("acme/api", repo.pull_request("acme", "api", 1))
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    ts = client.chat_postMessage(channel="C1", text=card.text, blocks=card.blocks)["ts"]
    before = slack.message("C1", ts).blocks
    click_on_card(app, ids.APPROVE, ts, user_id="U1")
    replies = slack.wait_for(lambda: [m for m in slack.thread("C1", ts) if m.ts != ts])
    assert "<@U1> approved" in replies[0].text and "Alice Liddell" in replies[0].text
    assert slack.message("C1", ts).blocks == before  # the card keeps its face (the relay redraws it from the event)
    assert reviews(repo)["alice"] == "approved"


def test_a_pull_request_opened_by_a_linked_person_is_theirs_and_an_unlinked_ones_says_it_is_the_bots(app, repo, slack):
    log_in(app, repo, "alice", "U1")
    repo.add_branch("acme", "api", "feature/a")
    repo.add_branch("acme", "api", "feature/b")
    mine = app.answer_text(app.command("pr acme/api feature/a into main Alice's change", user_id="U1"))
    created = repo.requests_to("POST", "/pullrequests")
    assert created[-1].headers["authorization"] == person_authorization(repo, "alice") != BOT_AUTHORIZATION
    assert "opened" in mine and "bot's Bitbucket account" not in mine
    theirs = app.answer_text(app.command("pr acme/api feature/b into main Unlinked", user_id="U9"))
    assert repo.requests_to("POST", "/pullrequests")[-1].headers["authorization"] == BOT_AUTHORIZATION
    assert "bot's Bitbucket account" in theirs and "/bb login" in theirs


def test_bitbucket_refusals_come_back_in_its_words_privately(app, repo, slack):
    log_in(app, repo, "carol")
    ts = post_card(slack, repo)
    refused = click_on_card(app, ids.APPROVE, ts)
    answer = app.answers(refused)[0]
    assert "You can't approve your own pull request." in text_of(answer)
    assert answer["response_type"] == "ephemeral" and not answer.get("replace_original")
    assert slack.message("C1", ts).updated_count == 0


def test_someone_not_linked_is_told_to_log_in_and_nothing_reaches_bitbucket(app, repo, slack):
    ts = post_card(slack, repo)
    before = len(repo.requests)
    sent = click_on_card(app, ids.APPROVE, ts, user_id="U9")
    answer = app.answers(sent)[0]
    assert "`/bb login`" in text_of(answer) and answer["response_type"] == "ephemeral"
    assert repo.requests[before:] == [] and slack.message("C1", ts).updated_count == 0


def test_a_click_on_a_private_list_answers_privately(app, repo):
    log_in(app, repo, "alice")
    listing = app.answers(app.command("prs api"))[0]
    sent = app.click(ids.APPROVE, button(listing, ids.APPROVE)["value"])  # ephemeral: Slack sends no message
    answers = app.answers(sent)
    assert len(answers) == 1 and answers[0]["response_type"] == "ephemeral" and not answers[0].get("replace_original")
    assert reviews(repo)["alice"] == "approved"


# --- tokens: refresh, logout, never in clear text, never mixed -------------------------------------


def test_a_refused_token_is_refreshed_once_stored_anew_and_never_kept_in_clear_text(app, repo, slack, caplog):
    caplog.set_level(logging.DEBUG)
    log_in(app, repo, "alice")
    old = person_authorization(repo, "alice")
    repo.expire_token(old.split(" ", 1)[1])
    ts = post_card(slack, repo)

    approved = click_on_card(app, ids.APPROVE, ts)
    assert "You approved" in app.answer_text(approved, 2)
    assert reviews(repo)["alice"] == "approved"
    first, second = writes_to_pull_request(repo)
    assert first.headers["authorization"] == old and second.headers["authorization"] not in (old, BOT_AUTHORIZATION)
    refresh = parse_qs(repo.requests_to("POST", "/site/oauth2/access_token")[-1].body.decode())
    assert refresh["grant_type"] == ["refresh_token"]

    # The new token was stored: the next click uses it straight away, with no refresh.
    refreshes = len(repo.requests_to("POST", "/site/oauth2/access_token"))
    app.answer_text(click_on_card(app, ids.REQUEST_CHANGES, ts), 2)
    assert reviews(repo)["alice"] == "changes_requested"
    assert writes_to_pull_request(repo)[-1].headers["authorization"] == second.headers["authorization"]
    assert len(repo.requests_to("POST", "/site/oauth2/access_token")) == refreshes

    secrets_seen = [old.split(" ", 1)[1], second.headers["authorization"].split(" ", 1)[1], refresh["refresh_token"][0]]
    database = b"".join(p.read_bytes() for p in Path(app.settings.database_path).parent.glob("chatops.db*"))
    slack_traffic = repr([c.args for c in slack.calls]) + repr([r.body for r in slack.responses])
    for secret in secrets_seen:
        assert secret.encode() not in database
        assert secret not in caplog.text and secret not in slack_traffic


def test_when_the_refresh_is_refused_the_person_is_asked_to_log_in_again(app, repo, slack):
    log_in(app, repo, "alice")
    repo.expire_token(person_authorization(repo, "alice").split(" ", 1)[1])
    repo.fail_next("POST", "/site/oauth2/access_token", status=400, body={"error": "invalid_grant", "error_description": "Invalid refresh_token"})
    ts = post_card(slack, repo)
    sent = click_on_card(app, ids.APPROVE, ts)
    assert "`/bb login` again" in app.answer_text(sent)
    assert reviews(repo)["alice"] is None and slack.message("C1", ts).updated_count == 0


def test_logout_forgets_the_tokens(app, repo, slack):
    log_in(app, repo, "alice")
    assert "forgot your Bitbucket tokens" in app.answer_text(app.command("logout"))
    assert "not linked" in app.answer_text(app.command("whoami"))
    assert app.services.store.query("SELECT * FROM bitbucket_logins") == []
    ts = post_card(slack, repo)
    before = len(repo.requests)
    assert "`/bb login`" in app.answer_text(click_on_card(app, ids.APPROVE, ts))
    assert repo.requests[before:] == []
    assert "nothing to forget" in app.answer_text(app.command("logout"))


def test_the_bots_token_and_peoples_tokens_never_mix(tmp_path, slack, repo):
    """The bot itself on client credentials of the same consumer: reads are the bot's, reviews and merges the person's."""
    settings = oauth_settings(tmp_path, slack, repo, bitbucket_access_token="")
    assert settings.bitbucket_credential_kind == "oauth_client_credentials"
    bot = RunningBot(settings, slack)
    try:
        log_in(bot, repo, "alice", ADMIN)
        ts = post_card(slack, repo)
        start = len(repo.requests)
        bot.answer_text(bot.command("prs api", user_id=ADMIN))
        bot.answer_text(click_on_card(bot, ids.APPROVE, ts, user_id=ADMIN), 2)
        confirm = bot.answers(click_on_card(bot, ids.ASK_MERGE, ts, user_id=ADMIN))[0]
        bot.answers(bot.click(ids.CONFIRM_MERGE, button(confirm, ids.CONFIRM_MERGE)["value"], user_id=ADMIN), 2)
        calls = [r for r in repo.requests[start:] if r.path.startswith("/2.0/")]
    finally:
        bot.stop()

    carried: dict[tuple[str, str], set] = {}
    for call in calls:
        carried.setdefault((call.method, call.path.rsplit("/", 1)[-1]), set()).add(whose(repo, call.headers["authorization"]))
    assert carried == {
        ("GET", "pullrequests"): {"chatops-bot"},  # the list
        ("POST", "approve"): {"alice"},
        ("GET", "1"): {"chatops-bot"},  # reading the card back, and before the merge
        ("GET", "statuses"): {"chatops-bot"},  # its builds, for the merge gate (asked, and again on the click)
        ("POST", "merge"): {"alice"},
    }
    pr = repo.pull_request("acme", "api", 1)
    assert pr["state"] == "MERGED" and pr["closed_by"]["nickname"] == "alice"


def test_a_linked_person_reruns_and_stops_builds_as_themselves_without_the_role(app, repo):
    """Re-run and Stop need `merger`, or a linked account: then Bitbucket's own permissions decide."""
    repo.set_pipeline_script("acme", "api", None, "FAILED")
    log_in(app, repo, "bob", "U2")
    client_body = {"target": {"type": "pipeline_ref_target", "ref_type": "branch", "ref_name": "main"}}
    first = requests.post(f"{repo.base_url}/repositories/acme/api/pipelines/", json=client_body,
                          headers={"Authorization": f"Bearer {BITBUCKET_TOKEN}"}, timeout=5).json()
    repo.advance_pipeline("acme", "api", first["uuid"], "COMPLETED", "FAILED")
    listing = app.answers(app.command("builds api", user_id="U2"))[0]
    rerun = app.click(ids.RERUN_PIPELINE, button(listing, ids.RERUN_PIPELINE)["value"], user_id="U2")
    assert "re-ran pipeline #1" in app.answer_text(rerun)
    started = repo.requests_to("POST", "/pipelines/")[-1]
    assert whose(repo, started.headers["authorization"]) == "bob"
    listing = app.answers(app.command("builds api", user_id="U2"))[0]
    stop = app.click(ids.STOP_PIPELINE, button(listing, ids.STOP_PIPELINE)["value"], user_id="U2")
    assert "stopped pipeline #2" in app.answer_text(stop)
    assert whose(repo, repo.requests_to("POST", "stopPipeline")[-1].headers["authorization"]) == "bob"


def test_with_debug_logging_the_sign_in_logs_no_token_code_or_state(app, repo, slack, caplog, monkeypatch, tmp_path):
    """slack_sdk logs whole requests and answers at DEBUG: the `openid.connect.token` answer (the person's `xoxp-`
    token, the ID token) and the code sent for it. The logging `bitbucket-chatops` sets up redacts them."""
    from bot.app import cli
    from bot.core import logredact

    for name in list(logging.root.manager.loggerDict):  # start from loggers without the filter
        if name.startswith(logredact.PREFIXES) or name in logredact.LOGGERS:
            logger = logging.getLogger(name)
            logger.filters = [f for f in logger.filters if not isinstance(f, logredact.RedactSecrets)]
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "other.db"))
    monkeypatch.chdir(tmp_path)
    cli.main(["deliveries"])  # the logging set-up every command goes through
    caplog.set_level(logging.DEBUG)

    repo.consent_user = "alice"
    slack.oidc_user = "U1"
    link = login_link(app)
    browser = Browser(PUBLIC_URL, app.url)
    assert browser.open(link).status_code == 200
    browser.close()

    secrets = [parse_qs(urlsplit(link).query)["state"][0]]
    for visited in browser.visited:
        query = parse_qs(urlsplit(visited.headers.get("Location", "")).query)
        secrets += query.get("state", []) + query.get("code", [])
    (token_call,) = [c for c in slack.calls if c.method == "openid.connect.token"]
    secrets += [token_call.response["access_token"], token_call.response["id_token"]]
    assert token_call.response["access_token"].startswith("xoxp-") and len(secrets) >= 7  # 3 states, 2 codes, 2 tokens
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "openid.connect.token" in logged  # slack_sdk did log the exchange, at DEBUG
    assert [secret for secret in secrets if secret in logged] == []
