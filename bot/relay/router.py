"""The router: stored deliveries -> route (pure) -> render (pure) -> relay hooks -> outbox, behind the webhook's answer.

One pass takes the oldest pending deliveries, in arrival order, inside one write transaction (on
PostgreSQL the store's lock: one replica routes at a time, so a pull request's card is never drawn from
two states at once). Each delivery is routed inside its own savepoint: one that cannot be routed (a
malformed payload) is kept as failed with its reason, and its neighbours go on.

The features that add to a delivery (builds: a failed pipeline's Re-run and log; notify: direct messages) are relay
hooks (`bot.relay.hooks`), handed to the router by the composition root: the router imports none of them.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from bot.builds.rules import keep_builds, with_status
from bot.core import metrics, outbox
from bot.core.background import BackgroundLoop, foreground_busy
from bot.relay import render as relay_render
from bot.relay.files import files_wakeup
from bot.relay.filters import ChangedFiles
from bot.relay.hooks import FilesPending, RelayHook, RoutedEvent
from bot.relay.intake import mismatch, router_wakeup
from bot.relay.routing import (
    Post,
    build_note,
    build_series,
    change_files_key,
    destination_of,
    needs_pull_request_files,
    needs_push_files,
    newer_pull_request,
    plan_build,
    plan_pull_request,
    plan_push,
    plan_reactions,
    pull_request_anchor,
    pull_request_why,
    slim_pull_request,
    wants_pull_request,
)
from bot.relay.subscriptions import working_subscriptions

log = logging.getLogger(__name__)

BATCH = 64
DELIVERY_RETENTION_SECONDS = 7 * 86400  # Bitbucket retries within minutes; a week is plenty to dedupe
FAILED_RETENTION_SECONDS = 30 * 86400  # failures stay to be looked into (`check` lists them)


class Malformed(ValueError):
    """A signed delivery whose payload is not the shape Bitbucket sends."""


@dataclass(frozen=True)
class Routed:
    request_uuid: str
    state: str  # relayed | ignored | failed
    note: str
    queued: int = 0
    repo: str = ""  # workspace/slug, when the payload named one


def route_pending(store, *, now: float | None = None, limit: int = BATCH, hooks: tuple[RelayHook, ...] = (),
                  bot_authors: tuple[str, ...] = ()) -> list[Routed]:
    """Route the oldest pending deliveries (at most `limit`) in one transaction; what happened to each. `hooks`: every
    feature's relay hooks, in the registry's order; `bot_authors`: CHATOPS_BOT_AUTHORS (for `-author:bots`)."""
    now = time.time() if now is None else now
    with store.transaction() as db:
        rows = list(db.query("SELECT id, request_uuid, event_key, body FROM deliveries WHERE state = 'pending' ORDER BY id LIMIT ?", (limit,)))
        memo: dict = {"bot_authors": tuple(bot_authors)}
        if rows:
            memo["waiting"] = {r["waiting_for"] for r in db.query("SELECT DISTINCT waiting_for FROM deliveries WHERE state = 'waiting'")}
        results = []
        for row in rows:
            try:
                with db.savepoint("delivery"):
                    result = route_one(db, row["request_uuid"], row["event_key"], bytes(row["body"] or b""), memo, now=now, hooks=hooks)
            except FilesPending as pending:  # rolled back: routed again, whole, once the files are read
                _set_aside(db, row["id"], pending, memo, now)
                results.append(Routed(row["request_uuid"], "waiting", str(pending)))
                continue
            except Exception as error:  # noqa: BLE001 - kept with its reason; the others go on
                log.warning("webhook %s (%s) could not be relayed: %s: %s", row["request_uuid"], row["event_key"], type(error).__name__, error)
                result = Routed(row["request_uuid"], "failed", f"{type(error).__name__}: {error}"[:500], repo=repository_named(row["body"]))
            db.execute(
                """UPDATE deliveries SET state = ?, outcome = ?, routed_at = ?, repo = ?,
                       body = CASE WHEN ? = 'failed' THEN body ELSE NULL END WHERE id = ?""",
                (result.state, result.note, now, result.repo[:200], result.state, row["id"]),
            )
            results.append(result)
    for row, result in zip(rows, results):  # counted once committed
        metrics.WEBHOOK_DELIVERIES.labels(row["event_key"], result.state).inc()
    return results


def route_one(db, request_uuid: str, event_key: str, body: bytes, memo: dict, *, now: float | None = None,
              hooks: tuple[RelayHook, ...] = ()) -> Routed:
    """Route one delivery inside the caller's transaction: its state changes, its queued messages, and what the
    relay hooks add (planned before the new state is stored: the hooks see the state as it was)."""
    if event_key not in relay_render.RENDERERS:
        return Routed(request_uuid, "ignored", "not a relayed event", repo=repository_named(body))
    payload = json.loads(body)
    unfit = mismatch(event_key, payload)  # refused at intake already; checked again for `deliveries --retry`
    if unfit:
        raise Malformed(unfit)
    repo = repository_of(payload)
    if ("subscriptions", repo) not in memo:
        memo["subscriptions", repo] = working_subscriptions(db, repo)
    event = RoutedEvent(db, event_key, payload, repo, memo["subscriptions", repo], time.time() if now is None else now, memo,
                        bot_authors=memo.get("bot_authors", ()))
    plan(event)
    for hook in hooks:
        hook(event)
    for sql, params in event.writes:
        db.execute(sql, params)
    posts = event.posts + event.cards
    for post in posts:
        if post.reaction:
            outbox.enqueue_reaction(db, channel=post.channel, anchor=post.thread_anchor or "", name=post.reaction, key=post.key)
        else:
            outbox.enqueue(db, channel=post.channel, message=post.message, key=post.key, anchor=post.anchor, thread_anchor=post.thread_anchor)
    return Routed(request_uuid, "relayed", "relayed", queued=len(posts) + event.queued, repo=repo)


def repository_named(body) -> str:
    """The delivery's `workspace/slug` when its body names one, else "" (never raises: for the record only)."""
    try:
        return repository_of(json.loads(bytes(body or b"")))
    except (ValueError, Malformed, RecursionError):
        return ""


