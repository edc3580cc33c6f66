"""The one process: HTTP (Slack, Bitbucket webhooks, OAuth callback, health), the delivery worker and the scheduler.

Served by waitress, a production WSGI server: pure Python, multi-threaded, no fork (so the worker and
scheduler threads live beside the request threads in one process), and it buffers slow clients itself.
"""

from __future__ import annotations

import logging
import signal
import threading

from waitress.server import create_server

from bot import registry, relay
from bot.core import metrics
from bot.accounts import signin
from bot.app.bolt import create_bolt_app
from bot.core.scheduler import Leadership
from bot.core.services import Services
from bot.core.web import MAX_BODY_BYTES, Request, Response, Router
from bot.dashboard.app import PATH as DASHBOARD_PATH
from bot.dashboard.app import create_app as create_dashboard
from handlers import oauth as oauth_handlers
from handlers import signin as signin_handlers
from handlers import slack_http
from handlers import webhook as webhook_handlers

log = logging.getLogger(__name__)

HTTP_THREADS = 16
# waitress reads requests in its event loop and hands a worker thread only complete ones, so slow or half-sent
# requests hold a socket, never a thread. These bound the sockets: many open at once (waitress stops accepting at
# its limit, 100 by default), an idle or stalled one closed after 30 s (Slack and Bitbucket send at once), and
# request headers capped well above what either sends.
CONNECTION_LIMIT = 1000
CHANNEL_TIMEOUT = 30
MAX_HEADER_BYTES = 64 * 1024


def build_wsgi(services: Services):
    bolt_app = create_bolt_app(services)
    router = Router()
    router.bolt_app = bolt_app  # Socket Mode serves the same app
    router.add("POST", "/slack/events", slack_http.make_handler(bolt_app, services.settings.slack_signing_secret))
    router.add("POST", "/bitbucket/webhook", webhook_handlers.make_handler(services))
    router.add("GET", "/bitbucket/oauth/callback", oauth_handlers.make_handler(services))
    router.add("GET", signin.START_PATH, signin_handlers.make_start_handler(services))
    router.add("GET", signin.CALLBACK_PATH, signin_handlers.make_callback_handler(services))
    router.add("GET", "/healthz", _health(services))
    router.add("GET", "/metrics", metrics.make_handler(services))
    if services.settings.dashboard:
        # Flask, beside the bot's own routes (looked up first, so the webhook's intake is untouched).
        router.mount(DASHBOARD_PATH, create_dashboard(services))
    return router


def _health(services: Services):
    def handle(request: Request) -> Response:
        if not services.store.ping():
            return Response.json({"status": "unavailable", "database": "not answering"}, 503)
        # What the webhook's intake would answer: a database that answers reads but cannot take an append (a full
        # disk) has deliveries answered 503, and so is health.
        problem = relay.delivery_writer(services).problem()
        if problem:
            return Response.json({"status": "unavailable", "database": "ok", "intake": f"webhook deliveries cannot be stored: {problem}"}, 503)
        return Response.json({"status": "ok", "database": "ok"})

    return handle


class BotServer:
    """Everything `serve` runs, started and stopped as one."""

    def __init__(self, services: Services, *, host: str, port: int, scheduler: bool = True):
        self.services = services
        self.wsgi = build_wsgi(services)
        self.http = create_server(
            self.wsgi, host=host, port=port, threads=HTTP_THREADS, max_request_body_size=MAX_BODY_BYTES,
            connection_limit=CONNECTION_LIMIT, channel_timeout=CHANNEL_TIMEOUT, max_request_header_size=MAX_HEADER_BYTES,
            ident="bitbucket-chatops", clear_untrusted_proxy_headers=True,
        )
        self.scheduler = scheduler
        self._stops: list = []
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._loop_thread: threading.Thread | None = None
        self._loop_done = threading.Event()
        self._signal_name = ""  # the signal that asked to stop, if one did

    @property
    def port(self) -> int:
        return self.http.effective_port

    def start_background(self) -> None:
        """Every feature's background work (of the features the services were built for), in the registry's order; then, unless `--no-scheduler`, the bid to run
        the scheduler (one replica at a time), with every feature's jobs."""
        features = registry.features_of(self.services)
        for start in registry.background_starters(features):
            self._stops += start(self.services, scheduler=self.scheduler)
        if self.scheduler:
            leadership = self.services.provide(Leadership(self.services, registry.job_starters(features)).start())
            self._stops.append(leadership.stop)

    def serve_forever(self) -> None:
        self.start_background()
        log.info("listening on http://%s:%s", self.http.effective_host, self.port)
        self._loop_thread = threading.current_thread()
        try:
            self.http.run()
        finally:
            self._loop_done.set()
            self.stop()

    def stop(self) -> None:
        """Stop taking requests, let background work finish what it holds, then close the store."""
        if self._loop_thread is not None and threading.current_thread() is not self._loop_thread and not self._loop_done.is_set():
            # Sockets belong to waitress's loop: have the loop close them itself, then wait for it to end.
            try:
                self.http.trigger.pull_trigger(self._close_sockets)
            except OSError:  # the loop closed its wake-up pipe already: it is ending by itself
                pass
            self._loop_done.wait(10)
        with self._stop_lock:  # the loop's own finally and an outside caller may both get here: stop once
            if self._stopped.is_set():
                return
            self._stopped.set()
        if self._signal_name:
            log.info("received %s: finishing what is in hand, then stopping", self._signal_name)
        if not self._loop_done.is_set():
            self.http.close()
        self.http.task_dispatcher.shutdown()
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                log.exception("while stopping")
        self.services.shutdown(wait=True)

    def _close_sockets(self) -> None:
        """Runs in waitress's loop: with its map empty, the loop ends."""
        for channel in list(self.http._map.values()):
            channel.close()

    def install_signal_handlers(self) -> None:
        def on_signal(signum, frame):
            if self._stopped.is_set():
                return  # already stopping: let it finish
            # Said by stop(), not here: the main thread may be in the middle of writing a log line itself, and
            # writing another from inside it is a reentrant write (`--- Logging error ---`).
            self._signal_name = signal.Signals(signum).name
            # Handlers run in the main thread, which is in waitress's loop: its run() catches SystemExit and returns,
            # and stop() runs in serve_forever's finally. (Closing the sockets from another thread instead races
            # the loop's select(): EBADF, or a loop that never ends.)
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
