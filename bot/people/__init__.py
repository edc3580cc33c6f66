"""People's working hours and time zone: what they set with `/bb hours`, else their Slack profile's time zone
(`users.info` → `tz`, asked at most once a day per person and kept here), else `REMINDER_TIMEZONE`.

Working days decide when a person's own reminder comes by default; the time zone decides at which local time.
Who is linked to a Bitbucket account is the accounts' business: `linked` is the one place this package asks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import accounts
from bot.core.store import Migration, Store

log = logging.getLogger(__name__)

MIGRATIONS = [Migration("people", 1, (
    # What a person set with `/bb hours`; `tz` empty: their Slack time zone.
    """CREATE TABLE IF NOT EXISTS working_hours (
        slack_user_id TEXT PRIMARY KEY,
        start_at TEXT NOT NULL,            -- HH:MM, local
        end_at TEXT NOT NULL,              -- HH:MM, local, after start_at
        days TEXT NOT NULL,                -- comma-separated, of mon..sun
        tz TEXT NOT NULL DEFAULT '',
        changed_at REAL NOT NULL
    )""",
    # Slack's `users.info` time zone of a person, as last read.
    """CREATE TABLE IF NOT EXISTS slack_time_zones (
        slack_user_id TEXT PRIMARY KEY,
        tz TEXT NOT NULL,
        fetched_at REAL NOT NULL
    )""",
))]

DEFAULT_START, DEFAULT_END = "09:00", "17:30"
DEFAULT_DAYS = ("mon", "tue", "wed", "thu", "fri")
SLACK_ZONE_LIFETIME = timedelta(days=1)


@dataclass(frozen=True)
class Hours:
    start: str
    end: str
    days: tuple[str, ...]
    zone_name: str
    zone_source: str  # "set" (with /bb hours), "slack" (the person's profile) or "default" (REMINDER_TIMEZONE)
    explicit: bool  # set with /bb hours (else the defaults)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.zone_name)


def known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def linked(store: Store, slack_user_id: str):
    """The person's link to a Bitbucket account (`/bb link` or `/bb login`), or None."""
    return accounts.linked_user(store, slack_user_id)


def save_hours(store: Store, slack_user_id: str, *, start: str, end: str, days: tuple[str, ...], tz: str, now: datetime) -> None:
    store.execute(
        """INSERT INTO working_hours (slack_user_id, start_at, end_at, days, tz, changed_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (slack_user_id) DO UPDATE SET start_at = excluded.start_at, end_at = excluded.end_at,
             days = excluded.days, tz = excluded.tz, changed_at = excluded.changed_at""",
        (slack_user_id, start, end, ",".join(days), tz, now.timestamp()),
    )


def slack_zone(services, slack_user_id: str, now: datetime) -> str | None:
    """The person's Slack time zone: kept a day; Slack asked when it is older (its answer is kept even when the
    person has none); None when Slack could not say and nothing was kept."""
    store = services.store
    row = store.query_one("SELECT tz, fetched_at FROM slack_time_zones WHERE slack_user_id = ?", (slack_user_id,))
    if row and now.timestamp() - row["fetched_at"] < SLACK_ZONE_LIFETIME.total_seconds():
        return row["tz"] or None
    try:
        user = services.slack.users_info(user=slack_user_id).get("user") or {}
    except Exception as error:  # noqa: BLE001 - Slack's trouble: the kept zone, or none, will do today
        log.info("users.info for %s failed: %s", slack_user_id, getattr(error, "response", {}) and error.response.get("error"))
        return (row["tz"] or None) if row else None
    tz = user.get("tz") if isinstance(user.get("tz"), str) and known_zone(user["tz"]) else ""
    store.execute(
        """INSERT INTO slack_time_zones (slack_user_id, tz, fetched_at) VALUES (?, ?, ?)
           ON CONFLICT (slack_user_id) DO UPDATE SET tz = excluded.tz, fetched_at = excluded.fetched_at""",
        (slack_user_id, tz, now.timestamp()),
    )
    return tz or None


def hours_of(services, slack_user_id: str, now: datetime) -> Hours:
    """The person's working hours and time zone, as set, else their Slack profile's zone and the defaults."""
    row = services.store.query_one("SELECT * FROM working_hours WHERE slack_user_id = ?", (slack_user_id,))
    if row and row["tz"] and known_zone(row["tz"]):
        zone, source = row["tz"], "set"
    else:
        found = slack_zone(services, slack_user_id, now)
        zone, source = (found, "slack") if found else (services.settings.reminder_timezone or "UTC", "default")
    if row is None:
        return Hours(DEFAULT_START, DEFAULT_END, DEFAULT_DAYS, zone, source, explicit=False)
    days = tuple(day for day in row["days"].split(",") if day) or DEFAULT_DAYS
    return Hours(row["start_at"], row["end_at"], days, zone, source, explicit=True)
