"""The pure rules of builds: gates from statuses, the failing step, an inert log tail, a re-run's target."""

from datetime import datetime, timezone

import pytest

from bot.bitbucket import BearerToken, BitbucketClient, CommitStatus, PipelineStep
from bot.builds import rules


def status(key, state, minute=0, name=None):
    return CommitStatus(key, name or key, state, None, "main", "a" * 40, datetime(2026, 1, 1, 10, minute, tzinfo=timezone.utc))


def test_the_gate_takes_each_builds_newest_status():
    assert rules.gate([]).verdict == rules.GREEN and not rules.gate([]).red
    assert rules.gate([status("unit", "FAILED", 1), status("unit", "SUCCESSFUL", 2)]).verdict == rules.GREEN
    assert rules.gate([status("unit", "SUCCESSFUL", 2), status("unit", "FAILED", 1)]).verdict == rules.GREEN
    running = rules.gate([status("unit", "INPROGRESS"), status("lint", "SUCCESSFUL")])
    assert running.verdict == rules.RUNNING and running.red and [s.key for s in running.running] == ["unit"]
    failed = rules.gate([status("unit", "INPROGRESS"), status("lint", "FAILED")])
    assert failed.verdict == rules.FAILED and [s.key for s in failed.failed] == ["lint"]
    assert rules.gate([status("unit", "STOPPED")]).verdict == rules.GREEN


@pytest.mark.parametrize("raw, number", [
    ({"name": "Pipeline #4 for main", "url": "https://bitbucket.org/a/b/addon/pipelines/home#!/results/4"}, 4),
    ({"name": "x", "url": "https://bitbucket.org/a/b/pipelines/results/12"}, 12),
    ({"name": "Pipeline #7 for main", "url": "https://ci.example.com/7"}, 7),
    ({"name": "Jenkins build", "url": "https://ci.example.com/results/3"}, None),
])
def test_a_build_status_names_its_pipeline(raw, number):
    assert rules.pipeline_number(raw) == number


def test_the_failing_step_is_the_first_that_failed():
    steps = [PipelineStep("a", "Build", "COMPLETED", "SUCCESSFUL"), PipelineStep("b", "Test", "COMPLETED", "FAILED"),
             PipelineStep("c", "Deploy", "COMPLETED", "NOT_RUN")]
    assert rules.failing_step(steps).name == "Test"
    assert rules.failing_step([PipelineStep("a", "Build", "COMPLETED", "EXPIRED")]).name == "Build"
    assert rules.failing_step([PipelineStep("a", "Build", "COMPLETED", "SUCCESSFUL")]) is None


def test_the_log_tail_keeps_twenty_lines_and_2500_characters_made_inert():
    text = "".join(f"line {n}\n" for n in range(100))
    tail = rules.log_tail(text)
    assert tail.split("\n") == [f"line {n}" for n in range(80, 100)]
    long = rules.log_tail("\n".join("x" * 300 for _ in range(20)))
    assert len(long) <= 2500 and long.split("\n")[-1] == "x" * 300 and len(long.split("\n")) == 8
    one = rules.log_tail("y" * 5000)
    assert len(one) == 2500 and one.startswith("…")
    assert rules.log_tail("cut-off first line\nsecond\n", partial_start=True) == "second"
    assert rules.log_tail("") == ""
    assert rules.log_tail("a\r\nb\rc") == "a\nb\nc"


def test_a_log_line_cannot_mention_link_or_close_the_code_block():
    line = rules.inert("\x1b[1m<!everyone> <@U1> http://x.example ```www.y.example a@b.example\x07 $SECRET\tend")
    assert "<" not in line and ">" not in line and "`" not in line and "\x1b" not in line and "\x07" not in line
    assert "://" not in line and "www." not in line and "a@b" not in line
    assert "$SECRET\tend" in line and "&lt;!everyone&gt;" in line


def test_a_rerun_runs_the_same_pipeline_on_the_same_target():
    ref = {"type": "pipeline_ref_target", "ref_type": "branch", "ref_name": "main",
           "commit": {"type": "commit", "hash": "abc", "links": {}}, "selector": {"type": "default"}}
    assert rules.rerun_target(ref) == {"type": "pipeline_ref_target", "ref_type": "branch", "ref_name": "main",
                                       "commit": {"type": "commit", "hash": "abc"}}
    custom = {"type": "pipeline_commit_target", "commit": {"hash": "abc"}, "selector": {"type": "custom", "pattern": "nightly"}}
    assert rules.rerun_target(custom)["selector"] == {"type": "custom", "pattern": "nightly"}
    pr = {"type": "pipeline_pullrequest_target", "source": "feature", "destination": "main", "commit": {"hash": "abc"},
          "destination_commit": {"hash": "def"}, "pull_request": {"id": 3}, "selector": {"type": "pull-requests", "pattern": "**"}}
    again = rules.rerun_target(pr)
    assert again["pull_request"] == {"id": 3} and again["destination_commit"] == {"type": "commit", "hash": "def"}
    with pytest.raises(ValueError):
        rules.rerun_target({"type": "something_else"})


def test_an_empty_log_reads_as_empty(bitbucket):
    from tests.harness import BITBUCKET_TOKEN

    bitbucket.add_repository("acme", "api", branches=("main",))
    bitbucket.set_pipeline_script("acme", "api", None, "FAILED", logs={"Build": ""})
    client = BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN))
    pipeline = client.trigger_pipeline("acme", "api", {"target": {"type": "pipeline_ref_target", "ref_type": "branch", "ref_name": "main"}})
    bitbucket.advance_pipeline("acme", "api", pipeline["uuid"], "COMPLETED", "FAILED")
    (step,) = client.list_pipeline_steps("acme", "api", pipeline["uuid"])
    assert client.get_step_log_tail("acme", "api", pipeline["uuid"], step["uuid"]) == ""
