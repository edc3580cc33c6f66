"""Builds from Slack: `/bb builds`, and the Re-run and Stop buttons (on that list and on relayed failed builds).

Re-run and Stop are writes: they need the role `merger` on the repository, or a linked Bitbucket account
(then Bitbucket's own permissions apply). Checked on every click; each button acts once; audited.
"""

from __future__ import annotations

from bot import accounts
from bot.core import ids, render
from bot.bitbucket import Pipeline, outcome_unknown, pipeline_body
from bot.builds import render as builds_render
from bot.builds.rules import rerun_target
from bot.core.commands import Command
from bot.core.errors import NotAllowed, UserError
from bot.core.invocation import Invocation, split_repo
from bot.pull_requests.commands import new_action_key

RECENT = builds_render.MAX_PIPELINES


def list_builds(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    workspace, slug = split_repo(repo)
    branch = command.args.get("branch")
    filters = {"target.ref_name": branch} if branch else None
    pipelines = [Pipeline.from_api(p) for p in inv.services.bitbucket.list_pipelines(workspace, slug, filters=filters, limit=RECENT)]
    inv.reply(builds_render.builds_list(repo, branch, pipelines, render.utcnow(), new_action_key()))


def _writer(inv: Invocation, action: str, repo: str):
    """The client that acts: the person's own when linked (Bitbucket decides), else the bot's for a `merger`."""
    client = accounts.client_for_user(inv.services, inv.user_id)
    if client is not None:
        return client
    try:
        inv.services.permissions.require(inv.user_id, action, repo)
    except NotAllowed as refusal:
        raise NotAllowed(refusal.message + " Or link your own Bitbucket account with `/bb login`.") from None
    return inv.services.bitbucket


def _target(value: dict) -> tuple[str, int]:
    repo, number = str(value.get("r", "")), value.get("n")
    if "/" not in repo or not isinstance(number, int):
        raise UserError("That button's data is not readable; run `/bb builds` again.")
    return repo, number


def rerun(inv: Invocation, value: dict) -> None:
    repo, number = _target(value)
    client = _writer(inv, "re-run builds", repo)
    workspace, slug = split_repo(repo)
    key = f"rerun:{value.get('k') or ''}:{repo.lower()}#{number}"  # this button's: a double click re-runs once
    if not inv.services.store.claim(key, inv.user_id):
        inv.reply(render.notice(f"That re-run of pipeline #{number} is already under way or done; see `/bb builds {render.escape(repo)}`."))
        return
    target = f"{repo}#pipeline-{number}"
    try:
        old = Pipeline.from_api(client.get_pipeline(workspace, slug, str(number)))
        if not old.target:
            raise UserError(f"Bitbucket did not say what pipeline #{number} ran on, so it cannot be run again from here.")
        body = pipeline_body(rerun_target(dict(old.target)))
        new = Pipeline.from_api(client.trigger_pipeline(workspace, slug, body))
    except Exception as error:
        inv.services.audit.record(inv.user_id, "rerun", target, ok=False, result=str(error))
        if not outcome_unknown(error):
            inv.services.store.release_claim(key)  # nothing ran: the button may be tried again
        raise
    inv.services.audit.record(inv.user_id, "rerun", target, ok=True, result=f"pipeline #{new.build_number} started",
                              detail={"target": body["target"]})
    inv.reply(builds_render.rerun_started(repo, old, new, inv.user_id), public=True)


def stop(inv: Invocation, value: dict) -> None:
    repo, number = _target(value)
    client = _writer(inv, "stop builds", repo)
    workspace, slug = split_repo(repo)
    key = f"stop:{value.get('k') or ''}:{repo.lower()}#{number}"
    if not inv.services.store.claim(key, inv.user_id):
        inv.reply(render.notice(f"Pipeline #{number} of {render.escape(repo)} is already being stopped."))
        return
    target = f"{repo}#pipeline-{number}"
    try:
        pipeline = Pipeline.from_api(client.get_pipeline(workspace, slug, str(number)))
        if pipeline.state == "COMPLETED":
            raise UserError(f"Pipeline #{number} of {render.escape(repo)} has already finished ({render.escape((pipeline.result or '').lower())}).")
        client.stop_pipeline(workspace, slug, pipeline.uuid)
    except Exception as error:
        inv.services.audit.record(inv.user_id, "stop", target, ok=False, result=str(error))
        inv.services.store.release_claim(key)  # stopping twice is harmless: another click may try again
        raise
    inv.services.audit.record(inv.user_id, "stop", target, ok=True, result="stopped")
    inv.reply(builds_render.stopped(repo, pipeline, inv.user_id), public=True)


COMMAND_HANDLERS = {"builds": list_builds}
ACTION_HANDLERS = {ids.RERUN_PIPELINE: rerun, ids.STOP_PIPELINE: stop}
