"""Pure rules of builds: which statuses count, the gate they make, the failing step, the log's tail, a re-run's target,
and the builds kept on a pull request's relayed card (the relay stores them, these say what they become)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.core.render import escape

LOG_LINES = 20
LOG_CHARS = 2500
LOG_BYTES = 16384  # asked of Bitbucket with a Range request: plenty for 20 lines

GREEN, RUNNING, FAILED = "green", "running", "failed"

_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")
_RESULTS = re.compile(r"results/(\d+)")
_PIPELINE_NAME = re.compile(r"^Pipeline #(\d+)")
_ZWSP = "\u200b"


@dataclass(frozen=True)
class Gate:
    """What a set of build statuses says: `green` (nothing failed or runs; no builds at all counts too),
    `running`, or `failed`, with the statuses behind it."""

    verdict: str
    failed: tuple
    running: tuple
    statuses: tuple

    @property
    def red(self) -> bool:
        return self.verdict != GREEN


def latest_per_key(statuses: list) -> list:
    """One status per build (its key): the newest."""
    newest: dict = {}
    for status in statuses:
        seen = newest.get(status.key)
        if seen is None or (status.updated_on and seen.updated_on and status.updated_on > seen.updated_on):
            newest[status.key] = status
    return list(newest.values())


def gate(statuses: list) -> Gate:
    current = latest_per_key(statuses)
    failed = tuple(s for s in current if s.state == "FAILED")
    running = tuple(s for s in current if s.state == "INPROGRESS")
    verdict = FAILED if failed else RUNNING if running else GREEN
    return Gate(verdict, failed, running, tuple(current))


def pipeline_number(status: dict) -> int | None:
    """The Bitbucket Pipelines run a build status is about (`Pipeline #4 for main`, `…/results/4`), or None."""
    url, name = status.get("url") or "", status.get("name") or ""
    if "pipelines" in url:
        match = _RESULTS.search(url)
        if match:
            return int(match[1])
    match = _PIPELINE_NAME.match(name)
    return int(match[1]) if match else None


def failing_step(steps: list):
    """The step that failed (the first FAILED or ERROR one), else the first that did not succeed."""
    for step in steps:
        if step.result in ("FAILED", "ERROR"):
            return step
    return next((s for s in steps if s.state == "COMPLETED" and s.result not in ("SUCCESSFUL", "NOT_RUN")), None)


def inert(line: str) -> str:
    """One log line, made harmless for Slack: escaped (no mention, no channel ping, no link markup), no
    backticks to close the code block, and no bare URL or address for Slack to turn into a link."""
    line = _ANSI.sub("", line)
    line = "".join(c for c in line if c == "\t" or unicodedata.category(c)[0] != "C")
    line = escape(line).replace("`", "\u02cb")
    line = line.replace("://", ":" + _ZWSP + "//").replace("www.", "www" + _ZWSP + ".").replace("@", "@" + _ZWSP)
    return line


def log_tail(text: str, *, lines: int = LOG_LINES, chars: int = LOG_CHARS, partial_start: bool = False) -> str:
    """The last `lines` lines of a log, at most `chars` characters once made inert. `partial_start`: the
    text began mid-line (a Range request), so its first line is dropped when there are others."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")
    all_lines = text.split("\n") if text else []
    if partial_start and len(all_lines) > 1:
        all_lines = all_lines[1:]
    kept = [inert(line) for line in all_lines[-lines:]]
    while kept and len("\n".join(kept)) > chars:
        if len(kept) == 1:
            kept = ["…" + kept[0][-(chars - 1):]]
            break
        kept = kept[1:]
    return "\n".join(kept)


def rerun_target(target: dict) -> dict:
    """The same pipeline on the same branch, tag or commit: the target Bitbucket gave, without what it adds."""
    kind = target.get("type")
    if kind not in ("pipeline_ref_target", "pipeline_commit_target", "pipeline_pullrequest_target"):
        raise ValueError(f"cannot re-run a pipeline with a target of type {kind!r}")
    again: dict = {"type": kind}
    for key in ("ref_type", "ref_name", "source", "destination"):
        if target.get(key):
            again[key] = target[key]
    for key in ("commit", "destination_commit"):
        if (target.get(key) or {}).get("hash"):
            again[key] = {"type": "commit", "hash": target[key]["hash"]}
    if (target.get("pull_request") or {}).get("id"):
        again["pull_request"] = {"id": target["pull_request"]["id"]}
    selector = target.get("selector") or {}
    if selector.get("type") and selector.get("type") != "default":
        again["selector"] = {k: selector[k] for k in ("type", "pattern") if selector.get(k)}
    return again


# --- the builds of a pull request's source commit, kept on its relayed card ----------------------------


def _source_commit(data: dict) -> str:
    return (((data.get("source") or {}).get("commit")) or {}).get("hash") or ""


def _same_commit(a: str, b: str) -> bool:
    return bool(a and b) and (a.startswith(b) or b.startswith(a))


def keep_builds(stored: dict | None, incoming: dict) -> None:
    """A pull request event carries no builds: keep the ones of its source commit, if that did not move."""
    builds = (stored or {}).get("builds")
    if builds and "builds" not in incoming and _same_commit(builds.get("commit", ""), _source_commit(incoming)):
        incoming["builds"] = builds


def with_status(data: dict, status: dict) -> dict | None:
    """The pull request with this build status recorded; None when it is not about its source commit, or older."""
    commit = ((status.get("commit") or {}).get("hash")) or ""
    source = _source_commit(data)
    branch = ((data.get("source") or {}).get("branch") or {}).get("name")
    if not (_same_commit(commit, source) or (not source and branch and branch == status.get("refname"))):
        return None
    builds = data.get("builds") or {}
    if not _same_commit(builds.get("commit", ""), commit):
        builds = {"commit": commit, "statuses": {}}
    key = str(status.get("key") or status.get("name") or "build")
    seen = builds["statuses"].get(key)
    if seen and (seen.get("updated_on") or "") > (status.get("updated_on") or ""):
        return None
    entry = {"name": status.get("name") or key, "state": status.get("state") or "", "url": status.get("url") or "",
             "updated_on": status.get("updated_on") or ""}
    return {**data, "builds": {"commit": builds["commit"], "statuses": {**builds["statuses"], key: entry}}}
