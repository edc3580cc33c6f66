"""How fast Bitbucket webhook deliveries are accepted (durably stored), beside a bare intake, on SQLite and PostgreSQL.

Starts the real server (`bitbucket-chatops serve`, its own process) on a fresh database with one channel
subscribed to acme/api, and a simulated Slack in its own process answering in SLACK_LATENCY. Sends DELIVERIES
signed deliveries (60% pull request events over 200 pull requests, 30% pushes, 10% builds) from CONCURRENCY
keep-alive connections in two client processes, all on 127.0.0.1, and times each answer. A 200 means the raw
delivery was committed (SQLite with synchronous=FULL, or PostgreSQL); routing, rendering and Slack come after.

Beside it, in the same run, a bare intake: waitress, the HMAC check and one durable insert per delivery,
nothing else. It is the floor any relay that stores before answering stands on; ours should reach 90% of it.

1. SQLite: the bare intake, then ours.
2. PostgreSQL (a fresh schema on the server at CHATOPS_BENCH_POSTGRES_URL): the bare intake, ours with one
   replica, and ours with two replicas sharing the database (each client process talks to one of them).
3. A naive relay that posts to Slack inside the webhook request (verify, parse, render, chat.postMessage,
   then answer), with Slack at SLACK_LATENCY.
4. Ours again, on SQLite and on PostgreSQL, with 20 channels subscribed to acme/api, each with filters
   (`FILTERED`: authors, bots, drafts, titles, destinations, builds:failures and reactions, thread-only), beside
   today's one unfiltered channel: filters are decided by the router after the 200, so intake should not move.

After each of ours, the benchmark waits until every delivery is routed and every queued message sent.

    python bench/webhook_bench.py [--deliveries 5000] [--concurrency 8] [--slack-latency 0.05] [--runs sqlite,sqlite-filtered]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-webhook-secret"
BOT_TOKEN = "xoxb-bench"
CHANNELS = ("CBENCH",)
CLIENT_PROCESSES = 2
# 20 filtered subscriptions (no path filters: the benchmark has no Bitbucket to read diffstats from).
FILTERED = [
    "-author:bots", "-drafts", "-title:WIP", "target:main", "author:dev1 author:dev2", "-author:dev3 -drafts",
    "builds:failures", "builds:reactions", "thread-only", "-author:bots -drafts -title:WIP", "target:release/*",
    "-title:[skip-slack] builds:failures", "author:dev4 thread-only", "-author:bots builds:reactions", "-drafts target:main",
    "-title:WIP -title:Draft", "builds:failures thread-only", "-author:dev5", "target:main -author:bots builds:failures", "-drafts -title:WIP",
]
RUNS = ("sqlite-bare", "sqlite", "sqlite-filtered", "pg-bare", "pg", "pg-x2", "pg-filtered", "naive")


# --- the deliveries --------------------------------------------------------------------------------------


def make_deliveries(count: int) -> list[tuple[str, bytes, dict]]:
    """(path, body, headers) for `count` deliveries: 60% pull request events over 200 PRs, 30% pushes, 10% builds."""
    from tests import webhookkit

    base_pr = webhookkit.load_fixture("pullrequest.approved__zulip-approved_or_unapproved.json")
    repository = {"full_name": "acme/api", "name": "api", "links": {"html": {"href": "https://bitbucket.org/acme/api"}}}
    actor = base_pr["actor"]
    out = []
    for n in range(count):
        kind = n % 10
        if kind < 6:
            pr = json.loads(json.dumps(base_pr))
            pr["repository"] = repository
            pr["pullrequest"]["id"] = n % 200 + 1
            pr["pullrequest"]["updated_on"] = f"2026-01-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}+00:00"
            key = ("pullrequest:approved", "pullrequest:comment_created", "pullrequest:updated")[kind % 3]
            if key == "pullrequest:comment_created":
                pr["comment"] = {"content": {"raw": f"Comment number {n}"}, "user": actor}
            payload = pr
        elif kind < 9:
            key = "repo:push"
            payload = webhookkit.push_payload("acme", "api", actor=actor, branch="main",
                                              commits=[(f"{n:040x}", f"Commit {n}\n\nbody"), (f"{n + 1:040x}", "Earlier")])
        else:
            key = "repo:commit_status_updated"
            payload = webhookkit.commit_status_payload("acme", "api", actor=actor, name=f"Pipeline #{n} for main", key=str(n),
                                                       state=("FAILED", "SUCCESSFUL")[n // 10 % 2], refname="main",
                                                       updated_on=f"2026-01-01T00:00:{n % 60:02d}.{n:06d}+00:00")
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Event-Key": key,
            "X-Request-UUID": str(uuid.uuid4()),
            "X-Hub-Signature": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
        }
        out.append(("/bitbucket/webhook", body, headers))
    return out


def _client_process(port: int, deliveries: list, threads: int, start_at: float, results) -> None:
    """One client process: `threads` keep-alive connections; each thread sends its share and times each answer."""
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    shares = [deliveries[i::threads] for i in range(threads)]

    def run(share):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, bad = [], []
        while time.time() < start_at:
            time.sleep(0.001)
        for path, body, headers in share:
            began = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - began)
            if response.status != 200:
                bad.append(response.status)
        conn.close()
        with lock:
            latencies.extend(mine)
            failures.extend(bad)

    workers = [threading.Thread(target=run, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((latencies, failures, time.time()))


def load(ports: int | list[int], deliveries: list, concurrency: int) -> tuple[list[float], list[int], float]:
    """Send everything with `concurrency` connections over CLIENT_PROCESSES processes (client process i talks to
    ports[i % len(ports)]); (latencies, failures, seconds)."""
    ports = [ports] if isinstance(ports, int) else ports
    results = multiprocessing.Queue()
    start_at = time.time() + 1.0
    per_process = max(1, concurrency // CLIENT_PROCESSES)
    processes = [
        multiprocessing.Process(target=_client_process,
                                args=(ports[i % len(ports)], deliveries[i::CLIENT_PROCESSES], per_process, start_at, results))
        for i in range(CLIENT_PROCESSES)
    ]
    for process in processes:
        process.start()
    latencies, failures, ended = [], [], []
    for _ in processes:
        lat, bad, end = results.get()
        latencies += lat
        failures += bad
        ended.append(end)
    for process in processes:
        process.join()
    return latencies, failures, max(ended) - start_at


# --- the servers -------------------------------------------------------------------------------------------


def serve_fake_slack(latency: float) -> None:
    """Child process: a simulated Slack; prints its API URL; each line on stdin is a new latency; EOF stops it."""
    from bot.sandbox.slack import FakeSlack

    slack = FakeSlack(bot_token=BOT_TOKEN).start()
    slack.latency = latency
    print(slack.api_url, flush=True)
    for line in sys.stdin:
        slack.latency = float(line)
    slack.stop()


def serve_naive(port: int) -> None:
    """Child process: the naive relay. Verify, parse, render, post to every channel, and only then answer."""
    from slack_sdk import WebClient
    from waitress.server import create_server

    from bot.relay import render as relay_render
    from bot.core.web import Request, Response, Router
    from handlers.webhook import signature_valid

    slack = WebClient(token=BOT_TOKEN, base_url=os.environ["SLACK_API_URL"], timeout=10)

    def handle(request: Request) -> Response:
        body = request.read_body()
        if not signature_valid(SECRET, body, request.header("X-Hub-Signature")):
            return Response.json({"error": "invalid signature"}, 401)
        payload = json.loads(body)
        renderer = relay_render.RENDERERS.get(request.header("X-Event-Key") or "")
        message = renderer(payload) if renderer else None
        if message is not None:
            for channel in CHANNELS:
                slack.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
        return Response.json({"ok": True})

    router = Router()
    router.add("POST", "/bitbucket/webhook", handle)
    router.add("GET", "/healthz", lambda request: Response.json({"status": "ok"}))
    create_server(router, host="127.0.0.1", port=port, threads=16).run()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} did not come up")


class FakeSlackProcess:
    """A simulated Slack in its own process, its latency changeable while it runs."""

    def __init__(self, latency: float):
        self.process = subprocess.Popen([sys.executable, __file__, "--serve-fake-slack", str(latency)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=ROOT)
        self.api_url = self.process.stdout.readline().strip()

    def set_latency(self, seconds: float) -> None:
        self.process.stdin.write(f"{seconds}\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def serve_bare(port: int, database: str) -> None:
    """Child process: the bare intake. Waitress, the HMAC check, one durable insert, the answer. Nothing else."""
    import threading as threads

    from waitress.server import create_server

    from bot.core.web import Request, Response, Router
    from handlers.webhook import signature_valid

    local = threads.local()
    postgres = database.startswith("postgresql://")

    def connection():
        if getattr(local, "conn", None) is None:
            if postgres:
                import psycopg

                local.conn = psycopg.connect(database, autocommit=True)
            else:
                local.conn = sqlite3.connect(database, timeout=30, isolation_level=None, check_same_thread=False)
                local.conn.execute("PRAGMA journal_mode=WAL")
                local.conn.execute("PRAGMA synchronous=FULL")
        return local.conn

    insert = "INSERT INTO bare_deliveries (request_uuid, event_key, body) VALUES (?, ?, ?)"
    if postgres:
        insert = insert.replace("?", "%s")

    def handle(request: Request) -> Response:
        body = request.read_body()
        if not signature_valid(SECRET, body, request.header("X-Hub-Signature")):
            return Response.json({"error": "invalid signature"}, 401)
        connection().execute(insert, (request.header("X-Request-UUID"), request.header("X-Event-Key"), body))
        return Response.json({"ok": True})

    router = Router()
    router.add("POST", "/bitbucket/webhook", handle)
    router.add("GET", "/healthz", lambda request: Response.json({"status": "ok"}))
    create_server(router, host="127.0.0.1", port=port, threads=16).run()


class Database:
    """A fresh database for one run: a SQLite file, or a schema of its own on the PostgreSQL server."""

    def __init__(self, kind: str, tmp: str, server_url: str):
        self.kind = kind
        self.schema = None
        if kind == "sqlite":
            self.target = f"{tmp}/bench-{uuid.uuid4().hex[:8]}.db"
        else:
            from tests.dbkit import PostgresSchema

            self.schema = PostgresSchema(server_url)
            self.target = self.schema.url

    @property
    def env(self) -> dict:
        return {"DATABASE_URL": self.target} if self.kind == "postgresql" else {"DATABASE_PATH": self.target}

    def open(self):
        from bot.core.store import open_store

        return open_store(self.target)

    def count(self, sql: str) -> int:
        store = self.open()
        try:
            return list(store.query(sql)[0].values())[0]
        finally:
            store.close()

    def drop(self) -> None:
        if self.schema is not None:
            self.schema.drop()


def prepare_bot(database: Database, *, filtered: bool = False) -> None:
    from bot import relay
    from bot.registry import open_migrated

    if filtered:
        from bot.relay.filters import parse_filters

    store = open_migrated(database.target)
    subscriptions = [(f"CFILTER{n:02d}", {"filters": parse_filters(text.split())}) for n, text in enumerate(FILTERED)] if filtered else \
        [(channel, {}) for channel in CHANNELS]
    for channel, filters in subscriptions:
        relay.subscribe(store, channel_id=channel, repo="acme/api", families=("pullrequests", "pushes", "tags", "builds"),
                        branch_glob="", user_id="UBENCH", now=time.time(), **filters)
    store.close()


def prepare_bare(database: Database) -> None:
    store = database.open()
    blob = "BYTEA" if database.kind == "postgresql" else "BLOB"
    store.execute(f"CREATE TABLE bare_deliveries (request_uuid TEXT PRIMARY KEY, event_key TEXT NOT NULL, body {blob} NOT NULL)")
    store.close()


def wait_settled(database: Database, timeout: float = 900, *, outbox_too: bool = True) -> float:
    """Until every delivery is routed (and, with `outbox_too`, every queued message sent); the seconds it took."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        pending = database.count("SELECT COUNT(*) AS n FROM deliveries WHERE state IN ('pending', 'waiting')")
        waiting = database.count("SELECT COUNT(*) AS n FROM outbox WHERE state IN ('pending', 'sending')") if outbox_too else 0
        if not pending and not waiting:
            return time.monotonic() - began
        time.sleep(0.1)
    raise SystemExit("the deliveries were not all routed and sent in time")