# --- the files events change: read off the router's path, waited for without holding anyone up ------------


def _set_aside(db, delivery_id: int, pending: FilesPending, memo: dict, now: float) -> None:
    """The delivery waits for its files (the files reader asks Bitbucket for them once)."""
    if pending.spec:
        db.execute("INSERT INTO relay_files (key, repo, spec, state, created_at) VALUES (?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
                   (pending.key, pending.repo, pending.spec, now))
    db.execute("UPDATE deliveries SET state = 'waiting', waiting_for = ?, outcome = 'waiting for the files it changes' WHERE id = ?",
               (pending.key, delivery_id))
    memo.setdefault("waiting", set()).add(pending.key)
    db.after_commit.append(files_wakeup)


def stored_files(db, memo: dict, key: str) -> ChangedFiles | None:
    """The files read for `key`, or None while they are not."""
    if ("files", key) not in memo:
        row = db.execute("SELECT state, paths, complete FROM relay_files WHERE key = ?", (key,)).fetchone()
        if row is None or row[0] == "pending":
            return None
        memo["files", key] = ChangedFiles(tuple(json.loads(row[1])), known=row[0] == "known", complete=bool(row[2]))
    return memo["files", key]


def files_or_wait(db, memo: dict, key: str, repo: str, spec: str) -> ChangedFiles:
    found = stored_files(db, memo, key)
    if found is None:
        raise FilesPending(key, repo, spec)
    return found


def pull_request_files_key(repo: str, pr: dict) -> str:
    """One pull request update: its source commit (the files change only with it)."""
    head = ((pr.get("source") or {}).get("commit") or {}).get("hash") or pr.get("updated_on") or ""
    return f"{repo}#{pr['id']}@{head}"


def _wait_behind(event: RoutedEvent, pr_id: int) -> None:
    """A pull request's deliveries are told in order: behind one that waits for its files, the next ones wait too."""
    prefix = f"{event.repo}#{pr_id}@"
    for key in event.memo.get("waiting", ()):
        if key.startswith(prefix):
            raise FilesPending(key, event.repo, "")


def repository_of(payload) -> str:
    """`workspace/slug`, lower-case, of the delivery's repository; Malformed when the payload has none."""
    if not isinstance(payload, dict):
        raise Malformed("the payload is not a JSON object")
    repository = payload.get("repository")
    if not isinstance(repository, dict):
        raise Malformed("`repository` is not an object")
    full_name = repository.get("full_name")
    if not isinstance(full_name, str) or "/" not in full_name:
        raise Malformed("`repository.full_name` is not workspace/slug")
    return full_name.lower()


