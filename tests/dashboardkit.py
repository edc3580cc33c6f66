"""The dashboard's test world: a bot with Sign in with Slack set up, a simulated Bitbucket with two repositories
(pull requests, commits, environments), and what operators leave behind (subscriptions, owners rules, a reminder, a
digest, a freeze, audit entries, a relayed and a failed delivery), all made through the bot's own doors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.accounts import signin
from bot.core.audit import AuditLog
from tests import webhookkit
from tests.browser import Browser
from tests.harness import ADMIN, WEBHOOK_SECRET, RunningBot, make_settings

PUBLIC_URL = "https://bot.example.com"
DASHBOARD_CALLBACK = "/dashboard/oidc/callback"
SLACK_CLIENT_ID, SLACK_CLIENT_SECRET = "1234.5678", "slack-app-client-secret"
NOW = datetime(2025, 3, 12, 15, 0, tzinfo=timezone.utc)  # a Wednesday; nothing here depends on today's date
MEMBER = "U1"
# Text from Bitbucket and Slack that a page must show as text, never as markup.
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
# A person's name as a `/bb owners` mention carries it (`<@U4|name>`: one word, no `>`), kept as the rule's label.
HOSTILE_LABEL = "<img/src=x/onerror=alert(1)"
OWNERS_RULES = ("owners acme/api src/billing/** <#C9|billing> <!subteam^S1|@billing-devs>", f"owners acme/api docs/** <@U4|{HOSTILE_LABEL}>")


class Clock:
    """The bot's clock, and the simulated Bitbucket's: tests move it."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def register_app(slack, public_url: str = PUBLIC_URL) -> None:
    slack.oidc.add_app(SLACK_CLIENT_ID, SLACK_CLIENT_SECRET,
                       redirect_uris=[public_url + signin.CALLBACK_PATH, public_url + DASHBOARD_CALLBACK])


COMMIT_DAYS = (1, 2, 3, 5, 8, 9, 10, 11, 12, 16, 17, 23, 24, 25, 30, 37, 38, 39, 40, 45, 50, 51)  # days before NOW, on main
# Merged in the last week: (days before NOW it merged, hours from opening to the first review, hours to merge).
MERGED = ((1, 2, 20), (2, 5, 30), (4, 1, 8), (6, 3, 50))


def seed_bitbucket(bitbucket, clock: Clock, *, hostile: bool = True) -> None:
    """acme/api: two open pull requests (one idle three days: stale), four merged this week with their first review,
    commits on main over eight weeks, three more branches, Staging and Production (#42 deployed by Alice)."""
    bitbucket.clock = clock
    bitbucket.add_repository("acme", "api", branches=("main", "feature/login", "feature/search"))
    bitbucket.add_repository("acme", "api2", branches=("main",))
    for nickname, name in (("alice", "Alice Liddell"), ("bob", "Bob"), ("carol", "Carol")):
        bitbucket.add_user(nickname, name)
    bitbucket.add_pull_request("acme", "api", title="Add login" + (" " + HOSTILE if hostile else " with SSO"), source="feature/login",
                               author="carol", reviewers=["alice"], created_on=NOW - timedelta(days=4), updated_on=NOW - timedelta(days=3))
    bitbucket.add_pull_request("acme", "api", title="Search", source="feature/search", author="alice", reviewers=["bob"],
                               created_on=NOW - timedelta(hours=5), updated_on=NOW - timedelta(hours=1))
    for days in COMMIT_DAYS:
        bitbucket.add_commit("acme", "api", "main", message=f"work {days}", date=NOW - timedelta(days=days))
    for number, (days, review_hours, merge_hours) in enumerate(MERGED, start=1):
        merged = NOW - timedelta(days=days)
        bitbucket.add_branch("acme", "api", f"fix/{number}")
        pr = bitbucket.add_pull_request("acme", "api", title=f"Fix {number}", source=f"fix/{number}", author="bob", reviewers=["alice"],
                                        state="MERGED", created_on=merged - timedelta(hours=merge_hours), updated_on=merged)
        bitbucket.add_review("acme", "api", pr["id"], "alice", at=merged - timedelta(hours=merge_hours - review_hours))
    bitbucket.add_environment("acme", "api", "Staging")
    bitbucket.add_environment("acme", "api", "Production")
    head = bitbucket.add_commit("acme", "api", "main", message="release", date=NOW - timedelta(hours=2))
    bitbucket.add_deployment("acme", "api", "Production", commit=head, release_name="#42", deployer="alice",
                             completed_on=NOW - timedelta(hours=1))


