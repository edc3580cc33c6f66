"""Slack entry points of a person's own reminder: `/bb remind me [at HH:MM] [on DAYS]`, `remind me off`,
`remind me now`, and the Snooze button of its direct message."""

from __future__ import annotations

from bot import people
from bot.core.commands import Command
from bot.core.invocation import Invocation
from bot.people.commands import require_linked
from bot.reminders import personal, snooze
from bot.reminders import personal_render as render


def _reschedule(inv: Invocation) -> None:
    """Tell this process's scheduler at once; a process without one leaves it to the scheduler's next look."""
    jobs = inv.services.part(personal.PersonalJobs)
    if jobs is not None:
        jobs.reschedule()


def _next_run(schedule: personal.PersonalSchedule, now):
    return schedule.next_send(now)


def remind_me(inv: Invocation, command: Command) -> None:
    require_linked(inv, "remind me")
    services, now = inv.services, inv.services.clock()
    existing = personal.get_for(services, inv.user_id, now)
    at, days = command.args.get("at"), command.args.get("days")
    if existing is not None and at is None and days is None:  # nothing to change: it is shown, never reset
        inv.reply(render.shown(existing, _next_run(existing, now)))
        return
    if existing is not None:
        at = at or existing.at
        days = days or (existing.days if existing.own_days else None)
    personal.save(services.store, inv.user_id, at=at or personal.DEFAULT_AT, days=days, now=now)
    saved = personal.get_for(services, inv.user_id, now)
    services.audit.record(inv.user_id, "remind_me", inv.user_id, ok=True, result="changed" if existing else "created",
                          detail={"at": saved.at, "days": list(saved.days) if saved.own_days else "working days"})
    _reschedule(inv)
    inv.reply(render.saved(saved, _next_run(saved, now), changed=existing is not None))


def remind_me_off(inv: Invocation, command: Command) -> None:
    had_one = personal.delete(inv.services.store, inv.user_id)
    if had_one:
        inv.services.audit.record(inv.user_id, "remind_me_off", inv.user_id, ok=True, result="stopped")
        _reschedule(inv)
    inv.reply(render.stopped(had_one))


def remind_me_now(inv: Invocation, command: Command) -> None:
    person = require_linked(inv, "remind me now")
    now = inv.services.clock()
    zone = people.hours_of(inv.services, inv.user_id, now).zone
    inv.reply(render.sent_now(personal.send_now(inv.services, person, now, zone)))


def snooze_button(inv: Invocation, value: dict) -> None:
    """Snooze 1 day, or until the next push: once per button, for the person who clicked."""
    request = snooze.SnoozeRequest.from_value(value)
    services, now = inv.services, inv.services.clock()
    if not services.store.claim(request.claim_key(inv.user_id), inv.user_id):
        inv.reply(render.already_snoozed(request))
        return
    hours = people.hours_of(services, inv.user_id, now)
    until = snooze.until_for(request.kind, now, hours.zone)
    snooze.snooze(services.store, request, user_id=inv.user_id, now=now, until=until)
    services.audit.record(inv.user_id, "snooze", f"{request.repo}#{request.pr_id}", ok=True, result=request.kind,
                          detail={"commit": request.source_hash})
    inv.reply(render.snoozed(request, until, hours.zone_name))


COMMAND_HANDLERS = {"remind_me": remind_me, "remind_me_off": remind_me_off, "remind_me_now": remind_me_now}
ACTION_HANDLERS = {render.SNOOZE_DAY: snooze_button, render.SNOOZE_PUSH: snooze_button}
