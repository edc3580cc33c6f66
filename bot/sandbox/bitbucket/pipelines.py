"""The simulated Bitbucket's pipelines: the scripts a repository's bitbucket-pipelines.yml declares
(`set_pipeline_script`), past runs (`add_pipeline`), triggering, listing (with the query parameters Bitbucket filters on), reading and
stopping pipelines, and how they move PENDING -> IN_PROGRESS -> COMPLETED: by hand (`advance_pipeline`) or by
the clock (`auto_advance_pipelines`). A deploy pipeline records its deployment as it runs."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from urllib.parse import quote

from bot.sandbox.bitbucket.query import _sorted, _split_path, _values_at
from bot.sandbox.bitbucket.records import (
    DEPLOYMENT_STATUSES,
    PIPELINE_RESULTS,
    _Deployment,
    _Pipeline,
    _PipelineScript,
    _Repository,
)
from bot.sandbox.bitbucket.wire import _bad_request, _braced_uuid, _Call, _iso, _link, _not_found, _Response, _same_uuid


PIPELINE_FILTERS = (
    "target.ref_type",
    "target.ref_name",
    "target.branch",
    "target.commit.hash",
    "target.selector.type",
    "target.selector.pattern",
    "creator.uuid",
)  # the query parameters GET …/pipelines/ filters on (it takes no BBQL)

SELECTOR_NOT_FOUND = "Requested selector is not found in bitbucket-pipelines.yml."

class PipelinesMixin:
    """Needs `_lock`, `_repository`, `_repo_for`, `_resolve_commit`, `_resolve_or_fail`, `_commit_stub`, `_user`,
    `_first_user`, `_environment_named`, `_pipeline_status` (builds.py), `_user_json`, `_page` and `clock`."""

    def set_pipeline_script(
        self,
        workspace,
        slug,
        pattern: str | None,
        outcome: str = "SUCCESSFUL",
        *,
        steps_seconds: float = 3.0,
        deployment: str | None = None,
        steps: tuple[str, ...] = ("Build",),
        logs: dict[str, str] | None = None,
    ) -> None:
        """Declare a pipeline in the repository's bitbucket-pipelines.yml.

        `pattern` is a custom pipeline's name (None: the default pipeline). It completes with `outcome`. A pattern
        `deploy-to-<env>` deploys to the environment named <env> (any case) unless `deployment` names another.
        `steps` are its steps' names; `logs` what a step's log says (by step name; a failed pipeline fails in its last).
        """
        if outcome not in PIPELINE_RESULTS:
            raise ValueError(f"outcome must be one of {PIPELINE_RESULTS}")
        with self._lock:
            repo = self._repository(workspace, slug)
            if deployment is None and pattern and pattern.startswith("deploy-to-"):
                deployment = pattern[len("deploy-to-") :]
            repo.pipeline_scripts[pattern] = _PipelineScript(outcome, steps_seconds, deployment, tuple(steps), dict(logs or {}))

    def add_pipeline(
        self,
        workspace,
        slug,
        *,
        pattern: str | None = None,
        ref_name: str | None = None,
        ref_type: str = "branch",
        commit: str | None = None,
        result: str = "SUCCESSFUL",
        completed_on: datetime | None = None,
        seconds: float = 180.0,
        creator=None,
        build_number: int | None = None,
    ) -> dict:
        """A pipeline that already ran (history for the pipelines list), as if triggered from Bitbucket.

        `pattern` names a custom pipeline declared with `set_pipeline_script` (None: the default one). It ran on
        `ref_name` (a branch, or a tag with `ref_type="tag"`) at `commit` (default: the ref's head), or on `commit`
        alone, and completed with `result` at `completed_on` (default: now) after `seconds`. A deploy pipeline
        records its deployment (release `#<build number>`), as one that runs here does. `build_number` defaults
        to the next one; like Bitbucket's, the numbers only grow.
        """
        if result not in PIPELINE_RESULTS:
            raise ValueError(f"result must be one of {PIPELINE_RESULTS}")
        with self._lock:
            repo = self._repository(workspace, slug)
            script = repo.pipeline_scripts.get(pattern)
            if script is None:
                raise KeyError(f"no pipeline {pattern!r} in the bitbucket-pipelines.yml of {repo.full_name}")
            if ref_name is None and commit is None:
                raise ValueError("a pipeline runs on a ref_name, a commit, or both")
            target: dict = ({"type": "pipeline_ref_target", "ref_type": ref_type, "ref_name": ref_name} if ref_name
                            else {"type": "pipeline_commit_target"})
            if commit is not None:
                target["commit"] = {"hash": self._resolve_or_fail(repo, commit)}
            if pattern is not None:
                target["selector"] = {"type": "custom", "pattern": pattern}
            commit_hash, rendered = self._pipeline_target(repo, target)
            number = self._next_build_number(repo) if build_number is None else int(build_number)
            if number < self._next_build_number(repo):
                raise ValueError(f"build number {number} is not after those of {repo.full_name}'s pipelines")
            completed_on = completed_on or self.clock()
            started_on = completed_on - timedelta(seconds=seconds)
            pipeline = _Pipeline(
                uuid=_braced_uuid(),
                build_number=number,
                target=rendered,
                commit=commit_hash,
                script=script,
                creator=self._user(creator) if creator is not None else self._first_user(),
                created_on=started_on - timedelta(seconds=self.auto_pending_seconds),
                variables=[],
            )
            repo.pipelines.append(pipeline)
            self._start_pipeline(repo, pipeline, started_on)
            self._complete_pipeline(repo, pipeline, result, completed_on)
            return self._pipeline_json(repo, pipeline)

    def advance_pipeline(self, workspace, slug, pipeline_uuid, state, result=None) -> dict:
        """Move a pipeline to PENDING, IN_PROGRESS or COMPLETED (with `result`, default SUCCESSFUL)."""
        with self._lock:
            repo = self._repository(workspace, slug)
            pipeline = self._pipeline(repo, pipeline_uuid)
            now = self.clock()
            if state == "PENDING":
                pipeline.state, pipeline.result = "PENDING", None
            elif state == "IN_PROGRESS":
                self._start_pipeline(repo, pipeline, now)
            elif state == "COMPLETED":
                self._complete_pipeline(repo, pipeline, result or "SUCCESSFUL", now)
            else:
                raise ValueError("state must be PENDING, IN_PROGRESS or COMPLETED")
            return self._pipeline_json(repo, pipeline)

    def pipelines(self, workspace, slug) -> list[dict]:
        with self._lock:
            repo = self._repository(workspace, slug)
            self._advance_pipelines_by_clock(repo)
            return [self._pipeline_json(repo, pipeline) for pipeline in repo.pipelines]

    def _start_pipeline(self, repo: _Repository, pipeline: _Pipeline, at: datetime) -> None:
        pipeline.state, pipeline.result, pipeline.started_on = "IN_PROGRESS", None, at
        self._pipeline_status(repo, pipeline)
        environment = pipeline.script.environment and self._environment_named(repo, pipeline.script.environment)
        if environment and pipeline.deployment is None:
            # Like a step with `deployment: <env>`: the deployment exists while the step runs.
            pipeline.deployment = _Deployment(
                uuid=_braced_uuid(),
                environment=environment,
                commit=pipeline.commit,
                release_name=f"#{pipeline.build_number}",
                created_on=at,
                state="IN_PROGRESS",
                status=None,
                deployer=pipeline.creator,
                start_date=at,
                pipeline=pipeline,
            )
            repo.deployments.append(pipeline.deployment)

    def _complete_pipeline(self, repo: _Repository, pipeline: _Pipeline, result: str, at: datetime) -> None:
        if result not in PIPELINE_RESULTS:
            raise ValueError(f"result must be one of {PIPELINE_RESULTS}")
        if pipeline.state == "PENDING" and result != "STOPPED":
            self._start_pipeline(repo, pipeline, at)
        pipeline.state, pipeline.result, pipeline.completed_on = "COMPLETED", result, at
        self._pipeline_status(repo, pipeline)
        if pipeline.deployment is not None:
            deployment = pipeline.deployment
            deployment.state, deployment.completion_date = "COMPLETED", at
            deployment.status = result if result in DEPLOYMENT_STATUSES else "FAILED"

    def _advance_pipelines_by_clock(self, repo: _Repository) -> None:
        """Sandbox mode: a pipeline waits a second, runs for its script's seconds, then completes."""
        if not self.auto_advance_pipelines:
            return
        now = self.clock()
        for pipeline in repo.pipelines:
            starts = pipeline.created_on + timedelta(seconds=self.auto_pending_seconds)
            if pipeline.state == "PENDING" and now >= starts:
                self._start_pipeline(repo, pipeline, starts)
            ends = starts + timedelta(seconds=pipeline.script.steps_seconds)
            if pipeline.state == "IN_PROGRESS" and now >= ends:
                self._complete_pipeline(repo, pipeline, pipeline.script.outcome, ends)

    @staticmethod
    def _next_build_number(repo: _Repository) -> int:
        return max((pipeline.build_number for pipeline in repo.pipelines), default=0) + 1

    def _pipeline(self, repo: _Repository, reference: str) -> _Pipeline:
        """By UUID (with or without braces) or, as Bitbucket also allows, by build number."""
        for pipeline in repo.pipelines:
            if reference.isdigit() and pipeline.build_number == int(reference):
                return pipeline
            if not reference.isdigit() and _same_uuid(pipeline.uuid, reference):
                return pipeline
        if reference.isdigit():
            raise _not_found(
                "Not found",
                detail=f"Pipeline with build number '{reference}' not found in repository {repo.uuid}",
                data={"key": "result-service.pipeline-id.not-found"},
            )
        raise _not_found(
            "Not found",
            detail=f"Pipeline with UUID {reference} not found in repository {repo.uuid}",
            data={"key": "result-service.pipeline.not-found"},
        )

    def _pipeline_state_json(self, pipeline: _Pipeline) -> dict:
        if pipeline.state == "PENDING":
            return {"type": "pipeline_state_pending", "name": "PENDING"}
        if pipeline.state == "IN_PROGRESS":
            return {
                "type": "pipeline_state_in_progress",
                "name": "IN_PROGRESS",
                "stage": {"type": "pipeline_state_in_progress_running", "name": "RUNNING"},
            }
        result = pipeline.result or "SUCCESSFUL"
        return {
            "type": "pipeline_state_completed",
            "name": "COMPLETED",
            "result": {"type": f"pipeline_state_completed_{result.lower()}", "name": result},
        }

    def _pipeline_json(self, repo: _Repository, pipeline: _Pipeline) -> dict:
        api = f"{self._repo_api(repo)}/pipelines/{quote(pipeline.uuid)}"
        body = {
            "type": "pipeline",
            "uuid": pipeline.uuid,
            "build_number": pipeline.build_number,
            "creator": self._user_json(pipeline.creator),
            "repository": self._repository_stub(repo),
            "target": copy.deepcopy(pipeline.target),
            "trigger": {"type": "pipeline_trigger_manual", "name": "MANUAL"},
            "state": self._pipeline_state_json(pipeline),
            "variables": [
                {"type": "pipeline_variable", "key": v["key"], "secured": bool(v.get("secured"))}
                | ({} if v.get("secured") else {"value": v.get("value")})
                for v in pipeline.variables
            ],
            "created_on": _iso(pipeline.created_on),
            "build_seconds_used": 0,
            "has_variables": bool(pipeline.variables),
            "expired": False,
            "links": {"self": _link(api), "steps": _link(f"{api}/steps/")},
        }
        if pipeline.completed_on is not None:
            body["completed_on"] = _iso(pipeline.completed_on)
            started = pipeline.started_on or pipeline.completed_on
            body["build_seconds_used"] = int((pipeline.completed_on - started).total_seconds())
        return body

    def _list_pipelines(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        items = [self._pipeline_json(repo, pipeline) for pipeline in repo.pipelines]
        for key in PIPELINE_FILTERS:
            wanted = call.arg(key)
            if wanted:
                path = _split_path("target.ref_name" if key == "target.branch" else key)
                # ref_type and selector.type are documented in upper case and echoed in lower case
                items = [item for item in items if wanted.lower() in [str(v).lower() for v in _values_at(item, path)]]
        items = _sorted(items, call.arg("sort") or "created_on")  # oldest first unless asked otherwise
        return _Response(200, self._page(call, items))

    def _trigger_pipeline(self, call: _Call) -> _Response:
        repo, body = self._repo_for(call), call.body_object()
        target = body.get("target")
        if not isinstance(target, dict):
            raise _bad_request("Bad request", detail="target: This field is required.")
        commit_hash, rendered_target = self._pipeline_target(repo, target)
        selector = target.get("selector") or {}
        pattern = selector.get("pattern") if selector.get("type") == "custom" else None
        script = repo.pipeline_scripts.get(pattern)
        if script is None:
            raise _bad_request(
                "Bad request", detail=SELECTOR_NOT_FOUND, data={"key": "result-service.pipeline.selector-not-found"}
            )
        pipeline = _Pipeline(
            uuid=_braced_uuid(),
            build_number=self._next_build_number(repo),
            target=rendered_target,
            commit=commit_hash,
            script=script,
            creator=call.caller,
            created_on=self.clock(),
            variables=[dict(v) for v in body.get("variables") or []],
        )
        repo.pipelines.append(pipeline)
        created = self._pipeline_json(repo, pipeline)
        return _Response(201, created, {"Location": created["links"]["self"]["href"]})

    def _pipeline_target(self, repo: _Repository, target: dict) -> tuple[str, dict]:
        """Resolve a trigger's target to a commit, and the target as Bitbucket echoes it."""
        selector = target.get("selector")
        wanted_hash = (target.get("commit") or {}).get("hash")
        if target.get("type") == "pipeline_ref_target":
            ref_type, ref_name = target.get("ref_type"), target.get("ref_name")
            if ref_type not in ("branch", "tag", "named_branch", "bookmark") or not ref_name:
                raise _bad_request("Bad request", detail="target: ref_type and ref_name are required.")
            refs = {name: tag.hash for name, tag in repo.tags.items()} if ref_type == "tag" else repo.branches
            head = refs.get(ref_name)
            commit_hash = self._resolve_commit(repo, wanted_hash) if wanted_hash else head
            if head is None or commit_hash is None:
                raise _not_found("Not found", detail="Could not find the revision")
            rendered = {"type": "pipeline_ref_target", "ref_type": ref_type, "ref_name": ref_name}
        elif target.get("type") == "pipeline_commit_target":
            commit_hash = self._resolve_commit(repo, wanted_hash) if wanted_hash else None
            if commit_hash is None:
                raise _not_found("Not found", detail="Could not find the revision")
            rendered = {"type": "pipeline_commit_target"}
        else:
            raise _bad_request("Bad request", detail=f"target: unsupported target type {target.get('type')!r}.")
        links = self._commit_stub(repo, commit_hash)["links"]
        rendered["commit"] = {"type": "commit", "hash": commit_hash, "links": links}
        rendered["selector"] = dict(selector) if selector else {"type": "default"}
        return commit_hash, rendered

    def _get_pipeline(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        return _Response(200, self._pipeline_json(repo, self._pipeline(repo, call.params["pipeline"])))

    def _stop_pipeline(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        pipeline = self._pipeline(repo, call.params["pipeline"])
        if pipeline.state == "COMPLETED":
            raise _bad_request("Bad request", detail="The pipeline has already completed and cannot be stopped.")
        self._complete_pipeline(repo, pipeline, "STOPPED", self.clock())
        return _Response(204)
