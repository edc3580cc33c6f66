"""A repository's past, for `/bb stats` to chart: pull requests opened over the last weeks, reviewed (approvals,
change requests, comments by others), then merged or declined. Deterministic for a given seed, and dated relative
to `now`, so the figures look the same whenever it runs."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

TITLES = ("Fix", "Add", "Tidy", "Speed up", "Document", "Test", "Refactor")
THINGS = ("the login flow", "rate limits", "the health check", "pagination", "the billing export", "search", "caching",
          "the admin console", "error pages", "the deploy script")


def seed_history(fake, workspace: str, slug: str, *, people: list[str], count: int, now: datetime, days: int = 90,
                 seed: int = 13, keep_open: bool = True) -> list[int]:
    """`count` pull requests spread over the last `days`; about one in twelve declined, those opened in the last day
    or so still open (unless `keep_open` is off: then they were merged a moment ago). Returns their ids."""
    rng = random.Random(seed)
    ids = []
    for index in range(count):
        created = now - timedelta(days=days) + timedelta(seconds=(index + 0.5) * days * 86400 / count)
        author = people[index % len(people)]
        others = [p for p in people if p != author]
        reviewers = tuple(rng.sample(others, k=min(2, len(others))))
        first_review = created + timedelta(hours=rng.choice((0.5, 1, 2, 3, 5, 8, 20, 30)) * rng.uniform(0.6, 1.4))
        closed = first_review + timedelta(hours=rng.uniform(2, 72))
        if closed >= now and not keep_open:
            closed = max(created, now - timedelta(minutes=5))
        state = "OPEN" if closed >= now else ("DECLINED" if index % 12 == 5 else "MERGED")
        title = f"{rng.choice(TITLES)} {rng.choice(THINGS)} ({index + 1})"
        made = fake.add_pull_request(workspace, slug, title=title, source=f"feature/history-{index + 1}", author=author,
                                     reviewers=reviewers, created_on=created, updated_on=closed if state != "OPEN" else created,
                                     state=state)
        ids.append(made["id"])
        if first_review < now:
            if rng.random() < 0.3:
                fake.add_comment(workspace, slug, made["id"], reviewers[0], "Could this use the shared helper?", at=first_review)
                fake.add_review(workspace, slug, made["id"], reviewers[0], "approved", at=first_review + timedelta(hours=1))
            else:
                verdict = "changes_requested" if rng.random() < 0.15 else "approved"
                fake.add_review(workspace, slug, made["id"], reviewers[0], verdict, at=first_review)
    return ids
