"""The durable outbox: every message the bot posts on its own initiative, and the worker that delivers it.

Items are rows in SQLite, written in the same transaction as whatever caused them (a webhook delivery, a
reminder's mark, a deploy's state), so nothing accepted is lost to a Slack outage, a 429 or a crash.
Items with the same `key` are delivered in order; different keys never wait for each other.

Up to `SENDERS` items are sent at once, each the oldest of its key and never two in one channel, so a key's order
and a channel's hold while a slow Slack answers many channels in parallel. A card updated again before its turn is
sent once, at its newest version.

Delivery is at-least-once for the one item in flight at the instant of a crash (Slack has no idempotency
key for chat.postMessage) and exactly-once otherwise: an item is marked sent in the same moment its
`ts` is recorded, and a sent item is never picked again.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

from slack_sdk.errors import SlackApiError

from bot.core import metrics
from bot.core.background import PROCESS_OWNER, BackgroundLoop
from bot.core.feature import FeatureSet
from bot.core.render import Message
from bot.core.store import Migration

log = logging.getLogger(__name__)

SCHEMA: list[str] = [
    """CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,                 -- ordering key: same key, same order
        channel TEXT NOT NULL,
        anchor TEXT NOT NULL DEFAULT '',   -- create-or-update the message with this name
        thread_anchor TEXT NOT NULL DEFAULT '',  -- reply in the thread of the message with this name
        fallback_user TEXT NOT NULL DEFAULT '',  -- when the channel refuses us, tell this person directly
        message TEXT NOT NULL,             -- JSON {text, blocks}
        state TEXT NOT NULL DEFAULT 'pending',   -- pending | sending | sent | parked | dropped
        owner TEXT NOT NULL DEFAULT '',    -- host:pid of the worker sending it
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        sent_at REAL,
        ts TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_by_state_key ON outbox (state, key, id)",
    """CREATE TABLE IF NOT EXISTS slack_anchors (
        channel TEXT NOT NULL,
        anchor TEXT NOT NULL,
        ts TEXT NOT NULL,
        PRIMARY KEY (channel, anchor)
    )""",
]
MIGRATIONS = [
    Migration("outbox", 1, SCHEMA),
    # A claim lasts until `claimed_until`: a replica that died mid-send has its item taken over after that.
    Migration("outbox", 2, ("ALTER TABLE outbox ADD COLUMN claimed_until REAL NOT NULL DEFAULT 0",)),
    # Which anchored message a ts is (a reply in a card's thread names its card by the thread's ts).
    Migration("outbox", 3, ("CREATE INDEX IF NOT EXISTS slack_anchors_by_ts ON slack_anchors (channel, ts)",)),
]

# Errors that mean the channel will not take our messages until a person acts.
CHANNEL_ERRORS = {"channel_not_found", "not_in_channel", "is_archived"}
# Errors worth trying again later.
TRANSIENT_ERRORS = {"ratelimited", "rate_limited", "fatal_error", "internal_error", "service_unavailable", "request_timeout", "team_added_to_org"}
# chat.update found no message to update: post a new one instead.
MESSAGE_GONE_ERRORS = {"message_not_found", "cant_update_message"}

_wakeup = threading.Event()
OWNER = PROCESS_OWNER  # who claims an item
# How long a claim holds. A send takes at most Slack's timeout (10 s) and one retry; past the lease, another
# worker (another replica, or this one after a restart) takes the item over.
CLAIM_LEASE_SECONDS = 45.0
RECLAIM_EVERY_SECONDS = 10.0  # with the lease: a dead worker's item is taken over within a minute
# Slack calls in flight at once, each for a different key and channel. Slack answers in 100-300 ms; one call at a time would cap a
# replica at a few messages a second, below a busy company's webhooks. Slack's own limits are per method and per
# channel; a 429 holds back only its key.
SENDERS = 16
PASS_LIMIT = 200  # sends one pass starts at most
# At most this many queued versions of one card are folded into its newest one in a single send.
FOLD_AT_MOST = 50

