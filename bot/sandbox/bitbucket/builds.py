"""The simulated Bitbucket's builds: pipeline steps and their logs, and commit statuses (of commits and of
pull requests), in the shapes Atlassian's API description gives.

* A pipeline has the steps its script names (one `Build` step unless told); their states follow the
  pipeline's: a failed pipeline's last step failed, the ones before it passed.
* A step's log answers `application/octet-stream`, honours `Range: bytes=-N` (206, `Content-Range`),
  and, once the step is done, answers 307 to its copy in long-term storage, as Bitbucket does.
* Pipelines post a build status on their commit (`Pipeline #4 for main`, a link to the result) when they
  start and when they finish; custom pipelines (deploys) are left out here, so a failed deploy does not
  read as a failed build. Tests add other CI systems' statuses with `add_commit_status`.

Mixed into `FakeBitbucket`; it uses that class's lock, lookups and helpers. Its routes are in `routes.py`.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from bot.sandbox.bitbucket.query import _filtered, _sorted
from bot.sandbox.bitbucket.wire import WEB_ROOT, _ApiError, _iso, _link, _not_found, _Response, _same_uuid

COMMIT_STATUS_STATES = ("SUCCESSFUL", "FAILED", "INPROGRESS", "STOPPED")
STORAGE_PREFIX = "/log-storage/"
_RANGE = re.compile(r"^bytes=(?P<first>\d*)-(?P<last>\d*)$")


class BuildsMixin:
    """Needs `_lock`, `_repository`, `_repo_for`, `_pull_request_for`, `_pipeline`, `_resolve_commit`, `_resolve_or_fail`,
    `_commit_stub`, `_repository_stub`, `_repo_api`, `_page`, `origin` and `clock`."""

    # ------------------------------------------------------------------ test controls

    def add_commit_status(self, workspace, slug, commit, *, key: str, state: str, name: str | None = None,
                          url: str | None = None, refname: str | None = None, description: str = "") -> dict:
        """A build status on `commit` (a hash, or a branch name for its head), as a CI system posts it."""
        if state not in COMMIT_STATUS_STATES:
            raise ValueError(f"state must be one of {COMMIT_STATUS_STATES}")
        with self._lock:
            repo = self._repository(workspace, slug)
            commit_hash = self._resolve_or_fail(repo, commit)
            return self._put_status(repo, commit_hash, key=key, state=state, name=name or key, url=url or "",
                                    refname=refname, description=description)

    def step_logs(self, workspace, slug, pipeline_reference) -> dict[str, str]:
        """Each step's name and log, as a test may want to compare them."""
        with self._lock:
            repo = self._repository(workspace, slug)
            pipeline = self._pipeline(repo, str(pipeline_reference))
            return {step["name"]: self._log_of(pipeline, step["name"]) for step in self._steps_json(repo, pipeline)}

    # ------------------------------------------------------------------ state

    def _put_status(self, repo, commit_hash, *, key, state, name, url, refname, description="") -> dict:
        now = _iso(self.clock())
        statuses = repo.statuses.setdefault(commit_hash, {})
        previous = statuses.get(key)
        status = {
            "type": "build",
            "key": key,
            "state": state,
            "name": name,
            "description": description,
            "url": url,
            "refname": refname,
            "created_on": previous["created_on"] if previous else now,
            "updated_on": now,
            "commit": {"type": "commit", "hash": commit_hash},
        }
        statuses[key] = status
        return self._status_json(repo, status)

    def _pipeline_status(self, repo, pipeline) -> None:
        """What Pipelines posts on the commit it runs: INPROGRESS, then the result."""
        selector = (pipeline.target or {}).get("selector") or {}
        if selector.get("type") == "custom":
            return
        if pipeline.state == "COMPLETED":
            state = {"SUCCESSFUL": "SUCCESSFUL", "STOPPED": "STOPPED"}.get(pipeline.result or "", "FAILED")
        else:
            state = "INPROGRESS"
        ref_name = (pipeline.target or {}).get("ref_name")
        self._put_status(
            repo, pipeline.commit, key=pipeline.uuid.strip("{}")[:8], state=state,
            name=f"Pipeline #{pipeline.build_number} for {ref_name or pipeline.commit[:7]}",
            url=f"{WEB_ROOT}/{repo.full_name}/addon/pipelines/home#!/results/{pipeline.build_number}",
            refname=ref_name,
        )

    def _status_json(self, repo, status: dict) -> dict:
        api = self._repo_api(repo)
        commit_hash = status["commit"]["hash"]
        body = {**status, "commit": self._commit_stub(repo, commit_hash), "repository": self._repository_stub(repo)}
        body["links"] = {
            "self": _link(f"{api}/commit/{commit_hash}/statuses/build/{quote(status['key'], safe='')}"),
            "commit": _link(f"{api}/commit/{commit_hash}"),
        }
        return body

    def _statuses_of(self, repo, commit_hash: str) -> list[dict]:
        return [self._status_json(repo, s) for s in (repo.statuses.get(commit_hash) or {}).values()]

    def _step_names(self, pipeline) -> tuple[str, ...]:
        return tuple(pipeline.script.steps) or ("Build",)

    def _steps_json(self, repo, pipeline) -> list[dict]:
        names = self._step_names(pipeline)
        steps = []
        for index, name in enumerate(names):
            last = index == len(names) - 1
            if pipeline.state == "PENDING":
                state = {"type": "pipeline_step_state_pending", "name": "PENDING"}
            elif pipeline.state == "IN_PROGRESS":
                state = ({"type": "pipeline_step_state_in_progress", "name": "IN_PROGRESS"} if index == 0
                         else {"type": "pipeline_step_state_pending", "name": "PENDING"})
            else:
                result = pipeline.result or "SUCCESSFUL"
                if result == "STOPPED":
                    result = "STOPPED" if index == 0 else "NOT_RUN"
                elif result != "SUCCESSFUL" and not last:
                    result = "SUCCESSFUL"
                state = {"type": "pipeline_step_state_completed", "name": "COMPLETED",
                         "result": {"type": f"pipeline_step_state_completed_{result.lower()}", "name": result}}
            step = {
                "type": "pipeline_step",
                "uuid": self._step_uuid(pipeline, index),
                "name": name,
                "state": state,
                "pipeline": {"type": "pipeline", "uuid": pipeline.uuid},
            }
            if pipeline.started_on is not None and state["name"] != "PENDING":
                step["started_on"] = _iso(pipeline.started_on)
            if pipeline.completed_on is not None:
                step["completed_on"] = _iso(pipeline.completed_on)
            steps.append(step)
        return steps

    @staticmethod
    def _step_uuid(pipeline, index: int) -> str:
        inner = pipeline.uuid.strip("{}")
        return "{" + inner[:-4] + f"{index + 1:04x}" + "}"

    def _step_for(self, repo, pipeline, step_reference: str) -> dict:
        for step in self._steps_json(repo, pipeline):
            if _same_uuid(step["uuid"], step_reference):
                return step
        raise _not_found("Not found", detail=f"Step {step_reference} not found in pipeline {pipeline.uuid}")

    def _log_of(self, pipeline, step_name: str) -> str:
        logs = pipeline.script.logs or {}
        if step_name in logs:
            return logs[step_name]
        return f"+ ./{step_name.lower().replace(' ', '-')}.sh\nRunning {step_name}...\n"

    # ------------------------------------------------------------------ handlers

    def _list_commit_statuses(self, call) -> _Response:
        repo = self._repo_for(call)
        commit_hash = self._resolve_commit(repo, call.params["rev"])
        if commit_hash is None:
            raise _not_found(f"Commit not found: {call.params['rev']}")
        items = _filtered(self._statuses_of(repo, commit_hash), call.arg("q"))
        return _Response(200, self._page(call, _sorted(items, call.arg("sort") or "created_on")))

    def _list_pull_request_statuses(self, call) -> _Response:
        repo, pull_request = self._pull_request_for(call)
        head = repo.branches.get(pull_request.source) if pull_request.state == "OPEN" else None
        items = _filtered(self._statuses_of(repo, head or pull_request.source_hash), call.arg("q"))
        return _Response(200, self._page(call, _sorted(items, call.arg("sort") or "created_on")))

    def _list_pipeline_steps(self, call) -> _Response:
        repo = self._repo_for(call)
        pipeline = self._pipeline(repo, call.params["pipeline"])
        return _Response(200, self._page(call, self._steps_json(repo, pipeline)))

    def _get_step_log(self, call) -> _Response:
        repo = self._repo_for(call)
        pipeline = self._pipeline(repo, call.params["pipeline"])
        step = self._step_for(repo, pipeline, call.params["step"])
        if step["state"]["name"] == "PENDING":
            raise _not_found("Not found", detail="The log file does not exist for this step.")
        if step["state"]["name"] == "COMPLETED":
            # Finished logs move to long-term storage; the API redirects there.
            location = f"{self.origin}{STORAGE_PREFIX}{quote(repo.full_name, safe='')}/{pipeline.build_number}/{quote(step['uuid'])}"
            return _Response(307, None, {"Location": location})
        return self._log_response(call, self._log_of(pipeline, step["name"]).encode())

    def _serve_log_storage(self, call) -> _Response:
        """Long-term storage: no credentials needed (a signed URL, on Bitbucket)."""
        parts = [unquote(part) for part in call.raw_path[len(STORAGE_PREFIX):].split("/")]
        if len(parts) != 3:
            raise _not_found("Not found")
        full_name, number, step_uuid = parts
        workspace, _, slug = full_name.partition("/")
        repo = self._repository(workspace, slug)
        pipeline = self._pipeline(repo, number)
        step = self._step_for(repo, pipeline, step_uuid)
        return self._log_response(call, self._log_of(pipeline, step["name"]).encode())

    def _log_response(self, call, content: bytes) -> _Response:
        wanted = call.headers.get("range")
        if not wanted:
            return _Response(200, content)
        match = _RANGE.match(wanted.strip())
        if not match or not content:
            raise _ApiError(416, "Requested range not satisfiable")
        first, last = match["first"], match["last"]
        if first == "":
            start = max(0, len(content) - int(last or 0))
            end = len(content) - 1
        else:
            start = int(first)
            end = min(len(content) - 1, int(last)) if last else len(content) - 1
        if start >= len(content) or start > end:
            raise _ApiError(416, "Requested range not satisfiable")
        return _Response(206, content[start:end + 1], {"Content-Range": f"bytes {start}-{end}/{len(content)}"})

