"""A subscription's filters, pure: the glob matcher, the grammar and its refusals, each filter's decision on real
payloads from the fixtures, the files, the builds, and the context line that says why a channel got a message."""

from __future__ import annotations

import copy

import pytest

from bot import relay
from bot.core.errors import UsageError
from bot.core.globs import MAX_GLOB, glob_match, glob_problem
from bot.relay import filters as f
from bot.relay.grammar import _parse_subscribe
from bot.relay.routing import build_told, builds_reaction, plan_build, plan_pull_request, plan_reactions
from tests import webhookkit

ALL = ("pullrequests", "pushes", "tags", "builds")
BOTS = ("renovate", "renovate-bot", "dependabot", "snyk-bot")


def sub(channel: str, text: str = "", families=ALL, repo: str = "brydzewski/foo") -> relay.Subscription:
    return relay.Subscription(channel, repo, tuple(families), filters=f.parse_filters(text.split()))


def created(**changes) -> tuple[dict, dict]:
    """goscm's real `pullrequest:created` (brydzewski/foo #1 into master, "Awesome new feature"), changed."""
    payload = webhookkit.load_fixture("pullrequest.created__goscm-pr_created.json")
    payload["pullrequest"].update(copy.deepcopy(changes))
    return payload, relay.slim_pull_request("pullrequest:created", payload)


def renovate() -> tuple[dict, dict]:
    payload, _ = created(title="Update dependency requests to v2.32.3")
    payload["pullrequest"]["author"] = {**payload["pullrequest"]["author"], "nickname": "renovate-bot", "display_name": "Renovate Bot"}
    return payload, relay.slim_pull_request("pullrequest:created", payload)


def channels(posts) -> list[str]:
    return sorted({post.channel for post in posts})


# --- globs: one function ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("glob, path, matched", [
    ("src/**", "src/a.py", True), ("src/**", "src/a/b/c.py", True), ("src/**", "srcx/a.py", False),
    ("**/*.py", "a.py", True), ("**/*.py", "a/b/c.py", True), ("**/*.py", "a/b/c.pyc", False),
    ("*.py", "a.py", True), ("*.py", "a/b.py", False), ("docs/*", "docs/x.md", True), ("docs/*", "docs/a/x.md", False),
    ("docs/", "docs/a/x.md", True), ("a/**/b", "a/b", True), ("a/**/b", "a/x/y/b", True), ("a/**/b", "a/x/y/bc", False),
    ("file?.txt", "file1.txt", True), ("file?.txt", "file/.txt", False), ("[ab].txt", "a.txt", True), ("[!ab].txt", "a.txt", False),
    ("main", "main", True), ("main", "mainline", False), ("release/*", "release/1.2", True), ("release/*", "release/1/2", False),
    ("src/(a)+.py", "src/(a)+.py", True), ("src/(a)+.py", "src/aa.py", False), ("Src/**", "src/a", False),
])
def test_globs(glob, path, matched):
    assert glob_match(glob, path) is matched


def test_a_glob_too_long_or_empty_is_a_problem():
    assert glob_problem("a" * MAX_GLOB) == ""
    assert "at most 200" in glob_problem("a" * (MAX_GLOB + 1))
    assert glob_problem("") and glob_problem("a\tb")


# --- the grammar and its refusals ------------------------------------------------------------------------------


def test_every_filter_parses_and_says_itself_in_words():
    command = _parse_subscribe("acme/api pullrequests builds branch:main author:ann author:bob -author:carl -author:bots -drafts "
                               "-title:WIP -title:[skip-slack] path:src/** -path:docs/** target:release/* builds:failures thread-only".split())
    filters = command.args["filters"]
    assert filters == f.Filters(("ann", "bob"), ("carl",), True, True, ("WIP", "[skip-slack]"), ("src/**",), ("docs/**",),
                                ("release/*",), "failures", True)
    assert f.Filters.from_json(filters.to_json()) == filters and f.NO_FILTERS.to_json() == ""
    assert f.describe(filters) == [
        "pull requests into `release/*`", "by `ann` or `bob`", "not by `carl`", "not from bots", "no drafts",
        "titles without `WIP` or `[skip-slack]`", "changing `src/**`", "not only `docs/**`", "builds failures and fixes only", "thread only"]
    assert command.args["branch_glob"] == "main" and command.args["families"] == ("pullrequests", "builds")


