"""`/bb pr REPO ID` (issue 27): one pull request in full, whether it can be merged now and why not, with its
buttons; `/bb pr REPO SOURCE …` still opens one."""

import pytest

from bot.core import ids
from bot.registry import COMMANDS
from tests.harness import buttons_of, text_of


@pytest.fixture
def repo(bitbucket):
    bitbucket.add_repository("acme", "api", branches=("main", "feature/login", "feature/cache"))
    for nickname, name in (("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")):
        bitbucket.add_user(nickname, name)
    bitbucket.add_pull_request("acme", "api", title="Add login", source="feature/login", author="alice",
                               reviewers=("bob", "carol"), approved_by=("bob",),
                               description="Adds SSO login.\n\nAlso <!channel> fixes the session timeout.")
    bitbucket.add_pull_request("acme", "api", title="Cache prices", source="feature/cache", author="bob",
                               reviewers=("alice",), approved_by=("alice",))
    bitbucket.add_comment("acme", "api", 1, "bob", "Looks good")
    bitbucket.set_open_tasks("acme", "api", 1, 2)
    bitbucket.add_commit_status("acme", "api", "feature/login", key="unit", state="FAILED", name="Unit tests")
    bitbucket.add_commit_status("acme", "api", "feature/cache", key="unit", state="SUCCESSFUL", name="Unit tests")
    bitbucket.add_branch_restriction("acme", "api", "require_approvals_to_merge", "main", value=2)
    bitbucket.add_branch_restriction("acme", "api", "require_tasks_to_be_completed", "main")
    return bitbucket


def test_pr_repo_id_parses_to_the_detail_and_pr_repo_source_still_opens_one():
    assert (COMMANDS.parse("pr api 42").name, COMMANDS.parse("pr api 42").args) == ("pr_show", {"pr_id": 42})
    assert COMMANDS.parse("pr acme/api #7").args == {"pr_id": 7}
    link = COMMANDS.parse("pr https://bitbucket.org/acme/api/pull-requests/3")
    assert (link.name, link.args, link.repo.full_name) == ("pr_show", {"pr_id": 3}, "acme/api")
    assert COMMANDS.parse("pr api feature/x").name == "pr" and COMMANDS.parse("pr api feature/x").args["source"] == "feature/x"
    assert COMMANDS.parse("pr api 42 into main").name == "pr"  # more than an id: a branch named 42, opened
    assert COMMANDS.parse("pr api").args == {"modal": True}


def test_one_pull_request_in_full_and_why_it_cannot_be_merged(bot, repo):
    answer = bot.answers(bot.command("pr api 1"))[0]
    text = text_of({"blocks": answer["blocks"]})
    assert "#1 Add login" in text and "Alice · `feature/login` → `main` · acme/api" in text
    assert "Adds SSO login. Also &lt;!channel&gt; fixes the session timeout." in text  # escaped, on one line
    assert "• Bob: ✅ approved" in text and "• Carol: ⏳ not yet" in text
    assert ":x: 1 build failed" in text and "Unit tests" in text
    assert "2 open tasks · 1 comment" in text
    assert "*Cannot be merged now*" in text
    assert "builds failed: Unit tests" in text and "it needs 2 approvals and has 1" in text and "2 tasks are still open" in text
    assert {b["action_id"] for b in buttons_of(answer)} == {ids.APPROVE, ids.REQUEST_CHANGES, ids.ASK_MERGE, ids.ASK_DECLINE}
    reads = [(r.method, r.path) for r in repo.requests if "/repositories/acme/api" in r.path]
    assert [method for method, _ in reads] == ["GET", "GET", "GET"]


def test_a_pull_request_that_can_be_merged_says_so(bot, repo):
    repo.add_review("acme", "api", 2, "carol", "approved")
    text = text_of({"blocks": bot.answers(bot.command("pr api 2"))[0]["blocks"]})
    assert ":white_check_mark: 1 build" not in text and "builds passed" in text
    assert "*Can be merged now.*" in text


def test_without_admin_access_the_restrictions_are_said_to_be_unknown(bot, repo):
    repo.fail_next("GET", r"/branch-restrictions", status=403)
    text = text_of({"blocks": bot.answers(bot.command("pr api 2"))[0]["blocks"]})
    assert "Branch restrictions could not be read" in text and "*Can be merged now.*" in text


def test_a_closed_pull_request_has_no_buttons(bot, repo):
    with repo._lock:
        repo._repository("acme", "api").pull_requests[2].state = "DECLINED"
    answer = bot.answers(bot.command("pr api 2"))[0]
    assert "Not mergeable: it is declined." in text_of(answer) and buttons_of(answer) == []
