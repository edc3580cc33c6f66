"""The small middles of account linking: the token cipher, login states, the card's refreshed summary."""

from datetime import datetime, timezone

import pytest

from bot import accounts
from bot.core import render
from bot.accounts import InvalidLoginState, TokenCipher, TokenSet, UnreadableTokens
from bot.bitbucket import PullRequest
from bot.core.config import Settings
from bot.core.errors import UserError
from bot.accounts.commands import pull_request_of, with_fresh_summary
from bot.pull_requests import render as pr_render

pytestmark = pytest.mark.both_backends  # the tests on the store run on SQLite and on PostgreSQL

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
TOKENS = TokenSet("access-token-value", "refresh-token-value", 1_800_000_000.0)


def test_sealed_tokens_open_only_with_the_same_key_for_the_same_person():
    cipher = TokenCipher("one key")
    sealed = cipher.seal(TOKENS, "U1")
    assert "access-token-value" not in sealed and "refresh-token-value" not in sealed
    assert cipher.open(sealed, "U1", TOKENS.expires_at) == TOKENS
    assert cipher.seal(TOKENS, "U1") != sealed  # a fresh nonce every time
    with pytest.raises(UnreadableTokens):
        TokenCipher("another key").open(sealed, "U1", TOKENS.expires_at)
    with pytest.raises(UnreadableTokens):
        cipher.open(sealed, "U2", TOKENS.expires_at)  # a row copied onto someone else
    with pytest.raises(UnreadableTokens):
        cipher.open(sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"), "U1", TOKENS.expires_at)
    assert "access-token-value" not in repr(TOKENS)


def test_a_state_works_once_before_it_expires_and_only_its_hash_is_stored(store):
    state = accounts.start_login(store, "U1", "T1", now=1000.0)
    assert store.query_one("SELECT * FROM login_states WHERE state_hash = ?", (state,)) is None
    assert accounts.redeem_state(store, state, now=1000.0 + accounts.LOGIN_STATE_LIFETIME - 1) == accounts.LoginRequest("U1", "T1")
    with pytest.raises(InvalidLoginState, match="already been used"):
        accounts.redeem_state(store, state, now=1001.0)
    late = accounts.start_login(store, "U1", "T1", now=1000.0)
    with pytest.raises(InvalidLoginState, match="expired"):
        accounts.redeem_state(store, late, now=1000.0 + accounts.LOGIN_STATE_LIFETIME)
    with pytest.raises(InvalidLoginState, match="already been used"):
        accounts.redeem_state(store, late, now=1001.0)  # an expired state is used up too
    store.close()


def test_each_stage_redeems_only_its_own_states_and_slack_and_bitbucket_ask_for_the_browser(store):
    link = accounts.start_login(store, "U1", "T1", now=1000.0)
    with pytest.raises(InvalidLoginState, match="not valid"):
        accounts.redeem_state(store, link, now=1001.0, stage=accounts.STAGE_BITBUCKET, browser="b")  # skipping Slack
    assert accounts.redeem_state(store, link, now=1001.0, stage=accounts.STAGE_LINK).slack_user_id == "U1"
    slack = accounts.start_login(store, "U1", "T1", now=1000.0, stage=accounts.STAGE_SLACK, nonce="n0nce", browser="opener")
    assert accounts.redeem_state(store, slack, now=1001.0, stage=accounts.STAGE_SLACK, browser="opener").nonce_hash == accounts.secret_hash("n0nce")
    for browser in (None, "", "another browser"):
        forwarded = accounts.start_login(store, "U1", "T1", now=1000.0, stage=accounts.STAGE_SLACK, nonce="n", browser="opener")
        with pytest.raises(InvalidLoginState, match="someone else"):
            accounts.redeem_state(store, forwarded, now=1001.0, stage=accounts.STAGE_SLACK, browser=browser)
        with pytest.raises(InvalidLoginState, match="already been used"):
            accounts.redeem_state(store, forwarded, now=1001.0, stage=accounts.STAGE_SLACK, browser="opener")
        consent = accounts.start_login(store, "U1", "T1", now=1000.0, stage=accounts.STAGE_BITBUCKET, browser="this browser")
        with pytest.raises(InvalidLoginState, match="someone else"):
            accounts.redeem_state(store, consent, now=1001.0, stage=accounts.STAGE_BITBUCKET, browser=browser)
        with pytest.raises(InvalidLoginState, match="already been used"):  # a wrong browser used it up
            accounts.redeem_state(store, consent, now=1001.0, stage=accounts.STAGE_BITBUCKET, browser="this browser")
    consent = accounts.start_login(store, "U1", "T1", now=1000.0, stage=accounts.STAGE_BITBUCKET, browser="this browser")
    assert accounts.redeem_state(store, consent, now=1001.0, stage=accounts.STAGE_BITBUCKET, browser="this browser").team_id == "T1"
    assert "this browser" not in repr(store.query("SELECT * FROM login_states")) and "n0nce" not in repr(store.query("SELECT * FROM login_states"))
    store.close()


def _link(store, user: str, sealed: str) -> None:
    store.execute(
        """INSERT INTO bitbucket_logins (slack_user_id, team_id, bitbucket_uuid, tokens, expires_at, linked_at)
           VALUES (?, 'T1', '{u}', ?, ?, 0)""", (user, sealed, TOKENS.expires_at),
    )


def test_rotate_keys_reseals_what_a_former_key_sealed_and_counts_the_rest(store):
    old, new = TokenCipher("old key"), TokenCipher("new key")
    _link(store, "U1", old.seal(TOKENS, "U1"))
    _link(store, "U2", new.seal(TOKENS, "U2"))
    _link(store, "U3", TokenCipher("a lost key").seal(TOKENS, "U3"))
    keys = accounts.TokenKeys("new key", ["old key", "new key", ""])
    assert accounts.rotate_keys(store, keys) == accounts.Rotation(resealed=1, current=1, unreadable=1)
    rows = {row["slack_user_id"]: row["tokens"] for row in store.query("SELECT slack_user_id, tokens FROM bitbucket_logins")}
    assert new.open(rows["U1"], "U1", TOKENS.expires_at) == TOKENS
    assert accounts.rotate_keys(store, keys) == accounts.Rotation(resealed=0, current=2, unreadable=1)
    assert keys.open(rows["U1"], "U1", TOKENS.expires_at) == (TOKENS, False)
    assert accounts.TokenKeys("new key", ["old key"]).open(old.seal(TOKENS, "U9"), "U9", TOKENS.expires_at) == (TOKENS, True)
    store.close()


def test_missing_settings_are_named():
    assert accounts.missing_settings(Settings()) == [
        "BITBUCKET_OAUTH_CLIENT_ID", "BITBUCKET_OAUTH_CLIENT_SECRET", "PUBLIC_URL", "CHATOPS_SECRET_KEY",
        "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET",
    ]
    ready = Settings(bitbucket_oauth_client_id="id", bitbucket_oauth_client_secret="s", public_url="https://x", chatops_secret_key="k",
                     slack_client_id="1.2", slack_client_secret="cs")
    assert accounts.missing_settings(ready) == []
    assert accounts.authorize_url(ready, "st&te").endswith("?client_id=id&response_type=code&state=st%26te")


def _pr(pr_id: int, approved: bool) -> PullRequest:
    participants = [{"user": {"display_name": "Alice", "uuid": "{a}"}, "approved": approved, "state": "approved" if approved else None}]
    return PullRequest.from_api({
        "id": pr_id, "title": f"Change <{pr_id}>", "state": "OPEN", "author": {"display_name": "Carol"},
        "participants": participants, "updated_on": "2026-03-02T11:00:00+00:00",
    })


def test_the_card_gets_a_fresh_summary_for_that_pull_request_only():
    card = pr_render.pull_request_list("acme/api", [_pr(2, False), _pr(1, False)], 2, NOW)
    blocks = with_fresh_summary(card.blocks, "acme/api", _pr(1, True), NOW)
    assert blocks[:3] == card.blocks[:3] and blocks[4:] == card.blocks[4:]
    assert "1 approval" in blocks[3]["text"]["text"] and "0 approvals" in card.blocks[3]["text"]["text"]
    assert "Change &lt;1&gt;" in blocks[3]["text"]["text"]
    assert with_fresh_summary(card.blocks, "acme/web", _pr(1, True), NOW) is None


@pytest.mark.parametrize("value", [{}, {"r": "acme/api"}, {"r": "api", "p": 1}, {"r": "acme/api", "p": "x"}, {"r": "a b", "p": 1}, {"r": "acme/api", "p": 0}])
def test_a_button_value_that_is_not_a_pull_request_is_refused(value):
    with pytest.raises(UserError, match="not readable"):
        pull_request_of(value)


def test_a_button_value_names_the_pull_request():
    assert pull_request_of({"r": "acme/api", "p": 7}) == ("acme/api", 7)
