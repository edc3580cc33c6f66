"""Webhook intake at the bare limit: before the 200, only the dedupe and one durable append of the raw delivery.

Routing and rendering come after, in the router (`bot.relay.router`). On SQLite, which has one writer,
concurrent deliveries share one commit (`DeliveryWriter`, a group commit), so each is durable before its 200
without paying an fsync each; when a batch fails, each of its deliveries is tried alone, so one bad delivery
never fails its neighbours. PostgreSQL commits concurrent sessions together by itself: there each request
appends its own delivery, one statement in autocommit.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property

log = logging.getLogger(__name__)

router_wakeup = threading.Event()  # set after a commit that stored new deliveries


@dataclass(frozen=True)
class Delivery:
    """One verified webhook request, as it came. `refused`: why its body does not fit its event key (then it is
    kept as failed, with that reason, and never routed)."""

    event_key: str
    body: bytes
    request_uuid: str = ""
    hook_uuid: str = ""
    attempt: int = 1
    refused: str = ""

    @property
    def body_sha256(self) -> str:
        """The dedupe key: the signed body alone. Bitbucket's HMAC does not cover `X-Event-Key`, and a body is one
        event, so a captured body resent under a new UUID, or under another event key, is the same delivery."""
        return hashlib.sha256(self.body).hexdigest()

    @cached_property  # asked for the id and again for the append: a body of up to 256 KB is hashed once
    def content_sha256(self) -> str:
        """The event key and the body (the dedupe key before relay v3, still unique: deliveries stored before it
        have no `body_sha256`, and a replay of one under its own key is still known)."""
        return hashlib.sha256(self.event_key.encode() + b"\n" + self.body).hexdigest()

    @property
    def id(self) -> str:
        # Bitbucket always sends X-Request-UUID; a hand-made request without it is known by its bytes.
        return self.request_uuid or "sha256:" + self.content_sha256


# What a body must hold for its event key (checked before it is stored): a signed body resent under another key
# would otherwise be relayed with another meaning. Keys not listed are not checked (nor relayed).
_MUST_HOLD = (
    ("pullrequest:comment_", "comment"),
    ("repo:commit_comment_", "comment"),
    ("pullrequest:approved", "approval"),
    ("pullrequest:unapproved", "approval"),
    ("pullrequest:changes_request_", "changes_request"),
    ("repo:push", "push"),
    ("repo:commit_status_", "commit_status"),
)
_STATE_OF = {"pullrequest:fulfilled": "MERGED", "pullrequest:rejected": "DECLINED"}


def mismatch(event_key: str, payload) -> str:
    """Pure: why `payload` is not a body of `event_key` ("" when it fits)."""
    if not isinstance(payload, dict):
        return "the payload is not a JSON object"
    for prefix, field in _MUST_HOLD:
        if event_key.startswith(prefix) and not isinstance(payload.get(field), dict):
            return f"a {event_key} body without a `{field}` object"
    if event_key in _STATE_OF:
        pull_request = payload.get("pullrequest")
        state = pull_request.get("state") if isinstance(pull_request, dict) else None
        if state != _STATE_OF[event_key]:
            return f"a {event_key} body whose pull request is not {_STATE_OF[event_key]}"
    return ""


def store_delivery(db, delivery: Delivery, *, now: float) -> bool:
    """Append the delivery for the router; False when it was seen before (the same X-Request-UUID, or the same
    body again, whatever its event key: a captured delivery replayed under a new UUID is not relayed twice).
    A refused delivery is appended as failed with its reason, at most once per event key and body, and takes no
    body's place (the genuine delivery of that body is still taken)."""
    if delivery.refused:
        state, outcome, body_sha256 = "failed", f"refused: {delivery.refused}"[:500], None
    else:
        state, outcome, body_sha256 = "pending", "", delivery.body_sha256
    cursor = db.execute(
        """INSERT INTO deliveries (request_uuid, content_sha256, body_sha256, event_key, hook_uuid, attempt, received_at, body, state, outcome)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        (delivery.id, delivery.content_sha256, body_sha256, delivery.event_key, delivery.hook_uuid, delivery.attempt, now,
         delivery.body, state, outcome),
    )
    return cursor.rowcount == 1 and not delivery.refused


PROBE_BYTES = 256 * 1024  # the largest delivery Bitbucket sends


def probe_append(store, *, now: float) -> None:
    """Append a delivery-sized row and delete it, committed (a rollback never touches the disk): raises where an
    append of a delivery would fail (a full disk, a read-only database)."""
    probe = f"health-probe:{uuid.uuid4()}"
    with store.transaction(lock=None) as db:
        db.execute(
            """INSERT INTO deliveries (request_uuid, content_sha256, event_key, received_at, body, state)
               VALUES (?, ?, '', ?, ?, 'probe')""",
            (probe, probe, now, bytes(PROBE_BYTES)),
        )
        db.execute("DELETE FROM deliveries WHERE request_uuid = ?", (probe,))


@dataclass
class _Job:
    delivery: Delivery
    done: threading.Event = field(default_factory=threading.Event)
    stored: bool = False
    error: BaseException | None = None


def _not_stored(job: _Job, error: Exception) -> None:
    log.error("webhook delivery %s not stored: %s", job.delivery.id, error)
    job.stored, job.error = False, error


class DeliveryWriter:
    """One thread that appends deliveries, batching those that arrive together into one transaction.

    `write()` returns once the delivery is committed (SQLite with synchronous=FULL, or PostgreSQL: on disk),
    so a 200 still means stored.
    """

    def __init__(self, store, *, max_batch: int = 64, clock=time.time):
        self.store = store
        self.max_batch = max_batch
        self.clock = clock
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    failing: str = ""  # why the last append failed ("" once one succeeds): what `/healthz` tells

    def write(self, delivery: Delivery, timeout: float = 30.0) -> bool:
        """True when stored now, False for a duplicate; raises when it could not be stored (and remembers why,
        for `/healthz`, until an append succeeds again)."""
        try:
            stored = self._write(delivery, timeout)
        except Exception as error:
            self.failing = f"{type(error).__name__}: {error}"[:300] or type(error).__name__
            raise
        self.failing = ""
        return stored

    def problem(self) -> str:
        """What the intake would answer now: "" when it can append, else why not. While appends fail, each call
        tries an append of the largest delivery (committed, then deleted), so health recovers with the disk."""
        if not self.failing:
            return ""
        try:
            probe_append(self.store, now=self.clock())
        except Exception as error:  # noqa: BLE001 - still failing: say why
            self.failing = f"{type(error).__name__}: {error}"[:300] or type(error).__name__
            return self.failing
        self.failing = ""
        return ""

    def _write(self, delivery: Delivery, timeout: float) -> bool:
        if self.store.kind == "postgresql":
            stored = store_delivery(self.store, delivery, now=self.clock())
            if stored:
                router_wakeup.set()
            return stored
        job = _Job(delivery)
        with self._lock:
            if self._stopped:
                raise RuntimeError("the delivery writer is stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webhook-writer", daemon=True)
                self._thread.start()
            self._queue.put(job)
        if not job.done.wait(timeout):
            raise TimeoutError("the delivery was not stored in time")
        if job.error is not None:
            raise job.error
        return job.stored

    def stop(self) -> None:
        """Write what was handed over, then stop."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(30)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            self._write_batch(batch)

    def _write_batch(self, batch: list[_Job]) -> None:
        try:
            self._commit(batch)
        except Exception as batch_error:  # noqa: BLE001 - then each alone: one bad delivery must not fail its neighbours
            if len(batch) == 1:  # alone already: the same commit is not tried twice (Bitbucket sends it again on a 503)
                _not_stored(batch[0], batch_error)
            else:
                log.warning("storing %d webhook deliveries together failed; storing each alone", len(batch))
                for job in batch:
                    try:
                        self._commit([job])
                    except Exception as error:  # noqa: BLE001 - not stored: answered 503, Bitbucket sends it again
                        _not_stored(job, error)
        for job in batch:
            job.done.set()

    def _commit(self, batch: list[_Job]) -> None:
        now = self.clock()
        with self.store.transaction(lock=None) as db:  # appends need no order between replicas
            stored = [store_delivery(db, job.delivery, now=now) for job in batch]
            if any(stored):
                db.after_commit.append(router_wakeup.set)
        for job, was_stored in zip(batch, stored):
            job.stored, job.error = was_stored, None
