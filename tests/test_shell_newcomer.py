"""A newcomer's first minute in `bitbucket-chatops shell --sandbox` (issue 14): typed, clicked and read as a
person would, against the sandbox (simulated Bitbucket, the bot served on loopback)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from bot.bitbucket import error_words
from tests.shellkit import Click, WaitFor, run

ROOT = Path(__file__).resolve().parent.parent
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def cli(*args, cwd, stdin="", timeout=90):
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost"}
    return subprocess.run(
        [sys.executable, "-m", "bot.app.cli", *args], input=stdin, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


# --- 1. Approve and Request changes work in the sandbox ----------------------------------------------


def test_the_person_starts_signed_in_so_approve_acts_as_their_sandbox_account(tmp_path):
    session = run(tmp_path, "/bb prs web", Click("Approve"), "/bb prs web", Click("Request changes"))
    assert "signed in to the sandbox Bitbucket as Sam Rivera" in session.banner
    assert "Approve and Request changes act as that account" in session.banner
    assert "You are linked to Bitbucket as *Sam Rivera*" in session.banner  # the bot's own message, before the prompt

    approved = session.answer(2)
    assert "You approved #2 Upgrade the UI framework" in approved and "as *Sam Rivera*" in approved
    assert "Reviewers: Dave Kowalski, Sam Rivera ✅ · 1 approval" in approved  # the card, read back from Bitbucket
    assert "You requested changes on #2 Upgrade the UI framework" in session.answer(4)
    assert "link your Bitbucket account" not in session.transcript


def test_bb_login_completes_through_the_simulated_consent_page(tmp_path):
    session = run(
        tmp_path,
        "/bb logout", "/bb prs api", Click("Request changes"),
        "/bb login", Click("Sign in and link"),
        "/bb prs api", Click("Request changes"),
    )
    assert "link your Bitbucket account with `/bb login`" in session.answer(3)  # signed out: nothing sent
    login = session.answer(5)
    assert "(opened in the browser: Linked: Your Slack account is linked to Bitbucket as Sam Rivera." in login
    assert "You are linked to Bitbucket as *Sam Rivera*" in login
    assert "You requested changes on #2 OAuth login for the admin console" in session.answer(7)


# --- 2. Logs never land between the answers -----------------------------------------------------------


def test_the_shell_logs_to_a_file_never_between_the_answers(tmp_path):
    result = cli("shell", "--sandbox", cwd=tmp_path, stdin="/bb pr api feature/x\n/bb prs api\nquit\n")
    assert result.returncode == 0, result.stderr
    assert "Bitbucket said: source: branch not found: feature/x" in result.stdout
    assert not LOG_LINE.search(result.stdout) and not LOG_LINE.search(result.stderr), result.stdout + result.stderr
    assert result.stderr.strip() == ""
    assert "Logs go to data/shell.log" in result.stdout
    log = (tmp_path / "data" / "shell.log").read_text()
    assert "bitbucket refused: 400" in log and LOG_LINE.search(log)


# --- 3. Bitbucket's words, once ---------------------------------------------------------------------------


def test_a_refusal_says_bitbuckets_words_once(tmp_path):
    session = run(tmp_path, "/bb pr api feature/x")
    answer = session.answer_to("/bb pr api feature/x")
    assert ":x: Bitbucket said: source: branch not found: feature/x\n" in answer
    assert answer.count("branch not found") == 1


def test_a_detail_is_kept_only_where_it_says_more():
    assert error_words("source: branch not found: x", "source: branch not found: x") == "source: branch not found: x"
    assert error_words("Bad request", "source: branch not found: x") == "Bad request (source: branch not found: x)"
    assert error_words("Not found.", "not found") == "Not found."
    assert error_words("branch not found", "Check the names; source: branch not found: x") == "Check the names; source: branch not found: x"
    assert error_words("source: x", "Check the names; source: x") == "source: x (Check the names)"
    assert error_words("Forbidden", None) == "Forbidden"


# --- 4. check: one line per problem -----------------------------------------------------------------------


def test_check_reports_each_problem_once(tmp_path):
    result = cli("check", cwd=tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == len(set(lines)), result.stdout
    assert sum("BITBUCKET_WEBHOOK_SECRET" in line for line in lines) == 1, result.stdout
    assert sum("SLACK_BOT_TOKEN" in line for line in lines) == 1, result.stdout


# --- 5. /bb merge on a draft: the card's rule -------------------------------------------------------------


def test_merge_of_a_draft_says_it_is_a_draft_and_how_to_publish_it(tmp_path):
    session = run(tmp_path, "/bb prs api", "/bb merge api 3", "/bb merge api 1")
    listing = session.answer_to("/bb prs api")
    draft_card = listing[listing.index("#3 WIP: structured logging"):listing.index("#1 Add rate limiting")]
    assert "Merge…" not in draft_card  # the card offers no Merge on a draft…

    answer = session.answer_to("/bb merge api 3")
    assert "is a draft, and Bitbucket does not merge drafts" in answer  # …and neither does the command
    assert "*Mark as ready*" in answer
    assert not re.search(r"\[\d+\] Merge\b", answer)
    assert re.search(r"\[\d+\] Merge\b", session.answer_to("/bb merge api 1"))  # a published one is asked about


# --- 6. The banner's commands to try, each doing what it says ---------------------------------------------


def test_the_banner_offers_the_list_with_buttons(tmp_path):
    session = run(tmp_path, "/bb prs api")
    assert re.search(r"/bb prs api +the open pull requests, each with Approve, Request changes, Merge… and Decline… buttons", session.banner)
    listing = session.answer_to("/bb prs api")
    assert "Open pull requests in acme/api (3)" in listing
    assert re.search(r"\[\d+\] Approve +\[\d+\] Request changes +\[\d+\] Merge… +\[\d+\] Decline…", listing)


def test_the_banner_offers_a_deploy_with_its_thread(tmp_path):
    session = run(
        tmp_path,
        "/bb deploy api main to staging", Click("Deploy to Staging"),
        WaitFor(lambda text: "finished: *successful*" in text),
    )
    assert re.search(r"/bb deploy api main to staging +a confirmation; click Deploy", session.banner)
    assert "[1] Deploy to Staging" in session.answer(1)
    assert "Deploy of *acme/api* branch `main`" in session.answer(2)
    later = session.transcript[session.transcript.index("Deploy of *acme/api*"):]
    thread = later[later.index("-- (in a thread)"):]
    assert re.search(r"Pipeline #\d+ ", thread) and "finished: *successful*. Staging now runs" in thread


def test_the_banner_offers_a_relayed_event_sent_by_the_sandbox_bitbucket(tmp_path):
    session = run(tmp_path, "/simulate", "/bb subscribe api", "/simulate")
    assert re.search(r"/bb subscribe api, then /simulate +the sandbox Bitbucket opens a pull request and sends", session.banner)
    assert "acme/api has no webhook" in session.answer(1) and "`/bb subscribe api` first" in session.answer(1)

    relayed = session.answer(3)
    assert "`pullrequest:created` to 1 webhook, answered 200" in relayed  # signed, and accepted by the bot
    card = relayed[relayed.index(" Cache the pricing table for five minutes"):]
    assert "Bob Okafor · `feature/pricing-cache` → `main` · acme/api" in card
    assert re.search(r"\[\d+\] Approve +\[\d+\] Request changes +\[\d+\] Merge… +\[\d+\] Decline…", card)