def plan(event: RoutedEvent) -> None:
    """Read what routing needs; set the event's posts, the state it changes, and what the hooks are told."""
    if event.is_pull_request:
        _plan_pull_request(event)
    elif event.event_key == "repo:push":
        _plan_push(event)
    elif event.is_build:
        memo, repo = event.memo, event.repo
        if ("main_branch", repo) not in memo:
            row = event.db.execute("SELECT main_branch FROM webhook_registrations WHERE repo = ?", (repo,)).fetchone()
            memo["main_branch", repo] = row[0] if row else ""
        _plan_build(event, memo["main_branch", repo])


def _plan_pull_request(event: RoutedEvent) -> None:
    db, repo = event.db, event.repo
    incoming = slim_pull_request(event.event_key, event.payload)
    if not isinstance(incoming.get("id"), int):
        raise Malformed("`pullrequest.id` is not a number")
    _wait_behind(event, incoming["id"])
    key = pull_request_files_key(repo, incoming)
    spec = f"pr:{incoming['id']}"
    event.files = lambda: files_or_wait(db, event.memo, key, repo, spec)
    before = pull_request_state(db, repo, incoming["id"])
    keep_builds(before, incoming)
    current = newer_pull_request(before, incoming)
    if current is incoming:
        event.writes.append((
            """INSERT INTO relay_pull_requests (repo, pr_id, updated_on, data) VALUES (?, ?, ?, ?)
               ON CONFLICT (repo, pr_id) DO UPDATE SET updated_on = excluded.updated_on, data = excluded.data""",
            (repo, incoming["id"], incoming.get("updated_on") or "", json.dumps(current, separators=(",", ":"))),
        ))
    event.pull_request_before, event.pull_request = before, current
    files = event.changed_files() if needs_pull_request_files(event.subscriptions) else None
    event.posts = plan_pull_request(event.event_key, event.payload, repo, current, event.subscriptions,
                                    bot_authors=event.bot_authors, files=files)


def _plan_push(event: RoutedEvent) -> None:
    db, memo, repo, subs = event.db, event.memo, event.repo, event.subscriptions

    def files_for(change: dict) -> ChangedFiles | None:
        found = change_files_key(repo, change)
        return files_or_wait(db, memo, found[0], repo, found[1]) if found else None

    open_prs = _open_pull_requests(db, repo) if any(sub.filters.thread_only for sub in subs) else []
    event.posts = plan_push(event.payload, repo, subs, files_for=files_for if needs_push_files(subs) else (lambda change: None),
                            open_pull_requests=open_prs)


def _plan_build(event: RoutedEvent, main_branch: str) -> None:
    db, payload, repo = event.db, event.payload, event.repo
    status = payload.get("commit_status") or {}
    if not isinstance(status, dict):
        raise Malformed("`commit_status` is not an object")
    refname, series = status.get("refname") or "", build_series(status)
    row = db.execute(
        "SELECT status_key, state, updated_on FROM relay_builds WHERE repo = ? AND refname = ? AND series = ?", (repo, refname, series)
    ).fetchone()
    previous = dict(zip(("status_key", "state", "updated_on"), row)) if row else None
    main_branch = main_branch or ((payload.get("repository") or {}).get("mainbranch") or {}).get("name")
    note = build_note(status, previous, main_branch)
    if previous is None or (previous.get("updated_on") or "") <= (status.get("updated_on") or ""):
        event.writes.append((
            """INSERT INTO relay_builds (repo, refname, series, status_key, state, updated_on) VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (repo, refname, series) DO UPDATE SET status_key = excluded.status_key, state = excluded.state,
                   updated_on = excluded.updated_on""",
            (repo, refname, series, status.get("key") or "", status.get("state") or "", status.get("updated_on") or ""),
        ))
    event.build_before, event.build_note = previous, note
    event.open_pull_requests = _open_pull_requests(db, repo)
    event.posts = [] if note is None else plan_build(payload, repo, note, event.subscriptions, event.open_pull_requests)
    _redraw_cards(event, status)  # the build state on the cards of the pull requests it is about


OPEN = '%"state":"OPEN"%'  # stored pull requests are compact JSON


def _open_pull_requests(db, repo: str) -> list[dict]:
    found = (json.loads(row["data"]) for row in db.query("SELECT data FROM relay_pull_requests WHERE repo = ? AND data LIKE ?", (repo, OPEN)))
    return [data for data in found if data.get("state") == "OPEN"]


