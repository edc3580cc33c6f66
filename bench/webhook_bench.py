"""How fast Bitbucket webhook deliveries are accepted (durably stored) and relayed into Slack.

Starts the real server (`bitbucket-chatops serve`, its own process) on a fresh database with one channel
subscribed to acme/api, and a simulated Slack in its own process. Sends DELIVERIES signed deliveries (60% pull
request events over 200 pull requests, 30% pushes, 10% builds) from CONCURRENCY keep-alive connections in two
client processes, all on 127.0.0.1, and times each answer. A 200 means the delivery and the messages it
queued were committed to SQLite with synchronous=FULL.

1. While the deliveries arrive, Slack answers in SLACK_LATENCY (as the real one does, tens of milliseconds),
   so the worker posts at Slack's pace; then Slack answers at once and the backlog's drain is timed.
2. The same load on a fresh server while the worker drains at full speed into a Slack that answers at once
   (the worst case for the answers: the worker competes for the same interpreter).
3. A naive relay that posts to Slack inside the webhook request (verify, parse, render, chat.postMessage,
   then answer), served by waitress the same way, with Slack at SLACK_LATENCY and at once.

    python bench/webhook_bench.py [--deliveries 5000] [--concurrency 8] [--slack-latency 0.05]
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


def load(port: int, deliveries: list, concurrency: int) -> tuple[list[float], list[int], float]:
    """Send everything with `concurrency` connections over CLIENT_PROCESSES processes; (latencies, failures, seconds)."""
    results = multiprocessing.Queue()
    start_at = time.time() + 1.0
    per_process = max(1, concurrency // CLIENT_PROCESSES)
    processes = [
        multiprocessing.Process(target=_client_process, args=(port, deliveries[i::CLIENT_PROCESSES], per_process, start_at, results))
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

    from bot import relay_render
    from bot.web import Request, Response, Router
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


def subscribe_channels(database: str) -> None:
    from bot import relay
    from bot.store import Store

    store = Store(database).migrate()
    for channel in CHANNELS:
        relay.subscribe(store, channel_id=channel, repo="acme/api", families=("pullrequests", "pushes", "tags", "builds"),
                        branch_glob="", user_id="UBENCH", now=time.time())
    store.close()


def outbox_counts(database: str) -> tuple[int, int, int]:
    """(sent, waiting, queued in all) in the outbox."""
    with sqlite3.connect(database, timeout=30) as db:
        sent = db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'sent'").fetchone()[0]
        waiting = db.execute("SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')").fetchone()[0]
        queued = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    return sent, waiting, queued


def wait_drained(database: str, timeout: float = 600) -> tuple[int, float]:
    """Poll until nothing is waiting; (messages sent meanwhile, seconds it took)."""
    began, (sent_before, _, _) = time.monotonic(), outbox_counts(database)
    while time.monotonic() - began < timeout:
        sent, waiting, _ = outbox_counts(database)
        if not waiting:
            return sent - sent_before, time.monotonic() - began
        time.sleep(0.05)
    raise SystemExit("the outbox did not drain")


def stored_deliveries(database: str) -> int:
    with sqlite3.connect(database, timeout=30) as db:
        return db.execute("SELECT COUNT(*) FROM webhook_deliveries").fetchone()[0]


def run_ours(env: dict, deliveries: list, concurrency: int, slack: FakeSlackProcess, slack_latency: float) -> dict:
    """A fresh server and database: load it with Slack at `slack_latency`, then let the worker drain into Slack at once."""
    with tempfile.TemporaryDirectory() as tmp:
        database = f"{tmp}/bench.db"
        subscribe_channels(database)
        slack.set_latency(slack_latency)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--no-scheduler"],
                                  env={**env, "SLACK_API_URL": slack.api_url, "PORT": str(port), "DATABASE_PATH": database}, cwd=ROOT)
        try:
            wait_healthy(port, server)
            latencies, failures, seconds = load(port, deliveries, concurrency)
            stored = stored_deliveries(database)
            slack.set_latency(0.0)
            sent, drain_seconds = wait_drained(database)
        finally:
            server.terminate()
            server.wait(timeout=60)
        return {"latencies": latencies, "failures": failures, "seconds": seconds, "stored": stored,
                "drained": sent, "drain_seconds": drain_seconds, "outbox": outbox_counts(database)}


def run_naive(env: dict, deliveries: list, concurrency: int, slack: FakeSlackProcess, slack_latency: float) -> tuple:
    slack.set_latency(slack_latency)
    port = free_port()
    naive = subprocess.Popen([sys.executable, __file__, "--serve-naive", str(port)], env={**env, "SLACK_API_URL": slack.api_url},
                             cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port, naive)
        return load(port, deliveries, concurrency)
    finally:
        naive.terminate()
        naive.wait(timeout=60)


# --- report ----------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def row(name: str, slack: str, latencies: list[float], failures: list[int], seconds: float) -> str:
    ms = [s * 1000 for s in latencies]
    return (f"| {name} | {slack} | {len(ms)} | {len(failures)} | {len(ms) / seconds:,.0f} | {statistics.median(ms):.1f} | "
            f"{percentile(ms, 99):.1f} | {max(ms):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--slack-latency", type=float, default=0.05, help="seconds Slack takes per call while deliveries arrive")
    parser.add_argument("--serve-fake-slack", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--serve-naive", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake_slack is not None:
        return serve_fake_slack(args.serve_fake_slack)
    if args.serve_naive:
        return serve_naive(args.serve_naive)

    deliveries = make_deliveries(args.deliveries)
    naive_share = deliveries[: len(deliveries) // 5]  # the naive relay is slow with a slow Slack; a fifth is enough to time it
    env = {
        **os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "bench-signing",
        "BITBUCKET_API_URL": "http://127.0.0.1:9/2.0", "BITBUCKET_ACCESS_TOKEN": "unused", "BITBUCKET_WEBHOOK_SECRET": SECRET,
        "HOST": "127.0.0.1", "LOG_LEVEL": "WARNING", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    }
    slow = f"{args.slack_latency * 1000:.0f} ms"
    slack = FakeSlackProcess(args.slack_latency)
    try:
        ours = run_ours(env, deliveries, args.concurrency, slack, args.slack_latency)
        busy = run_ours(env, deliveries, args.concurrency, slack, 0.0)
        naive_slow = run_naive(env, naive_share, args.concurrency, slack, args.slack_latency)
        naive_fast = run_naive(env, deliveries, args.concurrency, slack, 0.0)
    finally:
        slack.stop()

    print(f"{args.deliveries} signed webhook deliveries (60% pull request events, 30% pushes, 10% builds) relayed into "
          f"{len(CHANNELS)} channel(s), {args.concurrency} keep-alive connections from {CLIENT_PROCESSES} client processes, "
          f"127.0.0.1, {os.cpu_count()} CPUs\n")
    print("| relay | Slack answers in | deliveries | non-200 | accepted/s | p50 (ms) | p99 (ms) | max (ms) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(row("bitbucket-chatops: store, answer; the worker posts", slow, ours["latencies"], ours["failures"], ours["seconds"]))
    print(row("bitbucket-chatops, while the worker drains at full speed", "0 ms", busy["latencies"], busy["failures"], busy["seconds"]))
    print(row("naive: post to Slack, then answer", slow, *naive_slow))
    print(row("naive: post to Slack, then answer", "0 ms", *naive_fast))
    for name, run in (("first run", ours), ("second run", busy)):
        sent, _, queued = run["outbox"]
        print(f"\n{name}: {run['stored']} of {args.deliveries} deliveries stored; {queued} Slack messages queued, {sent} sent "
              "(how many are queued depends a little on arrival order: a build result older than one seen is not told)")
    print(f"\nDrain: after the first run's load, Slack answering at once, the worker sent the {ours['drained']} messages still "
          f"waiting in {ours['drain_seconds']:.1f} s: {ours['drained'] / ours['drain_seconds']:,.0f} messages/s.")


if __name__ == "__main__":
    main()
