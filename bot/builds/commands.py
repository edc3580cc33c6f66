"""Builds from Slack: `/bb builds`, and the Re-run and Stop buttons (on that list and on relayed failed builds).

Re-run and Stop are writes: they need the role `merger` on the repository, or a linked Bitbucket account
(then Bitbucket's own permissions apply). Checked on every click; each button acts once; audited.
"""

from __future__ import annotations

import dataclasses

from bot.core import actions, ids, render
from bot.bitbucket import Pipeline, pipeline_body
from bot.builds import render as builds_render
from bot.builds.rules import rerun_target
from bot.core.commands import Command
from bot.core.errors import NotAllowed, UserError
from bot.core.payloads import PipelineButton
from bot.deploys import commands as deploy_commands
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


def _write(kind: str, button: PipelineButton) -> actions.Write:
    """Re-run and Stop: the role `merger`, or a linked account (then Bitbucket's own permissions decide); once
    per button (a key per rendered list, per relayed failure)."""
    return actions.Write(kind, button.repo, f"{button.repo}#pipeline-{button.number}", permission=f"{kind.replace('rerun', 're-run')} builds",
                         role_waived_when_linked=True, key=f"{kind}:{button.key}:{button.repo.lower()}#{button.number}",
                         former_keys=(f"{kind}:{button.key}:{button.repo.lower()}#{button.number}",))


def rerun(inv: Invocation, value: dict) -> None:
    button = PipelineButton.from_value(value)
    repo, number = button.repo, button.number
    write = _write("rerun", button)
    try:
        checked, refused = actions.check(inv.services, inv.user_id, write), None
        client = checked.client
    except NotAllowed as error:
        if not _deploys_to(inv, repo):
            raise
        # A deployer without the role that re-runs builds may still re-run a deploy pipeline (a deploy): read it.
        checked, client, refused = None, inv.services.bitbucket, error
    workspace, slug = split_repo(repo)
    old = Pipeline.from_api(client.get_pipeline(workspace, slug, str(number)))
    if not old.target:
        raise UserError(f"Bitbucket did not say what pipeline #{number} ran on, so it cannot be run again from here.")
    environment = deploy_environment(inv.services.settings.deploy_pipeline, old.target)
    if environment is not None:
        # Re-running a deploy pipeline is a deploy: the same role, guards, builds, confirmation and audit.
        deploy_commands.ask_redeploy(inv, repo, environment, old)
        return
    if refused is not None:
        raise refused
    body = pipeline_body(rerun_target(dict(old.target)))
    done = actions.perform(inv.services, inv.user_id, dataclasses.replace(write, detail={"target": body["target"]}),
                           lambda client: client.trigger_pipeline(workspace, slug, body),
                           describe=lambda started: f"pipeline #{started.get('build_number')} started", checked=checked)
    if isinstance(done, actions.AlreadyDone):
        inv.reply(render.notice(done.words(f"re-run of pipeline #{number}") + f" See `/bb builds {render.escape(repo)}`."))
        return
    inv.reply(builds_render.rerun_started(repo, old, Pipeline.from_api(done.value), inv.user_id), public=True)


def _deploys_to(inv: Invocation, repo: str) -> bool:
    """Holds a `deployer` role (for any environment) on `repo`."""
    return any(g.role == "deployer" and (not g.repo or g.repo.lower() == repo.lower())
               for g in inv.services.permissions.grants_of(inv.user_id))


def deploy_environment(template: str, target: dict) -> str | None:
    """Pure: the environment a pipeline deploys to, when its target is the custom deploy pipeline
    (`DEPLOY_PIPELINE`, `deploy-to-{environment}` by default); else None."""
    selector = (target or {}).get("selector") or {}
    if selector.get("type") != "custom" or not isinstance(selector.get("pattern"), str):
        return None
    head, marker, tail = template.partition("{environment}")
    pattern = selector["pattern"]
    if not marker:
        return None
    if len(pattern) > len(head) + len(tail) and pattern.startswith(head) and pattern.endswith(tail):
        return pattern[len(head): len(pattern) - len(tail)]
    return None


def stop(inv: Invocation, value: dict) -> None:
    button = PipelineButton.from_value(value)
    repo, number = button.repo, button.number
    workspace, slug = split_repo(repo)
    found = {}

    def stop_it(client):
        found["pipeline"] = pipeline = Pipeline.from_api(client.get_pipeline(workspace, slug, str(number)))
        if pipeline.state == "COMPLETED":
            raise UserError(f"Pipeline #{number} of {render.escape(repo)} has already finished "
                            f"({render.escape((pipeline.result or '').lower())}).")
        client.stop_pipeline(workspace, slug, pipeline.uuid)
        return "stopped"

    done = actions.perform(inv.services, inv.user_id, _write("stop", button), stop_it)
    if isinstance(done, actions.AlreadyDone):
        inv.reply(render.notice(f"Pipeline #{number} of {render.escape(repo)} is already being stopped."))
        return
    inv.reply(builds_render.stopped(repo, found["pipeline"], inv.user_id), public=True)


COMMAND_HANDLERS = {"builds": list_builds}
ACTION_HANDLERS = {ids.RERUN_PIPELINE: rerun, ids.STOP_PIPELINE: stop}
