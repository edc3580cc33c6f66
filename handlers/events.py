"""Slack's Events API on `POST /slack/events`: the same signed door as commands and clicks (handlers.slack_http);
Bolt answers `url_verification` with its challenge. Each event is acted on once, whatever Slack retries
(`X-Slack-Retry-Num`): its `event_id` is claimed in the store (`bot.slack_events`) before anything is done;
then the work runs off the request path, so the 2xx goes back at once."""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.bitbucket.metering import BACKGROUND, tagged
from bot.core import slack_events

log = logging.getLogger(__name__)


def first_time(services, body: dict) -> bool:
    """True the first time an event arrives; False for Slack's retries of it (and for events without an id)."""
    event_id = body.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        return False
    return slack_events.first_time(services.store, event_id, str((body.get("event") or {}).get("type") or ""))


def register(app: App, services, handlers: dict, tags: dict | None = None) -> None:
    """`handlers`: event type -> handler(services, event), from the registry; each acted on once per event id.
    `tags`: event type -> (priority, feature) its Bitbucket requests are counted as (background, unless told)."""
    for event_type, handler in handlers.items():
        _register(app, services, event_type, handler, (tags or {}).get(event_type, (BACKGROUND, event_type)))


def _register(app: App, services, event_type: str, handler, tag: tuple[str, str]) -> None:
    @app.event(event_type)
    def on_event(body, event):
        if not first_time(services, body):
            return
        with tagged(*tag):
            services.submit(handler, services, event)
