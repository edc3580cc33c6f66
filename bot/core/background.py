"""A background thread in the serve process: passes over work held in the store until stopped."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from bot.bitbucket.metering import RELAY, tagged

log = logging.getLogger(__name__)

# This process, among every replica's: host, pid and a random part (a container's new process may reuse a pid).
PROCESS_OWNER = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"

# Intake first: while requests someone waits on keep arriving (webhook deliveries), loops that defer to them
# step aside between passes, so a burst is answered at the bare intake's pace and relayed right after it.
FOREGROUND_WINDOW = 0.05  # a request counts as "arriving" this long
_foreground_until = 0.0


def note_foreground() -> None:
    """A request that someone waits on has arrived."""
    global _foreground_until
    _foreground_until = time.monotonic() + FOREGROUND_WINDOW


def foreground_busy() -> bool:
    return time.monotonic() < _foreground_until


class BackgroundLoop:
    """Runs `one_pass()` until stopped. After a pass that did nothing it sleeps `idle_time()` seconds, unless
    `wakeup` is set (by whoever queued new work). Its work lives in the store, so a stop loses nothing."""

    thread_name = "background"
    # Loops whose work can wait a moment step aside while requests arrive: they pause between passes, but
    # never longer than `max_deferral` in a row, and then work for `busy_budget` before stepping aside again;
    # so a burst is answered at the bare intake's pace, and a sustained load still gets its work done.
    defers_to_foreground = False
    foreground_pause = 0.05
    max_deferral = 5.0
    busy_budget = 0.25
    # What its Bitbucket requests are counted as: relay work (log tails, a deploy's progress), unless a loop says otherwise.
    bitbucket_priority = RELAY

    def __init__(self, wakeup: threading.Event):
        self.wakeup = wakeup
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def one_pass(self) -> bool:
        """Do what is due; True when there may be more to do at once."""
        raise NotImplementedError

    def idle_time(self) -> float:
        raise NotImplementedError

    def start(self):
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the pass in hand, then stop."""
        self._stopping.set()
        self.wakeup.set()
        if self._thread:
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _step_aside(self) -> None:
        deferred_since = time.monotonic()
        while foreground_busy() and not self._stopping.is_set() and time.monotonic() - deferred_since < self.max_deferral:
            self._stopping.wait(self.foreground_pause)

    def _run(self) -> None:
        budget_until = 0.0
        while not self._stopping.is_set():
            if self.defers_to_foreground and time.monotonic() >= budget_until:
                self._step_aside()
                budget_until = time.monotonic() + self.busy_budget
            self.wakeup.clear()  # before the pass: work queued during it is seen on the next one
            try:
                with tagged(self.bitbucket_priority, self.thread_name):
                    busy = self.one_pass()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad row or a locked database
                log.exception("%s: unexpected failure; continuing", self.thread_name)
                busy = False
            if not busy:
                self.wakeup.wait(self.idle_time())
