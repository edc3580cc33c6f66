"""The long-lived parts of the running bot, built once and handed to every handler."""

from __future__ import annotations

import contextvars
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, TypeVar

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from bot.core.audit import AuditLog
from bot.bitbucket import BasicApiToken, BearerToken, BitbucketClient, ClientCredentials
from bot.core.config import Settings
from bot.core.metrics import MeteredWebClient
from bot.core.permissions import Permissions
from bot.core.store import Store

Part = TypeVar("Part")

log = logging.getLogger(__name__)

# Bitbucket work runs here, never on Bolt's listener threads, so a slow Bitbucket never delays an ack.
WORK_THREADS = 16


def bitbucket_auth(settings: Settings):
    kind = settings.bitbucket_credential_kind
    if kind == "access_token":
        return BearerToken(settings.bitbucket_access_token)
    if kind == "api_token":
        return BasicApiToken(settings.bitbucket_email, settings.bitbucket_api_token)
    if kind == "oauth_client_credentials":
        return ClientCredentials(
            settings.bitbucket_oauth_client_id, settings.bitbucket_oauth_client_secret, settings.bitbucket_oauth_token_url
        )
    return None


def slack_web_client(settings: Settings) -> WebClient:
    # Only connection errors are retried here (one quick retry); 429 and 5xx are the outbox's business,
    # where waiting does not hold up a person. The client counts and times its calls.
    return MeteredWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
    )


@dataclass
class Services:
    settings: Settings
    store: Store
    bitbucket: BitbucketClient
    slack: WebClient
    permissions: Permissions
    audit: AuditLog
    work: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(WORK_THREADS, thread_name_prefix="bb-work"))
    # Slack-only work that must not queue behind Bitbucket calls (opening a modal: its trigger lives 3 s).
    quick: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="slack-quick"))
    # The bot's clock (an aware datetime): the machine's, unless a test set another.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    # Long-lived parts of features (the outbox worker, the scheduler's jobs, caches, tunings), one per type:
    # `services.provide(obj)`, then `services.part(TypeOfObj)`.
    _parts: dict = field(default_factory=dict)
    _in_flight: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition)

    @classmethod
    def build(cls, settings: Settings, *, store: Store) -> "Services":
        """The services of one process around `store` (migrated: `bot.registry.build_services` opens it)."""
        services = cls(
            settings=settings,
            store=store,
            bitbucket=BitbucketClient(settings.bitbucket_api_url, bitbucket_auth(settings)),
            slack=slack_web_client(settings),
            permissions=Permissions(store, settings.chatops_admins),
            audit=AuditLog(store),
        )
        services.audit.clock = services.timestamp  # the audit's times are the bot's clock (a test's, when it sets one)
        return services

    def provide(self, part: Part) -> Part:
        self._parts[type(part)] = part
        return part

    def part(self, kind: type[Part]) -> Part | None:
        return self._parts.get(kind)

    def forget(self, kind: type) -> None:
        self._parts.pop(kind, None)

    def timestamp(self) -> float:
        """The bot's clock as seconds since the epoch."""
        return self.clock().timestamp()

    def submit(self, fn, *args, quick: bool = False, **kwargs):
        """Run work off the request path; exceptions are logged, never lost silently. The work keeps the caller's
        context (what a Bitbucket request is counted as: `bot.bitbucket.metering.tagged`)."""
        with self._idle:
            self._in_flight += 1
        context = contextvars.copy_context()
        future = (self.quick if quick else self.work).submit(context.run, fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, future) -> None:
        _log_failure(future)
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no submitted work is running (the shell waits for a command's answers)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the pools, then close the store: work already running finishes with its connection.
        `wait=False` drops the work not started yet instead of running it."""
        self.work.shutdown(wait=True, cancel_futures=not wait)
        self.quick.shutdown(wait=True, cancel_futures=not wait)
        self.store.close()


def _log_failure(future) -> None:
    error = future.exception()
    if error is not None:
        log.error("background work failed", exc_info=error)
