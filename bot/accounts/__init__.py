"""People's own Bitbucket accounts (`/bb login`): login states, their tokens, and a client that acts as them.

A person links their account with the OAuth 2.0 authorization-code grant: `/bb login` hands them a link to
`PUBLIC_URL/bitbucket/oauth/start`, which has them Sign in with Slack first (bot/signin.py: only the person the
link was made for goes on), then sends them to Bitbucket's consent page with a new `state`; Bitbucket sends
their browser back to `PUBLIC_URL/bitbucket/oauth/callback` with a `code` and that `state`.

- Each stage (the link, Slack's return, Bitbucket's return) has its own state: random, works once, lives
  `LOGIN_STATE_LIFETIME` seconds and is bound (in the database) to the Slack user and workspace who asked. Only
  its SHA-256 is stored (with the hashes of the nonce sent to Slack and of the browser's cookie), so a copy of
  the database cannot complete anybody's login. Bitbucket's return is honoured only with the cookie set in the
  browser that signed in to Slack.
- Access and refresh tokens are stored encrypted with AES-GCM under a key derived (HKDF-SHA256) from
  `CHATOPS_SECRET_KEY`, with the Slack user ID as associated data: a row copied onto another person does not
  decrypt. Former keys (`CHATOPS_OLD_SECRET_KEYS`) still open tokens, which are then sealed again with the
  current key (`TokenKeys`, `reseal`, `rotate_keys`).

Who is linked to whom (`user_links`, `/bb link`, read by reminders, notify and the Home tab) is `links`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import requests
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.bitbucket import (
    DEFAULT_TIMEOUT,
    DEFAULT_TOKEN_LIFETIME,
    USER_AGENT,
    BearerToken,
    BitbucketClient,
    UserOAuthToken,
)
from bot.accounts.links import (  # re-exported: `accounts.linked_user(store, slack_user_id)` and the like
    LinkedUser,
    find_member,
    is_account,
    is_linked,
    link,
    linked_user,
    linked_users,
    slack_user_for,
)
from bot.bitbucket.metering import PERSON, tagged
from bot.core import meter
from bot.core.config import Settings
from bot.core.meter import person_credential
from bot.core.store import Migration, Store

log = logging.getLogger(__name__)

CALLBACK_PATH = "/bitbucket/oauth/callback"
LOGIN_STATE_LIFETIME = 10 * 60  # seconds: long enough to read a consent page, short enough to be useless later

SCHEMA = [
    # Slack user <-> Bitbucket account, for mentions (`/bb link`) and for acting as the person (`/bb login`).
    """CREATE TABLE IF NOT EXISTS user_links (
        slack_user_id TEXT PRIMARY KEY,
        nickname TEXT NOT NULL DEFAULT '',
        bitbucket_uuid TEXT NOT NULL DEFAULT '',
        account_id TEXT NOT NULL DEFAULT '',
        display_name TEXT NOT NULL DEFAULT '',
        linked_by TEXT NOT NULL,
        linked_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS login_states (
        state_hash TEXT PRIMARY KEY,     -- SHA-256 of the state; the state itself is only in the person's link
        slack_user_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    )""",
    # The identity here is the one Bitbucket's /user gave at login, whatever `/bb link` later says for mentions.
    """CREATE TABLE IF NOT EXISTS bitbucket_logins (
        slack_user_id TEXT PRIMARY KEY,
        team_id TEXT NOT NULL,
        bitbucket_uuid TEXT NOT NULL,
        account_id TEXT NOT NULL DEFAULT '',
        nickname TEXT NOT NULL DEFAULT '',
        display_name TEXT NOT NULL DEFAULT '',
        tokens TEXT NOT NULL,            -- access and refresh token, encrypted (TokenCipher)
        expires_at REAL NOT NULL,        -- when the access token expires, epoch seconds
        linked_at REAL NOT NULL,
        refreshed_at REAL
    )""",
]
MIGRATIONS = [
    Migration("accounts", 1, SCHEMA),
    # Sign in with Slack before Bitbucket's consent: a login goes through three single-use states (the link's,
    # Slack's, Bitbucket's), the last one bound to the browser that signed in to Slack. States made before this
    # step had no such binding: they are dropped (they lived ten minutes anyway).
    Migration("accounts", 2, (
        "DELETE FROM login_states",
        "ALTER TABLE login_states ADD COLUMN stage TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE login_states ADD COLUMN nonce_hash TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE login_states ADD COLUMN browser_hash TEXT NOT NULL DEFAULT ''",
    )),
]


# --- configuration -------------------------------------------------------------------------------------


def missing_settings(settings: Settings) -> list[str]:
    """The settings `/bb login` needs that are not set (names only, never values)."""
    wanted = (
        ("BITBUCKET_OAUTH_CLIENT_ID", settings.bitbucket_oauth_client_id),
        ("BITBUCKET_OAUTH_CLIENT_SECRET", settings.bitbucket_oauth_client_secret),
        ("PUBLIC_URL", settings.public_url),
        ("CHATOPS_SECRET_KEY", settings.chatops_secret_key),
        # Sign in with Slack proves who opened the link before Bitbucket's consent (bot/signin.py).
        ("SLACK_CLIENT_ID", settings.slack_client_id),
        ("SLACK_CLIENT_SECRET", settings.slack_client_secret),
    )
    return [name for name, value in wanted if not value]


def callback_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + CALLBACK_PATH


def authorize_url(settings: Settings, state: str) -> str:
    """Bitbucket's consent page for our consumer. Bitbucket sends the person back to the callback URL
    registered on the consumer (which must be `callback_url`)."""
    query = urlencode({"client_id": settings.bitbucket_oauth_client_id, "response_type": "code", "state": state})
    separator = "&" if "?" in settings.bitbucket_oauth_authorize_url else "?"
    return f"{settings.bitbucket_oauth_authorize_url}{separator}{query}"


# --- encryption ----------------------------------------------------------------------------------------

_CIPHER_VERSION = "v1:"
_KDF_SALT = b"bitbucket-chatops"
_KDF_INFO = b"bitbucket-chatops people's tokens v1"
_NONCE_BYTES = 12  # AES-GCM's standard nonce, random per encryption


class UnreadableTokens(Exception):
    """Stored tokens that do not decrypt: another CHATOPS_SECRET_KEY, or a row that is not this person's."""


@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float  # epoch seconds


class TokenCipher:
    """AES-256-GCM (authenticated encryption, from `cryptography`) keyed from CHATOPS_SECRET_KEY via HKDF-SHA256."""

    def __init__(self, secret_key: str):
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, info=_KDF_INFO).derive(secret_key.encode())
        self._aead = AESGCM(key)

    def seal(self, tokens: TokenSet, slack_user_id: str) -> str:
        plaintext = json.dumps({"access_token": tokens.access_token, "refresh_token": tokens.refresh_token}).encode()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plaintext, slack_user_id.encode())
        return _CIPHER_VERSION + base64.urlsafe_b64encode(sealed).decode("ascii")

    def open(self, sealed: str, slack_user_id: str, expires_at: float) -> TokenSet:
        if not sealed.startswith(_CIPHER_VERSION):
            raise UnreadableTokens("unknown format")
        try:
            raw = base64.urlsafe_b64decode(sealed[len(_CIPHER_VERSION) :])
            plaintext = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], slack_user_id.encode())
            data = json.loads(plaintext)
            return TokenSet(data["access_token"], data["refresh_token"], expires_at)
        except (ValueError, KeyError, InvalidTag) as error:
            raise UnreadableTokens(type(error).__name__) from None


