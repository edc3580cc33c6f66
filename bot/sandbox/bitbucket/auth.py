"""The simulated Bitbucket's credentials: bearer tokens (access tokens, OAuth tokens), HTTP Basic with an
email and API token, and OAuth 2.0 consumers with the authorization-code, client-credentials and
refresh-token grants (`/site/oauth2/authorize`, `/site/oauth2/access_token`)."""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from bot.sandbox.bitbucket.records import _OAuthConsumer, _OAuthToken, _User
from bot.sandbox.bitbucket.wire import TOKEN_EXPIRED, _ApiError, _Call, _Response


class AuthMixin:
    """Needs `_lock`, `_user`, `_new_user`, `_first_user`, `_user_json` and `clock`."""

    def allow_bearer(self, token: str, *, user: Any = None, name: str = "Access token") -> dict:
        """Accept `Authorization: Bearer <token>`. Without `user` it acts as its own app user called `name`,
        as a repository or workspace access token does."""
        with self._lock:
            if user is None:
                actor = self._new_user(f"access-token-{len(self._bearer_tokens) + 1}", name, "app_user")
            else:
                actor = self._user(user)
            self._bearer_tokens[token] = actor
            return self._user_json(actor)

    def allow_basic(self, email: str, api_token: str, *, user: Any = None) -> dict:
        """Accept HTTP Basic with an Atlassian account email and API token, acting as `user`."""
        with self._lock:
            actor = self._user(user) if user is not None else self._user(email.split("@")[0])
            self._basic_credentials[(email, api_token)] = actor
            return self._user_json(actor)

    def add_oauth_consumer(
        self,
        client_id: str,
        secret: str,
        *,
        redirect_uri: str | None = None,
        owner: Any = None,
        scopes: str = "account pullrequest:write repository:write pipeline:write webhook",
    ) -> None:
        """An OAuth consumer. Client-credentials tokens act as `owner` (default: the first user)."""
        with self._lock:
            self._consumers[client_id] = _OAuthConsumer(client_id, secret, redirect_uri, owner, scopes)

    def expire_token(self, access_token: str) -> None:
        """From now on the token is answered 401, as an expired one is."""
        with self._lock:
            self._access_tokens[access_token].expired = True

    def _authenticate(self, call: _Call) -> _User:
        authorization = call.headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" or (not authorization and call.arg("access_token")):
            return self._bearer_user(credentials.strip() if authorization else call.arg("access_token"))
        if scheme.lower() == "basic":
            try:
                email, _, api_token = base64.b64decode(credentials.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise _unauthorized() from None
            user = self._basic_credentials.get((email, api_token))
            if user is not None:
                return user
        raise _unauthorized()

    def _bearer_user(self, token: str) -> _User:
        if token in self._bearer_tokens:
            return self._bearer_tokens[token]
        issued = self._access_tokens.get(token)
        if issued is None:
            raise _unauthorized()
        if issued.expired or self.clock() >= issued.expires_at:
            raise _unauthorized(TOKEN_EXPIRED)
        return issued.user

    def _oauth_authorize(self, call: _Call) -> _Response:
        """The consent page, already answered: redirect back with a code for `consent_user`."""
        consumer = self._consumers.get(call.arg("client_id") or "")
        if consumer is None:
            return _Response(400, "Invalid client_id")
        redirect_uri = call.arg("redirect_uri") or consumer.redirect_uri
        if not redirect_uri or (consumer.redirect_uri and redirect_uri != consumer.redirect_uri):
            return _Response(400, "The redirect_uri does not match the consumer's callback URL")
        answer: list[tuple[str, str]]
        if call.arg("response_type") != "code":
            answer = [("error", "unsupported_response_type")]
        elif self.deny_consent:
            answer = [("error", "access_denied"), ("error_description", "The user denied access")]
        else:
            user = self._user(self.consent_user) if self.consent_user else self._first_user()
            code = secrets.token_urlsafe(18)
            self._authorization_codes[code] = (consumer.client_id, user, call.arg("redirect_uri"))
            answer = [("code", code)]
        if call.arg("state") is not None:
            answer.append(("state", call.arg("state")))
        separator = "&" if "?" in redirect_uri else "?"
        return _Response(302, None, {"Location": f"{redirect_uri}{separator}{urlencode(answer)}"})

    def _oauth_access_token(self, call: _Call) -> _Response:
        form = dict(parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True))
        consumer = self._oauth_client(call, form)
        if consumer is None:
            return _Response(401, {"error": "invalid_client", "error_description": "Invalid OAuth client credentials"})
        grant = form.get("grant_type")
        if grant == "client_credentials":
            owner = self._user(consumer.owner) if consumer.owner is not None else self._first_user()
            return self._issue_token(consumer, owner, consumer.scopes, grant)
        if grant == "authorization_code":
            found = self._authorization_codes.pop(form.get("code", ""), None)  # a code works once
            if found is None or found[0] != consumer.client_id:
                return _oauth_error("invalid_grant", "The authorization code is invalid or has already been used.")
            return self._issue_token(consumer, found[1], consumer.scopes, grant)
        if grant == "refresh_token":
            found_refresh = self._refresh_tokens.get(form.get("refresh_token", ""))
            if found_refresh is None or found_refresh[0] != consumer.client_id:
                return _oauth_error("invalid_grant", "Invalid refresh_token")
            return self._issue_token(consumer, found_refresh[1], found_refresh[2], grant, form["refresh_token"])
        return _oauth_error("unsupported_grant_type", f"Unsupported grant type: {grant}")

    def _oauth_client(self, call: _Call, form: dict) -> _OAuthConsumer | None:
        scheme, _, credentials = call.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(credentials.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        consumer = self._consumers.get(client_id)
        return consumer if consumer is not None and secrets.compare_digest(consumer.secret, secret) else None

    def _issue_token(self, consumer, user, scopes, grant, refresh_token=None) -> _Response:
        access_token = secrets.token_urlsafe(32)
        expires_at = self.clock() + timedelta(seconds=self.oauth_token_lifetime)
        self._access_tokens[access_token] = _OAuthToken(access_token, user, consumer.client_id, scopes, expires_at)
        refresh_token = refresh_token or secrets.token_urlsafe(24)  # Bitbucket keeps the same refresh token
        self._refresh_tokens[refresh_token] = (consumer.client_id, user, scopes)
        return _Response(
            200,
            {
                "access_token": access_token,
                "scopes": scopes,
                "expires_in": self.oauth_token_lifetime,
                "refresh_token": refresh_token,
                "token_type": "bearer",
                "state": grant,
            },
        )

def _unauthorized(message: str = "Unauthorized") -> _ApiError:
    return _ApiError(401, message, headers={"WWW-Authenticate": 'Basic realm="Bitbucket.org HTTP"'})


def _oauth_error(error: str, description: str) -> _Response:
    return _Response(400, {"error": error, "error_description": description})
