"""The simulated Bitbucket's branch writes and branch restrictions, as Atlassian documents them (issue 27):
`POST …/refs/branches` (201, a full or unambiguous hash), `DELETE …/refs/branches/{name}` (204; the main branch
refused), `GET …/branch-restrictions` (paged `branchrestriction` objects, filtered by `kind`), and the `repo:push`
their listeners hear."""

from __future__ import annotations

import requests

from bot.sandbox.bitbucket import FakeBitbucket

WS, REPO = "acme", "api"


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.headers["Authorization"] = "Bearer alice-token"
    return s


def make_fake() -> FakeBitbucket:
    fake = FakeBitbucket().start()
    fake.add_user("alice", "Alice Nguyen")
    fake.allow_bearer("alice-token", user="alice")
    fake.add_repository(WS, REPO, branches=("main", "release/1.0", "feature/a"))
    return fake


def test_branches_are_created_listed_newest_first_and_deleted():
    fake, heard = make_fake(), []
    fake.listeners.append(lambda ws, slug, key, payload: heard.append((key, payload)))
    base = f"{fake.base_url}/repositories/{WS}/{REPO}/refs/branches"
    try:
        with session() as http:
            head = fake.branches(WS, REPO)["main"]
            created = http.post(base, json={"name": "hotfix/login", "target": {"hash": head}})
            assert created.status_code == 201 and created.json()["name"] == "hotfix/login"
            assert created.json()["target"]["hash"] == head and created.headers["Location"].endswith("/refs/branches/hotfix/login")
            again = http.post(base, json={"name": "hotfix/login", "target": {"hash": head}})
            assert again.status_code == 400 and "already exists" in again.json()["error"]["message"]
            by_name = http.post(base, json={"name": "x", "target": {"hash": "main"}})
            assert by_name.status_code == 400  # a hash, not a ref name
            fake.add_commit(WS, REPO, "feature/a", message="newest")
            listed = http.get(base, params={"sort": "-target.date"}).json()["values"]
            assert listed[0]["name"] == "feature/a"
            assert http.delete(f"{base}/hotfix/login").status_code == 204
            assert "hotfix/login" not in fake.branches(WS, REPO)
            assert http.delete(f"{base}/hotfix/login").status_code == 404
            main = http.delete(f"{base}/main")
            assert main.status_code == 400 and "main branch" in main.json()["error"]["message"]
    finally:
        fake.stop()
    pushes = [payload["push"]["changes"][0] for key, payload in heard if key == "repo:push"]
    assert [(c["created"], c["closed"]) for c in pushes] == [(True, False), (False, True)]
    assert pushes[0]["new"]["name"] == "hotfix/login" and pushes[1]["old"]["name"] == "hotfix/login"
    assert all(payload["actor"]["nickname"] == "alice" for _, payload in heard)


def test_a_delete_restriction_protects_matching_branches_and_is_listed():
    fake = make_fake()
    fake.add_branch_restriction(WS, REPO, "delete", "release/*")
    fake.add_branch_restriction(WS, REPO, "require_approvals_to_merge", "main", value=2)
    try:
        with session() as http:
            url = f"{fake.base_url}/repositories/{WS}/{REPO}"
            refused = http.delete(f"{url}/refs/branches/release/1.0")
            assert refused.status_code == 403 and "branch restriction" in refused.json()["error"]["message"]
            page = http.get(f"{url}/branch-restrictions").json()
            assert page["size"] == 2 and {r["type"] for r in page["values"]} == {"branchrestriction"}
            deletes = http.get(f"{url}/branch-restrictions", params={"kind": "delete"}).json()["values"]
            assert [(r["kind"], r["branch_match_kind"], r["pattern"]) for r in deletes] == [("delete", "glob", "release/*")]
            assert http.delete(f"{url}/refs/branches/feature/a").status_code == 204
    finally:
        fake.stop()
