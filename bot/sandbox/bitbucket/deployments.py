"""The simulated Bitbucket's deployment environments and deployments: seeding (`add_environment`,
`add_deployment`), `GET …/environments/` and `GET …/deployments/` (newest first), in Bitbucket's shapes."""

from __future__ import annotations

import uuid as uuidlib
from datetime import timedelta

from bot.sandbox.bitbucket.records import ENVIRONMENT_RANKS, _Deployment, _Environment, _Repository
from bot.sandbox.bitbucket.wire import WEB_ROOT, _braced_uuid, _Call, _iso, _link, _Response, _slugify


class DeploymentsMixin:
    """Needs `_lock`, `_repository`, `_repo_for`, `_resolve_commit`, `_user`, `_user_json`, `_repo_api`,
    `_advance_pipelines_by_clock`, `_page` and `clock`."""

    def add_environment(self, workspace, slug, name, *, environment_type=None) -> dict:
        """A deployment environment; its type defaults to its name when that is Test, Staging or Production."""
        with self._lock:
            repo = self._repository(workspace, slug)
            kind = environment_type or (name if name in ENVIRONMENT_RANKS else "Test")
            if kind not in ENVIRONMENT_RANKS:
                raise ValueError(f"environment_type must be one of {sorted(ENVIRONMENT_RANKS)}")
            environment = _Environment(_braced_uuid(), name, kind)
            repo.environments.append(environment)
            return self._environment_json(environment)

    def add_deployment(
        self,
        workspace,
        slug,
        environment_name,
        *,
        commit,
        release_name,
        state="COMPLETED",
        status="SUCCESSFUL",
        completed_on=None,
        deployer=None,
    ) -> dict:
        """A past deployment (history for the deployments list)."""
        with self._lock:
            repo = self._repository(workspace, slug)
            environment = self._environment_named(repo, environment_name)
            if environment is None:
                raise KeyError(f"no environment {environment_name!r} in {repo.full_name}")
            completed_on = completed_on or self.clock()
            deployment = _Deployment(
                uuid=_braced_uuid(),
                environment=environment,
                commit=self._resolve_commit(repo, commit) or commit,
                release_name=release_name,
                created_on=completed_on - timedelta(minutes=3),
                state=state,
                status=status if state == "COMPLETED" else None,
                deployer=self._user(deployer) if deployer is not None else None,
                start_date=completed_on - timedelta(minutes=3),
                completion_date=completed_on if state == "COMPLETED" else None,
            )
            repo.deployments.append(deployment)
            return self._deployment_json(repo, deployment)

    def deployments(self, workspace, slug) -> list[dict]:
        with self._lock:
            repo = self._repository(workspace, slug)
            self._advance_pipelines_by_clock(repo)
            return [self._deployment_json(repo, deployment) for deployment in self._newest_deployments(repo)]

    def _environment_named(self, repo: _Repository, name: str) -> _Environment | None:
        return next((env for env in repo.environments if env.name.lower() == name.lower()), None)

    def _newest_deployments(self, repo: _Repository) -> list[_Deployment]:
        return sorted(repo.deployments, key=lambda d: d.completion_date or d.start_date or d.created_on, reverse=True)

    def _environment_json(self, environment: _Environment) -> dict:
        rank = ENVIRONMENT_RANKS[environment.environment_type]
        return {
            "type": "deployment_environment",
            "uuid": environment.uuid,
            "name": environment.name,
            "slug": _slugify(environment.name),
            "rank": rank,
            "environment_type": {
                "type": "deployment_environment_type",
                "name": environment.environment_type,
                "rank": rank,
            },
            "hidden": False,
            "environment_lock_enabled": True,
            "lock": {"type": "deployment_environment_lock_open", "name": "OPEN"},
            "restrictions": {"type": "deployments_restrictions_configuration", "admin_only": False},
            "deployment_gate_enabled": False,
        }

    def _deployment_json(self, repo: _Repository, deployment: _Deployment) -> dict:
        pipeline = deployment.pipeline
        results_url = f"{WEB_ROOT}/{repo.full_name}/pipelines/results/{pipeline.build_number}" if pipeline else None
        commit = {
            "type": "commit",
            "hash": deployment.commit,
            "links": {
                "self": _link(f"{self._repo_api(repo)}/commit/{deployment.commit}"),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}/commits/{deployment.commit}"),
            },
        }
        if deployment.state == "COMPLETED":
            state = {
                "type": "deployment_state_completed",
                "name": "COMPLETED",
                "status": {
                    "type": f"deployment_state_completed_status_{(deployment.status or 'SUCCESSFUL').lower()}",
                    "name": deployment.status or "SUCCESSFUL",
                },
                "start_date": _iso(deployment.start_date),
                "completion_date": _iso(deployment.completion_date),
            }
        else:
            state = {
                "type": "deployment_state_in_progress",
                "name": "IN_PROGRESS",
                "start_date": _iso(deployment.start_date),
            }
        if deployment.deployer is not None:
            state["deployer"] = self._user_json(deployment.deployer)
        if results_url:
            state["url"] = results_url
        body = {
            "type": "deployment",
            "uuid": deployment.uuid,
            "environment": {"type": "deployment_environment", "uuid": deployment.environment.uuid},
            "state": state,
            "release": {
                "type": "deployment_release_pipeline",
                "uuid": "{%s}" % uuidlib.uuid5(uuidlib.NAMESPACE_URL, deployment.uuid),
                "name": deployment.release_name,
                "url": results_url,
                "commit": commit,
                "created_on": _iso(deployment.created_on),
            },
        }
        if pipeline is not None:
            body["deployable"] = {
                "type": "deployment_deployable_pipeline",
                "uuid": body["release"]["uuid"],
                "pipeline": {"type": "pipeline", "uuid": pipeline.uuid},
                "name": deployment.release_name,
                "url": results_url,
                "commit": commit,
                "created_on": _iso(deployment.created_on),
            }
        return body

    def _list_environments(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        ordered = sorted(repo.environments, key=lambda env: ENVIRONMENT_RANKS[env.environment_type])
        return _Response(200, self._page(call, [self._environment_json(env) for env in ordered]))

    def _list_deployments(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        items = [self._deployment_json(repo, deployment) for deployment in self._newest_deployments(repo)]
        return _Response(200, self._page(call, items))
