"""How the Bitbucket client proves who the bot (or a person) is: access tokens, API tokens and OAuth."""

from __future__ import annotations

import base64
import threading
import time
from typing import Callable, Mapping

import requests

from bot.bitbucket.constants import DEFAULT_TIMEOUT, DEFAULT_TOKEN_LIFETIME, OAUTH_TOKEN_URL, TOKEN_REFRESH_MARGIN, USER_AGENT
from bot.bitbucket.errors import _NETWORK_FAILURES, NetworkError, Unauthorized, _error_words, error_from_response

class Credentials:
    """How requests prove who the bot is. `apply` adds the Authorization header to a request's kwargs."""

    def apply(self, request_kwargs: dict) -> None:
        raise NotImplementedError

    def renew(self) -> bool:
        """After a 401: get fresh credentials if that is possible. True if the request is worth repeating."""
        return False

    def describe(self) -> str:
        """What kind of credential this is, for `bitbucket-chatops check`. Never shows a secret."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.describe()}>"


def _set_authorization(request_kwargs: dict, value: str) -> None:
    request_kwargs.setdefault("headers", {})["Authorization"] = value


def _abbreviate(text: str, keep: int = 4) -> str:
    return text[:keep] + "…"


class BearerToken(Credentials):
    """A workspace, project or repository access token: the bot acts as the token's own pseudo-user."""

    def __init__(self, token: str):
        self._token = token

    def apply(self, request_kwargs: dict) -> None:
        _set_authorization(request_kwargs, f"Bearer {self._token}")

    def describe(self) -> str:
        return "workspace/repository access token (Bearer)"


class BasicApiToken(Credentials):
    """An Atlassian API token, sent as HTTP Basic with the account's email (a username does not work)."""

    def __init__(self, email: str, api_token: str):
        self._email = email
        self._api_token = api_token

    def apply(self, request_kwargs: dict) -> None:
        pair = base64.b64encode(f"{self._email}:{self._api_token}".encode()).decode("ascii")
        _set_authorization(request_kwargs, f"Basic {pair}")

    def describe(self) -> str:
        local, _, domain = self._email.partition("@")
        return f"Atlassian API token for {_abbreviate(local, 1)}@{domain}"


class _OAuthToken(Credentials):
    """An OAuth 2.0 access token from Bitbucket's token endpoint, kept until shortly before it expires.

    The lock makes one thread fetch while the others wait for its token.
    """

    refused_message = "Bitbucket refused the OAuth credentials"

    def __init__(self, client_id: str, client_secret: str, token_url: str, *,
                 session: requests.Session | None, clock: Callable[[], float]):
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_url = token_url
        self._session = session or requests.Session()
        self._clock = clock
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._expires_at = 0.0

    def apply(self, request_kwargs: dict) -> None:
        with self._lock:
            if self._access_token is None or self._clock() >= self._expires_at - TOKEN_REFRESH_MARGIN:
                self._refresh()
            token = self._access_token
        _set_authorization(request_kwargs, f"Bearer {token}")

    def renew(self) -> bool:
        with self._lock:
            self._refresh()
        return True

    def _refresh(self) -> None:
        raise NotImplementedError

    def _request_token(self, form: Mapping[str, str]) -> tuple[str, float, str | None]:
        """POST the token endpoint (HTTP Basic client_id:secret).

        Returns the access token, when it expires (by `clock`) and the refresh token if one came.
        """
        issued_at = self._clock()
        try:
            response = self._session.post(
                self._token_url,
                data=form,
                auth=(self._client_id, self._client_secret),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                timeout=DEFAULT_TIMEOUT,
            )
        except _NETWORK_FAILURES as exc:
            raise NetworkError.from_exception(exc, self._token_url) from exc
        if response.status_code in (400, 401, 403):
            raise Unauthorized(response.status_code, self.refused_message, _error_words(response)[0])
        if response.status_code >= 400:
            raise error_from_response(response)
        body = response.json()
        lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        return body["access_token"], issued_at + lifetime, body.get("refresh_token")


class ClientCredentials(_OAuthToken):
    """An OAuth consumer's client-credentials grant: the bot acts as the consumer's owner."""

    refused_message = "Bitbucket refused the OAuth consumer's key or secret"

    def __init__(self, client_id: str, client_secret: str, token_url: str = OAUTH_TOKEN_URL, *,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time):
        super().__init__(client_id, client_secret, token_url, session=session, clock=clock)

    def _refresh(self) -> None:
        self._access_token, self._expires_at, _ = self._request_token({"grant_type": "client_credentials"})

    def describe(self) -> str:
        return f"OAuth consumer {_abbreviate(self._client_id)} (client credentials)"


class UserOAuthToken(_OAuthToken):
    """A person's OAuth token (authorization-code grant), refreshed when it expires or is refused.

    `on_refresh` receives `{"access_token", "refresh_token", "expires_at"}` (epoch seconds) so the caller
    can store the new tokens.
    """

    refused_message = "Bitbucket refused to renew your authorization; connect your Bitbucket account again"

    def __init__(self, access_token: str, refresh_token: str, expires_at: float, *, client_id: str,
                 client_secret: str, token_url: str = OAUTH_TOKEN_URL,
                 on_refresh: Callable[[dict], None] | None = None,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time):
        super().__init__(client_id, client_secret, token_url, session=session, clock=clock)
        self._access_token = access_token
        self._refresh_token = refresh_token
        self._expires_at = expires_at
        self._on_refresh = on_refresh

    def _refresh(self) -> None:
        token, expires_at, refresh_token = self._request_token(
            {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
        )
        self._access_token, self._expires_at = token, expires_at
        self._refresh_token = refresh_token or self._refresh_token
        if self._on_refresh:
            self._on_refresh(
                {"access_token": token, "refresh_token": self._refresh_token, "expires_at": expires_at}
            )

    def describe(self) -> str:
        return f"OAuth user token (consumer {_abbreviate(self._client_id)})"
