"""A background thread in the serve process: passes over work held in the store until stopped."""

from __future__ import annotations

import logging
import os
import socket
import threading

log = logging.getLogger(__name__)

# This process, among every replica's: host, pid and a random part (a container's new process may reuse a pid).
PROCESS_OWNER = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


class BackgroundLoop:
    """Runs `one_pass()` until stopped. After a pass that did nothing it sleeps `idle_time()` seconds, unless
    `wakeup` is set (by whoever queued new work). Its work lives in the store, so a stop loses nothing."""

    thread_name = "background"

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

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.wakeup.clear()  # before the pass: work queued during it is seen on the next one
            try:
                busy = self.one_pass()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad row or a locked database
                log.exception("%s: unexpected failure; continuing", self.thread_name)
                busy = False
            if not busy:
                self.wakeup.wait(self.idle_time())
