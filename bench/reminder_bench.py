"""What one stale pull request reminder costs over a repository with many open pull requests.

Seeds a simulated Bitbucket (in this process, answering over HTTP after LATENCY seconds per call) with PRS open
pull requests, each with two reviewers, most of them idle for days. Then, in the same run:

- the bot's way (`bot.reminders.compose`): one list request per 50 open pull requests, asking `fields` for
  reviewers and participants, then the pure selection and rendering;
- the naive way: list the pull requests (Bitbucket leaves reviewers out of the list), then fetch each one.

and prints the requests each made and its wall time.

    python bench/reminder_bench.py [--prs 500] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.reminders import render as reminder_render
from bot import reminders  # noqa: E402
from bot.bitbucket import PullRequest  # noqa: E402
from bot.core.config import Settings  # noqa: E402
from bot.sandbox.bitbucket import FakeBitbucket  # noqa: E402
from bot.core.services import Services  # noqa: E402
from bot.registry import build_services  # noqa: E402

TOKEN = "bench-token"
AFTER_SECONDS = 48 * 3600


def seed(fake: FakeBitbucket, count: int, now: datetime) -> None:
    bot_user = fake.add_user("chatops-bot", "ChatOps bot")
    fake.allow_bearer(TOKEN, user=bot_user)
    fake.add_repository("acme", "big")
    people = [fake.add_user(f"dev{n}", f"Developer {n}")["nickname"] for n in range(12)]
    for n in range(count):
        author, first, second = people[n % 12], people[(n + 1) % 12], people[(n + 5) % 12]
        fake.add_pull_request(
            "acme", "big", title=f"Change number {n}", source=f"feature/{n}", author=author,
            reviewers=(first, second), approved_by=(first,) if n % 3 == 0 else (),
            created_on=now - timedelta(days=30), updated_on=now - timedelta(hours=n % 120),
        )


def the_bots_way(services: Services, now: datetime):
    return reminders.compose(services, "acme/big", AFTER_SECONDS, now)


def the_naive_way(services: Services, now: datetime):
    client = services.bitbucket
    listed = client.list_pull_requests("acme", "big", with_reviewers=False)
    prs = [PullRequest.from_api(client.get_pull_request("acme", "big", item["id"])) for item in listed.values]
    stale = reminders.select_stale(prs, now=now, after_seconds=AFTER_SECONDS)
    waiting = {pr.id: reminders.waiting_on(pr) for pr in stale}
    return reminder_render.stale_pull_requests("acme/big", stale, now=now, after_seconds=AFTER_SECONDS,
                                               waiting=waiting, mentions={})


def measure(fake: FakeBitbucket, run) -> tuple[int, float, object]:
    fake.requests.clear()
    start = time.perf_counter()
    result = run()
    return len(fake.requests), time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prs", type=int, default=500, help="open pull requests in the repository")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the simulated Bitbucket takes per call")
    args = parser.parse_args()

    now = datetime.now(timezone.utc)
    with FakeBitbucket() as fake, tempfile.TemporaryDirectory() as workdir:
        seed(fake, args.prs, now)
        settings = Settings(bitbucket_api_url=fake.base_url, bitbucket_access_token=TOKEN,
                            database_path=str(Path(workdir) / "bench.db"))
        services = build_services(settings)
        fake.latency = args.latency
        try:
            ours_requests, ours_seconds, reminder = measure(fake, lambda: the_bots_way(services, now))
            naive_requests, naive_seconds, naive_message = measure(fake, lambda: the_naive_way(services, now))
        finally:
            services.shutdown()
    assert reminder.message is not None and reminder.message.text == naive_message.text, "both ways must say the same"

    print(f"One reminder over {args.prs} open pull requests ({len(reminder.stale)} stale), "
          f"simulated Bitbucket at {args.latency * 1000:.0f} ms per call:")
    print(f"{'':<48}{'requests':>10}{'wall time':>12}")
    print(f"{'bot: list with fields=+reviewers,+participants':<48}{ours_requests:>10}{ours_seconds:>11.2f}s")
    print(f"{'naive: list, then GET each pull request':<48}{naive_requests:>10}{naive_seconds:>11.2f}s")
    print(f"{'naive / bot':<48}{naive_requests / ours_requests:>9.0f}x{naive_seconds / ours_seconds:>11.0f}x")


if __name__ == "__main__":
    main()
