"""The sandbox's demo workspace holds together (issue 12): the deployments name pipelines that exist, on the
same commits; pull requests, branches, tags, pipelines and deployments all refer to commits the repository has;
and `/bb builds` and `/bb deployments` agree about it."""

from __future__ import annotations

import re

import pytest
import requests

from bot.core.config import Settings
from bot.sandbox.bitbucket import FakeBitbucket, demo_workspace

WS = "acme"
SLUGS = ("api", "web", "infra")


@pytest.fixture(scope="module")
def demo():
    with FakeBitbucket() as fake:
        demo_workspace(fake)
        yield fake


def get(fake: FakeBitbucket, path: str, **params) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.get(f"{fake.base_url}{path}", params=params, headers={"Authorization": "Bearer sandbox-token"})


def every(fake: FakeBitbucket, path: str, **params) -> list[dict]:
    """Every item of a collection, following `next`."""
    found, page = [], get(fake, path, **params).json()
    while True:
        found += page["values"]
        if "next" not in page:
            return found
        with requests.Session() as session:
            session.trust_env = False
            page = session.get(page["next"], headers={"Authorization": "Bearer sandbox-token"}).json()


def has_commit(fake: FakeBitbucket, slug: str, commit_hash: str) -> bool:
    return get(fake, f"/repositories/{WS}/{slug}/commit/{commit_hash}").status_code == 200


@pytest.mark.parametrize("slug", SLUGS)
def test_each_deployment_names_a_pipeline_that_ran_its_commit_to_its_environment(demo, slug):
    base = f"/repositories/{WS}/{slug}"
    pipelines = {p["build_number"]: p for p in every(demo, base + "/pipelines/", pagelen=100)}
    environments = {e["uuid"]: e["name"] for e in every(demo, base + "/environments/")}
    for deployment in every(demo, base + "/deployments/"):
        release = deployment["release"]
        number = int(release["name"].lstrip("#"))
        assert number in pipelines, f"{slug}: deployment {release['name']} names no pipeline"
        pipeline = pipelines[number]
        assert pipeline["target"]["commit"]["hash"] == release["commit"]["hash"]
        assert pipeline["target"]["selector"] == {"type": "custom", "pattern": f"deploy-to-{environments[deployment['environment']['uuid']].lower()}"}
        assert deployment["deployable"]["pipeline"]["uuid"] == pipeline["uuid"]
        assert release["url"].endswith(f"/pipelines/results/{number}")
        assert pipeline["state"]["name"] == "COMPLETED"
        assert pipeline["state"]["result"]["name"] == deployment["state"]["status"]["name"]
        assert pipeline["completed_on"] == deployment["state"]["completion_date"]


def test_the_api_repository_shows_the_deployments_of_its_history(demo):
    deployments = demo.deployments(WS, "api")
    assert {"#31", "#35", "#36", "#40", "#41", "#42"} <= {d["release"]["name"] for d in deployments}
    assert [p["build_number"] for p in demo.pipelines(WS, "api")][-1] == 42


def test_new_pipelines_are_numbered_after_the_seeded_ones():
    with FakeBitbucket() as fake:
        demo_workspace(fake)
        with requests.Session() as session:
            session.trust_env = False
            started = session.post(
                f"{fake.base_url}/repositories/{WS}/api/pipelines/",
                json={"target": {"type": "pipeline_ref_target", "ref_type": "branch", "ref_name": "main"}},
                headers={"Authorization": "Bearer sandbox-token"},
            ).json()
        assert started["build_number"] == 43
        assert [p["build_number"] for p in fake.pipelines(WS, "api")] == list(range(31, 44))


@pytest.mark.parametrize("slug", SLUGS)
def test_every_reference_of_the_seed_is_to_a_commit_the_repository_has(demo, slug):
    base = f"/repositories/{WS}/{slug}"
    branches = {b["name"]: b["target"]["hash"] for b in every(demo, base + "/refs/branches", pagelen=100)}
    assert branches == demo.branches(WS, slug)
    seen = set(branches.values())
    seen |= {t["target"]["hash"] for t in every(demo, base + "/refs/tags", pagelen=100)}
    seen |= {p["target"]["commit"]["hash"] for p in every(demo, base + "/pipelines/", pagelen=100)}
    seen |= {d["release"]["commit"]["hash"] for d in every(demo, base + "/deployments/")}
    for state in ("OPEN", "MERGED", "DECLINED"):
        for pr in every(demo, base + "/pullrequests", state=state, pagelen=50):
            seen |= {pr["source"]["commit"]["hash"], pr["destination"]["commit"]["hash"]}
            if state == "OPEN":
                assert pr["source"]["branch"]["name"] in branches, pr["title"]
                assert pr["destination"]["branch"]["name"] in branches, pr["title"]
                assert branches[pr["source"]["branch"]["name"]].startswith(pr["source"]["commit"]["hash"])
            if state == "MERGED":
                seen.add(pr["merge_commit"]["hash"])
    missing = sorted(h for h in seen if not has_commit(demo, slug, h))
    assert missing == []
    for commit_hash in branches.values():  # each branch's history is whole
        parents = get(demo, f"{base}/commit/{commit_hash}").json()["parents"]
        assert all(has_commit(demo, slug, parent["hash"]) for parent in parents)


def test_a_release_commit_is_older_than_its_deployments(demo):
    base = f"/repositories/{WS}/api"
    for deployment in every(demo, base + "/deployments/"):
        commit = get(demo, f"{base}/commit/{deployment['release']['commit']['hash']}").json()
        assert commit["date"] <= deployment["state"]["start_date"], deployment["release"]["name"]


def test_builds_and_deployments_agree_in_the_sandbox_shell(tmp_path):
    """`/bb deployments api` names pipelines that `/bb builds api` lists."""
    from bot.app.shell import Console

    lines: list[str] = []
    console = Console(Settings(database_path=str(tmp_path / "shell.db")), sandbox=True, write=lines.append)
    try:
        console.handle_line("/bb deployments api")
        deployments_text = "\n".join(lines)
        lines.clear()
        console.handle_line("/bb builds api")
        builds_text = "\n".join(lines)
    finally:
        console.close()
    assert "No pipelines have run" not in builds_text, builds_text
    named = set(re.findall(r"#(\d+)", deployments_text))
    assert {"36", "41", "42"} <= named, deployments_text
    listed = set(re.findall(r"#(\d+)", builds_text))
    assert {"41", "42"} <= listed, builds_text
