"""Branches from Slack (issue 27), end to end against the simulated Bitbucket: `/bb branches` (newest commit first,
with the last build), `/bb branch` creates (role, audit), `--delete` asks, refuses what must stay, and acts once."""

import json
from datetime import timedelta

import pytest

from bot.branches.render import CONFIRM_DELETE_BRANCH
from bot.core import ids
from tests.harness import ADMIN, button, text_of

RELEASER = "URELEASE"


@pytest.fixture
def repo(bitbucket):
    bitbucket.add_repository("acme", "api", branches=("main", "feature/login", "release/1.0", "release/2.0", "old/experiment"))
    alice = bitbucket.add_user("alice", "Alice")
    bitbucket.add_user("bob", "Bob")
    now = bitbucket.clock()
    bitbucket.add_commit("acme", "api", "old/experiment", message="Long ago", author="bob", date=now - timedelta(days=90))
    bitbucket.add_commit("acme", "api", "release/2.0", message="Prepare 2.0", author="alice", date=now - timedelta(hours=1))
    bitbucket.add_commit("acme", "api", "feature/login", message="Log in with SSO", author="alice", date=now - timedelta(days=2))
    bitbucket.add_pull_request("acme", "api", title="Add login", source="feature/login", author=alice, reviewers=["bob"])
    bitbucket.add_pipeline("acme", "api", ref_name="release/2.0", result="FAILED", build_number=7)
    bitbucket.add_branch_restriction("acme", "api", "delete", "release/*")
    return bitbucket


def grant_releaser(bot):
    bot.answers(bot.command(f"grant <@{RELEASER}> releaser acme/api", user_id=ADMIN))


def blocks_text(bot, sent) -> str:
    """The answer's blocks as text (without the fallback, which lists the names again)."""
    return text_of({"blocks": bot.answers(sent)[0].get("blocks") or []})


def writes(bitbucket):
    return [(r.method, r.path) for r in bitbucket.requests if r.method in ("POST", "PUT", "DELETE")]


def test_branches_lists_newest_commit_first_with_the_last_build(bot, repo):
    text = blocks_text(bot, bot.command("branches api"))
    names = [name for name in ("release/2.0", "feature/login", "old/experiment") if name in text]
    assert names == ["release/2.0", "feature/login", "old/experiment"]
    assert text.index("release/2.0") < text.index("feature/login") < text.index("old/experiment")
    line = text[text.index("release/2.0"):text.index("feature/login")]
    assert "Prepare 2.0" in line and ":x:" in line and "#7" in line and "failed" in line
    assert "no build yet" in text[text.index("old/experiment"):]
    sorts = [r.query.get("sort") for r in repo.requests_to("GET", "/refs/branches")]
    assert sorts == [["-target.date"]]


def test_branches_matching_a_glob(bot, repo):
    text = blocks_text(bot, bot.command("branches api release/*"))
    assert "release/2.0" in text and "release/1.0" in text and "feature/login" not in text and "old/" not in text
    assert repo.requests_to("GET", "/refs/branches")[-1].query.get("q") == ['name ~ "release/"']


def test_creating_a_branch_needs_a_role_and_is_audited(bot, repo):
    refused = bot.answer_text(bot.command("branch api hotfix/sso from feature/login", user_id=RELEASER))
    assert "`releaser` or `merger` role" in refused and writes(repo) == []
    grant_releaser(bot)
    created = bot.answer_text(bot.command("branch api hotfix/sso from feature/login", user_id=RELEASER))
    assert "created branch" in created and "hotfix/sso" in created and "`feature/login`" in created
    assert repo.branches("acme", "api")["hotfix/sso"] == repo.branches("acme", "api")["feature/login"]
    entry = bot.services.audit.recent(5)[0]
    assert (entry.action, entry.target, entry.ok) == ("create_branch", "acme/api:hotfix/sso", True)
    main_default = bot.answer_text(bot.command("branch api hotfix/two", user_id=RELEASER))
    assert "from `main`" in main_default and repo.branches("acme", "api")["hotfix/two"] == repo.branches("acme", "api")["main"]


def test_deleting_a_branch_asks_then_deletes_once(bot, repo):
    grant_releaser(bot)
    confirmation = bot.answers(bot.command("branch api old/experiment --delete", user_id=RELEASER))[0]
    assert "Delete branch `old/experiment`" in text_of(confirmation) and writes(repo) == []
    confirm = button(confirmation, CONFIRM_DELETE_BRANCH)
    done = bot.answers(bot.click(CONFIRM_DELETE_BRANCH, confirm["value"], user_id=RELEASER), count=2)
    assert "deleted branch `old/experiment`" in text_of(done[1])
    assert "old/experiment" not in repo.branches("acme", "api")
    again = bot.answer_text(bot.click(CONFIRM_DELETE_BRANCH, confirm["value"], user_id=RELEASER))
    assert "already under way or done" in again
    assert [w for w in writes(repo) if w[0] == "DELETE"] == [("DELETE", "/2.0/repositories/acme/api/refs/branches/old/experiment")]
    entry = bot.services.audit.recent(5)[0]
    assert (entry.action, entry.target, entry.ok) == ("delete_branch", "acme/api:old/experiment", True)
    assert button(confirmation, ids.CANCEL)  # and it can be cancelled


def test_delete_refuses_the_main_branch_open_pull_requests_and_protected_branches(bot, repo):
    grant_releaser(bot)
    main = bot.answer_text(bot.command("branch api main --delete", user_id=RELEASER))
    assert "it is the main branch" in main and "--force" not in main
    used = bot.answer_text(bot.command("branch api feature/login --delete", user_id=RELEASER))
    assert "open pull requests use it" in used and "#1 Add login" in used and "An admin may delete it anyway with `--force`" in used
    protected = bot.answer_text(bot.command("branch api release/1.0 --delete", user_id=RELEASER))
    assert "a branch restriction protects `release/*` from deletion" in protected
    not_admin = bot.answer_text(bot.command("branch api feature/login --delete --force", user_id=RELEASER))
    assert "Only admins" in not_admin
    assert writes(repo) == []


def test_an_admin_forces_past_open_pull_requests_but_not_the_main_branch(bot, repo):
    forced = bot.answers(bot.command("branch api feature/login --delete --force", user_id=ADMIN))[0]
    assert "`--force`: deleted although open pull requests use it" in text_of(forced)
    confirm = button(forced, CONFIRM_DELETE_BRANCH)
    done = bot.answers(bot.click(CONFIRM_DELETE_BRANCH, confirm["value"], user_id=ADMIN), count=2)
    assert "deleted branch `feature/login`" in text_of(done[1]) and "forced by an admin" in text_of(done[1])
    assert "feature/login" not in repo.branches("acme", "api")
    main = bot.answer_text(bot.command("branch api main --delete --force", user_id=ADMIN))
    assert "it is the main branch" in main
    assert json.loads(bot.services.audit.recent(5)[0].detail)["force"] is True


def test_a_pull_request_opened_after_the_question_stops_the_delete(bot, repo):
    grant_releaser(bot)
    confirmation = bot.answers(bot.command("branch api old/experiment --delete", user_id=RELEASER))[0]
    repo.add_pull_request("acme", "api", title="Revive the experiment", source="old/experiment", author="bob")
    confirm = button(confirmation, CONFIRM_DELETE_BRANCH)
    answer = bot.answer_text(bot.click(CONFIRM_DELETE_BRANCH, confirm["value"], user_id=RELEASER))
    assert "open pull requests use it" in answer and "Revive the experiment" in answer
    assert "old/experiment" in repo.branches("acme", "api")