class TokenKeys:
    """The current CHATOPS_SECRET_KEY, which seals, and the former ones (CHATOPS_OLD_SECRET_KEYS), which still
    open what they sealed until it is sealed anew."""

    def __init__(self, current: str, old=()):
        self.current = TokenCipher(current)
        self.old = [TokenCipher(key) for key in dict.fromkeys(old) if key and key != current]

    def seal(self, tokens: TokenSet, slack_user_id: str) -> str:
        return self.current.seal(tokens, slack_user_id)

    def open(self, sealed: str, slack_user_id: str, expires_at: float) -> tuple[TokenSet, bool]:
        """The tokens, and whether a former key sealed them (so they should be sealed anew)."""
        try:
            return self.current.open(sealed, slack_user_id, expires_at), False
        except UnreadableTokens:
            for cipher in self.old:
                try:
                    return cipher.open(sealed, slack_user_id, expires_at), True
                except UnreadableTokens:
                    continue
            raise


def token_keys(settings: Settings) -> TokenKeys:
    return TokenKeys(settings.chatops_secret_key, settings.chatops_old_secret_keys)


def reseal(store: Store, keys: TokenKeys, slack_user_id: str, sealed: str, tokens: TokenSet) -> bool:
    """Seal a person's tokens again with the current key; only if the row still holds `sealed` (a refresh or a
    logout in between wins). True when the row was changed."""
    cursor = store.execute(
        "UPDATE bitbucket_logins SET tokens = ? WHERE slack_user_id = ? AND tokens = ?",
        (keys.seal(tokens, slack_user_id), slack_user_id, sealed),
    )
    return cursor.rowcount == 1


