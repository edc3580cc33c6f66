"""The simulated Bitbucket Cloud behaves like the real one where our client can tell the difference."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.sandbox.bitbucket import FakeBitbucket, demo_workspace

WS, REPO = "acme", "api"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fake(clock):
    with FakeBitbucket(clock=clock) as server:
        for nickname, name in (("alice", "Alice Nguyen"), ("bob", "Bob Okafor"), ("carol", "Carol Diaz")):
            server.add_user(nickname, name)
            server.allow_bearer(f"{nickname}-token", user=nickname)
        server.add_repository(WS, REPO, branches=("main", "feature/a"))
        yield server


def api(fake: FakeBitbucket, token: str = "alice-token") -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def repo_url(fake: FakeBitbucket, rest: str = "") -> str:
    return f"{fake.base_url}/repositories/{WS}/{REPO}{rest}"


def error_message(response: requests.Response) -> str:
    body = response.json()
    assert body["type"] == "error"
    return body["error"]["message"]


# --------------------------------------------------------------------------------------------- auth


def test_requests_without_valid_credentials_are_refused(fake):
    anonymous = requests.get(f"{fake.base_url}/user")
    assert anonymous.status_code == 401
    assert anonymous.json() == {"type": "error", "error": {"message": "Unauthorized"}}

    assert api(fake, "wrong-token").get(f"{fake.base_url}/user").status_code == 401


def test_bearer_and_basic_credentials_act_as_their_user(fake):
    assert api(fake, "bob-token").get(f"{fake.base_url}/user").json()["nickname"] == "bob"

    fake.allow_basic("carol@example.com", "ATATT-carol", user="carol")
    me = requests.get(f"{fake.base_url}/user", auth=("carol@example.com", "ATATT-carol")).json()
    assert me["display_name"] == "Carol Diaz"
    assert me["uuid"].startswith("{") and me["account_id"]
    assert requests.get(f"{fake.base_url}/user", auth=("carol@example.com", "nope")).status_code == 401


def test_an_access_token_without_a_user_is_its_own_app_user(fake):
    fake.allow_bearer("repo-token", name="Deploy bot")
    me = api(fake, "repo-token").get(f"{fake.base_url}/user").json()
    assert (me["type"], me["display_name"]) == ("app_user", "Deploy bot")


# --------------------------------------------------------------------------------------------- pull request lists


def test_pull_requests_are_paginated_with_absolute_next_links(fake, clock):
    for number in range(23):
        clock.advance(minutes=1)
        fake.add_pull_request(WS, REPO, title=f"PR {number}", source=f"feature/{number}", author="bob")

    session, seen, url, pages = api(fake), [], repo_url(fake, "/pullrequests?pagelen=10"), []
    while url:
        page = session.get(url).json()
        pages.append(page)
        seen += [pr["id"] for pr in page["values"]]
        url = page.get("next")

    assert [len(page["values"]) for page in pages] == [10, 10, 3]
    assert pages[0]["size"] == 23 and pages[1]["page"] == 2 and "previous" in pages[1]
    assert pages[0]["next"].startswith(fake.base_url)
    assert parse_qs(urlsplit(pages[0]["next"]).query)["pagelen"] == ["10"]
    assert seen == list(range(23, 0, -1))  # newest updated first


def test_pagelen_above_the_endpoint_maximum_is_refused_not_clamped(fake):
    session = api(fake)
    too_many = session.get(repo_url(fake, "/pullrequests"), params={"pagelen": 51})
    assert too_many.status_code == 400
    assert too_many.json() == {"type": "error", "error": {"message": "Invalid pagelen"}}
    assert session.get(repo_url(fake, "/pullrequests"), params={"pagelen": 50}).status_code == 200
    assert session.get(repo_url(fake, "/refs/branches"), params={"pagelen": 100}).status_code == 200
    assert session.get(repo_url(fake, "/refs/branches"), params={"pagelen": 101}).status_code == 400


def test_the_list_leaves_out_reviewers_unless_fields_asks_for_them(fake):
    fake.add_pull_request(
        WS, REPO, title="Reviewed", source="feature/a", author="alice", reviewers=("bob",), approved_by=("bob",)
    )
    session = api(fake)

    plain = session.get(repo_url(fake, "/pullrequests")).json()["values"][0]
    assert "reviewers" not in plain and "participants" not in plain

    asked = session.get(repo_url(fake, "/pullrequests"), params={"fields": "+values.reviewers,+values.participants"})
    item = asked.json()["values"][0]
    assert [user["nickname"] for user in item["reviewers"]] == ["bob"]
    assert item["participants"][0]["approved"] is True and item["participants"][0]["state"] == "approved"
    assert "title" in item  # `+` adds; it does not restrict

    single = session.get(repo_url(fake, "/pullrequests/1")).json()
    assert single["reviewers"] and single["participants"]
    assert single["links"]["html"]["href"] == f"https://bitbucket.org/{WS}/{REPO}/pull-requests/1"

    lean = session.get(repo_url(fake, "/pullrequests"), params={"fields": "values.id,values.author.display_name"})
    assert lean.json() == {"values": [{"id": 1, "author": {"display_name": "Alice Nguyen"}}]}


def test_state_defaults_to_open_and_repeats_for_several(fake):
    for index, state in enumerate(("OPEN", "MERGED", "DECLINED")):
        fake.add_pull_request(WS, REPO, title=state, source=f"feature/{index}", author="bob", state=state)
    session = api(fake)
    titles = lambda response: sorted(pr["title"] for pr in response.json()["values"])  # noqa: E731
    assert titles(session.get(repo_url(fake, "/pullrequests"))) == ["OPEN"]
    both = session.get(repo_url(fake, "/pullrequests"), params=[("state", "MERGED"), ("state", "DECLINED")])
    assert titles(both) == ["DECLINED", "MERGED"]


def test_q_and_sort_select_stale_pull_requests(fake, clock):
    fake.add_pull_request(WS, REPO, title="old", source="feature/old", author="bob",
                          updated_on=clock() - timedelta(days=5))
    fake.add_pull_request(WS, REPO, title="older", source="feature/older", author="bob",
                          updated_on=clock() - timedelta(days=8))
    fake.add_pull_request(WS, REPO, title="fresh", source="feature/fresh", author="bob")
    query = f'destination.branch.name = "main" AND updated_on < {(clock() - timedelta(days=3)).isoformat()}'
    stale = api(fake).get(repo_url(fake, "/pullrequests"), params={"q": query, "sort": "updated_on"})
    assert [pr["title"] for pr in stale.json()["values"]] == ["older", "old"]


# --------------------------------------------------------------------------------------------- failure injection


def test_fail_next_answers_a_plain_text_429_then_recovers(fake):
    fake.fail_next("GET", r"/pullrequests$", status=429, body="Rate limit exceeded", times=2)
    session = api(fake)
    for _ in range(2):
        limited = session.get(repo_url(fake, "/pullrequests"))
        assert limited.status_code == 429
        assert limited.text == "Rate limit exceeded"
        assert limited.headers["Content-Type"].startswith("text/plain")
        assert "Retry-After" not in limited.headers
    assert session.get(repo_url(fake, "/pullrequests")).status_code == 200
    assert len(fake.requests_to("GET", "/pullrequests")) == 3


def test_fail_next_with_a_json_body_and_headers(fake):
    fake.fail_next("POST", r"/merge$", status=555, body={"type": "error", "error": {"message": "Timeout"}},
                   headers={"Retry-After": "1"})
    fake.add_pull_request(WS, REPO, title="x", source="feature/a", author="bob")
    response = api(fake).post(repo_url(fake, "/pullrequests/1/merge"), json={})
    assert (response.status_code, response.headers["Retry-After"]) == (555, "1")
    assert error_message(response) == "Timeout"
    assert fake.pull_request(WS, REPO, 1)["state"] == "OPEN"


def test_latency_delays_every_answer(fake):
    fake.latency = 0.15
    started = time.monotonic()
    api(fake).get(f"{fake.base_url}/user")
    assert time.monotonic() - started >= 0.15


def test_unknown_urls_answer_bitbucket_404(fake):
    response = api(fake).get(f"{fake.base_url}/repositories/{WS}/{REPO}/no-such-thing")
    assert response.status_code == 404
    assert "There is no API hosted at this URL" in response.json()["error"]["detail"]
    missing = api(fake).get(f"{fake.base_url}/repositories/{WS}/nope")
    assert error_message(missing) == f"Repository {WS}/nope not found"


# --------------------------------------------------------------------------------------------- create, merge, decline


def test_create_pull_request_defaults_to_the_main_branch_and_refuses_duplicates(fake):
    session = api(fake, "bob-token")
    body = {"title": "Feature A", "source": {"branch": {"name": "feature/a"}}}
    created = session.post(repo_url(fake, "/pullrequests"), json=body)
    assert created.status_code == 201
    pr = created.json()
    assert (pr["destination"]["branch"]["name"], pr["author"]["nickname"], pr["state"]) == ("main", "bob", "OPEN")
    assert len(pr["source"]["commit"]["hash"]) == 12

    duplicate = session.post(repo_url(fake, "/pullrequests"), json=body)
    assert duplicate.status_code == 400 and "already an open pull request" in error_message(duplicate)

    unknown = session.post(repo_url(fake, "/pullrequests"), json={"title": "t", "source": {"branch": {"name": "nope"}}})
    assert unknown.status_code == 400 and "branch not found: nope" in error_message(unknown)

    no_changes = session.post(repo_url(fake, "/pullrequests"), json={"title": "t", "source": {"branch": {"name": "main"}}})
    assert "There are no changes to be pulled" in error_message(no_changes)


def test_sync_merge_answers_the_merged_pull_request(fake):
    fake.add_pull_request(WS, REPO, title="A", source="feature/a", author="bob")
    merge = {"type": "pullrequest_merge_parameters", "merge_strategy": "squash", "close_source_branch": True}
    merged = api(fake).post(repo_url(fake, "/pullrequests/1/merge"), json=merge)
    assert merged.status_code == 200
    pr = merged.json()
    assert pr["state"] == "MERGED" and pr["closed_by"]["nickname"] == "alice"
    assert fake.branches(WS, REPO)["main"].startswith(pr["merge_commit"]["hash"])
    assert "feature/a" not in fake.branches(WS, REPO)

    again = api(fake).post(repo_url(fake, "/pullrequests/1/merge"), json=merge)
    assert again.status_code == 400 and "not open" in error_message(again)


def test_a_strategy_the_branch_does_not_allow_is_refused(fake):
    fake.add_repository(WS, "infra", merge_strategies=("squash",))
    fake.add_pull_request(WS, "infra", title="A", source="feature/x", author="bob")
    refused = api(fake).post(
        f"{fake.base_url}/repositories/{WS}/infra/pullrequests/1/merge", json={"merge_strategy": "merge_commit"}
    )
    assert refused.status_code == 400 and "merge_commit" in error_message(refused)


def test_async_merge_answers_202_and_a_task_to_poll(fake):
    fake.merge_mode = "async"
    fake.add_pull_request(WS, REPO, title="A", source="feature/a", author="bob")
    session = api(fake)
    accepted = session.post(repo_url(fake, "/pullrequests/1/merge"), json={"merge_strategy": "merge_commit"})
    assert accepted.status_code == 202
    status_url = accepted.headers["Location"]
    assert status_url.startswith(repo_url(fake, "/pullrequests/1/merge/task-status/"))

    assert session.get(status_url).json()["task_status"] == "PENDING"
    assert fake.pull_request(WS, REPO, 1)["state"] == "OPEN"
    done = session.get(status_url).json()
    assert done["task_status"] == "SUCCESS" and done["merge_result"]["state"] == "MERGED"
    assert session.get(status_url).json()["merge_result"]["id"] == 1  # polling again is harmless


def test_async_query_parameter_always_gives_202(fake):
    fake.add_pull_request(WS, REPO, title="A", source="feature/a", author="bob")
    accepted = api(fake).post(repo_url(fake, "/pullrequests/1/merge?async=true"), json={})
    assert accepted.status_code == 202 and "task-status" in accepted.headers["Location"]


def test_decline(fake):
    fake.add_pull_request(WS, REPO, title="A", source="feature/a", author="bob")
    declined = api(fake).post(repo_url(fake, "/pullrequests/1/decline"))
    assert declined.status_code == 200 and declined.json()["state"] == "DECLINED"


# --------------------------------------------------------------------------------------------- approvals


def test_approvals_are_per_user_and_authors_cannot_approve(fake, clock):
    fake.add_pull_request(WS, REPO, title="A", source="feature/a", author="alice", reviewers=("bob", "carol"))
    url = repo_url(fake, "/pullrequests/1")

    clock.advance(minutes=5)
    approved = api(fake, "bob-token").post(f"{url}/approve")
    assert approved.status_code == 200
    assert approved.json()["user"]["nickname"] == "bob" and approved.json()["approved"] is True

    changes = api(fake, "carol-token").post(f"{url}/request-changes")
    assert changes.status_code == 200 and changes.json()["state"] == "changes_requested"

    own = api(fake, "alice-token").post(f"{url}/approve")
    assert own.status_code == 400 and error_message(own) == "You can't approve your own pull request."

    states = {p["user"]["nickname"]: p["state"] for p in fake.pull_request(WS, REPO, 1)["participants"]}
    assert states == {"bob": "approved", "carol": "changes_requested"}
    assert fake.pull_request(WS, REPO, 1)["updated_on"] == clock().isoformat(timespec="microseconds")

    assert api(fake, "bob-token").delete(f"{url}/approve").status_code == 204
    assert api(fake, "carol-token").delete(f"{url}/request-changes").status_code == 204
    assert {p["state"] for p in fake.pull_request(WS, REPO, 1)["participants"]} == {None}


def test_closed_pull_requests_cannot_be_approved(fake):
    fake.add_pull_request(WS, REPO, title="A", source="feature/a", author="alice", state="MERGED")
    refused = api(fake, "bob-token").post(repo_url(fake, "/pullrequests/1/approve"))
    assert refused.status_code == 400 and "not open" in error_message(refused)


# --------------------------------------------------------------------------------------------- refs and commits


def test_tag_creation_and_its_conflict(fake):
    head = fake.branches(WS, REPO)["main"]
    session = api(fake)
    created = session.post(repo_url(fake, "/refs/tags"), json={"name": "v1.0.0", "target": {"hash": head[:12]}})
    assert created.status_code == 201
    assert created.json()["target"]["hash"] == head and created.json()["type"] == "tag"

    again = session.post(repo_url(fake, "/refs/tags"), json={"name": "v1.0.0", "target": {"hash": head}})
    assert again.status_code == 400 and "already exists" in error_message(again)

    unknown = session.post(repo_url(fake, "/refs/tags"), json={"name": "v2", "target": {"hash": "0" * 40}})
    assert unknown.status_code == 400
    assert [tag["name"] for tag in fake.tags(WS, REPO)] == ["v1.0.0"]
    assert session.get(repo_url(fake, "/refs/tags/v1.0.0")).json()["target"]["hash"] == head


def test_branches_with_slashes_and_commit_lookup(fake):
    session = api(fake)
    branch = session.get(repo_url(fake, "/refs/branches/feature/a")).json()
    assert branch["name"] == "feature/a" and "merge_strategies" in branch
    assert session.get(repo_url(fake, "/refs/branches/feature%2Fa")).json()["name"] == "feature/a"

    full_hash = branch["target"]["hash"]
    assert session.get(repo_url(fake, f"/commit/{full_hash[:7]}")).json()["hash"] == full_hash
    assert session.get(repo_url(fake, "/commit/main")).json()["hash"] == fake.branches(WS, REPO)["main"]
    missing = session.get(repo_url(fake, "/commit/deadbeef"))
    assert missing.status_code == 404 and error_message(missing) == "Commit not found"

    filtered = session.get(repo_url(fake, "/refs/branches"), params={"q": 'name ~ "feat"'}).json()
    assert [b["name"] for b in filtered["values"]] == ["feature/a"]


# --------------------------------------------------------------------------------------------- webhooks


def test_webhooks_never_echo_their_secret(fake):
    session = api(fake)
    body = {"description": "chatops", "url": "https://bot.example.com/bb", "active": True, "secret": "s3cret",
            "events": ["repo:push", "pullrequest:created"]}
    created = session.post(repo_url(fake, "/hooks"), json=body)
    assert created.status_code == 201
    hook = created.json()
    assert hook["secret_set"] is True and "secret" not in hook and hook["uuid"].startswith("{")
    assert fake.webhooks(WS, REPO)[0]["secret"] == "s3cret"

    listed = session.get(repo_url(fake, "/hooks")).json()
    assert [h["uuid"] for h in listed["values"]] == [hook["uuid"]]
    assert session.delete(repo_url(fake, f"/hooks/%7B{hook['uuid'][1:-1]}%7D")).status_code == 204
    assert fake.webhooks(WS, REPO) == []


def test_workspace_webhooks_list_create_update_delete_with_pagination(fake):
    session = api(fake)
    url = f"{fake.base_url}/workspaces/{WS}/hooks"
    made = [session.post(url, json={"url": f"https://bot.example.com/{n}", "events": ["repo:push"], "secret": "s", "description": "x"})
            for n in range(3)]
    assert [m.status_code for m in made] == [201] * 3
    hook = made[0].json()
    assert hook["subject_type"] == "workspace" and hook["subject"]["slug"] == WS and "secret" not in hook
    first = session.get(url, params={"pagelen": 2}).json()
    assert len(first["values"]) == 2 and first["size"] == 3
    second = session.get(first["next"]).json()
    assert len(second["values"]) == 1 and "next" not in second
    changed = session.put(f"{url}/{hook['uuid']}", json={"url": "https://new.example.com/bb", "secret": "t"})
    assert changed.status_code == 200 and changed.json()["url"] == "https://new.example.com/bb"
    assert fake.workspace_webhooks(WS)[0]["secret"] == "t"
    assert session.delete(f"{url}/{hook['uuid']}").status_code == 204
    assert len(fake.workspace_webhooks(WS)) == 2 and fake.webhooks(WS, REPO) == []
    assert session.get(f"{fake.base_url}/workspaces/nope/hooks").status_code == 404


def test_diffstat_of_a_commit_a_range_and_a_pull_request(fake):
    base = fake.branches(WS, REPO)["feature/a"]
    one = fake.add_commit(WS, REPO, "feature/a", files=["src/a.py", "docs/a.md"])
    two = fake.add_commit(WS, REPO, "feature/a", files=["src/b.py", "src/a.py"])
    session = api(fake)

    def paths(response):
        assert response.status_code == 200, response.text
        return [v["new"]["path"] for v in response.json()["values"]]

    assert paths(session.get(repo_url(fake, f"/diffstat/{two}"))) == ["src/b.py", "src/a.py"]
    assert sorted(paths(session.get(repo_url(fake, f"/diffstat/{two}..{base}")))) == ["docs/a.md", "src/a.py", "src/b.py"]
    page = session.get(repo_url(fake, f"/diffstat/{two}..{base}"), params={"pagelen": 2}).json()
    assert len(page["values"]) == 2 and "next" in page
    assert session.get(repo_url(fake, f"/diffstat/{one}..{'0' * 40}")).status_code == 404
    pr = fake.add_pull_request(WS, REPO, title="A", source="feature/a", author="bob")["id"]
    redirect = session.get(repo_url(fake, f"/pullrequests/{pr}/diffstat"), allow_redirects=False)
    assert redirect.status_code == 302 and f"from_pullrequest_id={pr}" in redirect.headers["Location"]
    assert sorted(paths(session.get(repo_url(fake, f"/pullrequests/{pr}/diffstat")))) == ["docs/a.md", "src/a.py", "src/b.py"]


# --------------------------------------------------------------------------------------------- pipelines


def deploy_body(pattern: str, ref: str = "main") -> dict:
    return {"target": {"type": "pipeline_ref_target", "ref_type": "branch", "ref_name": ref,
                       "selector": {"type": "custom", "pattern": pattern}}}


def test_pipelines_need_the_trailing_slash(fake):
    fake.set_pipeline_script(WS, REPO, "deploy-to-test")
    without = api(fake).post(repo_url(fake, "/pipelines"), json=deploy_body("deploy-to-test"))
    assert without.status_code == 404 and "There is no API hosted at this URL" in without.json()["error"]["detail"]
    with_slash = api(fake).post(repo_url(fake, "/pipelines/"), json=deploy_body("deploy-to-test"))
    assert with_slash.status_code == 201
    assert with_slash.json()["state"]["name"] == "PENDING" and with_slash.json()["build_number"] == 1


def test_an_unknown_custom_pipeline_is_refused(fake):
    refused = api(fake).post(repo_url(fake, "/pipelines/"), json=deploy_body("deploy-to-mars"))
    assert refused.status_code == 400
    assert refused.json()["error"]["detail"] == "Requested selector is not found in bitbucket-pipelines.yml."


def test_a_completed_deploy_pipeline_records_a_deployment(fake):
    production = fake.add_environment(WS, REPO, "Production")
    fake.set_pipeline_script(WS, REPO, "deploy-to-production")
    session = api(fake, "bob-token")
    pipeline = session.post(repo_url(fake, "/pipelines/"), json=deploy_body("deploy-to-production")).json()
    url = repo_url(fake, f"/pipelines/%7B{pipeline['uuid'][1:-1]}%7D")

    fake.advance_pipeline(WS, REPO, pipeline["uuid"], "IN_PROGRESS")
    running = session.get(url).json()["state"]
    assert (running["name"], running["stage"]["name"]) == ("IN_PROGRESS", "RUNNING")

    fake.advance_pipeline(WS, REPO, pipeline["uuid"], "COMPLETED", "SUCCESSFUL")
    assert session.get(url).json()["state"]["result"]["name"] == "SUCCESSFUL"

    deployment = session.get(repo_url(fake, "/deployments/")).json()["values"][0]
    assert deployment["environment"]["uuid"] == production["uuid"]
    assert deployment["state"]["status"]["name"] == "SUCCESSFUL"
    assert deployment["release"]["commit"]["hash"] == fake.branches(WS, REPO)["main"]
    assert deployment["state"]["deployer"]["nickname"] == "bob"

    newest_first = session.get(repo_url(fake, "/pipelines/"), params={"sort": "-created_on"}).json()
    assert newest_first["values"][0]["uuid"] == pipeline["uuid"]


def test_stopping_a_pipeline(fake):
    fake.set_pipeline_script(WS, REPO, "deploy-to-test")
    pipeline = api(fake).post(repo_url(fake, "/pipelines/"), json=deploy_body("deploy-to-test")).json()
    stop_url = repo_url(fake, f"/pipelines/{pipeline['uuid']}/stopPipeline")
    assert api(fake).post(stop_url).status_code == 204
    assert fake.pipelines(WS, REPO)[0]["state"]["result"]["name"] == "STOPPED"
    assert api(fake).post(stop_url).status_code == 400


def test_pipelines_advance_by_themselves_in_sandbox_mode(fake, clock):
    fake.auto_advance_pipelines = True
    fake.add_environment(WS, REPO, "Staging")
    fake.set_pipeline_script(WS, REPO, "deploy-to-staging", "FAILED", steps_seconds=3)
    pipeline = api(fake).post(repo_url(fake, "/pipelines/"), json=deploy_body("deploy-to-staging")).json()
    url = repo_url(fake, f"/pipelines/{pipeline['uuid']}")
    clock.advance(seconds=1.5)
    assert api(fake).get(url).json()["state"]["name"] == "IN_PROGRESS"
    clock.advance(seconds=3)
    assert api(fake).get(url).json()["state"]["result"]["name"] == "FAILED"
    assert fake.deployments(WS, REPO)[0]["state"]["status"]["name"] == "FAILED"


def test_environments_list(fake):
    for name in ("Production", "Test", "Staging"):
        fake.add_environment(WS, REPO, name)
    values = api(fake).get(repo_url(fake, "/environments/")).json()["values"]
    assert [env["name"] for env in values] == ["Test", "Staging", "Production"]
    assert values[2]["environment_type"] == {"type": "deployment_environment_type", "name": "Production", "rank": 2}


# --------------------------------------------------------------------------------------------- OAuth


def authorize(fake: FakeBitbucket, client_id: str, state: str) -> str:
    consent = requests.get(
        fake.oauth_authorize_url,
        params={"client_id": client_id, "response_type": "code", "state": state},
        allow_redirects=False,
    )
    assert consent.status_code == 302
    answer = parse_qs(urlsplit(consent.headers["Location"]).query)
    assert answer["state"] == [state]
    return answer["code"][0]


def test_oauth_codes_work_once_and_refresh_tokens_renew(fake):
    fake.add_oauth_consumer("client", "secret", redirect_uri="https://bot.example.com/oauth/callback")
    fake.consent_user = "carol"
    code = authorize(fake, "client", "xyz")

    granted = requests.post(fake.oauth_token_url, data={"grant_type": "authorization_code", "code": code},
                            auth=("client", "secret"))
    assert granted.status_code == 200
    tokens = granted.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] > 0 and tokens["refresh_token"]
    assert api(fake, tokens["access_token"]).get(f"{fake.base_url}/user").json()["nickname"] == "carol"

    reused = requests.post(fake.oauth_token_url, data={"grant_type": "authorization_code", "code": code},
                           auth=("client", "secret"))
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    fake.expire_token(tokens["access_token"])
    expired = api(fake, tokens["access_token"]).get(f"{fake.base_url}/user")
    assert expired.status_code == 401 and "expired" in error_message(expired)

    renewed = requests.post(fake.oauth_token_url,
                            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                            auth=("client", "secret")).json()
    assert renewed["access_token"] != tokens["access_token"]
    assert api(fake, renewed["access_token"]).get(f"{fake.base_url}/user").json()["nickname"] == "carol"


def test_oauth_tokens_expire_with_the_clock_and_bad_clients_are_refused(fake, clock):
    fake.add_oauth_consumer("client", "secret", owner="bob")
    granted = requests.post(fake.oauth_token_url, data={"grant_type": "client_credentials"}, auth=("client", "secret"))
    token = granted.json()["access_token"]
    assert api(fake, token).get(f"{fake.base_url}/user").json()["nickname"] == "bob"  # the consumer's owner
    clock.advance(seconds=granted.json()["expires_in"])
    assert api(fake, token).get(f"{fake.base_url}/user").status_code == 401

    wrong = requests.post(fake.oauth_token_url, data={"grant_type": "client_credentials"}, auth=("client", "nope"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_approvals_through_oauth_tokens_are_per_user(fake):
    fake.add_oauth_consumer("client", "secret", redirect_uri="https://bot.example.com/cb")
    fake.add_pull_request(WS, REPO, title="A", source="feature/a", author="alice")
    for person in ("bob", "carol"):
        fake.consent_user = person
        code = authorize(fake, "client", person)
        token = requests.post(fake.oauth_token_url, data={"grant_type": "authorization_code", "code": code},
                              auth=("client", "secret")).json()["access_token"]
        assert api(fake, token).post(repo_url(fake, "/pullrequests/1/approve")).status_code == 200
    approvers = [p["user"]["nickname"] for p in fake.pull_request(WS, REPO, 1)["participants"] if p["approved"]]
    assert approvers == ["bob", "carol"]


# --------------------------------------------------------------------------------------------- recording and demo


def test_requests_are_recorded(fake):
    api(fake).post(repo_url(fake, "/hooks?x=1"), json={"url": "https://h.example.com", "events": ["repo:push"]})
    [recorded] = fake.requests_to("POST", "/hooks")
    assert recorded.json["events"] == ["repo:push"] and recorded.query == {"x": ["1"]}
    assert recorded.headers["authorization"] == "Bearer alice-token"


def test_demo_workspace():
    with FakeBitbucket() as fake:
        demo_workspace(fake)
        session = api(fake, "sandbox-token")
        repos = session.get(f"{fake.base_url}/repositories/acme").json()["values"]
        assert [repo["slug"] for repo in repos] == ["api", "infra", "web"]
        open_prs = [
            pr
            for slug in ("api", "web", "infra")
            for pr in session.get(f"{fake.base_url}/repositories/acme/{slug}/pullrequests").json()["values"]
        ]
        assert len(open_prs) == 6 and sum(pr["draft"] for pr in open_prs) == 1
        assert any("<!channel> & <b>" in pr["title"] for pr in open_prs)
        assert [tag["name"] for tag in fake.tags("acme", "api")] == ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0"]
        assert len(fake.deployments("acme", "api")) >= 5
