"""The relay's pure middle: which channel gets what, which pull request state a card shows, which builds are told.
And the store side of one delivery (dedupe, state, outbox rows) against a real SQLite file."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from bot import registry, relay
from bot.core import outbox
from bot.core.render import notice
from tests import webhookkit

pytestmark = pytest.mark.both_backends

ALL = ("pullrequests", "pushes", "tags", "builds")
ACTOR = {"display_name": "Ann", "nickname": "ann"}


def sub(channel: str, families=ALL, glob: str = "") -> relay.Subscription:
    return relay.Subscription(channel, "acme/api", tuple(families), glob)


# --- filters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "glob, branch, kept",
    [("", None, True), ("", "anything", True), ("main", "main", True), ("main", "mainline", False),
     ("release/*", "release/1.2", True), ("release/*", "main", False), ("main", None, False)],
)
def test_branch_globs(glob, branch, kept):
    assert relay.branch_matches(glob, branch) is kept


def test_tags_ignore_the_branch_glob_but_need_their_family():
    assert sub("C1", glob="main").wants("tags", "v1.0")
    assert not sub("C1", families=("pushes",)).wants("tags", "v1.0")
    assert not sub("C1", families=("tags",)).wants("pushes", "main")


def test_a_push_is_split_by_family_and_branch_per_channel():
    payload = webhookkit.load_fixture("repo.push__jenkins-events-multipleChangesPayload.json")  # main, manchu (new), tag v0.1
    subs = [sub("CALL"), sub("CMAIN", families=("pushes",), glob="main"), sub("CTAGS", families=("tags",)), sub("CPRS", families=("pullrequests",))]
    posts = {post.channel: post for post in relay.plan_push(payload, "cloudbeers/temp", subs)}
    assert set(posts) == {"CALL", "CMAIN", "CTAGS"}
    assert all(post.message.blocks[-1]["block_id"] == "why" for post in posts.values())  # each ends with why it came
    assert len(posts["CALL"].message.blocks) == 3 + 1
    assert len(posts["CMAIN"].message.blocks) == 1 + 1 and "to <https://bitbucket.org/cloudbeers/temp/branches" not in posts["CMAIN"].message.blocks[0]["text"]["text"]
    assert "pushed 1 commit" in posts["CMAIN"].message.text
    assert "tagged" in posts["CTAGS"].message.text and "pushed" not in posts["CTAGS"].message.text
    assert posts["CALL"].key == "CALL|repo:cloudbeers/temp"


def test_pull_request_events_go_to_channels_by_destination_branch():
    payload = webhookkit.load_fixture("pullrequest.approved__zulip-approved_or_unapproved.json")  # into master
    data = relay.slim_pull_request("pullrequest:approved", payload)
    subs = [sub("C1"), sub("C2", glob="master"), sub("C3", glob="release/*"), sub("C4", families=("pushes",))]
    posts = relay.plan_pull_request("pullrequest:approved", payload, "kolaszek/repository-name", data, subs)
    assert [(p.channel, p.anchor, p.thread_anchor) for p in posts] == [
        ("C1", "pr:kolaszek/repository-name#1", None), ("C1", None, "pr:kolaszek/repository-name#1"),
        ("C2", "pr:kolaszek/repository-name#1", None), ("C2", None, "pr:kolaszek/repository-name#1"),
    ]
    assert posts[0].key == posts[1].key == "C1|pr:kolaszek/repository-name#1"  # card before reply, in order


def test_a_created_pull_request_without_description_is_just_its_card():
    payload = webhookkit.load_fixture("pullrequest.created__jenkins-pullrequest_created.json")
    data = relay.slim_pull_request("pullrequest:created", payload)
    posts = relay.plan_pull_request("pullrequest:created", payload, "amuniz/test-repos", data, [sub("C1")])
    assert [(p.anchor, p.thread_anchor) for p in posts] == [("pr:amuniz/test-repos#735", None)]


# --- pull request state -------------------------------------------------------------------------------


def pr_state(state: str, updated_on: str, **extra) -> dict:
    return {"id": 1, "state": state, "updated_on": updated_on, **extra}


def test_the_newest_pull_request_state_wins_whatever_the_arrival_order():
    opened = pr_state("OPEN", "2026-01-01T10:00:00+00:00")
    approved = pr_state("OPEN", "2026-01-01T10:05:00+00:00", participants=[{"approved": True, "user": ACTOR}])
    merged = pr_state("MERGED", "2026-01-01T10:09:00+00:00")
    for order in ([opened, approved, merged], [merged, approved, opened], [approved, merged, opened], [merged, merged, opened]):
        stored = None
        for incoming in order:
            stored = relay.newer_pull_request(stored, incoming)
        assert stored is merged


def test_on_a_tie_the_further_state_wins():
    opened, merged = pr_state("OPEN", "2026-01-01T10:00:00+00:00"), pr_state("MERGED", "2026-01-01T10:00:00+00:00")
    assert relay.newer_pull_request(merged, opened) is merged
    assert relay.newer_pull_request(opened, merged) is merged


def test_who_merged_comes_from_the_event_when_the_pull_request_does_not_say():
    payload = webhookkit.load_fixture("pullrequest.fulfilled__jenkins-events-fulfilledPayload.json")
    payload["pullrequest"]["closed_by"] = None
    assert relay.slim_pull_request("pullrequest:fulfilled", payload)["closed_by"] == payload["actor"]
    assert relay.slim_pull_request("pullrequest:updated", {"pullrequest": {"id": 1}, "actor": ACTOR}).get("closed_by") is None


# --- builds --------------------------------------------------------------------------------------------


def status(state: str, *, key: str = "k1", refname: str = "feature/x", updated_on: str = "2026-01-01T10:00:00+00:00", name: str = "Pipeline #4 for feature/x") -> dict:
    return {"state": state, "key": key, "refname": refname, "updated_on": updated_on, "name": name}


def previous(state: str, *, key: str = "k0", updated_on: str = "2026-01-01T09:00:00+00:00") -> dict:
    return {"status_key": key, "state": state, "updated_on": updated_on}


def test_failures_are_always_told_successes_only_when_they_matter():
    assert relay.build_note(status("FAILED"), None, "main") == ""
    assert relay.build_note(status("SUCCESSFUL"), None, "main") is None
    assert relay.build_note(status("SUCCESSFUL"), previous("SUCCESSFUL"), "main") is None
    assert relay.build_note(status("SUCCESSFUL"), previous("FAILED"), "main") == "fixed"
    assert relay.build_note(status("SUCCESSFUL", refname="main"), None, "main") == "main branch"
    assert relay.build_note(status("INPROGRESS"), None, "main") is None
    assert relay.build_note(status("STOPPED"), previous("FAILED"), "main") is None


def test_a_repeated_or_late_result_says_nothing():
    assert relay.build_note(status("FAILED", key="k1"), previous("FAILED", key="k1"), "main") is None
    late = status("FAILED", key="k2", updated_on="2026-01-01T08:00:00+00:00")
    assert relay.build_note(late, previous("SUCCESSFUL", key="k3", updated_on="2026-01-01T09:00:00+00:00"), "main") is None


def test_pipeline_runs_of_one_branch_are_one_series():
    assert relay.build_series({"name": "Pipeline #4 for main"}) == relay.build_series({"name": "Pipeline #5 for main"})
    assert relay.build_series({"name": "Unit tests"}) != relay.build_series({"name": "Lint"})


def test_find_our_hook_among_others():
    hooks = [{"url": "https://ci.example.com/hook"}, {"url": "https://Bot.example.com/bitbucket/webhook/", "uuid": "{1}"}]
    assert relay.find_our_hook(hooks, "https://bot.example.com/bitbucket/webhook")["uuid"] == "{1}"
    assert relay.find_our_hook(hooks[:1], "https://bot.example.com/bitbucket/webhook") is None


# --- one delivery in the store -----------------------------------------------------------------------




@dataclass(frozen=True)
class Delivered:
    duplicate: bool
    queued: int


def deliver(store, event_key: str, payload: dict, request_uuid: str, *, hooks=None) -> Delivered:
    """Intake (the append behind the webhook's 200), then the router's pass (with the registry's relay hooks)."""
    body = json.dumps(payload).encode()
    with store.transaction(lock=None) as db:
        stored = relay.store_delivery(db, relay.Delivery(event_key, body, request_uuid), now=1000.0)
    routed = relay.route_pending(store, now=1000.0, hooks=registry.relay_hooks() if hooks is None else hooks)
    return Delivered(duplicate=not stored, queued=sum(r.queued for r in routed))


def outbox_rows(store) -> list[dict]:
    return store.query("SELECT channel, key, anchor, thread_anchor, message FROM outbox ORDER BY id")


def test_a_delivery_is_stored_once_and_queued_once(store):
    relay.subscribe(store, channel_id="C1", repo="kolaszek/repository-name", families=ALL, branch_glob="", user_id="U1", now=1.0)
    payload = webhookkit.load_fixture("pullrequest.approved__zulip-approved_or_unapproved.json")
    first = deliver(store, "pullrequest:approved", payload, "uuid-1")
    again = deliver(store, "pullrequest:approved", payload, "uuid-1")
    replayed = deliver(store, "pullrequest:approved", payload, "uuid-2")  # by content: a new UUID is no new event
    rekeyed = deliver(store, "pullrequest:unapproved", payload, "uuid-3")  # nor is another key the body fits
    assert (first.duplicate, first.queued) == (False, 2)
    assert (again.duplicate, again.queued) == (True, 0)
    assert (replayed.duplicate, replayed.queued) == (True, 0)
    assert (rekeyed.duplicate, rekeyed.queued) == (True, 0)
    assert len(outbox_rows(store)) == 2
    assert len(store.query("SELECT id FROM deliveries")) == 1
    assert store.query("SELECT state FROM deliveries")[0]["state"] == "relayed"


def test_a_late_event_updates_the_card_to_the_newest_state_not_its_own(store):
    relay.subscribe(store, channel_id="C1", repo="brydzewski/foo", families=ALL, branch_glob="", user_id="U1", now=1.0)
    merged = webhookkit.load_fixture("pullrequest.fulfilled__goscm-pr_fulfilled.json")
    updated = webhookkit.load_fixture("pullrequest.updated__goscm-pr_updated.json")  # same PR, earlier
    deliver(store, "pullrequest:fulfilled", merged, "u-merged")
    deliver(store, "pullrequest:updated", updated, "u-updated")
    cards = [json.loads(r["message"])["text"] for r in outbox_rows(store) if r["anchor"]]
    assert len(cards) == 2 and all("merged" in text for text in cards)


def test_unknown_and_issue_events_are_stored_and_ignored(store):
    relay.subscribe(store, channel_id="C1", repo="kolaszek/repository-name", families=ALL, branch_glob="", user_id="U1", now=1.0)
    outcome = deliver(store, "issue:created", webhookkit.load_fixture("issue.created__zulip-issue_created.json"), "u-issue")
    assert (outcome.duplicate, outcome.queued) == (False, 0)
    assert store.query("SELECT state FROM deliveries")[0]["state"] == "ignored"
    assert outbox_rows(store) == []


def test_a_payload_that_cannot_be_relayed_is_kept_with_the_reason(store):
    relay.subscribe(store, channel_id="C1", repo="acme/api", families=ALL, branch_glob="", user_id="U1", now=1.0)
    odd = {"repository": {"full_name": "acme-api"}, "push": {"changes": []}}  # a name that is not workspace/slug
    outcome = deliver(store, "repo:push", odd, "u-odd")
    assert outcome.queued == 0
    row = store.query("SELECT state, outcome, body FROM deliveries")[0]
    assert row["state"] == "failed" and row["outcome"] and json.loads(bytes(row["body"])) == odd


def test_builds_tell_a_fix_once(store):
    relay.subscribe(store, channel_id="C1", repo="acme/api", families=("builds",), branch_glob="", user_id="U1", now=1.0)
    def build(state, key, minute):
        return webhookkit.commit_status_payload("acme", "api", actor=ACTOR, name=f"Pipeline #{key} for feature/x", state=state,
                                                refname="feature/x", key=key, updated_on=f"2026-01-01T10:{minute:02d}:00+00:00")
    told = [deliver(store, "repo:commit_status_updated", build(state, key, minute), f"u{n}").queued
            for n, (state, key, minute) in enumerate([("SUCCESSFUL", "1", 0), ("FAILED", "2", 5), ("FAILED", "2", 5), ("SUCCESSFUL", "3", 9), ("SUCCESSFUL", "4", 12)])]
    assert told == [0, 1, 0, 1, 0]
    assert "(fixed)" in json.loads(outbox_rows(store)[-1]["message"])["text"]


def test_broken_subscriptions_get_nothing(store):
    relay.subscribe(store, channel_id="C1", repo="acme/api", families=ALL, branch_glob="", user_id="U1", now=1.0)
    store.execute("UPDATE subscriptions SET broken_reason = 'is_archived'")
    payload = webhookkit.push_payload("acme", "api", actor=ACTOR, branch="main", commits=[("b" * 40, "Fix")])
    assert deliver(store, "repo:push", payload, "u1").queued == 0
    relay.subscribe(store, channel_id="C1", repo="acme/api", families=ALL, branch_glob="", user_id="U1", now=2.0)  # mends it
    later = webhookkit.push_payload("acme", "api", actor=ACTOR, branch="main", commits=[("c" * 40, "Fix again")])
    assert deliver(store, "repo:push", later, "u2").queued == 1


# --- relay hooks ---------------------------------------------------------------------------------------


def test_a_relay_hook_is_handed_what_the_router_worked_out_and_may_queue_its_own(store):
    relay.subscribe(store, channel_id="C1", repo="brydzewski/foo", families=ALL, branch_glob="", user_id="U1", now=1.0)
    seen = []

    def hook(event):
        seen.append(event)
        outbox.enqueue(event.db, channel="U9", message=notice(f"{event.event_key} seen"), key="hook")
        event.queued += 1

    merged = webhookkit.load_fixture("pullrequest.fulfilled__goscm-pr_fulfilled.json")
    updated = webhookkit.load_fixture("pullrequest.updated__goscm-pr_updated.json")  # the same pull request, earlier
    first = deliver(store, "pullrequest:fulfilled", merged, "u-merged", hooks=(hook,))
    second = deliver(store, "pullrequest:updated", updated, "u-updated", hooks=(hook,))
    assert [e.event_key for e in seen] == ["pullrequest:fulfilled", "pullrequest:updated"]
    assert all(e.repo == "brydzewski/foo" and [s.channel_id for s in e.subscriptions] == ["C1"] for e in seen)
    assert seen[0].pull_request_before is None and seen[0].pull_request["state"] == "MERGED"
    # The second event is older: the hook is told the stored state, which stays the one shown.
    assert seen[1].pull_request_before == seen[0].pull_request and seen[1].pull_request["state"] == "MERGED"
    card = relay.pull_request_anchor("brydzewski/foo", seen[0].pull_request["id"])
    assert [p.anchor for p in seen[1].posts if p.anchor] == [card]  # the card, redrawn from the stored state
    assert (first.queued, second.queued) == (len(seen[0].posts) + 1, len(seen[1].posts) + 1)
    assert [row["channel"] for row in outbox_rows(store)].count("U9") == 2


def test_a_hook_that_fails_fails_its_delivery_and_nothing_of_it_is_kept(store):
    relay.subscribe(store, channel_id="C1", repo="kolaszek/repository-name", families=ALL, branch_glob="", user_id="U1", now=1.0)

    def hook(event):
        outbox.enqueue(event.db, channel="U9", message=notice("half done"), key="hook")
        raise RuntimeError("the hook broke")

    payload = webhookkit.load_fixture("pullrequest.approved__zulip-approved_or_unapproved.json")
    assert deliver(store, "pullrequest:approved", payload, "uuid-1", hooks=(hook,)).queued == 0
    row = store.query_one("SELECT state, outcome FROM deliveries")
    assert row["state"] == "failed" and "the hook broke" in row["outcome"]
    assert outbox_rows(store) == [] and store.query("SELECT * FROM relay_pull_requests") == []


def test_without_the_builds_hook_a_failed_pipeline_is_told_without_its_rerun(store):
    relay.subscribe(store, channel_id="C1", repo="acme/api", families=("builds",), branch_glob="", user_id="U1", now=1.0)
    failed = webhookkit.commit_status_payload("acme", "api", actor=ACTOR, name="Pipeline #7 for main", state="FAILED",
                                              refname="main", key="7", updated_on="2026-01-01T10:00:00+00:00")
    deliver(store, "repo:commit_status_updated", failed, "u1", hooks=())
    (plain,) = outbox_rows(store)
    assert not plain["anchor"] and "bb_rerun" not in plain["message"]
    assert store.query("SELECT * FROM build_log_jobs") == []
    relay.subscribe(store, channel_id="C2", repo="acme/api", families=("builds",), branch_glob="", user_id="U1", now=1.0)
    again = {**failed, "commit_status": {**failed["commit_status"], "updated_on": "2026-01-01T11:00:00+00:00", "key": "8"}}
    deliver(store, "repo:commit_status_updated", again, "u2")  # the registry's hooks: the builds hook adds its part
    assert all(row["anchor"].startswith("build:acme/api#7") for row in outbox_rows(store)[1:])
    assert len(store.query("SELECT * FROM build_log_jobs")) == 1
