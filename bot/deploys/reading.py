"""What a deploy reads before it asks or acts: the environment, the deployments, the ref, whether the environment
is free, the rollback's plan, the commit's builds; and the tags on what runs (`/bb where`). Shared by the confirmations, the requests for approval, the dry
run and `/bb where`."""

from __future__ import annotations

import logging

from bot import deploys
from bot.bitbucket import BitbucketError, CommitStatus, Deployment, Environment, NotFound, Pipeline, ResolvedRef
from bot.builds import rules as build_rules
from bot.core import render
from bot.core.errors import UsageError, UserError
from bot.core.invocation import split_repo
from bot.deploys import render as deploy_render

log = logging.getLogger(__name__)

DEPLOYMENT_HISTORY = 200  # deployments read for a rollback or the overview (Bitbucket offers no filter or sort)


def environments(services, repo: str) -> list[Environment]:
    workspace, slug = split_repo(repo)
    return [Environment.from_api(e) for e in services.bitbucket.list_environments(workspace, slug)]


def environment(services, repo: str, typed: str, *, guessed_repo: bool = False) -> Environment:
    """The environment typed; when the repository was the channel's (not typed) and the word names no environment,
    the person left one out (`/bb rollback api`): say which there are, never guess."""
    found = environments(services, repo)
    try:
        return deploys.match_environment(found, typed)
    except UserError:
        if guessed_repo and found:
            names = ", ".join(render.code(e.name.lower()) for e in found)
            raise UsageError(f"Which environment of {render.code(repo)}: {names}? `{render.escape(typed)}` is none of them.",
                             usage="/bb rollback REPO ENV · /bb deploy REPO REF to ENV") from None
        raise


def deployments(services, repo: str) -> list[Deployment]:
    workspace, slug = split_repo(repo)
    return [Deployment.from_api(d) for d in services.bitbucket.list_deployments(workspace, slug, limit=DEPLOYMENT_HISTORY)]


def tags_on(services, repo: str, commits: list[str]) -> dict[str, list[str]]:
    """The tags pointing at each of `commits`, by hash: one request for them all (none for no commits). The tags
    only name what runs, so Bitbucket failing to answer leaves them out rather than the whole answer."""
    if not commits:
        return {}
    workspace, slug = split_repo(repo)
    try:
        return services.bitbucket.tags_on_commits(workspace, slug, commits)
    except BitbucketError as error:
        log.warning("the tags of %s's deployed commits could not be read: %s", repo, error)
        return {}


def resolve(services, repo: str, ref: str) -> ResolvedRef:
    workspace, slug = split_repo(repo)
    try:
        return services.bitbucket.resolve_ref(workspace, slug, ref)
    except NotFound:
        raise UserError(deploy_render.unknown_ref(repo, ref)) from None


def pipeline(services, environment: Environment) -> str:
    return deploys.pipeline_name(services.settings.deploy_pipeline, environment.name)


def ensure_free(services, repo: str, environment: Environment, pipeline_name: str) -> None:
    """Refuse while the bot follows a deploy there, or while the pipeline runs (started from anywhere)."""
    following = deploys.active(services.store, repo, environment.name)
    if following:
        raise UserError(deploy_render.already_running(following))
    workspace, slug = split_repo(repo)
    recent = services.bitbucket.list_pipelines(
        workspace, slug, filters={"target.selector.pattern": pipeline_name}, limit=deploys.RECENT_PIPELINES
    )
    busy = deploys.running_pipeline([Pipeline.from_api(p) for p in recent])
    if busy:
        raise UserError(deploy_render.pipeline_busy(repo, pipeline_name, busy))


def rollback_plan(services, repo: str, environment: Environment, history: list[Deployment] | None = None) -> deploys.DeployPlan:
    current, earlier = deploys.choose_rollback(deployments(services, repo) if history is None else history, environment)
    if current is None:
        raise UserError(deploy_render.nothing_deployed(environment))
    if earlier is None:
        raise UserError(deploy_render.no_earlier_release(environment, current))
    ref = ResolvedRef("commit", earlier.commit, earlier.commit)
    return deploys.DeployPlan("rollback", repo, environment, ref, pipeline(services, environment), current, earlier)


def ci_gate(services, repo: str, commit: str) -> build_rules.Gate:
    """The builds of the commit a deploy would run."""
    workspace, slug = split_repo(repo)
    statuses = [CommitStatus.from_api(s) for s in services.bitbucket.list_commit_statuses(workspace, slug, commit)]
    return build_rules.gate(statuses)