@dataclass(frozen=True)
class Rotation:
    resealed: int = 0  # were sealed with a former key, now with the current one
    current: int = 0  # already sealed with the current key
    unreadable: int = 0  # no key given opens them: those people must `/bb login` again


def rotate_keys(store: Store, keys: TokenKeys) -> Rotation:
    """Seal every stored token set with the current key at once (`bitbucket-chatops rotate-keys`)."""
    resealed = current = unreadable = 0
    for row in store.query("SELECT slack_user_id, tokens, expires_at FROM bitbucket_logins ORDER BY slack_user_id"):
        try:
            tokens, old = keys.open(row["tokens"], row["slack_user_id"], row["expires_at"])
        except UnreadableTokens:
            unreadable += 1
            continue
        if not old:
            current += 1
        elif reseal(store, keys, row["slack_user_id"], row["tokens"], tokens):
            resealed += 1
    return Rotation(resealed, current, unreadable)


# --- login states --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginRequest:
    """Who asked for a login link (and, at Slack's stage, the hash of the nonce sent to Slack)."""

    slack_user_id: str
    team_id: str
    nonce_hash: str = ""


# The stages of a login, each with its own single-use state: the `/bb login` link (redeemed at
# /bitbucket/oauth/start), Sign in with Slack (redeemed at /slack/oidc/callback, only in the browser that opened
# the link), and Bitbucket's consent (redeemed at /bitbucket/oauth/callback, only in the browser that signed in to Slack).
STAGE_LINK, STAGE_SLACK, STAGE_BITBUCKET = "link", "slack", "bitbucket"
# Stages whose return address works only in the browser that went through the stage before: Slack's return in
# the browser that opened the `/bb login` link, Bitbucket's return in the browser that signed in to Slack.
BROWSER_BOUND_STAGES = (STAGE_SLACK, STAGE_BITBUCKET)


class InvalidLoginState(Exception):
    """A callback whose state is forged, already used or expired. `reason` is safe to show."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def secret_hash(value: str) -> str:
    """SHA-256 of a nonce or a browser's secret, as kept at rest ("" for nothing)."""
    return hashlib.sha256(value.encode()).hexdigest() if value else ""


