"""Pipelines: running, reading and stopping them, their steps and logs, and the builds (commit statuses) they report."""

from __future__ import annotations

from typing import Mapping

from bot.bitbucket.constants import MAX_PAGELEN
from bot.bitbucket.errors import BitbucketError
from bot.bitbucket.models import ResolvedRef
from bot.bitbucket.paths import (
    COMMIT_STATUSES, PIPELINE, PIPELINE_STEP_LOG, PIPELINE_STEPS, PIPELINE_STOP, PIPELINES, PULL_REQUEST_STATUSES,
)
from bot.bitbucket.transport import Transport


def pipeline_target_for(ref: ResolvedRef, pattern: str | None = None) -> dict:
    """The `target` of a pipeline run at `ref`: the custom pipeline `pattern`, or the ref's own pipeline.

    Branches and tags run in their ref's context, pinned to the resolved commit so that what runs is what
    was shown to the person even if the branch moves meanwhile; a bare commit gets a commit target.
    """
    commit = {"type": "commit", "hash": ref.hash}
    if ref.kind == "commit":
        target = {"type": "pipeline_commit_target", "commit": commit}
    else:
        target = {"type": "pipeline_ref_target", "ref_type": ref.kind, "ref_name": ref.name, "commit": commit}
    if pattern:
        target["selector"] = {"type": "custom", "pattern": pattern}
    return target


def pipeline_body(target: Mapping, variables: Mapping[str, str] | None = None) -> dict:
    """The body of `trigger_pipeline`; `variables` reach custom pipelines as environment variables."""
    body: dict = {"target": dict(target)}
    if variables:
        body["variables"] = [{"key": key, "value": value} for key, value in variables.items()]
    return body


class Pipelines(Transport):
    """Pipelines, their steps and logs, and commit statuses."""

    def trigger_pipeline(self, ws: str, slug: str, body: Mapping) -> dict:
        """Run a pipeline; build `body` with `pipeline_body(pipeline_target_for(…))`."""
        url = self._url(PIPELINES, workspace=ws, repo_slug=slug)
        return self._call("POST", url, json=dict(body), idempotent=False)

    def get_pipeline(self, ws: str, slug: str, uuid: str) -> dict:
        return self._call("GET", self._url(PIPELINE, workspace=ws, repo_slug=slug, pipeline_uuid=uuid))

    def list_pipelines(self, ws: str, slug: str, *, filters: Mapping[str, str] | None = None,
                       sort: str = "-created_on", limit: int | None = 20) -> list[dict]:
        """Newest first. `filters` are Bitbucket's query parameters, e.g. {"target.ref_name": "main"}."""
        params = {**(filters or {}), "sort": sort, "pagelen": MAX_PAGELEN}
        return self._collect(self._url(PIPELINES, workspace=ws, repo_slug=slug), params, limit)[0]

    def stop_pipeline(self, ws: str, slug: str, uuid: str) -> None:
        self._call("POST", self._url(PIPELINE_STOP, workspace=ws, repo_slug=slug, pipeline_uuid=uuid))

    def list_pipeline_steps(self, ws: str, slug: str, uuid: str) -> list[dict]:
        return self._collect(self._url(PIPELINE_STEPS, workspace=ws, repo_slug=slug, pipeline_uuid=uuid))[0]

    def get_step_log_tail(self, ws: str, slug: str, uuid: str, step_uuid: str, *, max_bytes: int = 16384) -> str:
        """The end of a step's log (a Range request for its last `max_bytes`), as text. A finished step's log
        answers 307 to its storage; `requests` follows it (and drops our credentials on the way)."""
        url = self._url(PIPELINE_STEP_LOG, workspace=ws, repo_slug=slug, pipeline_uuid=uuid, step_uuid=step_uuid)
        try:
            response = self._request("GET", url, headers={"Range": f"bytes=-{int(max_bytes)}", "Accept": "*/*"})
        except BitbucketError as error:
            if error.status == 416:  # an empty log has no last bytes
                return ""
            raise
        content = response.content
        if response.status_code == 200 and len(content) > max_bytes:  # the Range was not honoured
            content = content[-max_bytes:]
        return content.decode("utf-8", errors="replace")

    def list_pull_request_statuses(self, ws: str, slug: str, pr_id: int, *, limit: int | None = 100) -> list[dict]:
        """Commit statuses (builds) of a pull request, newest first."""
        params = {"sort": "-updated_on", "pagelen": MAX_PAGELEN}
        return self._collect(self._pr_url(PULL_REQUEST_STATUSES, ws, slug, pr_id), params, limit)[0]

    def list_commit_statuses(self, ws: str, slug: str, commit: str, *, limit: int | None = 100) -> list[dict]:
        """Commit statuses (builds) of a commit, newest first."""
        params = {"sort": "-updated_on", "pagelen": MAX_PAGELEN}
        return self._collect(self._url(COMMIT_STATUSES, workspace=ws, repo_slug=slug, commit=commit), params, limit)[0]
