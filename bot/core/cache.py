"""`TtlCache`: Bitbucket answers kept a while, and served older when the request budget says not to ask."""

from __future__ import annotations

import threading
import time

MAX_ITEMS = 10_000


class TtlCache:
    """Answers kept: fresh for `ttl` seconds, and served older (with their age) when asking is not allowed.
    Errors are not kept: the next look asks again."""

    def __init__(self, ttl: float, clock=time.monotonic, keep: float = 24 * 3600.0):
        self.ttl, self.clock, self.keep = ttl, clock, keep
        self._items: dict = {}
        self._lock = threading.Lock()

    def get(self, key, fetch, *, may_fetch: bool = True) -> tuple[object, float] | None:
        """(value, its age in seconds; 0 when just fetched), or None when nothing is kept and fetching is not allowed."""
        now = self.clock()
        with self._lock:
            hit = self._items.get(key)
        if hit and now - hit[0] < self.ttl:
            return hit[1], now - hit[0]
        if not may_fetch:
            return (hit[1], now - hit[0]) if hit and now - hit[0] < self.keep else None
        value = fetch()
        with self._lock:
            if len(self._items) > MAX_ITEMS:
                self._items.clear()
            self._items[key] = (now, value)
        return value, 0.0