def settings_for(tmp_path, slack, bitbucket, database: str, public_url: str = PUBLIC_URL, **overrides):
    from tests.conftest import database_settings

    return make_settings(tmp_path, slack, bitbucket, **{
        **database_settings(database), "public_url": public_url, "slack_client_id": SLACK_CLIENT_ID,
        "slack_client_secret": SLACK_CLIENT_SECRET, "slack_oidc_authorize_url": slack.oidc_authorize_url, **overrides,
    })


def seed_operations(bot: RunningBot, bitbucket) -> dict:
    """Subscriptions, owners rules, a reminder, a digest, a freeze, audit entries and two deliveries; the failed one's id."""
    bot.slack.add_usergroup("S1", "billing-devs", ["U2", "U3"])
    for text, channel in (("subscribe acme/api", "C1"), ("subscribe acme/api pushes branch:main", "C2"), ("remind acme/api", "C1"),
                          ("digest acme/api", "C2"), *((rule, "C1") for rule in OWNERS_RULES)):
        bot.answer_text(bot.command(text, channel_id=channel, user_id=ADMIN))
    bot.answer_text(bot.command("freeze acme/api production release week " + HOSTILE, channel_id="C1", user_id=ADMIN))
    log = AuditLog(bot.services.store, clock=lambda: (NOW - timedelta(days=3)).timestamp())
    log.record("U2", "merge", "acme/api#7", ok=True, result="MERGED")
    log.record("U2", "merge", "acme/api2#1", ok=False, result="refused " + HOSTILE)
    AuditLog(bot.services.store, clock=lambda: (NOW - timedelta(days=20)).timestamp()).record("U3", "tag", "acme/api", ok=True, result="v1")
    actor = bitbucket.user("alice")
    good = webhookkit.push_payload("acme", "api", actor=actor, branch="main", commits=[("a" * 40, "Relayed")])
    bad = {**webhookkit.push_payload("acme", "api", actor=actor, branch="main", commits=[("b" * 40, "Odd")]), "push": "not an object"}
    for payload, uuid, answer in ((good, "good-1", 200), (bad, "bad-1", 400)):  # a body unfit for its key: kept as failed, refused
        assert webhookkit.post(f"{bot.url}/bitbucket/webhook", "repo:push", payload, WEBHOOK_SECRET, request_uuid=uuid).status_code == answer
    from bot import relay

    bot.slack.wait_for(lambda: {d.request_uuid: d.state for d in relay.recent_deliveries(bot.services.store)} == {"good-1": "relayed", "bad-1": "failed"})
    failed = next(d for d in relay.recent_deliveries(bot.services.store, state="failed"))
    return {"failed_id": failed.id}


def sign_in(bot: RunningBot, user: str = MEMBER, public_url: str = PUBLIC_URL) -> Browser:
    """A browser signed in to the dashboard as `user` (through the simulated Sign in with Slack)."""
    bot.slack.oidc_user = user
    browser = Browser(public_url, bot.url)
    page = browser.open(public_url + "/dashboard/signin/start")
    assert page.status_code == 200 and "<h1>Overview</h1>" in page.text, page.text[:500]
    return browser


def csrf_of(page_text: str) -> str:
    marker = 'name="csrf_token" value="'
    start = page_text.index(marker) + len(marker)
    return page_text[start:page_text.index('"', start)]
