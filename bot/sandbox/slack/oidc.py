"""Sign in with Slack (OpenID Connect), simulated: the authorize page, `openid.connect.token` and
`openid.connect.userInfo`, as FakeSlack serves them.

- `GET /openid/connect/authorize?response_type=code&scope=openid&client_id=…&redirect_uri=…&state=…&nonce=…`
  signs in `fake.oidc_user` (the Slack user at the browser, chosen by the test; of the workspace `fake.oidc_team_id`,
  by default the fake's own `team_id`) and redirects (302) to
  `redirect_uri?code=…&state=…`; with `fake.oidc_deny` set it redirects with `error=access_denied`. An unknown
  client, a redirect URI the app does not list, or a scope the app's configuration does not declare as a user
  scope (Slack's "Invalid permissions requested", `invalid_scope_requested`) gets an error page, as Slack shows
  one, and no redirect.
- `POST /api/openid.connect.token` takes the client's id and secret (HTTP Basic, as slack_sdk sends them, or
  form fields), the code and the same `redirect_uri`; a code works once and for ten minutes. It answers
  `access_token`, `token_type` and `id_token` (a JWT whose claims carry the nonce; its signature is a dummy).
- `POST /api/openid.connect.userInfo` with that access token as Bearer answers `sub`,
  `https://slack.com/user_id` and `https://slack.com/team_id`.

The app's configuration is its manifest: `OidcProvider(fake, manifest)` (FakeSlack's `manifest=`) or
`add_app(..., manifest=)` take a parsed manifest or a path; by default the repository's `slack-app-manifest.yml`
(bot/core/manifest.py). Slack grants Sign in with Slack only the user scopes the app declares (`oauth_config.scopes.user`,
where `openid` is required); so does the fake.

`OidcMixin` serves the two Web API methods for FakeSlack (a client's credentials or a person's token, never the
bot's); it needs FakeSlack's `_lock`, `outage`, `calls`, `oidc` and `_take_failure`.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qs, urlencode

from bot.core import manifest as app_manifest
from bot.sandbox.slack.state import Answer, RecordedCall, SlackError
from bot.sandbox.slack.wire import bearer_token, parse_args

AUTHORIZE_PATH = "/openid/connect/authorize"
TOKEN_METHOD = "openid.connect.token"
USERINFO_METHOD = "openid.connect.userInfo"
CODE_LIFETIME = 600  # seconds
SCOPE_NOT_DECLARED = "invalid_scope_requested"  # Slack's page: "Invalid permissions requested"
# When the repository's manifest is not beside the code (an installed copy running the sandbox): what Sign in
# with Slack requires, so the sandbox still signs people in.
FALLBACK_MANIFEST = {"oauth_config": {"scopes": {"user": ["openid"]}}}


@dataclass
class OidcApp:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    user_scopes: frozenset[str] = frozenset()  # what the app's configuration declares (oauth_config.scopes.user)


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    user_id: str
    nonce: str
    issued_at: float
    used: bool = False
    team_id: str = ""  # the workspace the person signed in to


class OidcProvider:
    """The state behind the three endpoints; FakeSlack holds one as `fake.oidc`."""

    def __init__(self, fake, manifest: Mapping | str | Path | None = None):
        self.fake = fake
        self._manifest = manifest  # read when an app is added (a path, or None for the repository's file)
        self.apps: dict[str, OidcApp] = {}
        self.codes: dict[str, _Grant] = {}
        self.access_tokens: dict[str, tuple[str, str]] = {}  # token -> (user id, team id)
        self.authorize_requests: list[dict] = []  # the query of every authorize request, for assertions

    @property
    def manifest(self) -> Mapping:
        """The app's configuration that apps are added with (parsed on first use)."""
        if not isinstance(self._manifest, Mapping):
            self._manifest = read_manifest(self._manifest)
        return self._manifest

    @manifest.setter
    def manifest(self, manifest: Mapping | str | Path | None) -> None:
        self._manifest = manifest

    def add_app(self, client_id: str, client_secret: str, *, redirect_uris, manifest: Mapping | str | Path | None = None) -> OidcApp:
        """Register the Slack app's Sign in with Slack: its credentials, redirect URLs, and the user scopes its
        manifest declares (`manifest`, else the provider's)."""
        configuration = self.manifest if manifest is None else read_manifest(manifest)
        scopes = app_manifest.user_scopes(configuration)
        app = self.apps[client_id] = OidcApp(client_id, client_secret, tuple(redirect_uris), scopes)
        return app

    # --- the browser's page -----------------------------------------------------------------------

    def authorize(self, query: str):
        """(status, body, headers) for the authorize page."""
        args = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
        self.authorize_requests.append(args)
        app = self.apps.get(args.get("client_id", ""))
        if app is None:
            return 400, b"invalid_client_id", {}
        redirect_uri = args.get("redirect_uri", "")
        if redirect_uri not in app.redirect_uris:
            return 400, b"bad_redirect_uri", {}
        if any(scope not in app.user_scopes for scope in args.get("scope", "").split()):
            return 400, SCOPE_NOT_DECLARED.encode(), {}
        state = args.get("state", "")
        if self.fake.oidc_deny:
            return 302, b"", {"Location": _with_query(redirect_uri, {"error": "access_denied", "state": state})}
        if args.get("response_type") != "code" or "openid" not in args.get("scope", "").split():
            return 302, b"", {"Location": _with_query(redirect_uri, {"error": "invalid_scope", "state": state})}
        code = secrets.token_urlsafe(24)
        self.codes[code] = _Grant(app.client_id, redirect_uri, self.fake.oidc_user, args.get("nonce", ""), time.time(),
                                  team_id=self.fake.oidc_team_id or self.fake.team_id)
        return 302, b"", {"Location": _with_query(redirect_uri, {"code": code, "state": state})}

    # --- the Web API methods ----------------------------------------------------------------------

    def token(self, args: dict, headers: dict) -> dict:
        client_id, client_secret = _basic_auth(headers) or (args.get("client_id", ""), args.get("client_secret", ""))
        app = self.apps.get(client_id)
        if app is None:
            return {"ok": False, "error": "invalid_client_id"}
        if not secrets.compare_digest(client_secret.encode(), app.client_secret.encode()):
            return {"ok": False, "error": "bad_client_secret"}
        grant = self.codes.get(args.get("code", ""))
        if grant is None or grant.used or grant.client_id != client_id or time.time() - grant.issued_at > CODE_LIFETIME:
            return {"ok": False, "error": "invalid_code"}
        grant.used = True
        if args.get("redirect_uri", "") != grant.redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        access_token = "xoxp-oidc-" + secrets.token_urlsafe(16)
        self.access_tokens[access_token] = (grant.user_id, grant.team_id)
        now = int(time.time())
        claims = {
            "iss": "https://slack.com", "sub": grant.user_id, "aud": client_id, "exp": now + 3600, "iat": now,
            "auth_time": now, "nonce": grant.nonce, "https://slack.com/user_id": grant.user_id,
            "https://slack.com/team_id": grant.team_id,
        }
        return {"ok": True, "access_token": access_token, "token_type": "Bearer", "id_token": _jwt(claims)}

    def user_info(self, token: str | None) -> dict:
        if not token:
            return {"ok": False, "error": "not_authed"}
        found = self.access_tokens.get(token)
        if found is None:
            return {"ok": False, "error": "invalid_auth"}
        user_id, team_id = found
        user = self.fake.users.get(user_id)
        return {
            "ok": True, "sub": user_id, "https://slack.com/user_id": user_id, "https://slack.com/team_id": team_id,
            "name": user.real_name if user else user_id,
        }


