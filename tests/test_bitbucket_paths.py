"""The Bitbucket client's URL building: every value it puts in a path is one percent-encoded segment, and a
workspace, slug, ref or id that would name something else (``..``, ``.``, empty, a ``/`` in a slug) is refused
before anything is sent."""

from __future__ import annotations

import pytest

from bot.bitbucket import BearerToken, BitbucketClient, BitbucketError, ResolvedRef
from bot.bitbucket.errors import InvalidPathSegment
from bot.bitbucket.paths import BRANCH, COMMIT, PIPELINE_STEP_LOG, REPOSITORY, expand_path
from tests.harness import BITBUCKET_TOKEN
from tests.stubhttp import Reply, StubServer

SECRET = "s3cr3t-token-value"
NON_ASCII_REF = "v1.0-ß🚀"


@pytest.fixture
def stub():
    server = StubServer().start()
    yield server
    server.stop()


@pytest.fixture
def client(stub):
    return BitbucketClient(stub.url + "/2.0", BearerToken(SECRET), max_retries=0, sleep=lambda _: None)


# A repository as a person may type it, split the way `handlers.common.split_repo` splits it.
CRAFTED_REPOSITORIES = [
    ("..", "acme/api"),  # "../acme/api": reached Bitbucket as POST /2.0/acme%2Fapi/hooks
    ("acme", ".."),
    ("acme", "."),
    (".", "api"),
    ("", "api"),
    ("acme", ""),
    ("acme", "api/../../../user"),
    ("acme/x", "api"),
]


@pytest.mark.parametrize(("ws", "slug"), CRAFTED_REPOSITORIES)
def test_a_crafted_workspace_or_slug_is_refused_before_anything_is_sent(stub, client, ws, slug):
    calls = [
        lambda: client.create_webhook(ws, slug, url="https://bot.example/hook", events=["repo:push"], secret="s",
                                      description="chatops"),
        lambda: client.get_repository(ws, slug),
        lambda: client.trigger_pipeline(ws, slug, {"target": {}}),
        lambda: client.merge_pull_request(ws, slug, 1),
        lambda: client.resolve_ref(ws, slug, "main"),
    ]
    for call in calls:
        with pytest.raises(InvalidPathSegment) as caught:
            call()
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, BitbucketError)
        assert caught.value.status is None
    assert stub.requests == []


def test_the_refusal_says_what_was_wrong_in_words_for_a_person(client):
    with pytest.raises(InvalidPathSegment) as caught:
        client.get_repository("..", "acme/api")
    assert str(caught.value) == 'Not a valid workspace: ".." (a name of its own is needed, not "", "." or "..")'
    with pytest.raises(InvalidPathSegment) as caught:
        client.get_repository("acme", "api/web")
    assert str(caught.value) == 'Not a valid repository slug: "api/web" (it has no "/")'


def test_an_encoded_slash_in_a_slug_stays_inside_its_segment(stub, client):
    stub.reply("GET", "/2.0/repositories/acme/acme%252Fapi", Reply(404, {"type": "error", "error": {"message": "No"}}))
    with pytest.raises(BitbucketError):
        client.get_repository("acme", "acme%2Fapi")
    assert [request.path for request in stub.requests] == ["/2.0/repositories/acme/acme%252Fapi"]


@pytest.mark.parametrize("ref", ["..", ".", "", "../../../../user", "feature/../../hooks", "feature//x", "/main", "main/",
                                 "a/./b"])
def test_ref_names_that_would_walk_out_of_their_place_are_refused(stub, client, ref):
    for call in (client.get_branch, client.get_tag):
        with pytest.raises(InvalidPathSegment):
            call("acme", "api", ref)
    assert stub.requests == []


@pytest.mark.parametrize("value", ["..", ".", ""])
def test_ids_and_commits_that_are_dot_segments_are_refused(stub, client, value):
    calls = [
        lambda: client.get_commit("acme", "api", value),
        lambda: client.list_commit_statuses("acme", "api", value),
        lambda: client.get_pipeline("acme", "api", value),
        lambda: client.stop_pipeline("acme", "api", value),
        lambda: client.list_pipeline_steps("acme", "api", value),
        lambda: client.get_step_log_tail("acme", "api", "{p}", value),
        lambda: client.update_webhook("acme", "api", value, active=False),
        lambda: client.delete_webhook("acme", "api", value),
        lambda: client.list_user_pull_requests("acme", value),
        lambda: client.get_workspace(value),
    ]
    for call in calls:
        with pytest.raises(InvalidPathSegment):
            call()
    assert stub.requests == []


def test_every_other_character_is_encoded_within_its_segment():
    assert expand_path(REPOSITORY, workspace="{3deb8c29}", repo_slug="a b?c#d") == "/repositories/%7B3deb8c29%7D/a%20b%3Fc%23d"
    assert expand_path(COMMIT, workspace="acme", repo_slug="api", commit="a/b") == "/repositories/acme/api/commit/a%2Fb"
    assert (expand_path(PIPELINE_STEP_LOG, workspace="acme", repo_slug="api", pipeline_uuid="{p}", step_uuid="{s}")
            == "/repositories/acme/api/pipelines/%7Bp%7D/steps/%7Bs%7D/log")
    # Branch names keep "/" between their parts, as Bitbucket's own links spell them; the parts are encoded.
    assert (expand_path(BRANCH, workspace="acme", repo_slug="api", name="feature/x?y%2F")
            == "/repositories/acme/api/refs/branches/feature/x%3Fy%252F")
    assert expand_path(BRANCH, workspace="acme", repo_slug="api", name=NON_ASCII_REF) == (
        "/repositories/acme/api/refs/branches/v1.0-%C3%9F%F0%9F%9A%80")


def test_a_non_ascii_ref_name_is_sent_encoded(stub, client):
    tag = {"name": NON_ASCII_REF, "target": {"hash": "046d9a3c1532acf4cf08fe93235c00e4d673c1d2"}}
    stub.reply("GET", "/2.0/repositories/acme/api/refs/branches/v1.0-%C3%9F%F0%9F%9A%80", Reply(404))
    stub.reply("GET", "/2.0/repositories/acme/api/refs/tags/v1.0-%C3%9F%F0%9F%9A%80", Reply(200, tag))
    assert client.resolve_ref("acme", "api", NON_ASCII_REF) == ResolvedRef("tag", NON_ASCII_REF, tag["target"]["hash"])


def test_non_ascii_and_slashed_refs_resolve_against_the_simulated_bitbucket(bitbucket):
    bitbucket.add_repository("acme", "api", branches=("main", "feature/login", NON_ASCII_REF))
    bitbucket.add_tag("acme", "api", f"release/{NON_ASCII_REF}")
    client = BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN), max_retries=0)
    branches = bitbucket.branches("acme", "api")

    assert client.resolve_ref("acme", "api", NON_ASCII_REF) == ResolvedRef("branch", NON_ASCII_REF, branches[NON_ASCII_REF])
    assert client.resolve_ref("acme", "api", "feature/login") == ResolvedRef("branch", "feature/login", branches["feature/login"])
    tag = client.resolve_ref("acme", "api", f"release/{NON_ASCII_REF}")
    assert (tag.kind, tag.name, tag.hash) == ("tag", f"release/{NON_ASCII_REF}", branches["main"])
    with pytest.raises(InvalidPathSegment):
        client.resolve_ref("acme", "api", "../api")