def start_server(command: list[str], env: dict, port: int) -> subprocess.Popen:
    server = subprocess.Popen(command, env={**env, "PORT": str(port)}, cwd=ROOT, stderr=subprocess.DEVNULL)
    wait_healthy(port, server)
    return server


def stop_servers(servers: list[subprocess.Popen]) -> None:
    for server in servers:
        server.terminate()
    for server in servers:
        server.wait(timeout=60)


def run_bare(env: dict, deliveries: list, concurrency: int, database: Database) -> dict:
    prepare_bare(database)
    port = free_port()
    server = start_server([sys.executable, __file__, "--serve-bare", str(port), database.target], env, port)
    try:
        latencies, failures, seconds = load(port, deliveries, concurrency)
    finally:
        stop_servers([server])
    stored = database.count("SELECT COUNT(*) AS n FROM bare_deliveries")
    return {"latencies": latencies, "failures": failures, "seconds": seconds, "stored": stored}


def run_ours(env: dict, deliveries: list, concurrency: int, slack: FakeSlackProcess, slack_latency: float, database: Database,
             replicas: int = 1, filtered: bool = False) -> dict:
    """Our server(s) on a fresh database: the load with Slack at `slack_latency`, then everything routed and sent."""
    prepare_bot(database, filtered=filtered)
    slack.set_latency(slack_latency)
    ports = [free_port() for _ in range(replicas)]
    command = [sys.executable, "-m", "bot.app.cli", "serve", "--no-scheduler"]
    servers = [start_server(command, {**env, **database.env, "SLACK_API_URL": slack.api_url}, port) for port in ports]
    try:
        latencies, failures, seconds = load(ports, deliveries, concurrency)
        stored = database.count("SELECT COUNT(*) AS n FROM deliveries")
        slack.set_latency(0.0)
        # With 20 channels the outbox holds some 20 times the messages: the filtered runs wait for the routing only
        # (every delivery routed through every channel's filters), which bounds them.
        settle = wait_settled(database, outbox_too=not filtered)
        sent = database.count("SELECT COUNT(*) AS n FROM outbox WHERE state = 'sent'")
        queued = database.count("SELECT COUNT(*) AS n FROM outbox")
    finally:
        stop_servers(servers)
    return {"latencies": latencies, "failures": failures, "seconds": seconds, "stored": stored, "sent": sent, "settle": settle,
            "queued": queued, "filtered": filtered}


