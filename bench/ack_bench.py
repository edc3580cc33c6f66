"""How fast a slash command is acknowledged while Bitbucket is slow.

Starts the real server (`bitbucket-chatops serve`, in its own process) against a simulated Bitbucket that
takes LATENCY seconds per call and a simulated Slack (both in this process), then sends signed `/bb prs`
commands from CONCURRENCY clients at once and measures the time to the HTTP answer (the ack). Beside it, in
the same run, a naive handler that calls Bitbucket before acking, served the same way in its own process.

    python bench/ack_bench.py [--commands 200] [--concurrency 10] [--latency 0.3]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from waitress.server import create_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.config import Settings  # noqa: E402
from bot.sandbox import slackkit  # noqa: E402
from bot.sandbox.bitbucket import FakeBitbucket  # noqa: E402
from bot.sandbox.slack import FakeSlack  # noqa: E402
from bot.core.services import Services  # noqa: E402
from bot.registry import build_services  # noqa: E402
from bot.core.web import Router  # noqa: E402
from handlers import slack_http  # noqa: E402

SECRET = "bench-signing-secret"


def naive_server(services: Services, port: int = 0):
    """A Bolt app whose listener asks Bitbucket first and acks with the answer: what we must not do."""
    app = App(
        client=services.slack,
        signing_secret=SECRET,
        authorize=lambda **kw: AuthorizeResult(enterprise_id=None, team_id=kw.get("team_id"), bot_token=services.settings.slack_bot_token),
    )

    @app.command("/bb")
    def on_command(ack, body):
        page = services.bitbucket.list_pull_requests("acme", "api", limit=20)
        ack(text=f"{page.total} open pull requests")

    router = Router()
    router.add("POST", "/slack/events", slack_http.make_handler(app, SECRET))
    return create_server(router, host="127.0.0.1", port=port, threads=16)


def measure(url: str, slack: FakeSlack, commands: int, concurrency: int) -> list[float]:
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=concurrency))

    def one(n: int) -> float:
        body = slackkit.slash_command_body("prs api", user_id=f"U{n}", response_url=slack.response_url())
        headers = {**slackkit.sign(SECRET, body), "Content-Type": "application/x-www-form-urlencoded"}
        start = time.perf_counter()
        response = session.post(f"{url}/slack/events", data=body, headers=headers, timeout=30)
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.text
        return elapsed

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(commands)))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def report(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    over = sum(1 for s in seconds if s > 3.0)
    return (
        f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {percentile(ms, 99):.1f} | {max(ms):.1f} | {over} |"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, path: str = "/healthz") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            if requests.get(url + path, timeout=1, proxies={"http": "", "https": ""}).status_code < 500:
                return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def serve_naive(port: int) -> None:
    """Run in a child process: the naive handler on `port`, configured from the environment."""
    settings = Settings.from_env(dotenv=False)
    server = naive_server(build_services(settings), port=port)
    server.run()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--serve-naive", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_naive:
        serve_naive(args.serve_naive)
        return
    slackkit.ensure_no_proxy_for_loopback()

    with FakeSlack(bot_token="xoxb-bench") as slack, FakeBitbucket() as bitbucket, tempfile.TemporaryDirectory() as tmp:
        bitbucket.allow_bearer("bench-token", user=bitbucket.add_user("bench-bot"))
        bitbucket.add_repository("acme", "api", branches=("main", "feature/a"))
        bitbucket.add_pull_request("acme", "api", title="A change", source="feature/a", author=bitbucket.add_user("alice"))
        bitbucket.latency = args.latency
        env = {
            **os.environ, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url,
            "BITBUCKET_API_URL": bitbucket.base_url, "BITBUCKET_ACCESS_TOKEN": "bench-token", "BITBUCKET_WORKSPACE": "acme",
            "BITBUCKET_WEBHOOK_SECRET": "bench-webhook-secret", "HOST": "127.0.0.1", "LOG_LEVEL": "WARNING",
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        }
        ours_port, naive_port = free_port(), free_port()
        ours = subprocess.Popen(
            [sys.executable, "-m", "bot.app.cli", "serve", "--no-scheduler"],
            env={**env, "PORT": str(ours_port), "DATABASE_PATH": f"{tmp}/ours.db"}, cwd=ROOT,
        )
        naive = subprocess.Popen(
            [sys.executable, __file__, "--serve-naive", str(naive_port)],
            env={**env, "DATABASE_PATH": f"{tmp}/naive.db"}, cwd=ROOT, stderr=subprocess.DEVNULL,
        )
        try:
            wait_healthy(f"http://127.0.0.1:{ours_port}", ours)
            wait_healthy(f"http://127.0.0.1:{naive_port}", naive, path="/slack/events")
            ours_times = measure(f"http://127.0.0.1:{ours_port}", slack, args.commands, args.concurrency)
            time.sleep(args.latency * args.commands / 16 + 1)  # let the work pool finish before the naive run
            naive_times = measure(f"http://127.0.0.1:{naive_port}", slack, args.commands, args.concurrency)
        finally:
            for process in (ours, naive):
                process.terminate()
                process.wait(timeout=30)

        print(f"{args.commands} signed `/bb prs` commands, {args.concurrency} at once, Bitbucket answering in {args.latency * 1000:.0f} ms a call\n")
        print("| handler | commands | ack p50 (ms) | ack p99 (ms) | max (ms) | over Slack's 3 s |")
        print("| --- | --- | --- | --- | --- | --- |")
        print(report("bitbucket-chatops (ack, then Bitbucket on the work pool)", ours_times))
        print(report("naive (Bitbucket, then ack)", naive_times))


if __name__ == "__main__":
    main()