def start_login(store: Store, slack_user_id: str, team_id: str, *, now: float, stage: str = STAGE_LINK,
                nonce: str = "", browser: str = "") -> str:
    """A new single-use state for this person at `stage`; expired states of anyone are swept away on the way.
    `nonce` and `browser` (secrets sent to Slack and set in the browser's cookie) are kept hashed."""
    state = secrets.token_urlsafe(32)
    with store.transaction() as db:
        db.execute("DELETE FROM login_states WHERE expires_at <= ?", (now,))
        db.execute(
            """INSERT INTO login_states (state_hash, slack_user_id, team_id, created_at, expires_at, stage, nonce_hash,
                   browser_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (_state_hash(state), slack_user_id, team_id, now, now + LOGIN_STATE_LIFETIME, stage, secret_hash(nonce),
             secret_hash(browser)),
        )
    return state


def redeem_state(store: Store, state: str, *, now: float, stage: str = STAGE_LINK, browser: str | None = None) -> LoginRequest:
    """Use a state of `stage` up: whatever comes of it, it never works again. At Slack's and Bitbucket's stages the
    browser must show the secret it was given at the stage before (a forwarded address arrives without it)."""
    with store.transaction() as db:
        row = db.execute(
            "SELECT slack_user_id, team_id, expires_at, nonce_hash, browser_hash FROM login_states WHERE state_hash = ? AND stage = ?",
            (_state_hash(state), stage),
        ).fetchone()
        if row is not None:
            db.execute("DELETE FROM login_states WHERE state_hash = ?", (_state_hash(state),))
    if row is None:
        raise InvalidLoginState("This sign-in link is not valid, or it has already been used.")
    slack_user_id, team_id, expires_at, nonce_hash, browser_hash = row
    if expires_at <= now:
        raise InvalidLoginState("This sign-in link has expired.")
    if stage in BROWSER_BOUND_STAGES and not (browser and browser_hash and hmac.compare_digest(secret_hash(browser), browser_hash)):
        raise InvalidLoginState("This sign-in was not started in this browser: the link belongs to someone else.")
    return LoginRequest(slack_user_id, team_id, nonce_hash)


# --- the code exchange ---------------------------------------------------------------------------------


class TokenExchangeFailed(Exception):
    """Bitbucket's token endpoint did not give us tokens. `status` is what the callback answers (400: the
    code was refused; 502: Bitbucket failed us), `reason` is safe to show."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def exchange_code(settings: Settings, code: str, *, now: float) -> TokenSet:
    """The authorization-code grant: the consumer's key and secret as HTTP Basic, the code in a form."""
    try:
        response = requests.post(
            settings.bitbucket_oauth_token_url,
            data={"grant_type": "authorization_code", "code": code},
            auth=(settings.bitbucket_oauth_client_id, settings.bitbucket_oauth_client_secret),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=DEFAULT_TIMEOUT,
        )
    except requests.RequestException as error:
        raise TokenExchangeFailed(502, "Bitbucket could not be reached to finish the sign-in.") from error
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    if response.status_code == 400 and body.get("error") == "invalid_grant":
        raise TokenExchangeFailed(400, "Bitbucket did not accept this sign-in code; it may have been used already.")
    if response.status_code != 200 or not body.get("access_token") or not body.get("refresh_token"):
        words = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
        raise TokenExchangeFailed(502, f"Bitbucket's token endpoint failed: {str(words)[:200]}")
    lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
    return TokenSet(body["access_token"], body["refresh_token"], now + lifetime)


def fetch_identity(services, tokens: TokenSet, slack_user_id: str) -> dict:
    """Who the fresh tokens belong to (`GET /user`): the person's first request, counted in the budget under their
    own credential, as every later one is."""
    client = BitbucketClient(services.settings.bitbucket_api_url, BearerToken(tokens.access_token), meter=meter.of(services),
                             credential=person_credential(slack_user_id))
    with tagged(PERSON, "login"):
        return client.get_current_user()


# --- linked accounts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkedAccount:
    slack_user_id: str
    bitbucket_uuid: str
    account_id: str
    nickname: str
    display_name: str

    @property
    def name(self) -> str:
        return self.display_name or self.nickname or self.bitbucket_uuid


def save_login(store: Store, cipher: TokenCipher | TokenKeys, request: LoginRequest, tokens: TokenSet, identity: dict, *,
               now: float) -> LinkedAccount:
    """Keep the person's tokens, and tie their Slack user to the account for mentions too."""
    account = LinkedAccount(
        slack_user_id=request.slack_user_id,
        bitbucket_uuid=identity.get("uuid") or "",
        account_id=identity.get("account_id") or "",
        nickname=identity.get("nickname") or "",
        display_name=identity.get("display_name") or "",
    )
    sealed = cipher.seal(tokens, request.slack_user_id)
    with store.transaction() as db:
        db.execute(
            """INSERT INTO bitbucket_logins (slack_user_id, team_id, bitbucket_uuid, account_id, nickname,
                   display_name, tokens, expires_at, linked_at, refreshed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
               ON CONFLICT (slack_user_id) DO UPDATE SET team_id = excluded.team_id, bitbucket_uuid = excluded.bitbucket_uuid,
                   account_id = excluded.account_id, nickname = excluded.nickname, display_name = excluded.display_name,
                   tokens = excluded.tokens, expires_at = excluded.expires_at, linked_at = excluded.linked_at, refreshed_at = NULL""",
            (request.slack_user_id, request.team_id, account.bitbucket_uuid, account.account_id, account.nickname,
             account.display_name, sealed, tokens.expires_at, now),
        )
        db.execute(
            """INSERT INTO user_links (slack_user_id, nickname, bitbucket_uuid, account_id, display_name,
                   linked_by, linked_at) VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (slack_user_id) DO UPDATE SET nickname = excluded.nickname, bitbucket_uuid = excluded.bitbucket_uuid,
                   account_id = excluded.account_id, display_name = excluded.display_name, linked_by = excluded.linked_by,
                   linked_at = excluded.linked_at""",
            (request.slack_user_id, account.nickname, account.bitbucket_uuid, account.account_id,
             account.display_name, request.slack_user_id, now),
        )
    return account