def _redraw_cards(event: RoutedEvent, status: dict) -> None:
    """The cards of the open pull requests this build status is about, redrawn (in the channels whose filters they
    passed), their stored state, and `builds:reactions`' reactions on them."""
    repo, subs = event.repo, event.subscriptions
    for stored in event.open_pull_requests:
        data = with_status(stored, status)
        if data is None:
            continue
        event.writes.append(("UPDATE relay_pull_requests SET data = ? WHERE repo = ? AND pr_id = ?",
                             (json.dumps(data, separators=(",", ":")), repo, data["id"])))
        # Path filters: the files as read for the pull request's events (not waited for: a build redraws no card
        # whose files are not known yet).
        files = stored_files(event.db, event.memo, pull_request_files_key(repo, data)) if needs_pull_request_files(subs) else None
        told = [sub for sub in subs if files is not None or not sub.filters.needs_files]
        anchor = pull_request_anchor(repo, data["id"])
        card = relay_render.pull_request_card(repo, data)
        for sub in told:
            wanted, unknown = wants_pull_request(sub, data, event.bot_authors, files)
            if wanted:
                context = pull_request_why(sub, destination_of(data), unknown)
                event.cards.append(Post(sub.channel_id, relay_render.with_context(card, context), f"{sub.channel_id}|{anchor}", anchor=anchor))
        event.cards += plan_reactions(repo, data, told, event.bot_authors, files)


# --- what the relay keeps, for other features to read --------------------------------------------------


def pull_request_state(db, repo: str, pr_id: int) -> dict | None:
    """The newest state stored of a pull request (what its cards show), or None. `db`: the store or a transaction."""
    rows = list(db.query("SELECT data FROM relay_pull_requests WHERE repo = ? AND pr_id = ?", (repo, pr_id)))
    return json.loads(rows[0]["data"]) if rows else None


def build_states(db, repo: str, refname: str) -> list[tuple[str, str]]:
    """The last result seen of each build series on a branch: [(series, state)], by series."""
    rows = db.query("SELECT series, state FROM relay_builds WHERE repo = ? AND refname = ? ORDER BY series", (repo, refname))
    return [(row["series"], row["state"]) for row in rows]


def waiting_deliveries(store) -> int:
    """How many stored deliveries wait to be routed (or for the files they change)."""
    return store.query_one("SELECT COUNT(*) AS n FROM deliveries WHERE state IN ('pending', 'waiting')")["n"]


# --- the deliveries ------------------------------------------------------------------------------------


def prune_deliveries(store, *, now: float) -> int:
    """Forget handled deliveries after the dedupe window; failed ones after a month. Pending ones stay."""
    return store.execute(
        """DELETE FROM deliveries WHERE (state IN ('relayed', 'ignored') AND received_at < ?)
                                     OR (state = 'failed' AND received_at < ?)""",
        (now - DELIVERY_RETENTION_SECONDS, now - FAILED_RETENTION_SECONDS),
    ).rowcount


def builds_seen(store, repo: str, branches) -> dict[str, list[tuple[str, str]]]:
    """The newest state of each build series the relay has seen on each of `branches` (from the commit statuses
    Bitbucket sent), in one query: {branch: [(series, state), …]}. Branches with none are left out."""
    wanted = sorted({b for b in branches if b})
    if not wanted:
        return {}
    marks = ", ".join("?" for _ in wanted)
    rows = store.query(f"SELECT refname, series, state FROM relay_builds WHERE repo = ? AND refname IN ({marks}) ORDER BY refname, series",
                       (repo.lower(), *wanted))
    found: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        found.setdefault(row["refname"], []).append((row["series"], row["state"]))
    return found


def failed_deliveries(store, limit: int = 50) -> list[dict]:
    """The deliveries that could not be relayed, newest first (`bitbucket-chatops deliveries`)."""
    return store.query(
        "SELECT id, request_uuid, event_key, received_at, outcome FROM deliveries WHERE state = 'failed' ORDER BY id DESC LIMIT ?",
        (limit,),
    )


@dataclass(frozen=True)
class DeliveryRecord:
    """One stored delivery, as an operator reads it (the dashboard)."""

    id: int
    request_uuid: str
    event_key: str
    repo: str  # "" when its body named none (or it was not routed yet)
    received_at: float
    state: str  # pending | relayed | ignored | failed
    outcome: str
    retryable: bool  # failed, with its body kept: the router can take it again


DELIVERY_STATES = ("pending", "relayed", "ignored", "failed")


