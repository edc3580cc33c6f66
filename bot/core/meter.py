"""The Bitbucket request budget, shared by every replica: Bitbucket allows each credential about 1,000 requests in
a rolling hour, and every Home tab, unfurl, reminder and command spends from the same allowance.

`RequestBudget` is the client's meter (`bot.bitbucket.metering`). It counts each request in memory, per credential,
minute, priority and feature; the budget feature (`bot/budget`) writes the counts to the store every second or so
(one upsert per row, every replica adding to the same rows) and hands back the rolling hour's sums, so a request
costs no database write of its own and all replicas see one count. Bitbucket's own answers correct it: a 429
means nothing is left for a minute, `X-RateLimit-Limit` is the credential's real allowance, `X-RateLimit-NearLimit`
means less than a fifth is left, and a `X-RateLimit-Remaining` (undocumented, but kept should it come) caps it.

Priorities: a person's action is never refused by the bot (Bitbucket may still refuse it); relay work waits below
5 % left; background work (Home tabs, unfurls, reminders, stats, digests) below 20 %: it asks `allows` first and
answers from what it has, saying how old it is, or waits for a later look.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import Counter
from typing import Callable

from bot.bitbucket.metering import BACKGROUND, BOT, PERSON, PERSONAL, RELAY, Credential, Meter, Tag
from bot.core import metrics

HOURLY_LIMIT = 1000  # Bitbucket Cloud's documented allowance for /2.0/repositories/* per credential
WINDOW_MINUTES = 60
LOW_SHARE = 0.20  # below this share left, background work waits or is served from what is kept
RELAY_SHARE = 0.05  # below this, relay work (log tails) waits too
REFUSED_SECONDS = 60.0  # after a 429, nothing is taken to be left for this long
HEADER_SECONDS = 120.0  # how long what Bitbucket's headers said corrects the count

BOT_CREDENTIAL = Credential(BOT, BOT)

# (credential kind, credential id, minute, priority, feature) -> requests
Key = tuple[str, str, int, str, str]


def person_credential(slack_user_id: str) -> Credential:
    """A person's token's place in the count: a hash of who they are, never the token."""
    return Credential(PERSONAL, hashlib.sha256(f"person:{slack_user_id}".encode()).hexdigest()[:16])


def minute_of(timestamp: float) -> int:
    return int(timestamp // 60)


class RequestBudget(Meter):
    """Counts requests per credential (in memory until written) and says how much of the hour is left."""

    def __init__(self, *, limit: int = HOURLY_LIMIT, clock: Callable[[], float] = time.time):
        self.limit = limit
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: Counter = Counter()  # counted, not yet taken for writing
        self._in_flight: Counter = Counter()  # taken for writing, not yet in the sums read back
        self._stored: dict[str, int] = {}  # credential id -> the rolling hour's requests in the store, as last read
        self._kinds: dict[str, str] = {BOT: BOT}
        self._limits: dict[str, int] = {}  # X-RateLimit-Limit, per credential
        self._near: dict[str, float] = {}  # when X-RateLimit-NearLimit last said true
        self._header_left: dict[str, tuple[int, float]] = {}  # X-RateLimit-Remaining and when
        self._refused_until: dict[str, float] = {}

    # --- the meter: told by the client ---------------------------------------------------------------------

    def before(self, credential: Credential, tag: Tag) -> None:
        key = (credential.kind, credential.id, minute_of(self.clock()), tag.priority, tag.feature)
        with self._lock:
            self._pending[key] += 1
            self._kinds[credential.id] = credential.kind
        metrics.BITBUCKET_REQUESTS.labels(credential.kind, tag.priority).inc()

    def after(self, credential: Credential, tag: Tag, status, rate_limit) -> None:
        now = self.clock()
        with self._lock:
            if status == 429:
                self._refused_until[credential.id] = now + REFUSED_SECONDS
            if rate_limit is None:
                return
            if rate_limit.limit:
                self._limits[credential.id] = rate_limit.limit
            if rate_limit.near_limit:
                self._near[credential.id] = now
            elif rate_limit.near_limit is False:
                self._near.pop(credential.id, None)
            if rate_limit.remaining is not None:
                self._header_left[credential.id] = (rate_limit.remaining, now)

    # --- the store's side (the budget feature) ------------------------------------------------------------

    def take(self) -> dict[Key, int]:
        """The counts not yet written; kept as in flight (still counted) until `settle`."""
        with self._lock:
            taken = dict(self._pending)
            self._in_flight.update(self._pending)
            self._pending.clear()
        return taken

    def settle(self, stored: dict[str, tuple[str, int]] | None) -> None:
        """After the taken counts were written: the rolling hour's sums read back (credential id -> (kind, n)).
        None when writing failed: the counts taken go back to be written next time."""
        with self._lock:
            if stored is None:
                self._pending.update(self._in_flight)
            else:
                self._stored = {cid: n for cid, (_, n) in stored.items()}
                self._kinds.update({cid: kind for cid, (kind, _) in stored.items()})
            self._in_flight.clear()

    # --- what is left -----------------------------------------------------------------------------------

    def limit_of(self, credential_id: str = BOT) -> int:
        return self._limits.get(credential_id, self.limit)

    def used(self, credential_id: str = BOT) -> int:
        """Requests of the rolling hour: the store's sum as last read, and what this process counted since."""
        with self._lock:
            local = sum(n for key, n in (*self._pending.items(), *self._in_flight.items()) if key[1] == credential_id)
            return self._stored.get(credential_id, 0) + local

    def remaining(self, credential_id: str = BOT) -> int:
        now, limit = self.clock(), self.limit_of(credential_id)
        left = limit - self.used(credential_id)
        with self._lock:
            if self._refused_until.get(credential_id, 0.0) > now:
                return 0
            if now - self._near.get(credential_id, -math.inf) < HEADER_SECONDS:
                left = min(left, math.ceil(limit * LOW_SHARE) - 1)
            said, at = self._header_left.get(credential_id, (None, 0.0))
            if said is not None and now - at < HEADER_SECONDS:
                left = min(left, said)
        return max(0, left)

    def allows(self, priority: str, credential_id: str = BOT) -> bool:
        """May work of this priority spend a request now? A person's action always may."""
        if priority == PERSON:
            return True
        share = self.remaining(credential_id) / max(1, self.limit_of(credential_id))
        return share > (RELAY_SHARE if priority == RELAY else LOW_SHARE)

    def publish(self) -> None:
        """`bitbucket_budget_remaining`: the bot's, and the least any person has left (the whole allowance when none spent)."""
        metrics.BITBUCKET_BUDGET_REMAINING.labels(BOT).set(self.remaining(BOT))
        with self._lock:
            people = [cid for cid, kind in self._kinds.items() if kind == PERSONAL]
        left = [self.remaining(cid) for cid in people]
        metrics.BITBUCKET_BUDGET_REMAINING.labels(PERSONAL).set(min(left) if left else self.limit)


def of(services) -> RequestBudget | None:
    return services.part(RequestBudget)


def allows(services, priority: str = BACKGROUND) -> bool:
    """True when work of `priority` may spend the bot's requests now (always, where no budget is kept)."""
    budget = of(services)
    return budget is None or budget.allows(priority)
