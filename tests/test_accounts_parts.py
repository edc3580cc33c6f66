"""The small middles of account linking: the token cipher, login states, the card's refreshed summary."""

from datetime import datetime, timezone

import pytest

from bot import accounts, render
from bot.accounts import InvalidLoginState, TokenCipher, TokenSet, UnreadableTokens
from bot.bitbucket import PullRequest
from bot.config import Settings
from bot.errors import UserError
from handlers.accounts import pull_request_of, with_fresh_summary

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
    card = render.pull_request_list("acme/api", [_pr(2, False), _pr(1, False)], 2, NOW)
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