def enqueue(db, *, channel: str, message: Message | dict, key: str, anchor: str | None = None, thread_anchor: str | None = None,
            fallback_user: str | None = None) -> int:
    """Queue one message; call inside the transaction that stores its cause. Returns the item's id.

    `fallback_user`: the person who asked for it (a deploy, a reminder). If the channel will not take the bot's
    messages (a private channel it is not in, say), they get it as a direct message instead of nobody."""
    body = message.to_dict() if isinstance(message, Message) else {"text": message.get("text", ""), "blocks": message.get("blocks") or []}
    cursor = db.execute(
        "INSERT INTO outbox (key, channel, anchor, thread_anchor, fallback_user, message, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (key, channel, anchor or "", thread_anchor or "", fallback_user or "", json.dumps(body, separators=(",", ":")), time.time()),
    )
    pending = getattr(db, "after_commit", None)
    if pending is not None:
        pending.append(_wakeup.set)  # woken before the commit, the worker would find nothing and doze off
    else:
        _wakeup.set()
    return cursor.fetchone()[0]


REACTION_NAMES = ("white_check_mark", "x", "hourglass_flowing_sand")  # the states a reaction tells (one at a time)


def enqueue_reaction(db, *, channel: str, anchor: str, name: str, key: str) -> int:
    """Queue a reaction `name` (without colons) on the message of `anchor` in `channel`, in place of the other
    `REACTION_NAMES` the bot put there (scope reactions:write). Nothing happens when there is no such message."""
    body = {"text": "", "blocks": [], "reaction": name}
    cursor = db.execute(
        "INSERT INTO outbox (key, channel, thread_anchor, message, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
        (key, channel, anchor, json.dumps(body, separators=(",", ":")), time.time()),
    )
    pending = getattr(db, "after_commit", None)
    if pending is not None:
        pending.append(_wakeup.set)
    else:
        _wakeup.set()
    return cursor.fetchone()[0]


def anchor_ts(store, channel: str, anchor: str) -> str | None:
    row = store.query_one("SELECT ts FROM slack_anchors WHERE channel = ? AND anchor = ?", (channel, anchor))
    return row["ts"] if row else None


def anchor_named(store, channel: str, ts: str) -> str | None:
    """The anchor whose message in `channel` is the one at `ts` (the reverse of `anchor_ts`), or None."""
    row = store.query_one("SELECT anchor FROM slack_anchors WHERE channel = ? AND ts = ? ORDER BY anchor LIMIT 1", (channel, ts))
    return row["anchor"] if row else None


def waiting(store, *, now: float) -> int:
    """How many items wait to be sent and are due by `now` (the shell waits for them)."""
    return store.query_one(
        "SELECT COUNT(*) AS n FROM outbox WHERE state IN ('pending', 'sending') AND next_attempt_at <= ?", (now,)
    )["n"]


def check_lines(store) -> list[tuple[str, str]]:
    """For `bitbucket-chatops check`: parked messages, and a backlog if there is one."""
    lines = []
    parked = store.query("SELECT COUNT(*) AS n, MAX(last_error) AS error FROM outbox WHERE state = 'parked'")[0]
    if parked["n"]:
        lines.append(("FIX", f"{parked['n']} Slack message(s) parked after repeated failures (last error: {parked['error']})"))
    pending = store.query("SELECT COUNT(*) AS n FROM outbox WHERE state IN ('pending', 'sending')")[0]["n"]
    lines.append(("ok " if not pending else " - ", f"outbox: {pending} message(s) waiting to be delivered"))
    return lines


@dataclass(frozen=True)
class Item:
    id: int
    key: str
    channel: str
    anchor: str
    thread_anchor: str
    fallback_user: str
    message: dict
    attempts: int


@dataclass(frozen=True)
class Senders:
    """How many sends the worker keeps in flight: a part of the services (`SENDERS` when none is provided). The shell
    provides `Senders(1)`: one person reading one transcript sees every message in the order it was queued, and
    the numbers of its buttons are the same each time."""

    count: int = SENDERS


