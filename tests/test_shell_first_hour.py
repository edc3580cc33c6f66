"""The first hour in `bitbucket-chatops shell --sandbox` (issue 27): every kind of event the sandbox Bitbucket can
send (`/simulate KIND`), someone else at the keyboard (`/as NAME`), news printed as it arrives, pasted links
unfurled, and the shell's own commands in `/bb help`. Typed and read as a person would."""

import re
from pathlib import Path

from tests.shellkit import Click, Pause, run

DM_TO_YOU = "-- (a direct message to you)"


def between(text: str, start: str, end: str | None = None) -> str:
    tail = text[text.index(start):]
    return tail[: tail.index(end, len(start) + 1)] if end and end in tail[len(start) + 1:] else tail


# --- /simulate KIND ----------------------------------------------------------------------------------------


def test_simulate_push_build_failed_and_build_fixed_post_in_the_subscribed_channel(tmp_path):
    session = run(
        tmp_path, "/bb subscribe api", "/simulate push", "/simulate build-failed",
        Pause(lambda text: "Failed in step *Test*" in text), "/simulate build-fixed",
    )
    push = session.answer_to("/simulate push")
    assert "`repo:push` to 1 webhook, answered 200" in push
    assert re.search(r"^:arrow_up: Alice Nguyen pushed 1 commit to main in acme/api", push, re.M)  # in the channel
    assert "direct message" not in push

    failed = session.answer_to("/simulate build-failed")
    assert "`repo:commit_status_updated` to 1 webhook, answered 200" in failed
    assert re.search(r"^:x: \*Pipeline #\d+ for main .* failed on `main`", failed, re.M)
    assert re.search(r"\[\d+\] Re-run", failed)
    # The log is read off the request path: the message is updated with the failing step and its tail.
    updated = session.transcript[session.transcript.index("Failed in step *Test*") - 400:]
    assert "-- (updated)" in updated and "FAILED tests/test_checkout.py::test_total_includes_tax" in updated

    fixed = session.answer_to("/simulate build-fixed")
    assert re.search(r"^:white_check_mark: \*Pipeline #\d+ for main .* passed on `main`.*\(fixed\)", fixed, re.M)


def test_simulate_review_events_reach_your_pull_request_and_you_in_a_direct_message(tmp_path):
    session = run(
        tmp_path, "/bb subscribe api", "/simulate comment", "/simulate inline-comment", "/simulate approve",
        "/simulate request-changes", "/simulate merge",
    )
    comment = session.answer_to("/simulate comment")
    # You had no pull request: one was opened for you (its card in the channel), then commented on.
    assert "Sam Rivera opened #" in comment and "`pullrequest:created`, `pullrequest:comment_created`" in comment
    assert DM_TO_YOU in comment and ":speech_balloon: Alice Nguyen commented" in between(comment, DM_TO_YOU)
    assert "-- (in a thread)\n:speech_balloon: Alice Nguyen commented" in comment

    inline = session.answer_to("/simulate inline-comment")
    assert "commented (https://bitbucket.org/acme/api/pull-requests/" in inline and "on `src/pricing/cache.py:42`" in inline

    approve = session.answer_to("/simulate approve")
    assert "`pullrequest:approved`" in approve and ":white_check_mark: Alice Nguyen approved it." in approve
    assert "-- (in a thread)\n:white_check_mark: Alice Nguyen approved." in approve

    changes = session.answer_to("/simulate request-changes")
    assert "`pullrequest:changes_request_created`" in changes and ":raised_hand: Alice Nguyen requested changes." in changes

    merged = session.answer_to("/simulate merge")
    assert "`pullrequest:fulfilled`" in merged and ":twisted_rightwards_arrows: Alice Nguyen merged it." in merged
    assert ":twisted_rightwards_arrows: *Merged* by Alice Nguyen" in merged  # the channel's card, updated


def test_simulate_review_request_sends_you_a_direct_message_with_approve(tmp_path):
    session = run(tmp_path, "/bb subscribe api", "/simulate review-request", Click("Approve", after=DM_TO_YOU))
    asked = session.answer_to("/simulate review-request")
    dm = between(asked, DM_TO_YOU, "\n*#")
    assert ":eyes: Bob Okafor asked you to review it." in dm and re.search(r"\[\d+\] Approve", dm)
    assert re.search(r"^\*#\d+ Cache the pricing table .*\nBob Okafor · .*acme/api\nReviewers: Sam Rivera", asked, re.M)
    assert "You approved #" in session.answer(3) and "as *Sam Rivera*" in session.answer(3)


def test_simulate_pr_and_deploy_post_in_the_channel(tmp_path):
    session = run(tmp_path, "/bb subscribe api", "/simulate pr", "/simulate deploy", "/bb deployments api")
    opened = session.answer_to("/simulate pr")
    assert "`pullrequest:created` to 1 webhook" in opened and "Bob Okafor · `feature/pricing-cache` → `main` · acme/api" in opened
    deployed = session.answer_to("/simulate deploy")
    assert "deployed main to Staging with pipeline #" in deployed and "no deployment webhook" in deployed
    assert re.search(r"^:white_check_mark: \*Pipeline #\d+ for deploy-to-staging .* passed on `main`", deployed, re.M)
    number = re.search(r"with pipeline #(\d+)", deployed)[1]
    assert f"#{number}" in between(session.answer_to("/bb deployments api"), "Staging")


