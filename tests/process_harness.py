"""`bitbucket-chatops serve` as a real child process, for what only a process can show: SIGKILL, SIGTERM, restart.

The fake Slack and Bitbucket run in the test process; the bot is configured through its environment, as an
operator would configure it, and runs from an empty working directory (so no `.env` is picked up).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from bot.core.store import is_postgres_url, open_store
from tests.harness import ADMIN, BITBUCKET_TOKEN, BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, wait_until_listening


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(*, scheduler: bool = False) -> list[str]:
    """The installed console script beside this interpreter, else the module."""
    script = Path(sys.executable).with_name("bitbucket-chatops")
    serve = ["serve"] if scheduler else ["serve", "--no-scheduler"]
    return [str(script), *serve] if script.exists() else [sys.executable, "-m", "bot.app.cli", *serve]


class ServeProcess:
    """One database, served by successive `serve` processes (start, kill, start again)."""

    def __init__(self, workdir: Path, slack, bitbucket, *, database: str | None = None, scheduler: bool = False, **environment: str):
        """`database`: a SQLite path (default: one in `workdir`) or a postgresql:// URL, shared by replicas."""
        self.workdir = workdir
        self.database = database or str(workdir / "chatops.db")
        self.scheduler = scheduler
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "BITBUCKET_API_URL": bitbucket.base_url,
            "BITBUCKET_ACCESS_TOKEN": BITBUCKET_TOKEN,
            "BITBUCKET_WORKSPACE": "acme",
            "BITBUCKET_WEBHOOK_SECRET": WEBHOOK_SECRET,
            **({"DATABASE_URL": self.database} if is_postgres_url(self.database) else {"DATABASE_PATH": self.database}),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "CHATOPS_ADMINS": ADMIN,
            "LOG_LEVEL": "INFO",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            **environment,
        }
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "serve.log"

    def start(self) -> "ServeProcess":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(_command(scheduler=self.scheduler), cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.pid = self.process.pid
        log.close()
        self._wait_listening()
        return self

    def kill(self) -> int:
        """SIGKILL: no chance to finish anything."""
        return self.signal(signal.SIGKILL)

    def terminate(self, timeout: float = 30) -> int:
        return self.signal(signal.SIGTERM, timeout)

    def signal(self, signum: int, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        code = self.process.wait(timeout)
        self.process = None
        return code

    def stop(self) -> None:
        """Teardown: whatever state the process is in."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def query(self, sql: str, params=()) -> list[tuple]:
        """Read the bot's database as an operator would (SQLite in WAL mode, or PostgreSQL: reading disturbs nothing)."""
        store = open_store(self.database)
        try:
            return [tuple(row.values()) for row in store.query(sql, params)]
        finally:
            store.close()

    def _wait_listening(self, timeout: float = 20) -> None:
        def check_alive():
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.log()}")

        wait_until_listening(self.url, timeout, check_alive=check_alive)