def linked_account(store: Store, slack_user_id: str) -> LinkedAccount | None:
    row = store.query_one(
        "SELECT slack_user_id, bitbucket_uuid, account_id, nickname, display_name FROM bitbucket_logins WHERE slack_user_id = ?",
        (slack_user_id,),
    )
    return LinkedAccount(**row) if row else None


def forget_login(store: Store, slack_user_id: str) -> LinkedAccount | None:
    """Drop the person's tokens and pending logins; the account they were linked to, if any."""
    with store.transaction() as db:
        row = db.execute(
            "SELECT slack_user_id, bitbucket_uuid, account_id, nickname, display_name FROM bitbucket_logins WHERE slack_user_id = ?",
            (slack_user_id,),
        ).fetchone()
        db.execute("DELETE FROM bitbucket_logins WHERE slack_user_id = ?", (slack_user_id,))
        db.execute("DELETE FROM login_states WHERE slack_user_id = ?", (slack_user_id,))
    return LinkedAccount(*row) if row else None


def _store_refreshed(store: Store, cipher: TokenKeys, slack_user_id: str, fresh: dict) -> None:
    tokens = TokenSet(fresh["access_token"], fresh["refresh_token"], fresh["expires_at"])
    # An UPDATE, not an upsert: a refresh racing a `/bb logout` must not bring the tokens back.
    store.execute(
        "UPDATE bitbucket_logins SET tokens = ?, expires_at = ?, refreshed_at = ? WHERE slack_user_id = ?",
        (cipher.seal(tokens, slack_user_id), tokens.expires_at, time.time(), slack_user_id),
    )


class PersonToken(UserOAuthToken):
    """A person's token; when Bitbucket will not renew it, the person is told how to sign in again."""

    refused_message = "Bitbucket refused to renew your sign-in: run `/bb login` again"


def client_for_user(services, slack_user_id: str) -> BitbucketClient | None:
    """A client acting as the person, or None when they have not linked their account (or it cannot be read).

    Expired tokens are refreshed before a call, a 401 is refreshed once and retried, and the new tokens are
    stored encrypted again.
    """
    settings: Settings = services.settings
    if not (settings.bitbucket_oauth_client_id and settings.bitbucket_oauth_client_secret and settings.chatops_secret_key):
        return None
    row = services.store.query_one("SELECT tokens, expires_at FROM bitbucket_logins WHERE slack_user_id = ?", (slack_user_id,))
    if row is None:
        return None
    cipher = token_keys(settings)
    try:
        tokens, old_key = cipher.open(row["tokens"], slack_user_id, row["expires_at"])
    except UnreadableTokens:
        log.warning("the stored Bitbucket tokens of %s do not decrypt (was CHATOPS_SECRET_KEY changed? "
                    "list the former key in CHATOPS_OLD_SECRET_KEYS)", slack_user_id)
        return None
    if old_key:
        reseal(services.store, cipher, slack_user_id, row["tokens"], tokens)
    session = requests.Session()  # one connection pool for the person's calls and their token refreshes
    auth = PersonToken(
        tokens.access_token,
        tokens.refresh_token,
        tokens.expires_at,
        client_id=settings.bitbucket_oauth_client_id,
        client_secret=settings.bitbucket_oauth_client_secret,
        token_url=settings.bitbucket_oauth_token_url,
        on_refresh=functools.partial(_store_refreshed, services.store, cipher, slack_user_id),
        session=session,
    )
    # Counted in the request budget under the person's own credential (a hash of who they are, never the token).
    return BitbucketClient(settings.bitbucket_api_url, auth, session=session, meter=meter.of(services),
                           credential=person_credential(slack_user_id))