def run_naive(env: dict, deliveries: list, concurrency: int, slack: FakeSlackProcess, slack_latency: float) -> tuple:
    slack.set_latency(slack_latency)
    port = free_port()
    naive = start_server([sys.executable, __file__, "--serve-naive", str(port)], {**env, "SLACK_API_URL": slack.api_url}, port)
    try:
        return load(port, deliveries, concurrency)
    finally:
        stop_servers([naive])


# --- report ----------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rate(run: dict) -> float:
    return len(run["latencies"]) / run["seconds"]


def row(name: str, latencies: list[float], failures: list[int], seconds: float, versus: float | None = None) -> str:
    ms = [s * 1000 for s in latencies]
    share = f"{len(ms) / seconds / versus:.0%}" if versus else ""
    return (f"| {name} | {len(ms)} | {len(failures)} | {len(ms) / seconds:,.0f} | {share} | {statistics.median(ms):.1f} | "
            f"{percentile(ms, 99):.1f} | {max(ms):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--slack-latency", type=float, default=0.05, help="seconds Slack takes per call while deliveries arrive")
    parser.add_argument("--postgres", default=os.environ.get("CHATOPS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--runs", default=",".join(RUNS), help=f"which runs, comma-separated, of: {', '.join(RUNS)}")
    parser.add_argument("--serve-fake-slack", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--serve-naive", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-bare", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake_slack is not None:
        return serve_fake_slack(args.serve_fake_slack)
    if args.serve_naive:
        return serve_naive(args.serve_naive)
    if args.serve_bare:
        return serve_bare(int(args.serve_bare[0]), args.serve_bare[1])

    deliveries = make_deliveries(args.deliveries)
    naive_share = deliveries[: len(deliveries) // 5]  # the naive relay is slow with a slow Slack; a fifth is enough to time it
    env = {
        **os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "bench-signing",
        "BITBUCKET_API_URL": "http://127.0.0.1:9/2.0", "BITBUCKET_ACCESS_TOKEN": "unused", "BITBUCKET_WEBHOOK_SECRET": SECRET,
        "HOST": "127.0.0.1", "LOG_LEVEL": "WARNING", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    }
    slack = FakeSlackProcess(args.slack_latency)
    runs: dict[str, dict] = {}
    made: list[Database] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            def fresh(kind: str) -> Database:
                made.append(Database(kind, tmp, args.postgres))
                return made[-1]

            wanted = set(args.runs.split(","))
            if "sqlite-bare" in wanted:
                runs["sqlite bare"] = run_bare(env, deliveries, args.concurrency, fresh("sqlite"))
            if "sqlite" in wanted:
                runs["sqlite ours"] = run_ours(env, deliveries, args.concurrency, slack, args.slack_latency, fresh("sqlite"))
            if "sqlite-filtered" in wanted:
                runs["sqlite filtered"] = run_ours(env, deliveries, args.concurrency, slack, args.slack_latency, fresh("sqlite"), filtered=True)
            if "pg-bare" in wanted:
                runs["pg bare"] = run_bare(env, deliveries, args.concurrency, fresh("postgresql"))
            if "pg" in wanted:
                runs["pg ours"] = run_ours(env, deliveries, args.concurrency, slack, args.slack_latency, fresh("postgresql"))
            if "pg-x2" in wanted:
                runs["pg ours x2"] = run_ours(env, deliveries, args.concurrency, slack, args.slack_latency, fresh("postgresql"), replicas=2)
            if "pg-filtered" in wanted:
                runs["pg filtered"] = run_ours(env, deliveries, args.concurrency, slack, args.slack_latency, fresh("postgresql"), filtered=True)
            naive = run_naive(env, naive_share, args.concurrency, slack, args.slack_latency) if "naive" in wanted else None
    finally:
        slack.stop()
        for database in made:
            database.drop()

    print(f"{args.deliveries} signed webhook deliveries (60% pull request events, 30% pushes, 10% builds), {args.concurrency} "
          f"keep-alive connections from {CLIENT_PROCESSES} client processes, 127.0.0.1, {os.cpu_count()} CPUs; Slack answers in "
          f"{args.slack_latency * 1000:.0f} ms while they arrive\n")
    print("| intake | deliveries | non-200 | accepted/s | of bare | p50 (ms) | p99 (ms) | max (ms) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    sqlite_bare = rate(runs["sqlite bare"]) if "sqlite bare" in runs else None
    pg_bare = rate(runs["pg bare"]) if "pg bare" in runs else None
    names = {
        "sqlite bare": ("SQLite, bare: HMAC + one insert", None),
        "sqlite ours": ("SQLite, bitbucket-chatops", sqlite_bare),
        "sqlite filtered": ("SQLite, bitbucket-chatops, 20 filtered subscriptions", sqlite_bare),
        "pg bare": ("PostgreSQL, bare: HMAC + one insert", None),
        "pg ours": ("PostgreSQL, bitbucket-chatops, 1 replica", pg_bare),
        "pg ours x2": ("PostgreSQL, bitbucket-chatops, 2 replicas", pg_bare),
        "pg filtered": ("PostgreSQL, bitbucket-chatops, 1 replica, 20 filtered subscriptions", pg_bare),
    }
    for key, (name, versus) in names.items():
        if key in runs:
            run = runs[key]
            print(row(name, run["latencies"], run["failures"], run["seconds"], versus))
    if naive is not None:
        print(row("naive: post to Slack, then answer", *naive, sqlite_bare))
    print()
    for key in [k for k in names if k in runs]:
        run = runs[key]
        if run.get("filtered"):
            extra = f"; all routed {run['settle']:.1f} s after the load, {run['queued']} messages queued"
        else:
            extra = f"; routed and {run['sent']} messages sent {run['settle']:.1f} s after the load" if "sent" in run else ""
        print(f"- {names[key][0]}: {run['stored']} of {args.deliveries} stored{extra}")


if __name__ == "__main__":
    main()
