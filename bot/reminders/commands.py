"""Slack entry points of the reminders feature: `/bb remind`, `remind off`, `remind now`, `reminders`, `link`."""

from __future__ import annotations

import logging

from bot.reminders import render as reminder_render
from bot import reminders
from bot.bitbucket import BitbucketError
from bot.core import people
from bot.core.commands import Command, RepoRef
from bot.reminders.grammar import REMIND_DEFAULTS
from bot.core.errors import NotAllowed, UsageError, UserError
from bot.core.render import code
from bot.core.invocation import Invocation, resolve_repo, split_repo

log = logging.getLogger(__name__)



def _zone_name(inv: Invocation) -> str:
    return inv.services.settings.reminder_timezone or "UTC"


def _reschedule(inv: Invocation) -> None:
    """Tell this process's scheduler at once; a process without one leaves it to the scheduler's next look."""
    jobs = inv.services.part(reminders.ReminderJobs)
    if jobs is not None:
        jobs.reschedule()


def _channel_schedule(inv: Invocation, ref: RepoRef | None, verb: str) -> reminders.Schedule | None:
    """The channel's reminder for REPO, or its only one when REPO is left out (None: REPO has none here)."""
    schedules = reminders.channel_schedules(inv.services.store, inv.channel_id)
    if ref is None:
        if not schedules:
            raise UserError("This channel has no reminders. Set one up with `/bb remind REPO`.")
        if len(schedules) > 1:
            raise UsageError(
                f"This channel has reminders for several repositories; say which to {verb}: "
                + ", ".join(code(s.repo) for s in schedules) + "."
            )
        return schedules[0]
    repo = resolve_repo(ref, inv.services.settings.bitbucket_workspace, [s.repo for s in schedules]).lower()
    return next((s for s in schedules if s.repo == repo), None)


# --- /bb remind REPO [after AGE] [at HH:MM] [on DAYS] ------------------------------------------------------


def remind(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    workspace, slug = split_repo(repo)
    repo = (inv.services.bitbucket.get_repository(workspace, slug).get("full_name") or repo).lower()  # it must exist
    now = inv.services.clock()
    schedule, created = reminders.save_schedule(
        inv.services.store, channel_id=inv.channel_id, repo=repo, after_seconds=command.args["after_seconds"],
        at=command.args["at"], days=tuple(command.args["days"]), user_id=inv.user_id, now=now,
    )
    inv.services.audit.record(
        inv.user_id, "remind", f"{repo} in {inv.channel_id}", ok=True, result="created" if created else "changed",
        detail={"after_seconds": schedule.after_seconds, "at": schedule.at, "days": list(schedule.days)},
    )
    _reschedule(inv)
    zone = reminders.zone_of(inv.services.settings)
    next_run = reminders.next_occurrence(schedule, now, zone)
    inv.reply(reminder_render.schedule_saved(schedule, created=created, by_user=inv.user_id, next_run=next_run,
                                             zone_name=_zone_name(inv)), public=True)


# --- /bb remind off [REPO] ---------------------------------------------------------------------------------


def remind_off(inv: Invocation, command: Command) -> None:
    schedule = _channel_schedule(inv, command.repo, "stop")
    if schedule is None:
        raise UserError(f"This channel has no reminder for {code(command.repo.full_name)}; `/bb reminders` lists them.")
    reminders.delete_schedule(inv.services.store, schedule.id)
    inv.services.audit.record(inv.user_id, "remind_off", f"{schedule.repo} in {inv.channel_id}", ok=True, result="stopped")
    _reschedule(inv)
    inv.reply(reminder_render.schedule_stopped(schedule.repo, by_user=inv.user_id), public=True)


# --- /bb remind now [REPO] ---------------------------------------------------------------------------------


def remind_now(inv: Invocation, command: Command) -> None:
    """The channel's reminder at once; for a repository without one here, with the default age."""
    schedule = _channel_schedule(inv, command.repo, "send")
    if schedule is not None:
        repo, after_seconds = schedule.repo, schedule.after_seconds
    else:
        repo, after_seconds = inv.repo(command.repo).lower(), REMIND_DEFAULTS["after_seconds"]
    now = inv.services.clock()
    reminder = reminders.post_now(inv.services, channel_id=inv.channel_id, repo=repo, after_seconds=after_seconds, now=now, asked_by=inv.user_id)
    if reminder.message is None:
        inv.reply(reminder_render.nothing_stale(repo, after_seconds))
    else:
        inv.reply(reminder_render.posted_now(repo, len(reminder.stale)))


# --- /bb reminders -----------------------------------------------------------------------------------------


def list_reminders(inv: Invocation, command: Command) -> None:
    zone = reminders.zone_of(inv.services.settings)
    now = inv.services.clock()
    items = [(s, reminders.next_occurrence(s, now, zone)) for s in reminders.channel_schedules(inv.services.store, inv.channel_id)]
    inv.reply(reminder_render.schedules(items, _zone_name(inv)))


# --- /bb link [@user] BITBUCKET_NICKNAME -------------------------------------------------------------------


def link(inv: Invocation, command: Command) -> None:
    services = inv.services
    nickname = command.args["nickname"]
    typed = command.args.get("user_id")
    target = people.resolve(services.slack, typed, instead=f"/bb link {people.MEMBER_ID_EXAMPLE} {nickname}") if typed else inv.user_id
    if target != inv.user_id and not services.permissions.is_admin(inv.user_id):
        raise NotAllowed("Only admins (listed in `CHATOPS_ADMINS`) can link someone else. Link yourself with `/bb link NICKNAME`.")
    account, note = _find_account(inv, nickname)
    reminders.link_user(services.store, slack_user_id=target, nickname=nickname, account=account, linked_by=inv.user_id)
    services.audit.record(
        inv.user_id, "link", target, ok=True, result=(account.uuid or "") if account else "nickname only",
        detail={"nickname": account.nickname if account and account.nickname else nickname},
    )
    inv.reply(reminder_render.linked(target, account, nickname, note=note))


def _find_account(inv: Invocation, nickname: str):
    """The workspace member with that nickname (or uuid, or account_id), and a note for the person when the
    workspace could not say: then the link holds the nickname alone, which mentions match too."""
    workspace = inv.services.settings.bitbucket_workspace or _channel_workspace(inv)
    if not workspace:
        return None, "No default workspace (`BITBUCKET_WORKSPACE`) to look the nickname up in; linked by nickname."
    try:
        members = inv.services.bitbucket.list_workspace_members(workspace)
    except BitbucketError as error:
        log.info("workspace members of %s not readable: %s", workspace, error.status)
        return None, f"Could not read the members of {code(workspace)} ({code(error.message)}); linked by nickname."
    account = reminders.find_member(members, nickname)
    if account is None:
        return None, (
            f":warning: Nobody in {code(workspace)} has the nickname {code(nickname)}; linked by nickname anyway. "
            "Check the spelling on the person's Bitbucket profile."
        )
    return account, ""


def _channel_workspace(inv: Invocation) -> str:
    schedules = reminders.channel_schedules(inv.services.store, inv.channel_id)
    return split_repo(schedules[0].repo)[0] if schedules else ""


COMMAND_HANDLERS = {
    "remind": remind,
    "remind_off": remind_off,
    "remind_now": remind_now,
    "reminders": list_reminders,
    "link": link,
}
ACTION_HANDLERS: dict = {}  # action_id -> handler(inv, value)
