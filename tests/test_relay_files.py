"""The files a change touches, read off the router's path: a delivery whose path filters need them is set aside
(stored as waiting, so a crash loses nothing), the other deliveries go on, the files reader asks Bitbucket once and
hands it back, and a second event of the same pull request waits behind the first, in order."""

from __future__ import annotations

import json

import pytest

from bot import registry, relay
from bot.bitbucket import BearerToken, BitbucketClient
from bot.relay.files import FilesReader, paths_of
from tests import webhookkit
from tests.harness import BITBUCKET_TOKEN

pytestmark = pytest.mark.both_backends

ALL = ("pullrequests", "pushes", "tags", "builds")


@pytest.fixture
def repo(bitbucket):
    bitbucket.add_user("ann", "Ann Author")
    bitbucket.add_user("rob", "Rob Reviewer")
    bitbucket.add_repository("acme", "api", branches=("main",))
    bitbucket.add_repository("acme", "web", branches=("main",))
    bitbucket.add_branch("acme", "api", "feature/login", author="ann")
    bitbucket.add_commit("acme", "api", "feature/login", files=["src/login.py"])
    bitbucket.add_pull_request("acme", "api", title="Add login", source="feature/login", author="ann")
    return bitbucket


def append(store, event_key: str, payload: dict, request_uuid: str) -> None:
    with store.transaction(lock=None) as db:
        assert relay.store_delivery(db, relay.Delivery(event_key, json.dumps(payload).encode(), request_uuid), now=1000.0)


def states(store) -> list[tuple[str, str]]:
    return [(row["request_uuid"], row["state"]) for row in store.query("SELECT request_uuid, state FROM deliveries ORDER BY id")]


def posted_channels(store) -> list[str]:
    return [row["channel"] for row in store.query("SELECT channel FROM outbox ORDER BY id")]


def test_a_delivery_waits_for_its_files_without_holding_up_the_others_and_survives_a_restart(store, repo, database):
    relay.subscribe(store, channel_id="CSRC", repo="acme/api", families=ALL, branch_glob="", user_id="U1", now=1.0,
                    filters=relay.Filters(paths=("src/**",)))
    relay.subscribe(store, channel_id="CWEB", repo="acme/web", families=ALL, branch_glob="", user_id="U1", now=1.0)
    append(store, "pullrequest:created", webhookkit.pull_request_payload(repo, "acme", "api", 1, actor="ann"), "created")
    append(store, "pullrequest:approved", webhookkit.pull_request_payload(repo, "acme", "api", 1, actor="rob",
                                                                          approval={"user": repo.user("rob")}), "approved")
    append(store, "repo:push", webhookkit.push_payload("acme", "web", actor=repo.user("ann"), branch="main", commits=[("c" * 40, "Web")]), "web")
    hooks = registry.relay_hooks()
    routed = relay.route_pending(store, now=1000.0, hooks=hooks)
    assert [r.state for r in routed] == ["waiting", "waiting", "relayed"]  # the approval waits behind the creation
    assert posted_channels(store) == ["CWEB"]
    assert relay.waiting_deliveries(store) == 2
    assert repo.requests_to("GET", "/diffstat") == []  # the router asked Bitbucket nothing

    # A restart: a new store on the same database, a new reader. What waited is still there.
    store.close()
    again = registry.open_migrated(database)
    try:
        reader = FilesReader(again, BitbucketClient(repo.base_url, BearerToken(BITBUCKET_TOKEN)))
        assert reader.one_pass() is True and reader.one_pass() is False
        assert states(again)[:2] == [("created", "pending"), ("approved", "pending")]
        assert [r.state for r in relay.route_pending(again, now=1001.0, hooks=hooks)] == ["relayed", "relayed"]
        rows = again.query("SELECT channel, anchor, thread_anchor FROM outbox WHERE channel = 'CSRC' ORDER BY id")
        assert [(r["anchor"], r["thread_anchor"]) for r in rows][:1] == [("pr:acme/api#1", "")]
        assert len(rows) == 3  # the card; the approval's card update and its reply in the thread
        assert len(repo.requests_to("GET", "/pullrequests/1/diffstat")) == 1
    finally:
        again.close()


def test_paths_of_a_diffstat_count_both_sides_of_a_rename():
    entries = [{"status": "renamed", "old": {"path": "a/old.py"}, "new": {"path": "b/new.py"}},
               {"status": "removed", "old": {"path": "gone.txt"}, "new": None},
               {"status": "added", "old": None, "new": {"path": "b/new.py"}}]
    assert paths_of(entries) == ["b/new.py", "a/old.py", "gone.txt"]
