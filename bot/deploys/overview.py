"""What is deployed where, for readers (the dashboard): per environment, the current release (the newest
successful deployment), the latest deployment when it differs, and the newest deploy the bot started there
(who asked for it)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.bitbucket import Deployment, Environment
from bot.deploys import DeployRecord, history_of, is_successful

DEPLOYMENT_HISTORY = 200  # deployments read (Bitbucket offers no filter or sort)


@dataclass(frozen=True)
class EnvironmentState:
    environment: Environment
    current: Deployment | None  # the newest successful deployment
    latest: Deployment | None  # the newest deployment, whatever its outcome
    by_the_bot: DeployRecord | None  # the newest deploy or rollback the bot started there


def latest_by_environment(environments: list[Environment], deployments: list[Deployment],
                          records: dict[str, DeployRecord] | None = None) -> list[EnvironmentState]:
    """Pure: each environment (in Bitbucket's order) with its current and latest deployments."""
    states = []
    for environment in environments:
        history = history_of(deployments, environment)
        current = next((d for d in history if is_successful(d)), None)
        states.append(EnvironmentState(environment, current, history[0] if history else None,
                                       (records or {}).get(environment.name.lower())))
    return states


def latest_records(store, repo: str) -> dict[str, DeployRecord]:
    """The newest deploy or rollback the bot started in each environment of `repo`, by lower-case environment name."""
    rows = store.query("SELECT * FROM deploys WHERE lower(repo) = lower(?) ORDER BY id DESC", (repo,))
    found: dict[str, DeployRecord] = {}
    for row in rows:
        found.setdefault(row["environment"].lower(), DeployRecord(**row))
    return found


def environment_states(client, store, repo: str) -> list[EnvironmentState]:
    """`repo`'s environments from Bitbucket, each with what is deployed there (raises Bitbucket's errors)."""
    workspace, slug = repo.split("/", 1)
    environments = [Environment.from_api(e) for e in client.list_environments(workspace, slug)]
    deployments = [Deployment.from_api(d) for d in client.list_deployments(workspace, slug, limit=DEPLOYMENT_HISTORY)] if environments else []
    return latest_by_environment(environments, deployments, latest_records(store, repo))
