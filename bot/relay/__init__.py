"""Relaying Bitbucket events into Slack channels.

    webhook -> verify -> intake (dedupe, append the raw delivery; then the 200)
            -> router: route (pure) -> render (pure) -> outbox, in one transaction -> Slack

| module | what |
| --- | --- |
| `intake` | the delivery as it came, and the group-committed append behind the webhook's answer |
| `router` | the worker that routes stored deliveries into the outbox, calling the relay hooks; failures kept with their reason |
| `hooks` | what a relay hook is handed (`RoutedEvent`): other features add to a delivery without the relay importing them |
| `routing` | pure: which channel gets which message, the newest state of a pull request, build notes |
| `subscriptions` | which channels relay which repositories; the webhooks the bot registered |
| `threads` | which relayed message a Slack message is: a pull request's card, or one comment's message in its thread |

The relay's tables are read by other features only through these functions: `pull_request_state`, `build_states`,
`subscribed_repositories`, `channel_repositories`, `registrations`, `waiting_deliveries`; and which message is
which through `pull_request_in_thread`, `relayed_comment_at`, `card_ts`, `comment_anchor`.

A pull request has one card per channel (the outbox anchor `pr:{repo}#{id}`), drawn from the newest state
stored for it, so a late or repeated event cannot roll the card back; its events are replies in the card's
thread.
"""

from __future__ import annotations

import threading

from bot.core.feature import FeatureSet
from bot.core.store import Migration
from bot.relay import files
from bot.relay.filters import NO_FILTERS, ChangedFiles, Filters
from bot.relay.hooks import FilesPending, RelayHook, RoutedEvent
from bot.relay.render import RELAYED_EVENTS
from bot.relay.intake import Delivery, DeliveryWriter, mismatch, store_delivery
from bot.relay.router import (
    DELIVERY_STATES,
    DeliveryRecord,
    DeliveryRouter,
    Malformed,
    Routed,
    build_states,
    builds_seen,
    check_lines,
    failed_deliveries,
    forget_failed,
    prune_deliveries,
    pull_request_state,
    recent_deliveries,
    retry_failed,
    route_pending,
    waiting_deliveries,
)
from bot.relay.routing import (
    Post,
    build_note,
    build_series,
    newer_pull_request,
    plan_build,
    plan_pull_request,
    plan_push,
    pull_request_anchor,
    slim_pull_request,
)
from bot.relay.threads import card_anchor, card_of, card_ts, comment_anchor, comment_of, pull_request_in_thread, relayed_comment_at
from bot.relay.subscriptions import (
    Registration,
    Subscription,
    forget_registration,
    is_workspace_pattern,
    workspace_pattern,
    branch_matches,
    channel_repositories,
    channel_subscriptions,
    find_our_hook,
    followed_repositories,
    mark_channel_broken,
    missing_events,
    record_moved_hook,
    record_registration,
    registrations,
    remember_main_branch,
    secret_generation,
    secret_mark,
    subscribe,
    subscribed_repositories,
    subscriptions_by_repository,
    unsubscribe,
    webhook_event_lines,
    webhook_url,
    workspace_check_lines,
)

__all__ = [
    "Delivery", "DeliveryWriter", "mismatch", "store_delivery", "DeliveryRouter", "Malformed", "Routed", "check_lines", "prune_deliveries",
    "failed_deliveries", "retry_failed", "forget_failed", "DELIVERY_STATES", "DeliveryRecord", "recent_deliveries",
    "Registration", "record_moved_hook", "registrations", "secret_generation", "secret_mark", "subscriptions_by_repository",
    "route_pending", "Post", "build_note", "build_series", "newer_pull_request", "plan_build", "plan_pull_request", "plan_push",
    "pull_request_anchor", "slim_pull_request", "Subscription", "branch_matches", "channel_repositories", "channel_subscriptions",
    "find_our_hook", "mark_channel_broken", "record_registration", "remember_main_branch", "subscribe", "unsubscribe", "webhook_url",
    "MIGRATIONS", "delivery_writer", "start_background", "RelayHook", "RoutedEvent", "build_states", "pull_request_state",
    "waiting_deliveries", "subscribed_repositories",
    "card_anchor", "card_of", "card_ts", "comment_anchor", "comment_of", "pull_request_in_thread", "relayed_comment_at",
    "ChangedFiles", "Filters", "NO_FILTERS", "FilesPending", "workspace_pattern", "is_workspace_pattern", "forget_registration",
    "relay_check_lines", "missing_events", "webhook_event_lines", "RELAYED_EVENTS",
]

