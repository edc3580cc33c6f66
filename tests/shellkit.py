"""A person at `bitbucket-chatops shell --sandbox`: types lines, clicks buttons by their number, reads what
the shell printed. The shell runs in this process (`run_shell`, its real loop) against the sandbox."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable

from bot.core.config import Settings


class Click:
    """Type the number of the newest button labelled `label` on screen (after the last `after`, when given)."""

    def __init__(self, label: str, *, after: str | None = None):
        self.label, self.after = label, after

    def line(self, transcript: str) -> str:
        if self.after is not None:
            assert self.after in transcript, f"{self.after!r} is not on screen:\n{transcript}"
            start = transcript.rindex(self.after)
            end = transcript.find("\n*#", start + len(self.after) + 1)  # the next pull request's card, if any
            transcript = transcript[start:end if end != -1 else None]
        numbers = re.findall(r"\[(\d+)\] " + re.escape(self.label) + r"(?=\s|$)", transcript)
        assert numbers, f"no button {self.label!r} on screen:\n{transcript}"
        return numbers[-1]


@dataclass
class WaitFor:
    """Press Enter now and then (the shell shows what arrived meanwhile) until `until(transcript)` holds."""

    until: Callable[[str], bool]
    timeout: float = 30.0


@dataclass
class Pause:
    """Sit at the prompt typing nothing until `until(transcript)` holds: only what the shell prints by itself, as
    it arrives, can make it hold."""

    until: Callable[[str], bool]
    timeout: float = 30.0


@dataclass
class Session:
    printed: list[str] = field(default_factory=list)
    typed: list[tuple[str, int]] = field(default_factory=list)  # each line typed, and where in `printed`

    @property
    def transcript(self) -> str:
        return "\n".join(self.printed)

    @property
    def banner(self) -> str:
        """What the shell said before its first prompt."""
        return "\n".join(self.printed[: self.typed[0][1]] if self.typed else self.printed)

    def answer(self, number: int) -> str:
        """What was printed after the `number`-th line typed (from 1; Enter alone counts too), until the next."""
        start = self.typed[number - 1][1] + 1
        end = self.typed[number][1] if number < len(self.typed) else len(self.printed)
        return "\n".join(self.printed[start:end])

    def answer_to(self, line: str, occurrence: int = -1) -> str:
        """What was printed after `line` was typed (its last time, by default)."""
        numbers = [n for n, (typed, _) in enumerate(self.typed, 1) if typed == line]
        assert numbers, f"{line!r} was never typed"
        return self.answer(numbers[occurrence])


def run(tmp_path, *lines, settings: Settings | None = None) -> Session:
    """Run the sandbox shell, type `lines` (then `quit`), and return everything it printed."""
    from bot.app.shell import run_shell

    session = Session()
    pending = list(lines)
    waiting: dict = {}

    def write(text: str) -> None:
        session.printed.append(text)

    def type_(line: str) -> str:
        session.typed.append((line, len(session.printed)))
        write(line)
        return line

    def read(prompt: str) -> str:
        write(prompt.rstrip())
        while pending:
            step = pending[0]
            if isinstance(step, Pause):
                deadline = time.monotonic() + step.timeout
                while not step.until(session.transcript):
                    assert time.monotonic() < deadline, f"nothing printed by itself:\n{session.transcript}"
                    time.sleep(0.05)
                pending.pop(0)
                continue
            if isinstance(step, WaitFor):
                started = waiting.setdefault(id(step), time.monotonic())
                if step.until(session.transcript):
                    pending.pop(0)
                    continue
                assert time.monotonic() - started < step.timeout, f"waited in vain:\n{session.transcript}"
                time.sleep(0.2)
                return type_("")  # Enter: the shell shows what arrived since
            pending.pop(0)
            return type_(step.line(session.transcript) if isinstance(step, Click) else step)
        return "quit"

    settings = settings or Settings(database_path=str(tmp_path / "shell.db"))
    assert run_shell(settings, sandbox=True, read=read, write=write) == 0
    return session
