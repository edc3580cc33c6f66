"""Pure: what the dashboard's pages read from a query string, and how its tables become CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, Mapping

from bot.core.audit import AuditFilter

PAGE_SIZE = 50
REPO_NAME = re.compile(r"[A-Za-z0-9_.{}-]+/[A-Za-z0-9_.-]+")


def page_number(query: Mapping[str, str]) -> int:
    text = query.get("page", "1")
    return max(1, min(int(text), 100_000)) if text.isdigit() else 1


def repository(text: str | None) -> str | None:
    """`workspace/slug`, lower-case, or None when `text` is not shaped like one."""
    text = (text or "").strip()
    return text.lower() if REPO_NAME.fullmatch(text) else None


def day(text: str | None) -> date | None:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        return None


def audit_filter(query: Mapping[str, str]) -> tuple[AuditFilter, dict[str, str]]:
    """The filter a query string asks for (dates are whole UTC days, `until` included), and the form's values
    as they should be shown again (a malformed date is dropped)."""
    since, until = day(query.get("since")), day(query.get("until"))
    shown = {
        "user": (query.get("user") or "").strip()[:40], "action": (query.get("action") or "").strip()[:40],
        "repo": (query.get("repo") or "").strip()[:200], "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    where = AuditFilter(
        user_id=shown["user"], action=shown["action"], repo=shown["repo"].lower(),
        since=datetime.combine(since, time(), timezone.utc).timestamp() if since else None,
        until=(datetime.combine(until, time(), timezone.utc) + timedelta(days=1)).timestamp() if until else None,
    )
    return where, shown


def when(moment) -> str:
    """A timestamp (seconds) or an aware datetime as `2026-01-05 09:00 UTC` ("" for None)."""
    if moment is None or moment == "":
        return ""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(float(moment), timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    """`45 min`, `5.2 h`, `3.1 d` ("–" for None)."""
    if seconds is None:
        return "–"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    """One CSV cell: text that a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(header: Iterable[str], rows: Iterable[Iterable]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(list(header))
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue()
