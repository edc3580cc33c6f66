"""The shell's sandbox: a simulated Bitbucket, and the bot's own HTTP server on loopback, as `serve` runs it.

The server is what lets the sandbox be tried end to end: a `/bb login` link leads through Sign in with Slack
(the shell's simulated Slack says the shell's person is at the browser) to Bitbucket's consent page, which
sends the browser back to its `/bitbucket/oauth/callback` (so the shell's person starts signed in); and the
simulated Bitbucket's webhooks reach its `/bitbucket/webhook`, signed (`/simulate`).
"""

from __future__ import annotations

import html
import logging
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass

import requests

from bot import accounts, registry
from bot.accounts import signin
from bot.app.server import BotServer
from bot.app.sandbox_setup import sandbox_settings, start_fresh
from bot.app.shell_people import PERSON_NAME, PERSON_NICKNAME
from bot.core import outbox
from bot.core.config import Settings
from bot.dashboard.access import CALLBACK_PATH as DASHBOARD_CALLBACK
from bot.sandbox import deliveries, simulations
from bot.sandbox.bitbucket import FakeBitbucket, demo_workspace

log = logging.getLogger(__name__)
OAUTH_CLIENT_ID = "sandbox-consumer"
OAUTH_CLIENT_SECRET = "sandbox-consumer-secret"
SLACK_APP_CLIENT_ID, SLACK_APP_CLIENT_SECRET = "sandbox.slack-app", "sandbox-slack-app-secret"


@dataclass(frozen=True)
class Page:
    """A page the shell "opened in a browser": where it ended, its status, and its words."""

    url: str
    status: int
    text: str


def page_text(body: str) -> str:
    """Pure: an HTML page as one line of text (its title, then its paragraphs)."""
    title = re.search(r"<h1[^>]*>(.*?)</h1>", body, re.S | re.I) or re.search(r"<title[^>]*>(.*?)</title>", body, re.S | re.I)
    paragraphs = re.findall(r"<p[^>]*>(.*?)</p>", body, re.S | re.I)
    words = [title.group(1)] if title else []
    words += paragraphs or ([] if title else [body])
    words = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", w)).split()) for w in words]
    return ": ".join(w for w in words if w)[:500]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sandbox:
    """The simulated Bitbucket (demo workspace `acme`), and the bot served on 127.0.0.1, built from `settings`
    (which already name the shell's Slack)."""

    def __init__(self, settings: Settings, slack, person: str | None = None):
        """`slack`: the shell's simulated Slack; `person`: the Slack user it says is at the browser."""
        self.bitbucket = FakeBitbucket().start()
        demo_workspace(self.bitbucket)
        self.bitbucket.auto_advance_pipelines = True
        self.bitbucket.add_user(PERSON_NICKNAME, PERSON_NAME)
        self.bitbucket.consent_user = PERSON_NICKNAME  # who says yes on the simulated consent page
        # What is done through its API (an approval from Slack) comes back as a webhook, as on Bitbucket.
        self.courier = deliveries.Courier(self.bitbucket).start()
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.bitbucket.add_oauth_consumer(OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, redirect_uri=self.url + accounts.CALLBACK_PATH)
        slack.oidc.add_app(SLACK_APP_CLIENT_ID, SLACK_APP_CLIENT_SECRET,
                           redirect_uris=[self.url + signin.CALLBACK_PATH, self.url + DASHBOARD_CALLBACK])
        if person:
            slack.oidc_user = person
        self.slack = slack
        self._browser = threading.Lock()  # one person at the browser at a time (who consents, who signs in)
        self.settings = sandbox_settings(settings, self.bitbucket).with_overrides(
            host="127.0.0.1",
            port=port,
            public_url=self.url,
            bitbucket_oauth_client_id=OAUTH_CLIENT_ID,
            bitbucket_oauth_client_secret=OAUTH_CLIENT_SECRET,
            slack_client_id=SLACK_APP_CLIENT_ID,
            slack_client_secret=SLACK_APP_CLIENT_SECRET,
            slack_oidc_authorize_url=slack.oidc_authorize_url,
            # New each run: the simulated Bitbucket, and so every token it gave, lives only as long as the shell.
            chatops_secret_key=settings.chatops_secret_key or secrets.token_urlsafe(32),
        )
        start_fresh(self.settings)  # the simulated Bitbucket starts empty: so does the sandbox's database
        self.services = registry.build_services(self.settings)
        self.services.provide(outbox.Senders(1))  # one transcript: messages in the order they were queued
        # The scheduler stays out (`/bb remind now` still works); the delivery worker and deploy follower run.
        self.server = BotServer(self.services, host="127.0.0.1", port=port, scheduler=False)
        self._thread = threading.Thread(target=self.server.serve_forever, name="shell-server", daemon=True)
        self._thread.start()
        self._wait_listening()

    @property
    def bolt_app(self):
        return self.server.wsgi.bolt_app

    def close(self) -> None:
        try:
            self.server.stop()
        except OSError:  # waitress's loop may have closed its wake-up pipe first; it is stopping either way
            log.debug("while stopping the shell's server", exc_info=True)
        self._thread.join(timeout=10)
        self.courier.stop()
        self.bitbucket.stop()

    def _wait_listening(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.visit(self.url + "/healthz").status == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("the shell's server did not start")

    # --- the browser --------------------------------------------------------------------------------

    def opens_here(self, url: str) -> bool:
        """A link the sandbox can follow itself: into the simulated Bitbucket or the bot."""
        return url.startswith((self.bitbucket.origin + "/", self.url + "/"))

    def visit(self, url: str) -> Page:
        """What a browser does with a link: GET it, following redirects (Bitbucket's consent page sends the
        browser back to the bot)."""
        with requests.Session() as session:
            session.trust_env = False
            response = session.get(url, timeout=10, allow_redirects=True)
        return Page(response.url, response.status_code, page_text(response.text))

    def sign_in(self, slack_user_id: str, team_id: str, nickname: str = PERSON_NICKNAME) -> Page:
        """Link a person to their sandbox Bitbucket account as `/bb login` does: a login link, opened, consented
        (Slack says `slack_user_id` is at the browser; Bitbucket's consent page says yes as `nickname`)."""
        with self._browser:
            self.slack.oidc_user, self.bitbucket.consent_user = slack_user_id, nickname
            state = accounts.start_login(self.services.store, slack_user_id, team_id, now=time.time(), stage=accounts.STAGE_LINK)
            return self.visit(signin.start_url(self.settings, state))

    # --- /simulate --------------------------------------------------------------------------------------

    def simulate(self, kind: str, repo: str, person: str | None) -> simulations.Simulated:
        """`kind` happens in `repo` (`workspace/slug`), `person` (a Bitbucket nickname) at the shell; Bitbucket
        sends the event to the repository's webhooks."""
        workspace, slug = repo.split("/", 1)
        return simulations.simulate(self.bitbucket, kind, workspace, slug, person=person)

    def has_webhook(self, repo: str) -> bool:
        workspace, slug = repo.split("/", 1)
        with self.bitbucket._lock:
            return any(hook.active for hook in self.bitbucket._repository(workspace, slug).hooks.values())