def test_simulate_says_what_it_can_do_and_refuses_what_it_cannot(tmp_path):
    session = run(tmp_path, "/simulate help", "/simulate explode api", "/bb subscribe infra", "/simulate deploy infra")
    kinds = session.answer_to("/simulate help")
    for kind in ("pr", "push", "build-failed", "build-fixed", "comment", "inline-comment", "approve", "request-changes",
                 "review-request", "merge", "deploy"):
        assert re.search(rf"^  {re.escape(kind)} ", kinds, re.M), kind
    assert "no event 'explode' to simulate" in session.answer_to("/simulate explode api")
    assert "not simulated: acme/infra has no `deploy-to-staging` pipeline" in session.answer_to("/simulate deploy infra")


# --- /as NAME ----------------------------------------------------------------------------------------------------


def test_as_a_guest_you_are_refused_a_merge(tmp_path):
    session = run(tmp_path, "/as", "/as guest", "/as", "/bb merge api 1", "/as you", "/bb merge api 1")
    assert "you are Sam Rivera (@you, USHELL): an admin of the bot" in session.answer(1)
    assert "you are now Gus Guest (@guest, UGUEST): a guest with no roles; no Bitbucket account" in session.answer(2)
    assert "you are Gus Guest" in session.answer(3)
    assert "You need the `merger` role on `acme/api` to merge" in session.answer(4)
    assert re.search(r"\[\d+\] Merge", session.answer(6))  # back as the admin: asked to confirm


def test_an_approval_by_someone_else_reaches_the_author_in_a_direct_message(tmp_path):
    """You approve Alice's pull request from Slack; the sandbox Bitbucket sends its webhook, as Bitbucket does, and
    Alice (whom `/as alice` signed in) is told in a direct message."""
    session = run(
        tmp_path, "/as alice", "/as you", "/bb subscribe api", "/bb prs api",
        Click("Approve", after="#1 Add rate limiting"),
        Pause(lambda text: "-- (a direct message to Alice Nguyen)" in text),
        "/as alice",
    )
    approved = session.answer(5)
    assert "You approved #1 Add rate limiting to public endpoints" in approved
    told = between(session.transcript, "-- (a direct message to Alice Nguyen)")
    assert ":white_check_mark: Sam Rivera approved it." in told
    assert "-- (in a thread)\n:white_check_mark: Sam Rivera approved." in session.transcript  # the channel's card too


# --- news as it arrives; messages replaced or deleted --------------------------------------------------------------


def test_news_prints_as_it_arrives_without_pressing_enter(tmp_path):
    session = run(
        tmp_path, "/bb deploy api main to staging", Click("Deploy to Staging"),
        Pause(lambda text: "finished: *successful*" in text),
    )
    assert session.typed[-1][0] != ""  # no Enter was pressed: the shell printed it by itself
    later = session.transcript[session.transcript.index("Deploy of *acme/api*"):]
    assert "-- (in a thread)" in later and "finished: *successful*. Staging now runs" in later


def test_a_replaced_or_deleted_message_shows_as_such(tmp_path):
    session = run(tmp_path, "/bb prs api", Click("Approve"), "/bb decline api 2", Click("Decline"))
    assert "-- (replaces: Open pull requests in acme/api (3))\nOpen pull requests in acme/api (3)" in session.answer(2)
    declined = session.answer(4)
    assert re.search(r"-- \(deleted: .*Decline #2 OAuth login for the admin console.*\)", declined), declined
    assert "declined #2 OAuth login" in declined


# --- a pasted link; the shell's own commands in help -----------------------------------------------------------


def test_a_pasted_bitbucket_link_is_unfurled(tmp_path):
    session = run(tmp_path, "have a look at https://bitbucket.org/acme/api/pull-requests/1 please")
    unfurled = session.answer(1)
    assert "-- (unfurled https://bitbucket.org/acme/api/pull-requests/1)" in unfurled
    assert "#1 Add rate limiting to public endpoints" in unfurled and "Alice Nguyen · `feature/rate-limits` → `main`" in unfurled
    assert "is not a command" not in unfurled


def test_help_lists_the_shells_own_commands_in_the_shell(tmp_path):
    session = run(tmp_path, "/bb help")
    answer = session.answer(1)
    assert "/bb prs [REPO]" in answer
    shell_only = between(answer, "*In this shell only*")
    assert "`/simulate [KIND] [REPO]`" in shell_only and "`/as [NAME]`" in shell_only and "`/home`" in shell_only


def test_slacks_help_does_not_list_the_shells_commands():
    from bot import registry
    from bot.core import render

    help_text = str(render.help_message(registry.COMMANDS).to_dict())
    assert "/simulate" not in help_text and "/as" not in help_text and "/home" not in help_text


def test_the_readmes_first_hour_walkthrough(tmp_path):
    """README's "try it": a failed build → its log tail → Re-run, and a review request → a direct message → Approve,
    typed exactly as it says (the buttons' numbers included)."""
    session = run(tmp_path, "/bb subscribe api", "/simulate build-failed", Pause(lambda text: "Failed in step *Test*" in text),
                  "2", "/simulate review-request", "3")
    assert "[1] Re-run" in session.answer(2)
    assert "[2] Re-run" in session.transcript and "re-ran pipeline #" in session.answer(3)
    assert "Bob Okafor asked you to review it." in session.answer(4) and "[3] Approve" in session.answer(4)
    assert "You approved #" in session.answer(5) and "Sam Rivera ✅" in session.answer(5)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for typed in ("bb> /simulate build-failed", "bb> 2 ", "bb> /simulate review-request", "bb> 3 "):
        assert typed in readme