def recent_deliveries(store, *, state: str = "", repo: str = "", limit: int = 100, offset: int = 0) -> list[DeliveryRecord]:
    """The stored deliveries, newest first; `state` and `repo` narrow them. One not routed yet (pending, or
    refused at intake) is named by its body's repository."""
    clauses, params = ["state <> 'probe'"], []
    if state:
        clauses.append("state = ?")
        params.append(state)
    if repo:
        clauses.append("(repo = ? OR repo = '')")
        params.append(repo.lower())
    rows = store.query(
        f"""SELECT id, request_uuid, event_key, repo, received_at, state, outcome, body IS NOT NULL AS has_body,
                   CASE WHEN repo = '' THEN body END AS unnamed_body
            FROM deliveries WHERE {' AND '.join(clauses)} ORDER BY id DESC""" + ("" if repo else " LIMIT ? OFFSET ?"),
        tuple(params) + (() if repo else (limit, offset)),
    )
    records = [
        DeliveryRecord(row["id"], row["request_uuid"], row["event_key"], row["repo"] or repository_named(row["unnamed_body"]),
                       row["received_at"], row["state"], row["outcome"], row["state"] == "failed" and bool(row["has_body"]))
        for row in rows
    ]
    if repo:  # a delivery not routed yet names its repository in its body only: narrowed here, not in SQL
        records = [record for record in records if record.repo == repo.lower()][offset:offset + limit]
    return records


def _chosen(ids) -> tuple[str, tuple]:
    """SQL that keeps the deliveries `ids` names (every one when None)."""
    if ids is None:
        return "", ()
    ids = tuple(int(i) for i in ids)
    return (f" AND id IN ({', '.join('?' * len(ids))})", ids) if ids else (" AND 1 = 0", ())


def retry_failed(store, ids=None) -> int:
    """Hand the failed deliveries (those of `ids`, or all) to the router again (after a fix); how many."""
    where, params = _chosen(ids)
    count = store.execute(
        f"UPDATE deliveries SET state = 'pending', outcome = '' WHERE state = 'failed' AND body IS NOT NULL{where}", params
    ).rowcount
    router_wakeup.set()
    return count


def forget_failed(store, ids=None) -> int:
    """They were looked at: drop them (those of `ids`, or all)."""
    where, params = _chosen(ids)
    return store.execute(f"DELETE FROM deliveries WHERE state = 'failed'{where}", params).rowcount


def check_lines(store) -> list[tuple[str, str]]:
    """For `check`: deliveries that could not be relayed, and a routing backlog if there is one."""
    lines = []
    failed = store.query("SELECT COUNT(*) AS n FROM deliveries WHERE state = 'failed'")[0]["n"]
    if failed:
        latest = store.query(
            "SELECT event_key, outcome, received_at FROM deliveries WHERE state = 'failed' ORDER BY received_at DESC LIMIT 3"
        )
        reasons = "; ".join(f"{row['event_key']}: {row['outcome']}" for row in latest)
        lines.append(("FIX", f"{failed} webhook delivery(ies) could not be relayed (latest: {reasons}); "
                             "`bitbucket-chatops deliveries` lists them, `--retry` relays them again, `--forget` drops them"))
    waiting = store.query("SELECT COUNT(*) AS n FROM deliveries WHERE state = 'pending'")[0]["n"]
    lines.append(("ok " if not waiting else " - ", f"webhook deliveries: {waiting} waiting to be routed"))
    return lines


class DeliveryRouter(BackgroundLoop):
    """Routes stored deliveries as they arrive; prunes old ones now and then."""

    thread_name = "relay-router"
    defers_to_foreground = True

    def __init__(self, store, *, hooks: tuple[RelayHook, ...] = (), idle_wait: float = 0.5, prune_every: float = 3600.0,
                 clock=time.time, bot_authors: tuple[str, ...] = ()):
        super().__init__(router_wakeup)
        self.store = store
        self.hooks = tuple(hooks)
        self.bot_authors = tuple(bot_authors)
        self.idle_wait = idle_wait
        self.prune_every = prune_every
        self.clock = clock
        self._pruned_at = 0.0

    def one_pass(self) -> bool:
        now = self.clock()
        if now - self._pruned_at >= self.prune_every:
            self._pruned_at = now
            prune_deliveries(self.store, now=now)
        # While deliveries arrive, small batches: a routing transaction holds SQLite's one write lock, and the
        # intake's appends wait for it.
        limit = BATCH // 4 if foreground_busy() else BATCH
        return len(route_pending(self.store, now=now, limit=limit, hooks=self.hooks, bot_authors=self.bot_authors)) >= limit

    def idle_time(self) -> float:
        return self.idle_wait
