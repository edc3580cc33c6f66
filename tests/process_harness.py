"""`bitbucket-chatops serve` as a real child process, for what only a process can show: SIGKILL, SIGTERM, restart.

The fake Slack and Bitbucket run in the test process; the bot is configured through its environment, as an
operator would configure it, and runs from an empty working directory (so no `.env` is picked up).
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.harness import ADMIN, BITBUCKET_TOKEN, BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, wait_until_listening


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command() -> list[str]:
    """The installed console script beside this interpreter, else the module."""
    script = Path(sys.executable).with_name("bitbucket-chatops")
    return [str(script), "serve", "--no-scheduler"] if script.exists() else [sys.executable, "-m", "bot.cli", "serve", "--no-scheduler"]


class ServeProcess:
    """One database, served by successive `serve` processes (start, kill, start again)."""

    def __init__(self, workdir: Path, slack, bitbucket, **environment: str):
        self.workdir = workdir
        self.database = str(workdir / "chatops.db")
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
            "DATABASE_PATH": self.database,
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
        self.process = subprocess.Popen(_command(), cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT)
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
        """Read the bot's database as an operator would (it is in WAL mode, so reading does not disturb it)."""
        with sqlite3.connect(self.database, timeout=30) as db:
            return db.execute(sql, params).fetchall()

    def _wait_listening(self, timeout: float = 20) -> None:
        def check_alive():
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.log()}")

        wait_until_listening(self.url, timeout, check_alive=check_alive)
