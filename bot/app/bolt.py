"""The Bolt app: Slack's requests, verified with the signing secret, handed to `handlers.slack`."""

from __future__ import annotations

import contextlib
import logging
import os
import threading

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bot.core.services import Services
from handlers import slack as slack_handlers

log = logging.getLogger(__name__)

_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_slack_oauth_env():
    """With SLACK_CLIENT_ID and SLACK_CLIENT_SECRET both in the environment, Bolt's App() silently switches to
    OAuth installs: multi-workspace, file-based installation and state stores "for local development", and
    (without our `authorize`) no single-workspace token. Those two are for Sign in with Slack only (bot/signin.py,
    read through Settings), so Bolt must not see them while it is built: it reads them in App.__init__ and
    nowhere else. The lock keeps two apps built at once from restoring each other's view."""
    with _ENV_LOCK:
        hidden = {name: os.environ.pop(name) for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET") if name in os.environ}
        try:
            yield
        finally:
            os.environ.update(hidden)


def create_bolt_app(services: Services) -> App:
    settings = services.settings
    token = settings.slack_bot_token

    def authorize(enterprise_id=None, team_id=None, user_id=None, **_) -> AuthorizeResult:
        # Single workspace, known token: no auth.test round trip on the request path.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token, user_id=user_id)

    with _without_slack_oauth_env():
        app = App(
            # No token on Bolt's own client: `authorize` supplies it per request (a token here too makes Bolt warn).
            client=WebClient(base_url=services.slack.base_url, timeout=services.slack.timeout, retry_handlers=services.slack.retry_handlers),
            # Over Socket Mode there is no signing secret and nothing to verify: the WebSocket is authenticated.
            signing_secret=settings.slack_signing_secret or None,
            request_verification_enabled=bool(settings.slack_signing_secret),
            authorize=authorize,
            # Our listeners only parse, ack and hand Bitbucket work to Services.work, so they finish in
            # milliseconds: run them on the request thread instead of hopping to Bolt's 5-thread pool and
            # polling for the ack every 10 ms.
            process_before_response=True,
            raise_error_for_unhandled_request=False,
        )
    slack_handlers.register(app, services)  # the features the services run (`registry.build_services`)
    return app
