"""Relaying Bitbucket events into Slack channels.

    delivery -> store (dedupe on X-Request-UUID) -> route (pure) -> render (pure) -> outbox, in one transaction

A delivery is written (its id for dedupe; its body too when relaying it failed, to look into) with
everything it will post, in the same SQLite transaction; the answer to Bitbucket waits for that commit and
for nothing else. The outbox worker posts afterwards. Concurrent
deliveries share one commit (`DeliveryWriter`, a group commit), so each is durable before its 200 without
paying one fsync each.

A pull request has one card per channel (the outbox anchor `pr:{repo}#{id}`), drawn from the newest state
stored for it, so a late or repeated event cannot roll the card back; its events are replies in the card's
thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from bot import outbox, relay_render
from bot.bitbucket import parse_timestamp
from bot.commands import EVENT_FAMILIES
from bot.render import Message

log = logging.getLogger(__name__)

SCHEMA: list[str] = [
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

DELIVERY_RETENTION_SECONDS = 7 * 86400  # Bitbucket retries within minutes; a week is plenty to dedupe
PRUNE_EVERY_SECONDS = 3600
BUILD_STATES_TOLD = ("FAILED", "SUCCESSFUL")


def channel_repositories(store, channel_id: str) -> list[str]:
    """The repositories a channel is subscribed to: the default REPO of a command typed there."""
    return [row["repo"] for row in store.query("SELECT repo FROM subscriptions WHERE channel_id = ? ORDER BY repo", (channel_id,))]


# --- subscriptions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    channel_id: str
    repo: str
    families: tuple[str, ...] = EVENT_FAMILIES
    branch_glob: str = ""
    broken_reason: str = ""

    def wants(self, family: str, branch: str | None) -> bool:
        """Tags are not branches: `branch:GLOB` keeps pushes, builds and pull requests (by destination)."""
        if family not in self.families:
            return False
        return family == "tags" or branch_matches(self.branch_glob, branch)

    @classmethod
    def from_row(cls, row: dict) -> "Subscription":
        return cls(
            channel_id=row["channel_id"],
            repo=row["repo"],
            families=tuple(f for f in row["families"].split(",") if f),
            branch_glob=row.get("branch_glob") or "",
            broken_reason=row.get("broken_reason") or "",
        )


def branch_matches(glob: str, branch: str | None) -> bool:
    """No glob keeps everything; with one, an unknown branch is not kept."""
    if not glob:
        return True
    return branch is not None and fnmatchcase(branch, glob)


def subscribe(store, *, channel_id: str, repo: str, families: tuple[str, ...], branch_glob: str, user_id: str, now: float) -> bool:
    """Subscribe (or change the subscription of) a channel; True when it is new. A broken one is mended."""
    with store.transaction() as db:
        existed = db.execute("SELECT 1 FROM subscriptions WHERE channel_id = ? AND repo = ?", (channel_id, repo)).fetchone()
        db.execute(
            """INSERT INTO subscriptions (channel_id, repo, families, branch_glob, created_by, created_at, broken_reason)
               VALUES (?, ?, ?, ?, ?, ?, '')
               ON CONFLICT (channel_id, repo) DO UPDATE SET
                 families = excluded.families, branch_glob = excluded.branch_glob, broken_reason = ''""",
            (channel_id, repo, ",".join(families), branch_glob or "", user_id, now),
        )
    return existed is None


def unsubscribe(store, *, channel_id: str, repo: str) -> bool:
    return store.execute("DELETE FROM subscriptions WHERE channel_id = ? AND repo = ?", (channel_id, repo)).rowcount > 0


def channel_subscriptions(store, channel_id: str) -> list[Subscription]:
    rows = store.query("SELECT * FROM subscriptions WHERE channel_id = ? ORDER BY repo", (channel_id,))
    return [Subscription.from_row(row) for row in rows]


def _working_subscriptions(db, repo: str) -> list[Subscription]:
    # A broken subscription stays broken until someone subscribes again (after inviting the bot back).
    rows = db.execute(
        "SELECT channel_id, families, branch_glob FROM subscriptions WHERE repo = ? AND broken_reason = '' ORDER BY channel_id", (repo,)
    ).fetchall()
    return [Subscription(channel, repo, tuple(f for f in families.split(",") if f), glob or "") for channel, families, glob in rows]


# --- webhook registrations -----------------------------------------------------------------------------


def webhook_url(public_url: str) -> str:
    return public_url.rstrip("/") + "/bitbucket/webhook"


def remember_main_branch(store, *, repo: str, main_branch: str, user_id: str, now: float) -> None:
    """Known even when the webhook is added by hand: a success on the main branch is worth telling."""
    store.execute(
        """INSERT INTO webhook_registrations (repo, main_branch, registered_by, registered_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (repo) DO UPDATE SET main_branch = excluded.main_branch""",
        (repo, main_branch, user_id, now),
    )


def record_registration(store, *, repo: str, hook_uuid: str, url: str) -> None:
    """The repository's webhook (after `remember_main_branch` made its row)."""
    store.execute("UPDATE webhook_registrations SET hook_uuid = ?, url = ? WHERE repo = ?", (hook_uuid, url, repo))


def find_our_hook(hooks: list[dict], url: str) -> dict | None:
    """Pure: a hook already pointing at our URL (ignoring case and a trailing slash)."""
    wanted = url.rstrip("/").lower()
    for hook in hooks:
        if (hook.get("url") or "").rstrip("/").lower() == wanted:
            return hook
    return None


# --- routing: pure -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    """One message for the outbox."""

    channel: str
    message: Message
    key: str
    anchor: str | None = None
    thread_anchor: str | None = None


def pull_request_anchor(repo: str, pr_id: int) -> str:
    return f"pr:{repo}#{pr_id}"


def slim_pull_request(event_key: str, payload: dict) -> dict:
    """The fields of a pull request its card needs. Who closed it comes from the event when the PR omits it."""
    pr = payload.get("pullrequest") or {}
    kept = {
        key: pr.get(key)
        for key in ("id", "title", "state", "draft", "author", "source", "destination", "reviewers", "participants",
                    "merge_commit", "closed_by", "reason", "created_on", "updated_on", "links")
        if key in pr
    }
    kept["links"] = {"html": (pr.get("links") or {}).get("html")}
    for side in ("source", "destination"):
        if isinstance(kept.get(side), dict):
            kept[side] = {k: v for k, v in kept[side].items() if k in ("branch", "commit", "repository")}
    if not kept.get("closed_by") and event_key in ("pullrequest:fulfilled", "pullrequest:rejected"):
        kept["closed_by"] = payload.get("actor")
    return kept


STATE_RANK = {"OPEN": 0, "SUPERSEDED": 1, "DECLINED": 1, "MERGED": 2}


def newer_pull_request(stored: dict | None, incoming: dict) -> dict:
    """Pure: the state to show. The later `updated_on` wins; on a tie, the further state (merged beats open)."""
    if stored is None:
        return incoming

    def order(data: dict):
        moment = parse_timestamp(data.get("updated_on"))
        return (moment.timestamp() if moment else 0.0, STATE_RANK.get(data.get("state") or "", 0))

    return incoming if order(incoming) >= order(stored) else stored


def build_series(status: dict) -> str:
    """What a build result is compared with: the same build on the same branch. Pipelines name each run
    `Pipeline #12 for main`, so run numbers are left out."""
    return re.sub(r"#\d+", "#", status.get("name") or status.get("key") or "")


def build_note(status: dict, previous: dict | None, main_branch: str | None) -> str | None:
    """Pure: None when a build result is not worth a message; else why it is ('' for a plain failure).

    Failures always; successes when they fix a failure, or on the main branch. A repeat of what was
    already told, or a result older than the last one seen, says nothing.
    """
    state = status.get("state")
    if state not in BUILD_STATES_TOLD:
        return None
    if previous is not None:
        if previous["status_key"] == (status.get("key") or "") and previous["state"] == state:
            return None
        if (previous.get("updated_on") or "") > (status.get("updated_on") or ""):
            return None
    if state == "FAILED":
        return ""
    if previous is not None and previous["state"] == "FAILED":
        return "fixed"
    if main_branch and status.get("refname") == main_branch:
        return "main branch"
    return None


def plan_pull_request(event_key: str, payload: dict, repo: str, card_data: dict, subscriptions: list[Subscription]) -> list[Post]:
    """The card (posted, or updated to the current state) and the event's reply in its thread, per channel."""
    pr_id = card_data["id"]
    destination = ((card_data.get("destination") or {}).get("branch") or {}).get("name")
    anchor = pull_request_anchor(repo, pr_id)
    card = relay_render.pull_request_card(repo, card_data)
    reply = relay_render.RENDERERS[event_key](payload)
    posts = []
    for sub in subscriptions:
        if not sub.wants("pullrequests", destination):
            continue
        key = f"{sub.channel_id}|{anchor}"
        posts.append(Post(sub.channel_id, card, key, anchor=anchor))
        if reply is not None:
            posts.append(Post(sub.channel_id, reply, key, thread_anchor=anchor))
    return posts


def plan_push(payload: dict, repo: str, subscriptions: list[Subscription]) -> list[Post]:
    """Each channel gets the changes it wants (branch pushes by glob, tags by family) in one message."""
    changes = ((payload.get("push") or {}).get("changes")) or []
    rendered: dict[tuple[int, ...], Message | None] = {}
    posts = []
    for sub in subscriptions:
        kept = tuple(i for i, change in enumerate(changes) if _wants_change(sub, change))
        if not kept:
            continue
        if kept not in rendered:
            filtered = {**payload, "push": {**payload["push"], "changes": [changes[i] for i in kept]}}
            rendered[kept] = relay_render.push(filtered)
        if rendered[kept] is not None:
            posts.append(Post(sub.channel_id, rendered[kept], f"{sub.channel_id}|repo:{repo}"))
    return posts


def _wants_change(sub: Subscription, change: dict) -> bool:
    kind, name = relay_render.change_ref(change)
    return sub.wants("tags" if kind == "tag" else "pushes", name)


def plan_build(payload: dict, repo: str, note: str, subscriptions: list[Subscription]) -> list[Post]:
    status = payload.get("commit_status") or {}
    message = relay_render.commit_status(payload, note=note)
    return [
        Post(sub.channel_id, message, f"{sub.channel_id}|repo:{repo}")
        for sub in subscriptions
        if sub.wants("builds", status.get("refname"))
    ]


# --- a delivery: stored and relayed in one transaction -----------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One verified webhook request."""

    event_key: str
    body: bytes
    payload: dict
    request_uuid: str = ""
    hook_uuid: str = ""
    attempt: int = 1

    @property
    def id(self) -> str:
        # Bitbucket always sends X-Request-UUID; a hand-made request without it is deduplicated on its bytes.
        return self.request_uuid or "sha256:" + hashlib.sha256(self.event_key.encode() + b"\n" + self.body).hexdigest()

    @property
    def repo(self) -> str:
        return ((self.payload.get("repository") or {}).get("full_name") or "").lower()


@dataclass(frozen=True)
class Outcome:
    duplicate: bool = False
    queued: int = 0
    note: str = ""


def record_delivery(db, delivery: Delivery, *, now: float, memo: dict | None = None) -> Outcome:
    """Store the delivery and queue what it posts, inside the caller's transaction.

    Planning only reads; the writes follow once it has succeeded, so a payload we cannot relay needs no
    rollback: it is kept with the reason and answered (Bitbucket retrying it would not help). `memo` keeps
    reads that no one else can change while the transaction holds the write lock (a repository's
    subscriptions, its main branch), for the other deliveries of a batch.
    """
    relayed = delivery.event_key in relay_render.RENDERERS
    cursor = db.execute(
        """INSERT OR IGNORE INTO webhook_deliveries (request_uuid, event_key, repo, hook_uuid, attempt, received_at, outcome)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (delivery.id, delivery.event_key, delivery.repo, delivery.hook_uuid, delivery.attempt, now,
         "relayed" if relayed else "ignored: not a relayed event"),
    )
    if cursor.rowcount == 0:
        return Outcome(duplicate=True, note="duplicate")
    if not relayed:
        return Outcome(note="ignored: not a relayed event")
    try:
        posts, writes = _plan(db, delivery, {} if memo is None else memo)
    except Exception as error:  # noqa: BLE001 - logged and kept with the delivery
        log.exception("webhook %s (%s) could not be relayed", delivery.id, delivery.event_key)
        note = f"failed: {type(error).__name__}: {error}"[:500]
        db.execute("UPDATE webhook_deliveries SET outcome = ?, body = ? WHERE request_uuid = ?", (note, delivery.body, delivery.id))
        return Outcome(note=note)
    for sql, params in writes:
        db.execute(sql, params)
    for post in posts:
        outbox.enqueue(db, channel=post.channel, message=post.message, key=post.key, anchor=post.anchor, thread_anchor=post.thread_anchor)
    return Outcome(queued=len(posts), note="relayed")


Write = tuple[str, tuple]


def _plan(db, delivery: Delivery, memo: dict) -> tuple[list[Post], list[Write]]:
    """Read what routing needs; return the posts and the state the event changes."""
    event_key, payload, repo = delivery.event_key, delivery.payload, delivery.repo
    if not repo:
        return [], []
    if ("subscriptions", repo) not in memo:
        memo["subscriptions", repo] = _working_subscriptions(db, repo)
    subscriptions = memo["subscriptions", repo]
    if event_key.startswith("pullrequest:"):
        return _plan_pull_request(db, event_key, payload, repo, subscriptions)
    if event_key == "repo:push":
        return plan_push(payload, repo, subscriptions), []
    if event_key.startswith("repo:commit_status_"):
        if ("main_branch", repo) not in memo:
            row = db.execute("SELECT main_branch FROM webhook_registrations WHERE repo = ?", (repo,)).fetchone()
            memo["main_branch", repo] = row[0] if row else ""
        return _plan_build(db, payload, repo, memo["main_branch", repo], subscriptions)
    return [], []


def _plan_pull_request(db, event_key: str, payload: dict, repo: str, subscriptions: list[Subscription]) -> tuple[list[Post], list[Write]]:
    incoming = slim_pull_request(event_key, payload)
    if not isinstance(incoming.get("id"), int):
        return [], []
    row = db.execute("SELECT data FROM relay_pull_requests WHERE repo = ? AND pr_id = ?", (repo, incoming["id"])).fetchone()
    current = newer_pull_request(json.loads(row[0]) if row else None, incoming)
    writes = []
    if current is incoming:
        writes.append((
            "INSERT OR REPLACE INTO relay_pull_requests (repo, pr_id, updated_on, data) VALUES (?, ?, ?, ?)",
            (repo, incoming["id"], incoming.get("updated_on") or "", json.dumps(current, separators=(",", ":"))),
        ))
    return plan_pull_request(event_key, payload, repo, current, subscriptions), writes


def _plan_build(db, payload: dict, repo: str, main_branch: str, subscriptions: list[Subscription]) -> tuple[list[Post], list[Write]]:
    status = payload.get("commit_status") or {}
    refname, series = status.get("refname") or "", build_series(status)
    row = db.execute(
        "SELECT status_key, state, updated_on FROM relay_builds WHERE repo = ? AND refname = ? AND series = ?", (repo, refname, series)
    ).fetchone()
    previous = dict(zip(("status_key", "state", "updated_on"), row)) if row else None
    main_branch = main_branch or ((payload.get("repository") or {}).get("mainbranch") or {}).get("name")
    note = build_note(status, previous, main_branch)
    writes = []
    if previous is None or (previous.get("updated_on") or "") <= (status.get("updated_on") or ""):
        writes.append((
            "INSERT OR REPLACE INTO relay_builds (repo, refname, series, status_key, state, updated_on) VALUES (?, ?, ?, ?, ?, ?)",
            (repo, refname, series, status.get("key") or "", status.get("state") or "", status.get("updated_on") or ""),
        ))
    return ([] if note is None else plan_build(payload, repo, note, subscriptions)), writes


# --- group commit ----------------------------------------------------------------------------------------


@dataclass
class _Job:
    delivery: Delivery
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None
    error: BaseException | None = None


class DeliveryWriter:
    """One thread that writes deliveries, batching those that arrive together into one transaction.

    `write()` returns once the delivery's transaction is committed (synchronous=FULL: on disk), so a 200
    still means stored; concurrent requests share the fsync instead of queueing for one each.
    """

    def __init__(self, store, *, max_batch: int = 64, clock=time.time):
        self.store = store
        self.max_batch = max_batch
        self.clock = clock
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def write(self, delivery: Delivery, timeout: float = 30.0) -> Outcome:
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
        return job.outcome

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
            # record_delivery fails only when the database does (a bad payload is kept and answered), and then
            # the whole batch is answered 503 for Bitbucket to send again.
            with self.store.transaction() as db:
                memo: dict = {}
                for job in batch:
                    job.outcome = record_delivery(db, job.delivery, now=self.clock(), memo=memo)
        except Exception as error:  # noqa: BLE001 - nobody in the batch is stored
            log.exception("storing %d webhook deliveries failed", len(batch))
            for job in batch:
                job.outcome, job.error = None, error
        for job in batch:
            job.done.set()


def delivery_writer(services) -> DeliveryWriter:
    """The process's one writer (created on first use)."""
    with _writer_lock:
        writer = services.extras.get("relay_writer")
        if writer is None:
            writer = services.extras["relay_writer"] = DeliveryWriter(services.store)
        return writer


_writer_lock = threading.Lock()


# --- background ----------------------------------------------------------------------------------------


def prune_deliveries(store, *, now: float) -> int:
    return store.execute("DELETE FROM webhook_deliveries WHERE received_at < ?", (now - DELIVERY_RETENTION_SECONDS,)).rowcount


def start_background(services, *, scheduler: bool = True) -> list:
    """Prune old deliveries hourly; on stop, write the deliveries already handed over before the store closes."""
    stopping = threading.Event()

    def prune_loop():
        while not stopping.is_set():
            try:
                prune_deliveries(services.store, now=time.time())
            except Exception:  # noqa: BLE001 - a locked database now is fine in an hour
                log.exception("pruning webhook deliveries failed")
            stopping.wait(PRUNE_EVERY_SECONDS)

    pruner = threading.Thread(target=prune_loop, name="webhook-pruner", daemon=True)
    pruner.start()

    def stop():
        stopping.set()
        delivery_writer(services).stop()
        pruner.join(5)

    return [stop]
