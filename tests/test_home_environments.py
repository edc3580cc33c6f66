"""The Home tab's environments: for the repositories a person deploys to, each environment's lock, freeze,
protection, what the bot deployed there and whether they may deploy now; from the bot's own records and one
bounded read (the repository's environments, kept a minute)."""

import pytest

from tests import eventkit
from tests.deploykit import Clock, grant, said, seed
from tests.harness import SIGNING_SECRET, RunningBot, text_of

pytestmark = pytest.mark.both_backends

ANN, BOB = "UANN", "UBOB"


@pytest.fixture
def bot(settings, slack):
    slack.add_user(ANN, "ann")
    slack.add_user(BOB, "bob")
    running = RunningBot(settings, slack, clock=Clock())
    yield running
    running.stop()


def home_text(bot, slack, user, count=1) -> str:
    eventkit.post_event(bot.url, eventkit.app_home_opened(user), SIGNING_SECRET)
    slack.wait_for(lambda: len([c for c in slack.calls_to("views.publish") if c.args.get("user_id") == user]) >= count)
    bot.services.wait_idle()
    view = slack.home_views[user]
    assert len(view["blocks"]) <= 100
    return text_of({"blocks": view["blocks"]})


def test_the_home_tab_shows_the_environments_of_the_repositories_you_deploy_to(bot, bitbucket, slack):
    seed(bitbucket)
    grant(bot, ANN, "deployer:staging")
    said(bot, "lock api staging for 2h checking the migration", user_id=ANN)
    said(bot, "protect api production approvals:2")
    before = len(bitbucket.requests_to("GET", "/environments/"))
    shown = home_text(bot, slack, ANN)
    assert "Your environments" in shown and "*acme/api*" in shown
    staging, production = shown.index("*Staging*"), shown.index("Production")
    assert staging < shown.index(f"Locked by <@{ANN}>") < production  # Staging: locked by Ann, who may deploy
    assert "checking the migration" in shown and "You may deploy there now" in shown
    assert ":shield: Protected: 2 approvals" in shown[production:]
    assert "You may not deploy there now" in shown[production:] and "`deployer:production`" in shown[production:]
    assert len(bitbucket.requests_to("GET", "/environments/")) == before + 1
    assert bitbucket.requests_to("GET", "/deployments/") == []  # no deployments read for the tab

    home_text(bot, slack, ANN, count=2)  # within the minute: no new read
    assert len(bitbucket.requests_to("GET", "/environments/")) == before + 1


def test_no_environments_section_for_someone_who_deploys_nowhere(bot, bitbucket, slack):
    seed(bitbucket)
    assert "Your environments" not in home_text(bot, slack, BOB)