class OidcMixin:
    """Serves `openid.connect.token` and `openid.connect.userInfo` for FakeSlack (see the module docstring)."""

    def _serve_oidc_api(self, method: str, query: str, headers: dict, raw_body: bytes) -> Answer:
        """Sign in with Slack's two methods: a client's id and secret, or a person's token, not the bot's."""
        try:
            args = parse_args(headers.get("content-type", ""), raw_body, query)
        except SlackError:
            args = {}
        token = bearer_token(headers) or args.pop("token", None)
        with self._lock:
            failure = None if self.outage else self._take_failure(method)
            if self.outage:
                status, body = 503, {"ok": False, "error": "service_unavailable"}
            elif failure:
                status, body = failure.status, {"ok": False, "error": failure.error}
            elif method == TOKEN_METHOD:
                status, body = 200, self.oidc.token(args, headers)
            else:
                status, body = 200, self.oidc.user_info(token)
            recorded = {k: v for k, v in args.items() if k not in ("client_secret", "code")}  # no credentials kept
            call = RecordedCall(method, recorded, {k: v for k, v in headers.items() if k != "authorization"}, time.time())
            call.status, call.response = status, body
            self.calls.append(call)
        return Answer(status, json.dumps(body).encode())


def read_manifest(manifest: Mapping | str | Path | None) -> Mapping:
    """A manifest given as parsed, as a path, or None: the repository's own (FALLBACK_MANIFEST without it)."""
    if isinstance(manifest, Mapping):
        return manifest
    if manifest is None and not app_manifest.MANIFEST_PATH.is_file():
        return FALLBACK_MANIFEST
    return app_manifest.load(manifest)


def _with_query(url: str, params: dict) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _basic_auth(headers: dict) -> tuple[str, str] | None:
    value = headers.get("authorization", "")
    if not value.lower().startswith("basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(value[6:].strip()).decode().partition(":")
    except ValueError:
        return None
    return client_id, secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwt(claims: dict) -> str:
    header = {"alg": "RS256", "typ": "JWT", "kid": "sandbox"}
    return ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(b"sandbox-signature")))