_SCHEMA_V1 = [
    """CREATE TABLE IF NOT EXISTS subscriptions (
        channel_id TEXT NOT NULL,
        repo TEXT NOT NULL,              -- workspace/slug, lower-case
        families TEXT NOT NULL,          -- comma-separated: pullrequests,pushes,tags,builds
        branch_glob TEXT NOT NULL DEFAULT '',
        created_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        broken_reason TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (channel_id, repo)
    )""",
    "CREATE INDEX IF NOT EXISTS subscriptions_by_repo ON subscriptions (repo)",
    # Every delivery we answered, so a retried one (same X-Request-UUID) is answered and not relayed again.
    """CREATE TABLE IF NOT EXISTS webhook_deliveries (
        request_uuid TEXT PRIMARY KEY,
        event_key TEXT NOT NULL,
        repo TEXT NOT NULL DEFAULT '',
        hook_uuid TEXT NOT NULL DEFAULT '',
        attempt INTEGER NOT NULL DEFAULT 1,
        received_at REAL NOT NULL,
        outcome TEXT NOT NULL DEFAULT '',  -- relayed | ignored: … | failed: …
        body BLOB                          -- kept only when it failed, to look into; what it posts is in the outbox
    ) WITHOUT ROWID""",
    # The newest state seen of each pull request: what its cards show.
    """CREATE TABLE IF NOT EXISTS relay_pull_requests (
        repo TEXT NOT NULL,
        pr_id INTEGER NOT NULL,
        updated_on TEXT NOT NULL DEFAULT '',
        data TEXT NOT NULL,              -- JSON, the fields a card needs
        PRIMARY KEY (repo, pr_id)
    )""",
    # The last result of each build series on each branch: tells a fixed build from one more success.
    """CREATE TABLE IF NOT EXISTS relay_builds (
        repo TEXT NOT NULL,
        refname TEXT NOT NULL,
        series TEXT NOT NULL,
        status_key TEXT NOT NULL,
        state TEXT NOT NULL,
        updated_on TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (repo, refname, series)
    )""",
    # One Bitbucket webhook per repository, however many channels subscribe.
    """CREATE TABLE IF NOT EXISTS webhook_registrations (
        repo TEXT PRIMARY KEY,
        hook_uuid TEXT NOT NULL DEFAULT '',
        url TEXT NOT NULL DEFAULT '',
        main_branch TEXT NOT NULL DEFAULT '',
        registered_by TEXT NOT NULL,
        registered_at REAL NOT NULL
    )""",
]

