"""A whole company on one bot, a day compressed into minutes: Bitbucket's request budget, Slack's rate tiers and the
delivery lag (issue 25).

The company: 300 repositories (2 open pull requests each) in one workspace, 400 people linked, the 300 repositories
followed by 60 channels (5 each), a stale pull request reminder in each of the 60 channels, 150 people opening their
Home tab twice in the day, and a day of webhooks (20,000 deliveries: 60 % pull request events, 30 % pushes, 10 %
builds of which one in twenty fails). Two `serve` replicas on one PostgreSQL database (a fresh schema); the
simulated Slack and Bitbucket in this process; everything on 127.0.0.1.

The day is compressed `COMPRESSION` times (24 h in `--minutes`): webhooks, Home tabs and reminder times are spread
over the run as over a day. Bitbucket is told to send `X-RateLimit-Limit: 1000 × COMPRESSION`, so the bot's
throttle holds the compressed hour to what it would hold a real one to. What is not compressed: the bot's own
timers (its caches, the reconciliation's pace of 5 repositories a minute), so in the run they act on fewer
simulated hours than in a real day; the report says what each feature spent, per event.

Reported, in simulated time: Bitbucket requests in the busiest simulated hour and over the day, against the
budget of 1,000 an hour; Slack calls per simulated minute per method (and `chat.postMessage` per channel), against
Slack's tiers; and the delivery lag, from the webhook's 200 to the message in Slack, for pushes and comments.

    python bench/scale_bench.py [--minutes 10] [--deliveries 20000] [--slack-latency 0.2] [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import accounts, registry, relay, reminders  # noqa: E402
from bot.bitbucket import Account  # noqa: E402
from bot.budget import state  # noqa: E402
from bot.registry import open_migrated  # noqa: E402
from bot.sandbox.bitbucket import FakeBitbucket  # noqa: E402
from bot.sandbox.slack import FakeSlack  # noqa: E402
from tests import eventkit, webhookkit  # noqa: E402
from tests.dbkit import PostgresSchema  # noqa: E402
from tests.harness import BITBUCKET_TOKEN, BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, make_settings  # noqa: E402
from tests.process_harness import ServeProcess  # noqa: E402

REPOS, PEOPLE, HOME_PEOPLE, CHANNELS = 300, 400, 150, 60
HOURLY_BUDGET = 1000
SLACK_TIERS = {"chat.postMessage": 60, "chat.update": 50, "views.publish": 100, "conversations.open": 100, "chat.unfurl": 100}


def seed_bitbucket(bitbucket: FakeBitbucket, rng: random.Random) -> list[str]:
    people = [f"p{n:03d}" for n in range(PEOPLE)]
    for nickname in people:
        bitbucket.add_user(nickname)
    repos = [f"repo{n:03d}" for n in range(REPOS)]
    long_ago = datetime.now(timezone.utc) - timedelta(days=5)
    for slug in repos:
        bitbucket.add_repository("acme", slug, branches=("main",))
        for k in range(2):
            author, *reviewers = rng.sample(people, 3)
            bitbucket.add_pull_request("acme", slug, title=f"Change {k} of {slug}", source=f"f/{k}", author=author, reviewers=reviewers,
                                       created_on=long_ago, updated_on=long_ago)
    return repos


def seed_database(url: str, bitbucket: FakeBitbucket, repos: list[str], start: datetime, minutes: float) -> None:
    store = open_migrated(url)
    now = time.time()
    for n, slug in enumerate(repos):
        relay.subscribe(store, channel_id=f"C{n % CHANNELS:02d}", repo=f"acme/{slug}", families=("pullrequests", "pushes", "builds"),
                        branch_glob="", user_id="UADMIN", now=now)
    for n in range(PEOPLE):
        user = bitbucket.user(f"p{n:03d}")
        accounts.link(store, slack_user_id=f"U{n:03d}", nickname=user["nickname"],
                      account=Account.from_api(user), linked_by="UADMIN")
    for c in range(CHANNELS):  # reminder times spread over the compressed day, whole minutes of the run
        at = start + timedelta(minutes=1 + (c * max(1.0, minutes - 2) / CHANNELS))
        reminders.save_schedule(store, channel_id=f"C{c:02d}", repo=f"acme/{repos[c]}", after_seconds=3600, at=at.strftime("%H:%M"),
                                days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"), user_id="UADMIN", now=start)
    store.close()


def make_deliveries(bitbucket: FakeBitbucket, repos: list[str], count: int, rng: random.Random) -> list[tuple[str, dict, str]]:
    """(event key, payload, marker): the marker is text the Slack message carries, for the lag ('' when none)."""
    out = []
    for n in range(count):
        slug = repos[rng.randrange(REPOS)]
        kind = n % 10
        if kind < 6:
            pr_id = 1 + rng.randrange(2)
            payload = webhookkit.pull_request_payload(bitbucket, "acme", slug, pr_id, actor=f"p{rng.randrange(PEOPLE):03d}")
            payload["pullrequest"]["updated_on"] = (datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=n)).isoformat()
            key, marker = ("pullrequest:updated", ""), None
            if kind % 3 == 1:
                marker = f"note-{n:05d}"
                payload["comment"] = {"content": {"raw": f"Remark {marker}"}, "user": payload["actor"]}
                key = ("pullrequest:comment_created", marker)
            elif kind % 3 == 2:
                key = ("pullrequest:approved", "")
                payload["approval"] = {"user": payload["actor"], "date": payload["pullrequest"]["updated_on"]}
            out.append((key[0], payload, key[1]))
        elif kind < 9:
            marker = f"push-{n:05d}"
            payload = webhookkit.push_payload("acme", slug, actor={"display_name": "Someone"}, branch="main",
                                              commits=[(f"{n:040x}", f"Commit {marker}")])
            out.append(("repo:push", payload, marker))
        else:
            state = "FAILED" if n % 200 == 9 else "SUCCESSFUL"
            payload = webhookkit.commit_status_payload("acme", slug, actor={"display_name": "Pipelines"}, name=f"Pipeline #{n} for main",
                                                       state=state, refname="main", key=f"k{n}")
            out.append(("repo:commit_status_updated", payload, ""))
    return out


def send_day(replicas: list[ServeProcess], deliveries, home_opens, minutes: float) -> tuple[dict, list[int]]:
    """Send everything at its time in the compressed day; {marker: time its 200 came}, and the non-200 statuses."""
    seconds = minutes * 60
    plan = [(i * seconds / len(deliveries), "hook", item) for i, item in enumerate(deliveries)]
    plan += [(t, "home", user) for t, user in home_opens]
    plan.sort(key=lambda entry: entry[0])
    accepted: dict[str, float] = {}
    failures: list[int] = []
    lock = threading.Lock()
    started = time.monotonic()

    def one(index: int, kind: str, item) -> None:
        url = replicas[index % len(replicas)].url
        if kind == "hook":
            key, payload, marker = item
            answer = webhookkit.post(f"{url}/bitbucket/webhook", key, payload, WEBHOOK_SECRET, timeout=30)
            with lock:
                if answer.status_code != 200:
                    failures.append(answer.status_code)
                elif marker:
                    accepted[marker] = time.time()
        else:
            answer = eventkit.post_event(url, eventkit.app_home_opened(item), SIGNING_SECRET)
            if answer.status_code != 200:
                with lock:
                    failures.append(answer.status_code)

    with ThreadPoolExecutor(8) as pool:
        for index, (at, kind, item) in enumerate(plan):
            delay = at - (time.monotonic() - started)
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, index, kind, item)
    return accepted, failures


class Backlog:
    """Where work waits, every `every` seconds: deliveries not yet routed, messages not yet sent, Slack calls so far."""

    def __init__(self, replica: ServeProcess, slack: FakeSlack, every: float = 15.0):
        self.replica, self.slack, self.every = replica, slack, every
        self.samples: list[tuple[float, int, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Backlog":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            routed = self.replica.query("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")[0][0]
            queued = self.replica.query("SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')")[0][0]
            self.samples.append((time.time(), routed, queued, len(self.slack.calls)))

    def report(self, started: float) -> None:
        print("\n| real seconds | deliveries waiting to be routed | messages waiting for Slack | Slack calls a second |\n| --- | --- | --- | --- |")
        previous_time, previous_calls = started, 0
        for at, routed, queued, calls in self.samples:
            print(f"| {at - started:.0f} | {routed} | {queued} | {(calls - previous_calls) / max(at - previous_time, 1e-9):.1f} |")
            previous_time, previous_calls = at, calls


def busiest(times: list[float], window: float) -> int:
    times = sorted(times)
    return max((bisect.bisect_right(times, t + window) - i for i, t in enumerate(times)), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="the compressed day's length (real minutes)")
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--cold", action="store_true", help="start with nothing read: the Home tabs and the reconciler read the "
                        "repositories as they go (the first hour after installing); by default every repository is read once before")
    parser.add_argument("--slack-latency", type=float, default=0.0, help="seconds the simulated Slack takes to answer each call "
                        "(Slack's own answer in 100-300 ms)")
    parser.add_argument("--postgres", default=os.environ.get("CHATOPS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    os.environ.setdefault("CHATOPS_TEST_POSTGRES_URL", args.postgres)
    compression = 24 * 60 / args.minutes
    rng = random.Random(25)

    slack, bitbucket = FakeSlack(bot_token=BOT_TOKEN).start(), FakeBitbucket().start()
    slack.latency = args.slack_latency
    bitbucket.allow_bearer(BITBUCKET_TOKEN, user=bitbucket.add_user("chatops-bot", "ChatOps bot"))
    bitbucket.rate_limit_headers = {"X-RateLimit-Limit": str(int(HOURLY_BUDGET * compression)), "X-RateLimit-Resource": "api"}
    repos = seed_bitbucket(bitbucket, rng)
    for n in range(PEOPLE):
        slack.add_user(f"U{n:03d}", f"p{n:03d}")
    schema = PostgresSchema(args.postgres)
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
    seed_database(schema.url, bitbucket, repos, start, args.minutes)
    deliveries = make_deliveries(bitbucket, repos, args.deliveries, rng)
    homers = rng.sample(range(PEOPLE), HOME_PEOPLE)
    home_opens = [(rng.uniform(0, args.minutes * 60), f"U{n:03d}") for n in homers for _ in range(2)]
    bitbucket.requests.clear()

    replicas = []
    with tempfile.TemporaryDirectory() as tmp:
        warm_up = 0
        if not args.cold:  # what the reconciler does in the bot's first hour: every followed repository read once
            services = registry.build_services(make_settings(Path(tmp), slack, bitbucket, database_url=schema.url))
            for slug in repos:
                state.reconcile(services, f"acme/{slug}")
            services.shutdown()
            warm_up = len(bitbucket.requests)
            bitbucket.requests.clear()
            print(f"Warm-up: {warm_up} requests read the {REPOS} repositories' open pull requests once (the reconciler's first hour)")
        try:
            for name in ("a", "b"):
                (Path(tmp) / name).mkdir()
                replicas.append(ServeProcess(Path(tmp) / name, slack, bitbucket, database=schema.url, scheduler=True,
                                             REMINDER_TIMEZONE="UTC", LOG_LEVEL="WARNING").start())
            time.sleep(max(0.0, (start - datetime.now(timezone.utc)).total_seconds()))  # the day starts on a minute
            run_started = time.time()
            backlog = Backlog(replicas[0], slack).start()
            accepted, failures = send_day(replicas, deliveries, home_opens, args.minutes)
            sent_done = time.time()
            deadline = time.time() + 300
            while time.time() < deadline:  # let the bot finish the day's work: everything routed and posted
                waiting = replicas[0].query("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")[0][0]
                queued = replicas[0].query("SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')")[0][0]
                if waiting == 0 and queued == 0:
                    break
                time.sleep(1)
            drained = time.time()
            backlog.stop()
            usage = replicas[0].query("""SELECT credential_kind, priority, feature, SUM(requests) FROM bitbucket_requests
                                         GROUP BY credential_kind, priority, feature ORDER BY 4 DESC""")
            reminders_sent = replicas[0].query("SELECT COUNT(*) FROM reminder_sent")[0][0]
            reconciled = replicas[0].query("SELECT COUNT(*) FROM reconciled_repositories")[0][0]
        finally:
            for replica in replicas:
                replica.stop()
            schema.drop()
            errors = Counter(line.split(" ", 2)[-1] for replica in replicas for line in replica.log().splitlines()
                             if "ERROR" in line or "Error:" in line)
            print(f"error lines in the replicas' logs: {sum(errors.values())}", *[f"{n} x {line}" for line, n in errors.most_common(8)],
                  sep="\n")
    report(args, compression, bitbucket, slack, accepted, failures, usage, run_started, sent_done, drained, reminders_sent, reconciled,
           len(home_opens))
    backlog.report(run_started)
    slack.stop()
    bitbucket.stop()


def report(args, compression, bitbucket, slack, accepted, failures, usage, run_started, sent_done, drained, reminders_sent, reconciled,
           home_opens) -> None:
    bb_times = [r.time.timestamp() for r in bitbucket.requests]
    bb_429 = 0  # the fake refused nothing: it answers 429 only when told to
    sim_hour = 3600 / compression
    counted = sum(row[3] for row in usage)
    print(f"## A day compressed {compression:.0f}x into {args.minutes:g} minutes ({args.deliveries} deliveries, {home_opens} Home tabs, "
          f"Slack answering in {1000 * args.slack_latency:.0f} ms)\n")
    print(f"Bitbucket requests: {len(bb_times)} over the day (the bot counted {counted}); busiest simulated hour "
          f"{busiest(bb_times, sim_hour)} of {HOURLY_BUDGET} ({100 * busiest(bb_times, sim_hour) / HOURLY_BUDGET:.0f} %); "
          f"day average {len(bb_times) / 24:.0f} an hour; 429s from Bitbucket: {bb_429}")
    print("\n| credential | priority | feature | requests in the day |\n| --- | --- | --- | --- |")
    for kind, priority, feature, n in usage:
        print(f"| {kind} | {priority} | {feature} | {n} |")
    calls = slack.calls
    by_method: dict[str, list[float]] = defaultdict(list)
    per_channel: dict[str, list[float]] = defaultdict(list)
    statuses = Counter()
    for call in calls:
        by_method[call.method].append(call.time)
        statuses[call.status] += 1
        if call.method == "chat.postMessage":
            per_channel[str(call.args.get("channel"))].append(call.time)
    sim_minute = 60 / compression
    print("\n| Slack method | calls in the day | busiest simulated minute | Slack's tier (a minute) |\n| --- | --- | --- | --- |")
    for method, times in sorted(by_method.items(), key=lambda item: -len(item[1])):
        print(f"| {method} | {len(times)} | {busiest(times, sim_minute)} | {SLACK_TIERS.get(method, '')} |")
    worst = max((busiest(times, 1.0 / compression) for times in per_channel.values()), default=0)
    print(f"\nchat.postMessage in one channel, busiest simulated second: {worst} (Slack: about 1 a second, bursts allowed); "
          f"HTTP statuses from Slack: {dict(statuses)}")
    posted: dict[str, float] = {}
    for call in calls:
        text = json.dumps(call.args)
        for marker in _markers(text):
            posted.setdefault(marker, call.time)
    lags = sorted(posted[m] - t for m, t in accepted.items() if m in posted)
    missing = len([m for m in accepted if m not in posted])
    if lags:
        print(f"\nDelivery lag, webhook 200 -> Slack (real seconds, {len(lags)} pushes and comments): p50 {statistics.median(lags):.2f}, "
              f"p99 {lags[int(0.99 * (len(lags) - 1))]:.2f}, max {lags[-1]:.2f}; over 10 s: {sum(lag > 10 for lag in lags)}; "
              f"not found in Slack: {missing}")
    notices = Counter(element["text"].split(" in ")[0].split(":")[-1].strip()[:60] for view in slack.home_views.values()
                      for block in view.get("blocks") or () if block.get("type") == "context"
                      for element in block.get("elements") or () if ":warning:" in element.get("text", ""))
    print(f"Home tabs published: {len(slack.home_views)} people; notices on their last tab: {dict(notices) or 'none'}")
    print(f"Webhook answers other than 200: {len(failures)} {Counter(failures) if failures else ''}")
    print(f"Sending took {sent_done - run_started:.0f} s; everything routed and posted {drained - sent_done:.0f} s after the last; "
          f"reminders sent {reminders_sent} of {CHANNELS}; repositories reconciled {reconciled} of {REPOS}")


def _markers(text: str):
    for prefix in ("push-", "note-"):
        start = 0
        while (index := text.find(prefix, start)) >= 0:
            yield text[index:index + len(prefix) + 5]
            start = index + 1


if __name__ == "__main__":
    main()
