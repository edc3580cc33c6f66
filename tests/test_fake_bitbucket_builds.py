"""The simulated Bitbucket's builds speak the documented shapes: steps, step logs (Range, 307 to storage),
build statuses of commits and of pull requests, and the statuses pipelines post on their commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from bot.sandbox.bitbucket import FakeBitbucket

WS, REPO = "acme", "api"
SWAGGER = json.loads((Path(__file__).parent / "fixtures" / "bitbucket-cloud" / "swagger.json").read_text())


@pytest.fixture
def fake():
    with FakeBitbucket() as server:
        server.add_user("alice", "Alice Nguyen")
        server.allow_bearer("alice-token", user="alice")
        server.add_repository(WS, REPO, branches=("main", "feature/a"))
        server.set_pipeline_script(WS, REPO, None, "FAILED", steps=("Build", "Test"), logs={"Test": "one\ntwo\nthree\n"})
        yield server


@pytest.fixture
def http():
    with requests.Session() as session:
        session.trust_env = False
        session.headers["Authorization"] = "Bearer alice-token"
        yield session


def url(fake, rest: str) -> str:
    return f"{fake.base_url}/repositories/{WS}/{REPO}{rest}"


def run(fake, http, branch="main") -> dict:
    target = {"type": "pipeline_ref_target", "ref_type": "branch", "ref_name": branch}
    created = http.post(url(fake, "/pipelines/"), json={"target": target})
    assert created.status_code == 201
    return created.json()


def test_steps_follow_the_pipeline_and_a_failed_pipeline_fails_in_its_last_step(fake, http):
    pipeline = run(fake, http)
    steps = http.get(url(fake, f"/pipelines/{pipeline['uuid']}/steps/")).json()
    assert [s["state"]["name"] for s in steps["values"]] == ["PENDING", "PENDING"]
    fake.advance_pipeline(WS, REPO, pipeline["uuid"], "COMPLETED", "FAILED")
    steps = http.get(url(fake, f"/pipelines/{pipeline['uuid']}/steps")).json()["values"]
    assert [(s["name"], s["state"]["result"]["name"]) for s in steps] == [("Build", "SUCCESSFUL"), ("Test", "FAILED")]
    assert steps[1]["state"]["result"]["type"] == "pipeline_step_state_completed_failed"
    assert set(steps[1]) >= {"uuid", "started_on", "completed_on", "state", "type"}


def test_a_running_steps_log_honours_range_and_a_finished_one_redirects_to_storage(fake, http):
    pipeline = run(fake, http)
    fake.advance_pipeline(WS, REPO, pipeline["uuid"], "IN_PROGRESS")
    build = http.get(url(fake, f"/pipelines/{pipeline['uuid']}/steps/")).json()["values"][0]
    log_url = url(fake, f"/pipelines/{pipeline['uuid']}/steps/{build['uuid']}/log")
    whole = http.get(log_url)
    assert whole.status_code == 200 and whole.headers["Content-Type"] == "application/octet-stream"
    tail = http.get(log_url, headers={"Range": "bytes=-6"})
    assert tail.status_code == 206 and tail.content == whole.content[-6:]
    assert tail.headers["Content-Range"] == f"bytes {len(whole.content) - 6}-{len(whole.content) - 1}/{len(whole.content)}"

    fake.advance_pipeline(WS, REPO, pipeline["uuid"], "COMPLETED", "FAILED")
    test = http.get(url(fake, f"/pipelines/{pipeline['uuid']}/steps/")).json()["values"][1]
    log_url = url(fake, f"/pipelines/{pipeline['uuid']}/steps/{test['uuid']}/log")
    moved = http.get(log_url, allow_redirects=False)
    assert moved.status_code == 307 and "/log-storage/" in moved.headers["Location"]
    assert http.get(log_url).content == b"one\ntwo\nthree\n"
    assert requests.get(moved.headers["Location"], headers={"Range": "bytes=-6"}).content == b"three\n"  # no credentials
    assert http.get(log_url, headers={"Range": "bytes=99-"}).status_code == 416


def test_a_pending_steps_log_does_not_exist(fake, http):
    pipeline = run(fake, http)
    step = http.get(url(fake, f"/pipelines/{pipeline['uuid']}/steps/")).json()["values"][0]
    assert http.get(url(fake, f"/pipelines/{pipeline['uuid']}/steps/{step['uuid']}/log")).status_code == 404


def test_pipelines_post_build_statuses_on_their_commit_and_pull_requests_show_their_source_commits(fake, http):
    pr = fake.add_pull_request(WS, REPO, title="A", source="feature/a", author="alice")
    pipeline = run(fake, http, "feature/a")
    fake.advance_pipeline(WS, REPO, pipeline["uuid"], "IN_PROGRESS")
    head = fake.branches(WS, REPO)["feature/a"]
    (status,) = http.get(url(fake, f"/commit/{head}/statuses")).json()["values"]
    assert (status["state"], status["name"], status["refname"]) == ("INPROGRESS", "Pipeline #1 for feature/a", "feature/a")
    assert status["url"].endswith("/acme/api/addon/pipelines/home#!/results/1") and status["type"] == "build"
    fake.advance_pipeline(WS, REPO, pipeline["uuid"], "COMPLETED", "FAILED")
    fake.add_commit_status(WS, REPO, "feature/a", key="lint", state="SUCCESSFUL", name="Lint")
    statuses = http.get(url(fake, f"/pullrequests/{pr['id']}/statuses"), params={"sort": "-updated_on"}).json()["values"]
    assert [(s["name"], s["state"]) for s in statuses] == [("Lint", "SUCCESSFUL"), ("Pipeline #1 for feature/a", "FAILED")]
    assert statuses[0]["links"]["commit"]["href"].endswith(f"/commit/{head}")
    assert http.get(url(fake, "/pullrequests/99/statuses")).status_code == 404
    assert set(statuses[0]) <= set(SWAGGER["definitions"]["commitstatus"]["allOf"][1]["properties"]) | {"type", "commit", "repository"}


def test_custom_pipelines_post_no_build_status_here(fake, http):
    fake.set_pipeline_script(WS, REPO, "deploy-to-test")
    target = {"type": "pipeline_ref_target", "ref_type": "branch", "ref_name": "main", "selector": {"type": "custom", "pattern": "deploy-to-test"}}
    pipeline = http.post(url(fake, "/pipelines/"), json={"target": target}).json()
    fake.advance_pipeline(WS, REPO, pipeline["uuid"], "COMPLETED", "FAILED")
    assert http.get(url(fake, f"/commit/{fake.branches(WS, REPO)['main']}/statuses")).json()["values"] == []
