import pytest

from tests import slackkit

slackkit.ensure_no_proxy_for_loopback()


@pytest.fixture
def slack():
    from bot.sandbox.slack import FakeSlack

    with FakeSlack(bot_token="xoxb-test") as fake:
        yield fake


@pytest.fixture
def bitbucket():
    from bot.sandbox.bitbucket import FakeBitbucket
    from tests.harness import BITBUCKET_TOKEN

    with FakeBitbucket() as fake:
        bot_user = fake.add_user("chatops-bot", "ChatOps bot")
        fake.allow_bearer(BITBUCKET_TOKEN, user=bot_user)
        yield fake


@pytest.fixture
def settings(tmp_path, slack, bitbucket):
    from tests.harness import make_settings

    return make_settings(tmp_path, slack, bitbucket)


@pytest.fixture
def bot(settings, slack):
    from tests.harness import RunningBot

    running = RunningBot(settings, slack)
    yield running
    running.stop()