@pytest.mark.parametrize("text, why", [
    ("acme/api -author:", "needs a Bitbucket nickname"),
    ("acme/api color:red", "is not a filter"),
    ("acme/api -everything", "is not a filter"),
    ("acme/api builds:some", "builds are"),
    ("acme/api builds:all builds:failures", "contradict each other"),
    ("acme/api author:ann -author:ann", "contradict each other"),
    ("acme/api path:src/** -path:src/**", "contradict each other"),
    ("acme/api pushes -drafts", "leaves them out"),
    ("acme/api pullrequests builds:failures", "leaves them out"),
    ("acme/api builds builds:reactions", "leaves pull requests out"),
    ("acme/api tags path:src/**", "neither"),
    ("acme/api path:" + "a" * 201, "at most 200 characters"),
    ("acme/api branch:" + "a" * 201, "at most 200 characters"),
    ("acme/api " + " ".join(f"path:p{n}/**" for n in range(21)), "at most 20 filters"),
])
def test_unknown_or_contradictory_filters_are_refused_with_the_grammar(text, why):
    with pytest.raises(UsageError) as refused:
        _parse_subscribe(text.split())
    assert why in str(refused.value)
    if "filter" in str(refused.value) or "Filters" in str(refused.value):
        assert "[builds:failures|all|reactions] [thread-only]" in str(refused.value) and "Nothing was changed" in str(refused.value)


def test_a_bare_subscribe_is_the_list_of_subscriptions():
    assert _parse_subscribe([]).name == "subscriptions"


def test_a_workspace_is_subscribed_as_workspace_star():
    command = _parse_subscribe(["acme/*", "pullrequests"])
    assert command.args["workspace"] == "acme" and command.repo is None


# --- each filter on real payloads ------------------------------------------------------------------------------


def test_minus_author_bots_leaves_out_renovate_and_app_users_but_not_people():
    payload, data = renovate()
    subs = [sub("CBOTS", "-author:bots"), sub("CALL")]
    assert channels(plan_pull_request("pullrequest:created", payload, "brydzewski/foo", data, subs, bot_authors=BOTS)) == ["CALL"]
    app = copy.deepcopy(data)
    app["author"] = {"type": "app_user", "nickname": "ci-bot", "display_name": "CI"}
    assert channels(plan_pull_request("pullrequest:created", payload, "brydzewski/foo", app, subs, bot_authors=BOTS)) == ["CALL"]
    human_payload, human = created()
    posts = plan_pull_request("pullrequest:created", human_payload, "brydzewski/foo", human, subs, bot_authors=BOTS)
    assert channels(posts) == ["CALL", "CBOTS"]
    card = next(p for p in posts if p.channel == "CBOTS" and p.anchor)
    assert card.message.blocks[-1]["elements"][0]["text"] == "brydzewski/foo · pull requests into master · not from bots"


def test_author_and_minus_author_by_nickname_or_account_id():
    payload, data = created()
    author = data["author"]
    subs = [sub("CBY", f"author:{author['username']}"), sub("CID", f"author:{author['account_id']}"), sub("CNOT", f"-author:{author['username']}"),
            sub("COTHER", "author:someone-else")]
    assert channels(plan_pull_request("pullrequest:created", payload, "brydzewski/foo", data, subs)) == ["CBY", "CID"]


def test_a_draft_stays_out_until_it_is_published():
    payload = webhookkit.load_fixture("pullrequest.updated__jenkins-pullrequest_updated.json")  # a real draft field
    draft = copy.deepcopy(payload)
    draft["pullrequest"]["draft"] = True
    subs = [sub("CNODRAFTS", "-drafts", repo="nfalco79/test-repos"), sub("CALL", repo="nfalco79/test-repos")]
    data = relay.slim_pull_request("pullrequest:updated", draft)
    assert channels(plan_pull_request("pullrequest:updated", draft, "nfalco79/test-repos", data, subs)) == ["CALL"]
    published = relay.slim_pull_request("pullrequest:updated", payload)
    posts = plan_pull_request("pullrequest:updated", payload, "nfalco79/test-repos", published, subs)
    assert channels(posts) == ["CALL", "CNODRAFTS"]
    assert any(p.channel == "CNODRAFTS" and p.anchor == "pr:nfalco79/test-repos#1" for p in posts)  # the card, then


@pytest.mark.parametrize("title, left_out", [
    ("WIP: login", True), ("[WIP] login", True), ("wip login", True), ("Draft: login", True), ("Wipe the cache", False),
    ("[skip-slack] bump", True), ("Bump [skip-slack]", True), ("Awesome new feature", False),
])
def test_minus_title_words_and_prefixes(title, left_out):
    payload, data = created(title=title)
    posts = plan_pull_request("pullrequest:created", payload, "brydzewski/foo", data, [sub("C", "-title:WIP -title:[skip-slack]")])
    assert (posts == []) is left_out