@dataclass(frozen=True)
class Backoff:
    base: float = 1.0
    cap: float = 300.0
    max_attempts: int = 40  # with the cap, a little over three hours of trying before an item is parked

    def delay(self, attempts: int, rand=random.random) -> float:
        """Exponential backoff with jitter (half to all of the step), so retries after an outage spread out."""
        step = min(self.cap, self.base * 2 ** min(attempts, 30))
        return step * (0.5 + rand() / 2)


class OutboxWorker(BackgroundLoop):
    """One thread that drains the outbox into Slack."""

    thread_name = "outbox-worker"
    defers_to_foreground = True

    def __init__(self, store, slack, *, on_channel_refused=(), backoff: Backoff = Backoff(), idle_wait: float = 0.5, clock=time.time,
                 senders: int = SENDERS):
        """`on_channel_refused`: handler(db, channel, error_code) each, called inside the transaction that drops an
        item a channel refused (the relay marks the channel's subscriptions broken): the outbox knows no feature's
        tables. Every feature's, from the services' `FeatureSet`, in `start_background`."""
        super().__init__(_wakeup)
        self.store = store
        self.slack = slack
        self.on_channel_refused = tuple(on_channel_refused)
        self.backoff = backoff
        self.idle_wait = idle_wait
        self.clock = clock
        self._next_reclaim = 0.0
        self._ims: dict[str, str] = {}  # a person's user ID -> the bot's direct-message channel with them
        self.senders = max(1, senders)
        self._pool: ThreadPoolExecutor | None = None  # made at the first batch of more than one item

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> "OutboxWorker":
        self.reclaim_abandoned()
        return super().start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the sends in flight (the items not yet claimed stay pending), then stop."""
        super().stop(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def reclaim_abandoned(self) -> int:
        """Items whose claim ran out (their worker died mid-send, on any host) go back to pending; so do items
        a dead process of this very host was sending, at once. Sent again, they may post twice: that one
        message in flight at a crash is the outbox's only double."""
        now = self.clock()
        expired = self.store.execute(
            "UPDATE outbox SET state = 'pending', owner = '' WHERE state = 'sending' AND claimed_until < ?", (now,)
        ).rowcount
        rows = self.store.query("SELECT id, owner FROM outbox WHERE state = 'sending'")
        dead = [row["id"] for row in rows if not _owner_alive(row["owner"])]
        for item_id in dead:
            self.store.execute("UPDATE outbox SET state = 'pending', owner = '' WHERE id = ? AND state = 'sending'", (item_id,))
        return expired + len(dead)

    def one_pass(self) -> bool:
        if self.clock() >= self._next_reclaim:
            self._next_reclaim = self.clock() + RECLAIM_EVERY_SECONDS
            self.reclaim_abandoned()
        return self.drain_once() > 0

    def idle_time(self) -> float:
        return self.idle_wait

    # --- one pass ----------------------------------------------------------------------------------

    def due_items(self, limit: int = 50) -> list[Item]:
        """The oldest pending item of each key that is due and has nothing older pending before it."""
        rows = self.store.query(
            """SELECT o.id, o.key, o.channel, o.anchor, o.thread_anchor, o.fallback_user, o.message, o.attempts
               FROM outbox o
               WHERE o.state = 'pending' AND o.next_attempt_at <= ?
                 AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.key = o.key AND p.state IN ('pending', 'sending') AND p.id < o.id)
               ORDER BY o.id LIMIT ?""",
            (self.clock(), limit),
        )
        return [Item(**{**row, "message": json.loads(row["message"])}) for row in rows]

    def drain_once(self) -> int:
        """Deliver what is due, up to `senders` at once: one item per key, and one per channel (a channel reads its
        messages in the order they were queued, and Slack paces each channel anyway). A send that finishes frees its
        slot for the next due item at once. Returns how many were handled, once every send it started has finished;
        it starts at most `PASS_LIMIT`, so the loop can step aside between passes."""
        if self.senders == 1:
            return sum(self._claim_and_deliver(item) for item in self.due_items())
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.senders, thread_name_prefix="outbox-sender")
        started: set[int] = set()
        queue: list[Item] = []  # heads of keys, oldest first, read at once and started as slots free up
        in_flight: dict[Future, str] = {}  # each send's channel
        handled, reread = 0, False
        while True:
            while not self.stopping and len(in_flight) < self.senders and len(started) < PASS_LIMIT:
                busy = set(in_flight.values())
                item = next((queued for queued in queue if queued.channel not in busy), None)
                if item is None:
                    if reread:  # nothing new is due until a send finishes
                        break
                    queue = [due for due in self.due_items(limit=4 * self.senders) if due.id not in started]
                    reread = True
                    continue
                queue.remove(item)
                started.add(item.id)
                in_flight[self._pool.submit(self._claim_and_deliver, item)] = item.channel
            if not in_flight:
                return handled
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            reread = False
            for future in done:
                finished = in_flight.pop(future)
                # What was read of that channel is stale now: the next of the finished key may come before it.
                queue = [queued for queued in queue if queued.channel != finished]
                try:
                    handled += future.result()
                except Exception:  # noqa: BLE001 - the claim itself failed (a database hiccup): the item stays pending
                    log.exception("outbox: a send could not start")

    def _claim_and_deliver(self, item: Item) -> int:
        if self.stopping or not self._claim(item):  # claimed only when its send starts: a stop leaves the rest pending
            return 0
        newest, folded = self._fold_later_versions(item)
        self.deliver(newest, folded=folded)
        return 1

    def _claim(self, item: Item) -> bool:
        # A second process on the same database (a web replica) must not send the same item.
        cursor = self.store.execute(
            "UPDATE outbox SET state = 'sending', owner = ?, claimed_until = ? WHERE id = ? AND state = 'pending'",
            (OWNER, self.clock() + CLAIM_LEASE_SECONDS, item.id),
        )
        return cursor.rowcount == 1

    def _fold_later_versions(self, item: Item) -> tuple[Item, tuple[int, ...]]:
        """A card (an anchored message) updated again before it was sent: the versions queued right behind it in its
        key are claimed with it, and only the newest is sent (after an outage, 20 updates of one card are one call).
        Returns the item to send, under the claimed head's id, and the ids folded into it."""
        if not item.anchor or item.message.get("reaction"):
            return item, ()
        rows = self.store.query(
            "SELECT id, channel, anchor, thread_anchor, fallback_user, message FROM outbox WHERE key = ? AND state = 'pending' AND id > ? "
            "ORDER BY id LIMIT ?", (item.key, item.id, FOLD_AT_MOST))
        run = []
        for row in rows:  # only the versions that follow it directly: a reply or a reaction in between keeps its place
            if (row["channel"], row["anchor"], row["thread_anchor"]) != (item.channel, item.anchor, ""):
                break
            run.append(row)
        if not run:
            return item, ()
        ids = tuple(row["id"] for row in run)
        # The head is ours ('sending'), so no other worker may take what follows it in its key.
        self.store.execute(
            f"UPDATE outbox SET state = 'sending', owner = ?, claimed_until = ? WHERE state = 'pending' AND {_ids_in(ids)}",
            (OWNER, self.clock() + CLAIM_LEASE_SECONDS, *ids),
        )
        newest = run[-1]
        return replace(item, message=json.loads(newest["message"]), fallback_user=newest["fallback_user"]), ids

    def deliver(self, item: Item, *, folded: tuple[int, ...] = ()) -> None:
        try:
            try:
                ts = self._send(item)
            except SlackApiError as error:
                self._release_folded(folded)
                self._on_slack_error(item, error)
            except Exception as error:  # noqa: BLE001 - network failures of any kind: back off and try again
                self._release_folded(folded)
                self._retry_later(item, f"{type(error).__name__}: {error}")
            else:
                self._mark_sent(item, ts, folded)
        except Exception:  # noqa: BLE001 - recording the outcome failed (a locked database, say)
            log.exception("outbox: could not record what happened to item %s; it goes back in the queue", item.id)
            self._release(item)
            self._release_folded(folded)

    def _release(self, item: Item) -> None:
        """Back to pending, so the item's key is not held up until a restart (it may then be sent twice)."""
        try:
            self.store.execute("UPDATE outbox SET state = 'pending', owner = '' WHERE id = ? AND state = 'sending'", (item.id,))
        except Exception:  # noqa: BLE001 - then reclaim_abandoned() at the next start puts it back
            log.exception("outbox: item %s stays claimed until the next start", item.id)

    def _release_folded(self, folded: tuple[int, ...]) -> None:
        """The head was not sent: the later versions wait again, behind it, as they were."""
        if not folded:
            return
        try:
            self.store.execute(
                f"UPDATE outbox SET state = 'pending', owner = '' WHERE state = 'sending' AND {_ids_in(folded)}", folded)
        except Exception:  # noqa: BLE001 - then their lease runs out and reclaim_abandoned() puts them back
            log.exception("outbox: items %s stay claimed until their lease runs out", folded)

    def _conversation(self, channel: str) -> str:
        """A person's user ID as the ID of the bot's direct-message channel with them (`conversations.open`,
        scope im:write): chat.update needs the channel's own ID. Other channels are themselves."""
        if channel[:1] not in ("U", "W"):
            return channel
        if channel not in self._ims:
            self._ims[channel] = self.slack.conversations_open(users=channel)["channel"]["id"]
        return self._ims[channel]

    def _react(self, item: Item) -> str:
        """A reaction in place of the bot's other state reactions on an anchored message ('' when it is not there)."""
        ts = anchor_ts(self.store, item.channel, item.thread_anchor) if item.thread_anchor else None
        if not ts:
            return ""
        channel, name = self._conversation(item.channel), item.message["reaction"]
        for other in REACTION_NAMES:
            if other != name:
                try:
                    self.slack.reactions_remove(channel=channel, timestamp=ts, name=other)
                except SlackApiError as error:
                    if error.response.get("error") not in ("no_reaction", "message_not_found"):
                        raise
        try:
            self.slack.reactions_add(channel=channel, timestamp=ts, name=name)
        except SlackApiError as error:
            if error.response.get("error") not in ("already_reacted", "message_not_found"):
                raise
        return ts

    def _send(self, item: Item) -> str:
        if item.message.get("reaction"):
            return self._react(item)
        text, blocks = item.message.get("text", ""), item.message.get("blocks") or None
        channel = self._conversation(item.channel)
        if item.anchor:
            existing = anchor_ts(self.store, item.channel, item.anchor)
            if existing:
                try:
                    self.slack.chat_update(channel=channel, ts=existing, text=text, blocks=blocks or [])
                    return existing
                except SlackApiError as error:
                    if error.response.get("error") not in MESSAGE_GONE_ERRORS:
                        raise
                    log.info("outbox: anchored message %s in %s is gone; posting it again", item.anchor, item.channel)
        thread_ts = anchor_ts(self.store, item.channel, item.thread_anchor) if item.thread_anchor else None
        response = self.slack.chat_postMessage(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False)
        return response["ts"]

    def _mark_sent(self, item: Item, ts: str, folded: tuple[int, ...] = ()) -> None:
        # Its own rows only: no read-then-write to keep atomic across replicas, so no store-wide lock.
        with self.store.transaction(lock=None) as db:
            ids = (item.id, *folded)  # the folded versions were told by the newest one's message
            db.execute(f"UPDATE outbox SET state = 'sent', ts = ?, sent_at = ?, owner = '' WHERE {_ids_in(ids)}", (ts, self.clock(), *ids))
            if item.anchor:
                db.execute(
                    "INSERT INTO slack_anchors (channel, anchor, ts) VALUES (?, ?, ?) ON CONFLICT (channel, anchor) DO UPDATE SET ts = excluded.ts",
                    (item.channel, item.anchor, ts),
                )

    def _on_slack_error(self, item: Item, error: SlackApiError) -> None:
        status = error.response.status_code
        code = error.response.get("error") or f"HTTP {status}"
        if status == 429:
            retry_after = _retry_after_seconds(error.response.headers)
            log.info("outbox: Slack rate limit; waiting %.1fs before item %s", retry_after, item.id)
            metrics.RATE_LIMIT_WAITS.labels("slack").inc()
            self._reschedule(item, self.clock() + retry_after, code, count_attempt=False)
        elif code in CHANNEL_ERRORS:
            log.warning("outbox: channel %s refuses messages (%s); item %s dropped", item.channel, code, item.id)
            rerouted_ts = self._send_to_fallback_user(item, code) if item.fallback_user else None
            with self.store.transaction() as db:
                db.execute(
                    "UPDATE outbox SET state = ?, last_error = ?, ts = ?, owner = '' WHERE id = ?",
                    ("sent" if rerouted_ts else "dropped", code, rerouted_ts, item.id),
                )
                for handler in self.on_channel_refused:
                    handler(db, item.channel, code)
        elif status >= 500 or code in TRANSIENT_ERRORS:
            self._retry_later(item, code)
        else:
            log.error("outbox: Slack refused item %s for good (%s); parked", item.id, code)
            self.store.execute("UPDATE outbox SET state = 'parked', last_error = ?, owner = '' WHERE id = ?", (code, item.id))

    def _send_to_fallback_user(self, item: Item, code: str) -> str | None:
        """The channel refused: a direct message to the person who asked, saying why it came here."""
        why = f":information_source: This was meant for <#{item.channel}>, but Slack said `{code}` (invite the bot there to fix it)."
        blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": why}]}, *(item.message.get("blocks") or [])]
        try:
            response = self.slack.chat_postMessage(channel=item.fallback_user, text=item.message.get("text", ""), blocks=blocks[:50])
            return response["ts"]
        except Exception:  # noqa: BLE001 - then it is dropped, as it would have been
            log.warning("outbox: could not reach %s directly either; item %s dropped", item.fallback_user, item.id)
            return None

    def _retry_later(self, item: Item, reason: str) -> None:
        if item.attempts + 1 >= self.backoff.max_attempts:
            log.error("outbox: item %s failed %d times (%s); parked", item.id, item.attempts + 1, reason)
            self.store.execute("UPDATE outbox SET state = 'parked', last_error = ?, attempts = attempts + 1, owner = '' WHERE id = ?", (reason[:500], item.id))
            return
        delay = self.backoff.delay(item.attempts)
        log.info("outbox: item %s not delivered (%s); retrying in %.1fs", item.id, reason, delay)
        self._reschedule(item, self.clock() + delay, reason, count_attempt=True)

    def _reschedule(self, item: Item, when: float, reason: str, *, count_attempt: bool) -> None:
        self.store.execute(
            "UPDATE outbox SET state = 'pending', owner = '', next_attempt_at = ?, last_error = ?, attempts = attempts + ? WHERE id = ?",
            (when, reason[:500], int(count_attempt), item.id),
        )


def _ids_in(ids) -> str:
    return f"id IN ({', '.join('?' * len(ids))})"


def _retry_after_seconds(headers) -> float:
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    try:
        return min(max(float(value), 0.0), 300.0)
    except (TypeError, ValueError):
        return 1.0


def _owner_alive(owner: str) -> bool:
    """False only for a process of this host that is gone; another host's items wait for their lease."""
    parts = owner.split(":")
    if len(parts) == 3:
        host, pid, _ = parts
    else:
        host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    if int(pid) == os.getpid():
        return False  # an earlier incarnation in this very process (a restarted worker)
    try:
        os.kill(int(pid), 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def start_background(services, *, scheduler: bool = True) -> list:
    features = services.part(FeatureSet)
    senders = (services.part(Senders) or Senders()).count
    worker = OutboxWorker(services.store, services.slack, on_channel_refused=features.channel_refused_handlers() if features else (),
                          senders=senders).start()
    services.provide(worker)
    return [worker.stop]
