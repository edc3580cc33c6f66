"""Slack entry points of the insights: `/bb stats`, `/bb digest`, `/bb digest off`."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot import reminders
from bot.bitbucket import BitbucketError
from bot.bitbucket.metering import BACKGROUND, tagged
from bot.core.commands import Command
from bot.core.errors import UsageError, UserError
from bot.insights import chart, collect, digest, upload
from bot.insights import render as insights_render
from bot.core.render import code
from bot.core.invocation import Invocation, resolve_repo, split_repo

log = logging.getLogger(__name__)


def stats(inv: Invocation, command: Command) -> None:
    """A "working…" note at once; then the figures in the channel and the chart under them."""
    repo, days = inv.repo(command.repo).lower(), command.args["days"]
    inv.reply(insights_render.working(repo, days))
    now = inv.services.clock().astimezone(reminders.zone_of(inv.services.settings))  # the chart's days are the team's
    with tagged(BACKGROUND, "insights"):  # a request for figures, not an action: it waits when the budget is low
        insights, cached, age = collect.insights_for(inv.services, repo, days, now)
    inv.reply(insights_render.stats(insights, by_user=inv.user_id, cached=cached, age=age), public=True)
    png = chart.chart_png(insights)
    try:
        upload.post_png(
            inv.services.slack, channel=inv.channel_id, filename=f"{split_repo(repo)[1]}-stats-{days}d.png", data=png,
            title=insights_render.chart_title(insights), alt_text=insights_render.chart_title(insights),
        )
    except SlackApiError as error:
        log.info("stats chart of %s not shared in %s: %s", repo, inv.channel_id, error.response.get("error"))
        inv.reply(insights_render.chart_failed(str(error.response.get("error") or error.response.status_code)))


def _reschedule(inv: Invocation) -> None:
    jobs = inv.services.part(digest.DigestJobs)  # this process runs the scheduler; else its next look picks it up
    if jobs is not None:
        jobs.reschedule()


def _readable_repo(inv: Invocation, command: Command) -> str:
    """The repository named (or the channel's), as Bitbucket spells it, lower-case; refused when unreadable."""
    repo = inv.repo(command.repo)
    workspace, slug = split_repo(repo)
    try:
        return (inv.services.bitbucket.get_repository(workspace, slug).get("full_name") or repo).lower()
    except BitbucketError as error:
        if error.status in (401, 403, 404):
            raise UserError(f"I cannot read {code(repo)}, so I cannot make its digest: Bitbucket said {code(str(error))}.") from error
        raise


def set_digest(inv: Invocation, command: Command) -> None:
    repo = _readable_repo(inv, command)
    now = inv.services.clock()
    saved, created = digest.save(inv.services.store, channel_id=inv.channel_id, repo=repo, at=command.args["at"],
                                 days=tuple(command.args["days"]), user_id=inv.user_id, now=now)
    inv.services.audit.record(inv.user_id, "digest", f"{repo} in {inv.channel_id}", ok=True, result="created" if created else "changed",
                              detail={"at": saved.at, "days": list(saved.days)})
    _reschedule(inv)
    zone = reminders.zone_of(inv.services.settings)
    next_run = reminders.next_occurrence(saved.schedule(), now, zone)
    inv.reply(insights_render.digest_saved(repo, saved.days, saved.at, inv.services.settings.reminder_timezone or "UTC", next_run,
                                           created=created, by_user=inv.user_id), public=True)


def digest_off(inv: Invocation, command: Command) -> None:
    found = digest.channel_digests(inv.services.store, inv.channel_id)
    if command.repo is None:
        if not found:
            raise UserError("This channel has no weekly digest. Set one up with `/bb digest REPO`.")
        if len(found) > 1:
            raise UsageError("This channel has digests of several repositories; say which to stop: " + ", ".join(code(d.repo) for d in found) + ".")
        target = found[0]
    else:
        repo = resolve_repo(command.repo, inv.services.settings.bitbucket_workspace, [d.repo for d in found]).lower()
        target = next((d for d in found if d.repo == repo), None)
        if target is None:
            raise UserError(f"This channel has no weekly digest of {code(repo)}.")
    digest.delete(inv.services.store, target.id)
    inv.services.audit.record(inv.user_id, "digest_off", f"{target.repo} in {inv.channel_id}", ok=True, result="stopped")
    _reschedule(inv)
    inv.reply(insights_render.digest_stopped(target.repo, inv.user_id), public=True)


def list_digests(inv: Invocation, command: Command) -> None:
    """`/bb digests`, and a bare `/bb digest`: the channel's digests and their next run; nothing changes."""
    zone = reminders.zone_of(inv.services.settings)
    now = inv.services.clock()
    items = [(d, reminders.next_occurrence(d.schedule(), now, zone)) for d in digest.channel_digests(inv.services.store, inv.channel_id)]
    inv.reply(insights_render.digest_list(items, inv.services.settings.reminder_timezone or "UTC"))


def digest_now(inv: Invocation, command: Command) -> None:
    """`/bb digest now REPO`: this week's digest in the channel at once; any schedule stays as it was."""
    repo = _readable_repo(inv, command)
    inv.reply(insights_render.working(repo, digest.DAYS))
    digest.post_now(inv.services, channel_id=inv.channel_id, repo=repo, now=inv.services.clock(), asked_by=inv.user_id)
    inv.services.audit.record(inv.user_id, "digest_now", f"{repo} in {inv.channel_id}", ok=True, result="posted")


COMMAND_HANDLERS = {"stats": stats, "digest": set_digest, "digest_off": digest_off, "digests": list_digests, "digest_now": digest_now}
ACTION_HANDLERS: dict = {}
