"""Slack entry points of the people: `/bb hours`."""

from __future__ import annotations

from bot import people
from bot.core.commands import Command
from bot.core.errors import UserError
from bot.core.invocation import Invocation
from bot.people import render as people_render


def require_linked(inv: Invocation, command: str):
    """The person's Bitbucket link; a person who has none is told how to make one."""
    person = people.linked(inv.services.store, inv.user_id)
    if person is None:
        raise UserError(people_render.not_linked(command).text)
    return person


def hours(inv: Invocation, command: Command) -> None:
    require_linked(inv, "hours")
    now = inv.services.clock()
    if not command.args:
        inv.reply(people_render.shown(people.hours_of(inv.services, inv.user_id, now)))
        return
    args = command.args
    current = people.hours_of(inv.services, inv.user_id, now)
    days = args["days"] or (current.days if current.explicit else people.DEFAULT_DAYS)
    people.save_hours(inv.services.store, inv.user_id, start=args["start"], end=args["end"], days=days, tz=args["tz"], now=now)
    inv.services.audit.record(inv.user_id, "hours", inv.user_id, ok=True, result="set",
                              detail={"start": args["start"], "end": args["end"], "days": list(days), "tz": args["tz"]})
    # A personal reminder's scheduler reads the new days and zone at its next look (within a minute).
    inv.reply(people_render.saved(people.hours_of(inv.services, inv.user_id, now)))


COMMAND_HANDLERS = {"hours": hours}
