"""What `/simulate KIND` makes happen in the simulated Bitbucket, and the webhook Bitbucket sends about it.

Each kind changes the fake as a teammate would (opens a pull request, pushes, fails a build, comments, approves,
merges, deploys), then sends the event to the repository's webhooks, signed (`deliveries.deliver`). Where a
kind is about someone's pull request, it is the shell's person's own when they have one, so the personal message
it causes reaches them; a teammate acts, never the person themself (nobody is told of their own action).

`simulate(fake, kind, workspace, slug, person=NICKNAME)` returns a `Simulated`: what happened, in words, and
the deliveries. Bitbucket has no deployment webhook: a deploy shows as the build status its pipeline posts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.sandbox import deliveries
from bot.sandbox.bitbucket.demo import PEOPLE
from bot.sandbox.bitbucket.records import _PipelineScript
from bot.sandbox.deliveries import Delivery, deliver, pull_request_payload

if TYPE_CHECKING:
    from bot.sandbox.bitbucket import FakeBitbucket

KINDS = ("pr", "push", "build-failed", "build-fixed", "comment", "inline-comment", "approve", "request-changes",
         "review-request", "merge", "deploy")
KIND_ALIASES = {"pull-request": "pr", "pullrequest": "pr", "build": "build-failed", "fail": "build-failed",
                "fix": "build-fixed", "review": "review-request", "approval": "approve", "changes": "request-changes",
                "inline": "inline-comment"}
WHAT_EACH_SHOWS = {
    "pr": "a teammate opens a pull request: its card",
    "push": "a teammate pushes to the main branch",
    "build-failed": "a build fails: the failing step, its log tail and a Re-run button",
    "build-fixed": "the build passes again",
    "comment": "a teammate comments on your pull request",
    "inline-comment": "a teammate comments on a line of your pull request",
    "approve": "a teammate approves your pull request",
    "request-changes": "a teammate requests changes on your pull request",
    "review-request": "a teammate asks you to review their pull request: a direct message with Approve",
    "merge": "a teammate merges your pull request",
    "deploy": "a teammate deploys the main branch to Staging",
}
FAILING_TEST_LOG = (
    "+ pytest -q\n"
    "........F.....\n"
    "FAILED tests/test_checkout.py::test_total_includes_tax - assert 107.0 == 108.0\n"
    "1 failed, 13 passed in 2.31s\n"
)
DEPLOY_ENVIRONMENT = "staging"
SIMULATED_FILE = "src/pricing/cache.py"


class CannotSimulate(Exception):
    """Why this kind cannot happen in this repository now (said to the person as it is)."""


@dataclass(frozen=True)
class Simulated:
    said: str  # what happened, for the person
    sent: list[Delivery]


def kind_named(word: str) -> str | None:
    word = word.lower()
    word = KIND_ALIASES.get(word, word)
    return word if word in KINDS else None


def simulate(fake: FakeBitbucket, kind: str, workspace: str, slug: str, *, person: str | None = None) -> Simulated:
    """Make `kind` happen in `workspace/slug` and send its webhook. `person`: the Bitbucket nickname of whoever is
    at the shell (None: someone with no Bitbucket account)."""
    with fake._lock:
        fake._repository(workspace, slug)  # KeyError: no such repository
    return _KINDS[kind](_Scene(fake, workspace, slug, person))


@dataclass
class _Scene:
    fake: FakeBitbucket
    workspace: str
    slug: str
    person: str | None

    @property
    def repo(self):
        return self.fake._repository(self.workspace, self.slug)

    def teammate(self, *, besides: tuple = ()) -> str:
        """Someone of the demo team who is neither the person nor one of `besides`."""
        return next(n for n in PEOPLE if n != self.person and n not in besides)

    def name(self, nickname: str) -> str:
        return self.fake.user(nickname)["display_name"]

    def open_pull_requests(self) -> list:
        with self.fake._lock:
            return sorted((pr for pr in self.repo.pull_requests.values() if pr.state == "OPEN"), key=lambda pr: -pr.id)

    def persons_pull_request(self) -> tuple[object, list[Delivery]]:
        """The person's newest open pull request; when they have none, a teammate's (a guest has none), or one
        opened for them now (its `pullrequest:created` sent too)."""
        mine = [pr for pr in self.open_pull_requests() if self.person and pr.author.nickname == self.person]
        if mine:
            return mine[0], []
        if self.person is None:
            others = [pr for pr in self.open_pull_requests() if not pr.draft]
            if others:
                return others[0], []
        data, sent = deliveries.open_pull_request(self.fake, self.workspace, self.slug, author=self.person)
        with self.fake._lock:
            return self.repo.pull_requests[data["id"]], sent

    def send(self, event_key: str, payload: dict) -> list[Delivery]:
        return deliver(self.fake, self.workspace, self.slug, event_key, payload)

    def pr_event(self, event_key: str, pr_id: int, actor: str, **extra) -> list[Delivery]:
        return self.send(event_key, {**pull_request_payload(self.fake, self.workspace, self.slug, pr_id, actor=actor), **extra})

    def status_event(self, status: dict, actor: str, *, created: bool = False) -> list[Delivery]:
        with self.fake._lock:
            repository = self.fake._repository_json(self.repo)
        key = "repo:commit_status_created" if created else "repo:commit_status_updated"
        return self.send(key, {"actor": self.fake.user(actor), "repository": repository, "commit_status": status})


def _opened(pr, sent: list[Delivery], scene: _Scene) -> str:
    return f"{scene.name(pr.author.nickname)} opened #{pr.id} \"{pr.title}\"; " if sent else ""


# --- the kinds ----------------------------------------------------------------------------------------------


def _pull_request(scene: _Scene) -> Simulated:
    data, sent = deliveries.open_pull_request(scene.fake, scene.workspace, scene.slug, avoid=scene.person)
    who = (data.get("author") or {}).get("display_name") or "someone"
    return Simulated(f"{who} opened #{data['id']} \"{data['title']}\"", sent)


def _review_request(scene: _Scene) -> Simulated:
    reviewers = (scene.person,) if scene.person else ()
    data, sent = deliveries.open_pull_request(scene.fake, scene.workspace, scene.slug, avoid=scene.person, reviewers=reviewers)
    who = (data.get("author") or {}).get("display_name") or "someone"
    asked = f", asking {scene.name(scene.person)} to review it" if scene.person else ""
    return Simulated(f"{who} opened #{data['id']} \"{data['title']}\"{asked}", sent)


def _push(scene: _Scene) -> Simulated:
    actor = scene.teammate()
    with scene.fake._lock:
        repo = scene.repo
        branch = repo.main_branch
        before = repo.branches[branch]
    message = "Speed up the pricing table's cache warm-up"
    head = scene.fake.add_commit(scene.workspace, scene.slug, branch, message=message, author=actor)
    with scene.fake._lock:
        repo = scene.repo
        commit = scene.fake._commit_json(repo, repo.commits[head])
        previous = scene.fake._commit_json(repo, repo.commits[before])
        repository = scene.fake._repository_json(repo)
        html = f"{repository['links']['html']['href']}/branches/compare/{head}..{before}"
    change = {
        "new": {"type": "branch", "name": branch, "target": commit},
        "old": {"type": "branch", "name": branch, "target": previous},
        "created": False, "closed": False, "forced": False, "truncated": False, "commits": [commit],
        "links": {"html": {"href": html}},
    }
    sent = scene.send("repo:push", {"actor": scene.fake.user(actor), "repository": repository, "push": {"changes": [change]}})
    return Simulated(f"{scene.name(actor)} pushed 1 commit to {branch} (\"{message}\")", sent)


def _build(scene: _Scene, result: str) -> Simulated:
    """A run of the default pipeline on the person's pull request's branch (else the main branch)."""
    actor = scene.teammate()
    mine = [pr for pr in scene.open_pull_requests() if scene.person and pr.author.nickname == scene.person]
    with scene.fake._lock:
        repo = scene.repo
        branch = mine[0].source if mine else repo.main_branch
        declared = repo.pipeline_scripts.get(None)
        # The team's tests: a Test step whose log shows a failure when the run fails; a re-run passes.
        if declared is None or "Test" not in declared.steps:
            repo.pipeline_scripts[None] = _PipelineScript("SUCCESSFUL", 3.0, None, ("Install", "Test"), {"Test": FAILING_TEST_LOG})
    when = scene.fake.clock()
    pipeline = scene.fake.add_pipeline(scene.workspace, scene.slug, ref_name=branch, result=result, creator=actor,
                                       completed_on=when, seconds=95)
    with scene.fake._lock:
        repo = scene.repo
        commit = pipeline["target"]["commit"]["hash"]
        status = next(s for s in repo.statuses[_full_hash(repo, commit)].values() if f"#{pipeline['build_number']} " in s["name"])
        status_json = scene.fake._status_json(repo, status)
    sent = scene.status_event(status_json, actor)
    verdict = "failed in its Test step" if result == "FAILED" else "passed"
    return Simulated(f"Pipeline #{pipeline['build_number']} on {branch} {verdict}", sent)


def _full_hash(repo, commit: str) -> str:
    return next(h for h in repo.commits if h.startswith(commit))


def _comment(scene: _Scene, *, inline: bool) -> Simulated:
    pr, opened = scene.persons_pull_request()
    actor = scene.teammate(besides=(pr.author.nickname,))
    text = "Should this cache expire sooner? Prices change at midnight." if inline else "Nice work, one question before I approve."
    inline_at = {"path": SIMULATED_FILE, "from": None, "to": 42} if inline else None
    comment = scene.fake.add_comment(scene.workspace, scene.slug, pr.id, actor, text, inline=inline_at)
    sent = opened + scene.pr_event("pullrequest:comment_created", pr.id, actor, comment=comment)
    where = f" on {SIMULATED_FILE}:42" if inline else ""
    return Simulated(f"{_opened(pr, opened, scene)}{scene.name(actor)} commented{where} on #{pr.id} \"{pr.title}\"", sent)


def _review(scene: _Scene, verdict: str) -> Simulated:
    pr, opened = scene.persons_pull_request()
    actor = scene.teammate(besides=(pr.author.nickname,))
    at = scene.fake.clock()
    scene.fake.add_review(scene.workspace, scene.slug, pr.id, actor, verdict, at=at)
    with scene.fake._lock:
        pr.updated_on = at
    body = {"date": at.isoformat(), "user": scene.fake.user(actor)}
    if verdict == "approved":
        sent = scene.pr_event("pullrequest:approved", pr.id, actor, approval=body)
        did = "approved"
    else:
        sent = scene.pr_event("pullrequest:changes_request_created", pr.id, actor, changes_request=body)
        did = "requested changes on"
    return Simulated(f"{_opened(pr, opened, scene)}{scene.name(actor)} {did} #{pr.id} \"{pr.title}\"", opened + sent)


def _merge(scene: _Scene) -> Simulated:
    pr, opened = scene.persons_pull_request()
    actor = scene.teammate(besides=(pr.author.nickname,))
    if pr.draft:
        raise CannotSimulate(f"#{pr.id} is a draft, and Bitbucket does not merge drafts")
    with scene.fake._lock:
        repo = scene.repo
        when = scene.fake.clock() + timedelta(seconds=1)
        scene.fake._merge(repo, pr, scene.fake._user(actor), {}, at=when)
    sent = scene.pr_event("pullrequest:fulfilled", pr.id, actor)
    return Simulated(f"{_opened(pr, opened, scene)}{scene.name(actor)} merged #{pr.id} \"{pr.title}\"", opened + sent)


def _deploy(scene: _Scene) -> Simulated:
    pattern = f"deploy-to-{DEPLOY_ENVIRONMENT}"
    with scene.fake._lock:
        repo = scene.repo
        if pattern not in repo.pipeline_scripts:
            raise CannotSimulate(f"{repo.full_name} has no `{pattern}` pipeline to deploy with")
        branch = repo.main_branch
    actor = scene.teammate()
    pipeline = scene.fake.add_pipeline(scene.workspace, scene.slug, pattern=pattern, ref_name=branch, creator=actor, seconds=60)
    # Bitbucket has no deployment webhook: what reaches the bot is the build status the pipeline posts on its commit.
    status = scene.fake.add_commit_status(
        scene.workspace, scene.slug, pipeline["target"]["commit"]["hash"], key=f"deploy-{pipeline['build_number']}",
        state="SUCCESSFUL", name=f"Pipeline #{pipeline['build_number']} for {pattern}", refname=branch,
        url=f"https://bitbucket.org/{scene.workspace}/{scene.slug}/addon/pipelines/home#!/results/{pipeline['build_number']}",
    )
    sent = scene.status_event(status, actor)
    return Simulated(f"{scene.name(actor)} deployed {branch} to {DEPLOY_ENVIRONMENT.title()} with pipeline "
                     f"#{pipeline['build_number']}; Bitbucket has no deployment webhook, so it told of the pipeline's build status", sent)


_KINDS = {
    "pr": _pull_request,
    "push": _push,
    "build-failed": lambda scene: _build(scene, "FAILED"),
    "build-fixed": lambda scene: _build(scene, "SUCCESSFUL"),
    "comment": lambda scene: _comment(scene, inline=False),
    "inline-comment": lambda scene: _comment(scene, inline=True),
    "approve": lambda scene: _review(scene, "approved"),
    "request-changes": lambda scene: _review(scene, "changes_requested"),
    "review-request": _review_request,
    "merge": _merge,
    "deploy": _deploy,
}
