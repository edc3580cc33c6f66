"""The sandbox's demo workspace: a small team, three repositories, a handful of pull requests to act on, and the
api's releases with the pipelines that built and deployed them (each deployment names a pipeline that exists).

Everything is dated relative to the fake's clock, so "stale" pull requests stay stale whenever the sandbox runs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.sandbox.history import seed_history

if TYPE_CHECKING:
    from bot.sandbox.bitbucket.server import FakeBitbucket

WORKSPACE = "acme"
SANDBOX_TOKEN = "sandbox-token"

PEOPLE = {
    "alice": "Alice Nguyen",
    "bob": "Bob Okafor",
    "carol": "Carol Diaz",
    "dave": "Dave Kowalski",
    "erin": "Erin Walsh",
}

RELEASES = ("v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0")
RELEASE_DAYS_AGO = (45, 30, 21, 13, 4)  # when each was committed (and tagged two minutes later)
UNRELEASED = "main"  # the commit on top of the last release
ENVIRONMENTS = ("Test", "Staging", "Production")
MAIN, TAG = "(main)", "(tag)"  # a build of the main branch, of a release tag

# acme/api's pipelines, oldest first: (build number, what ran: a deploy to an environment or a build of MAIN or
# of a TAG, the release it ran on, how many days ago it completed, its result, who started it).
API_PIPELINES = (
    (31, "Production", "v1.2.0", 20, "SUCCESSFUL", "alice"),
    (32, MAIN, "v1.3.0", 12.99, "SUCCESSFUL", "alice"),
    (33, TAG, "v1.3.0", 12.98, "SUCCESSFUL", "alice"),
    (34, "Test", "v1.3.0", 12.5, "SUCCESSFUL", "alice"),
    (35, "Staging", "v1.3.0", 12, "SUCCESSFUL", "alice"),
    (36, "Production", "v1.3.0", 10, "SUCCESSFUL", "alice"),
    (37, MAIN, "v1.4.0", 3.99, "SUCCESSFUL", "alice"),
    (38, TAG, "v1.4.0", 3.98, "SUCCESSFUL", "alice"),
    (39, "Test", "v1.4.0", 3.1, "FAILED", "alice"),  # a failed deploy, then deployed again
    (40, "Test", "v1.4.0", 3, "SUCCESSFUL", "alice"),
    (41, "Staging", "v1.4.0", 2, "SUCCESSFUL", "alice"),
    (42, "Test", UNRELEASED, 0.25, "SUCCESSFUL", "bob"),
)


def demo_workspace(fake: FakeBitbucket) -> None:
    """Seed workspace "acme" (repositories api, web, infra) and accept the bearer token "sandbox-token"."""
    for nickname, name in PEOPLE.items():
        fake.add_user(nickname, name)
    fake.allow_bearer(SANDBOX_TOKEN, name="ChatOps Sandbox")  # its own app user, like a workspace access token
    fake.add_workspace(WORKSPACE, "Acme Corp")
    fake.auto_advance_pipelines = True  # deploys started from Slack finish by themselves

    _seed_api(fake)
    _seed_web(fake)
    _seed_infra(fake)


def _seed_api(fake: FakeBitbucket) -> None:
    now = fake.clock()
    fake.add_repository(WORKSPACE, "api", name="API")
    release_commits = {}
    for version, days_ago in zip(RELEASES, RELEASE_DAYS_AGO):
        released = now - timedelta(days=days_ago)
        release_commits[version] = fake.add_commit(
            WORKSPACE, "api", "main", message=f"Release {version}", author="alice", date=released
        )
        fake.add_tag(
            WORKSPACE, "api", version, commit=release_commits[version], message=f"Release {version}\n", tagger="alice",
            date=released + timedelta(minutes=2),
        )
    unreleased = fake.add_commit(
        WORKSPACE, "api", "main", message="Tidy the health check", author="bob", date=now - timedelta(hours=8)
    )
    release_commits[UNRELEASED] = unreleased

    fake.add_pull_request(
        WORKSPACE, "api",
        title="Add rate limiting to public endpoints",
        source="feature/rate-limits",
        author="alice",
        reviewers=("bob", "carol"),
        approved_by=("bob",),
        created_on=now - timedelta(days=1, hours=3),
        updated_on=now - timedelta(hours=2),
        description="Token bucket per API key; 429 with Retry-After when exhausted.",
        close_source_branch=True,
    )
    fake.add_pull_request(
        WORKSPACE, "api",
        title="OAuth login for the admin console",
        source="feature/oauth-login",
        author="bob",
        reviewers=("alice", "dave"),
        changes_requested_by=("alice",),
        created_on=now - timedelta(days=9),
        updated_on=now - timedelta(days=4),  # stale
        description="Replaces the shared admin password.",
    )
    fake.add_pull_request(
        WORKSPACE, "api",
        title="WIP: structured logging",
        source="chore/structured-logging",
        author="carol",
        draft=True,
        created_on=now - timedelta(hours=20),
        updated_on=now - timedelta(hours=5),
    )

    # A release branch that a branch restriction keeps from being deleted, so `/bb branch api release/1.4 --delete`
    # shows the refusal (and `--force`, an admin's way past it, Bitbucket's own refusal).
    fake.add_branch(WORKSPACE, "api", "release/1.4", commit=release_commits["v1.4.0"])
    fake.add_branch_restriction(WORKSPACE, "api", "delete", "release/*")
    fake.add_branch_restriction(WORKSPACE, "api", "require_approvals_to_merge", "main", value=1)

    for environment in ENVIRONMENTS:
        fake.add_environment(WORKSPACE, "api", environment)
        fake.set_pipeline_script(WORKSPACE, "api", f"deploy-to-{environment.lower()}", steps_seconds=4.0)
    # The pipelines that ran, deploys among them: each deploy records its deployment (release "#<build number>"),
    # so `/bb builds api` and `/bb deployments api` tell the same story.
    for build_number, environment, release, days_ago, result, who in API_PIPELINES:
        on_tag = release != UNRELEASED and environment != MAIN
        fake.add_pipeline(
            WORKSPACE, "api",
            pattern=f"deploy-to-{environment.lower()}" if environment not in (MAIN, TAG) else None,
            ref_name=release if on_tag else "main",
            ref_type="tag" if on_tag else "branch",
            commit=release_commits[release],
            result=result,
            completed_on=now - timedelta(days=days_ago),
            creator=who,
            build_number=build_number,
        )
    # Three months of merged history, so `/bb stats api` has a real chart to draw.
    seed_history(fake, WORKSPACE, "api", people=list(PEOPLE), count=60, now=now, days=90, keep_open=False)


def _seed_web(fake: FakeBitbucket) -> None:
    now = fake.clock()
    fake.add_repository(WORKSPACE, "web", name="Web", branches=("main", "develop"))
    fake.add_tag(WORKSPACE, "web", "v2.0.0")
    fake.add_pull_request(
        WORKSPACE, "web",
        title="Render <!channel> & <b>bold</b> safely in the banner",  # shows that titles are escaped
        source="fix/banner-escaping",
        author="dave",
        reviewers=("erin", "alice"),
        approved_by=("erin", "alice"),
        created_on=now - timedelta(hours=30),
        updated_on=now - timedelta(hours=1),
        description="Titles and descriptions can contain `<!channel>`; they must never ping anyone.",
        close_source_branch=True,
    )
    fake.add_pull_request(
        WORKSPACE, "web",
        title="Upgrade the UI framework to the next major version",
        source="chore/framework-upgrade",
        author="erin",
        reviewers=("dave",),
        created_on=now - timedelta(days=15),
        updated_on=now - timedelta(days=9),  # stale
    )
    for environment in ENVIRONMENTS:
        fake.add_environment(WORKSPACE, "web", environment)
        fake.set_pipeline_script(WORKSPACE, "web", f"deploy-to-{environment.lower()}", steps_seconds=3.0)


def _seed_infra(fake: FakeBitbucket) -> None:
    now = fake.clock()
    # Squash only: merging with another strategy shows Bitbucket's refusal.
    fake.add_repository(WORKSPACE, "infra", name="Infra", merge_strategies=("squash",))
    fake.add_pull_request(
        WORKSPACE, "infra",
        title="Terraform: add a read replica to staging",
        source="feature/staging-replica",
        author="alice",
        reviewers=("dave", "bob"),
        approved_by=("dave",),
        created_on=now - timedelta(days=2),
        updated_on=now - timedelta(days=1, hours=4),
    )
    # Fails on purpose, so the sandbox can show a failed pipeline.
    fake.set_pipeline_script(WORKSPACE, "infra", "plan", outcome="FAILED", steps_seconds=2.0, steps=("Init", "Plan"),
                             logs={"Plan": "+ terraform plan -input=false\nError: Invalid provider credentials ($AWS_SECRET_ACCESS_KEY)\n"})
    # A red build on an open pull request, so the sandbox shows the merge gate.
    fake.add_commit_status(WORKSPACE, "web", "chore/framework-upgrade", key="unit-tests", state="FAILED", name="Unit tests",
                           url="https://ci.example.com/acme/web/unit-tests")
