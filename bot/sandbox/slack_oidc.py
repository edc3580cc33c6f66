"""Sign in with Slack (OpenID Connect), simulated: the authorize page, `openid.connect.token` and
`openid.connect.userInfo`, as FakeSlack serves them.

- `GET /openid/connect/authorize?response_type=code&scope=openid&client_id=…&redirect_uri=…&state=…&nonce=…`
  signs in `fake.oidc_user` (the Slack user at the browser, chosen by the test) and redirects (302) to
  `redirect_uri?code=…&state=…`; with `fake.oidc_deny` set it redirects with `error=access_denied`. An unknown
  client or a redirect URI the app does not list gets an error page, as Slack shows one, and no redirect.
- `POST /api/openid.connect.token` takes the client's id and secret (HTTP Basic, as slack_sdk sends them, or
  form fields), the code and the same `redirect_uri`; a code works once and for ten minutes. It answers
  `access_token`, `token_type` and `id_token` (a JWT whose claims carry the nonce; its signature is a dummy).
- `POST /api/openid.connect.userInfo` with that access token as Bearer answers `sub`,
  `https://slack.com/user_id` and `https://slack.com/team_id`.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

AUTHORIZE_PATH = "/openid/connect/authorize"
TOKEN_METHOD = "openid.connect.token"
USERINFO_METHOD = "openid.connect.userInfo"
CODE_LIFETIME = 600  # seconds


@dataclass
class OidcApp:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    user_id: str
    nonce: str
    issued_at: float
    used: bool = False


class OidcProvider:
    """The state behind the three endpoints; FakeSlack holds one as `fake.oidc`."""

    def __init__(self, fake):
        self.fake = fake
        self.apps: dict[str, OidcApp] = {}
        self.codes: dict[str, _Grant] = {}
        self.access_tokens: dict[str, str] = {}  # token -> user id
        self.authorize_requests: list[dict] = []  # the query of every authorize request, for assertions

    def add_app(self, client_id: str, client_secret: str, *, redirect_uris) -> OidcApp:
        app = self.apps[client_id] = OidcApp(client_id, client_secret, tuple(redirect_uris))
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
        state = args.get("state", "")
        if self.fake.oidc_deny:
            return 302, b"", {"Location": _with_query(redirect_uri, {"error": "access_denied", "state": state})}
        if args.get("response_type") != "code" or "openid" not in args.get("scope", "").split():
            return 302, b"", {"Location": _with_query(redirect_uri, {"error": "invalid_scope", "state": state})}
        code = secrets.token_urlsafe(24)
        self.codes[code] = _Grant(app.client_id, redirect_uri, self.fake.oidc_user, args.get("nonce", ""), time.time())
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
        self.access_tokens[access_token] = grant.user_id
        now = int(time.time())
        claims = {
            "iss": "https://slack.com", "sub": grant.user_id, "aud": client_id, "exp": now + 3600, "iat": now,
            "auth_time": now, "nonce": grant.nonce, "https://slack.com/user_id": grant.user_id,
            "https://slack.com/team_id": self.fake.team_id,
        }
        return {"ok": True, "access_token": access_token, "token_type": "Bearer", "id_token": _jwt(claims)}

    def user_info(self, token: str | None) -> dict:
        if not token:
            return {"ok": False, "error": "not_authed"}
        user_id = self.access_tokens.get(token)
        if user_id is None:
            return {"ok": False, "error": "invalid_auth"}
        user = self.fake.users.get(user_id)
        return {
            "ok": True, "sub": user_id, "https://slack.com/user_id": user_id, "https://slack.com/team_id": self.fake.team_id,
            "name": user.real_name if user else user_id,
        }


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