def test_target_keeps_pull_requests_by_destination_and_branch_keeps_its_meaning():
    payload, data = created()  # into master
    subs = [sub("CMASTER", "target:master"), sub("CREL", "target:release/*"), relay.Subscription("CBRANCH", "brydzewski/foo", ALL, "master")]
    posts = plan_pull_request("pullrequest:created", payload, "brydzewski/foo", data, subs)
    assert channels(posts) == ["CBRANCH", "CMASTER"]


def test_path_filters_on_the_files_and_unknown_files_let_it_through_marked():
    payload, data = created()
    subs = [sub("CSRC", "path:src/**"), sub("CNODOCS", "-path:docs/**"), sub("CALL")]

    def told(files):
        return channels(plan_pull_request("pullrequest:created", payload, "brydzewski/foo", data, subs, files=files))

    assert told(f.ChangedFiles(("src/app.py", "docs/a.md"))) == ["CALL", "CNODOCS", "CSRC"]
    assert told(f.ChangedFiles(("docs/a.md", "docs/b.md"))) == ["CALL"]
    assert told(f.ChangedFiles(("README.md",))) == ["CALL", "CNODOCS"]
    posts = plan_pull_request("pullrequest:created", payload, "brydzewski/foo", data, subs, files=f.UNKNOWN_FILES)
    assert channels(posts) == ["CALL", "CNODOCS", "CSRC"]
    assert "files unknown" in next(p for p in posts if p.channel == "CSRC").message.blocks[-1]["elements"][0]["text"]
    assert f.files_pass(f.parse_filters(["path:src/**"]), f.ChangedFiles(("README.md",), complete=False)) == (True, True)
    assert f.files_pass(f.parse_filters(["path:src/**"]), f.ChangedFiles(("README.md",))) == (False, False)


def test_builds_failures_tells_failures_and_fixes_all_tells_the_main_branch_too_reactions_never_a_message():
    failures, everything, reactions = sub("CF", "builds:failures"), sub("CA"), sub("CR", "builds:reactions")
    told = {note: [s.channel_id for s in (failures, everything, reactions) if build_told(s, note, "main")] for note in ("", "fixed", "main branch", None)}
    assert told == {"": ["CF", "CA"], "fixed": ["CF", "CA"], "main branch": ["CA"], None: []}
    # red, red (the same failure again: nothing new), green: two messages.
    red = {"key": "k", "state": "FAILED", "updated_on": "2026-01-01T00:00:01+00:00", "refname": "feature/x"}
    stored = {"status_key": "k", "state": "FAILED", "updated_on": red["updated_on"]}
    notes = [relay.build_note(red, None, "main"), relay.build_note({**red, "updated_on": "2026-01-01T00:00:02+00:00"}, stored, "main"),
             relay.build_note({**red, "state": "SUCCESSFUL", "updated_on": "2026-01-01T00:00:03+00:00"}, stored, "main")]
    payload = webhookkit.load_fixture("repo.commit_status_created__goscm-pipeline_hook_created.json")
    messages = [plan_build(payload, "automationtestharness/testrepo", note, [failures]) for note in notes if note is not None]
    assert notes == ["", None, "fixed"] and len(messages) == 2


def test_builds_reactions_follow_the_state_of_the_cards_builds():
    pr = {"id": 3, "title": "x", "author": {"nickname": "ann"}, "destination": {"branch": {"name": "main"}}, "builds": {"statuses": {}}}
    assert builds_reaction(pr) == ""
    pr["builds"]["statuses"] = {"a": {"state": "INPROGRESS"}, "b": {"state": "SUCCESSFUL"}}
    assert builds_reaction(pr) == "hourglass_flowing_sand"
    pr["builds"]["statuses"]["a"]["state"] = "FAILED"
    assert builds_reaction(pr) == "x"
    pr["builds"]["statuses"]["a"]["state"] = "SUCCESSFUL"
    posts = plan_reactions("acme/api", pr, [sub("CR", "builds:reactions", repo="acme/api"), sub("CA", repo="acme/api")])
    assert [(p.channel, p.reaction, p.thread_anchor) for p in posts] == [("CR", "white_check_mark", "pr:acme/api#3")]


def test_thread_only_puts_a_builds_message_into_its_pull_requests_thread():
    payload = webhookkit.commit_status_payload("acme", "api", actor={"nickname": "ann"}, name="Pipeline #1", state="FAILED", refname="feature/x")
    open_prs = [{"id": 7, "source": {"branch": {"name": "feature/x"}}}]
    posts = plan_build(payload, "acme/api", "", [sub("CT", "thread-only", repo="acme/api"), sub("CA", repo="acme/api")], open_prs)
    assert [(p.channel, p.thread_anchor) for p in posts] == [("CT", "pr:acme/api#7"), ("CA", None)]
    assert posts[0].message.blocks[-1]["elements"][0]["text"].endswith("thread only")
