"""The Home tab: gather (Bitbucket, cached), render, `views.publish`. A failure shows a notice, never a blank tab."""

from __future__ import annotations

import logging

from bot import home
from bot.home import render as home_render
from bot.core import render

log = logging.getLogger(__name__)


def publish(services, slack_user_id: str) -> None:
    try:
        view = home_render.home_view(home.gather(services, slack_user_id), services.clock())
    except Exception:  # noqa: BLE001 - the person still gets a tab that says what happened
        log.exception("the Home tab of %s could not be drawn", slack_user_id)
        view = home_render.trouble_view("Bitbucket could not be read just now.")
    services.slack.views_publish(user_id=slack_user_id, view=view)


def on_home_opened(services, event: dict) -> None:
    """`app_home_opened` (once per event id): publish the person's Home tab; other tabs are not ours."""
    if event.get("tab", "home") == "home" and event.get("user"):
        publish(services, event["user"])