MIGRATIONS = [
    Migration("relay", 1, _SCHEMA_V1),
    # Intake at the bare limit: the raw delivery is appended before the 200 and routed afterwards. Deduped on
    # X-Request-UUID and on the SHA-256 of event key and body (a replay under a new UUID is the same delivery).
    Migration("relay", 2, (
        """CREATE TABLE IF NOT EXISTS deliveries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_uuid TEXT NOT NULL UNIQUE,
            content_sha256 TEXT NOT NULL UNIQUE,
            event_key TEXT NOT NULL,
            hook_uuid TEXT NOT NULL DEFAULT '',
            attempt INTEGER NOT NULL DEFAULT 1,
            received_at REAL NOT NULL,
            body BLOB,                        -- until routed; kept after only when routing failed, to look into
            state TEXT NOT NULL,              -- pending | relayed | ignored | failed
            outcome TEXT NOT NULL DEFAULT '',
            routed_at REAL
        )""",
        "CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (state, id)",
        "CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries (received_at)",
        "DROP TABLE IF EXISTS webhook_deliveries",
    )),
    # Deduped on the body alone: X-Event-Key is not signed, so a captured body resent under another key is the same
    # delivery. Rows stored before this step have no body_sha256 (NULLs never conflict) and keep content_sha256.
    Migration("relay", 3, (
        "ALTER TABLE deliveries ADD COLUMN body_sha256 TEXT",
        "CREATE UNIQUE INDEX IF NOT EXISTS deliveries_body_sha256 ON deliveries (body_sha256)",
    )),
    # What operators read (the dashboard): each routed delivery's repository, and a mark of the secret each
    # webhook was registered with (never the secret itself: see `subscriptions.secret_mark`).
    Migration("relay", 4, (
        "ALTER TABLE deliveries ADD COLUMN repo TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE webhook_registrations ADD COLUMN secret_mark TEXT NOT NULL DEFAULT ''",
    )),
    # Filters on subscriptions (JSON, '' for none), and the files events change: a delivery whose filters (or a
    # relay hook: owners) need the files of a pull request update waits (`state = 'waiting'`, `waiting_for` its
    # key) while the files reader asks Bitbucket, then is routed again with them.
    Migration("relay", 5, (
        "ALTER TABLE subscriptions ADD COLUMN filters TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE deliveries ADD COLUMN waiting_for TEXT NOT NULL DEFAULT ''",
        """CREATE TABLE IF NOT EXISTS relay_files (
            key TEXT PRIMARY KEY,             -- workspace/slug#ID@SOURCE_HASH, or workspace/slug@NEW..OLD for a push
            repo TEXT NOT NULL,
            spec TEXT NOT NULL,               -- pr:ID, or diff:NEW..OLD
            state TEXT NOT NULL,              -- pending | known | unknown
            paths TEXT NOT NULL DEFAULT '[]', -- JSON list of the changed files' paths
            complete INTEGER NOT NULL DEFAULT 1,
            why TEXT NOT NULL DEFAULT '',     -- why they are unknown
            owner TEXT NOT NULL DEFAULT '',
            lease_until REAL NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try_at REAL NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS relay_files_pending ON relay_files (state, next_try_at)",
        "CREATE INDEX IF NOT EXISTS deliveries_waiting ON deliveries (state, waiting_for)",
    )),
    # The events each webhook has, as Bitbucket said (comma-separated; '' for webhooks registered before this step):
    # `check` names a webhook that lacks some the bot relays, and `webhooks update` adds them.
    Migration("relay", 6, (
        "ALTER TABLE webhook_registrations ADD COLUMN events TEXT NOT NULL DEFAULT ''",
    )),
]


def delivery_writer(services) -> DeliveryWriter:
    """The process's one writer (created on first use)."""
    with _writer_lock:
        writer = services.part(DeliveryWriter)
        if writer is None:
            writer = services.provide(DeliveryWriter(services.store))
        return writer


_writer_lock = threading.Lock()


def start_background(services, *, scheduler: bool = True) -> list:
    """The router, in every process (routing is one transaction at a time across replicas), with every feature's
    relay hooks (from the services' `FeatureSet`, which the composition root provides). On stop, the deliveries
    already handed to the writer are written before the store closes."""
    features = services.part(FeatureSet)
    router = DeliveryRouter(services.store, hooks=features.relay_hooks() if features else (),
                            bot_authors=services.settings.chatops_bot_authors).start()
    services.provide(router)
    reader = files.FilesReader(services.store, services.bitbucket).start()
    services.provide(reader)

    def stop():
        delivery_writer(services).stop()
        router.stop()
        reader.stop()

    return [stop]


def relay_check_lines(store) -> list[tuple[str, str]]:
    """For `check`: the deliveries, the files waiting to be read, the workspaces' webhooks, the events of each webhook."""
    return (check_lines(store) + files.check_lines(store) + workspace_check_lines(store)
            + webhook_event_lines(registrations(store), RELAYED_EVENTS))
