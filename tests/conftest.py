import pytest

from tests import slackkit

slackkit.ensure_no_proxy_for_loopback()

# Property-based tests (hypothesis): bounded and derandomized by default, so CI runs the same examples every
# time; HYPOTHESIS_PROFILE=explore (or `--hypothesis-seed=N`) searches further. A failure prints its
# @reproduce_failure blob.
from hypothesis import settings as hypothesis_settings  # noqa: E402

hypothesis_settings.register_profile("ci", max_examples=60, derandomize=True, deadline=None, print_blob=True, database=None)
hypothesis_settings.register_profile("explore", max_examples=2000, deadline=None, print_blob=True)
hypothesis_settings.load_profile(__import__("os").environ.get("HYPOTHESIS_PROFILE", "ci"))


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


def pytest_configure(config):
    config.addinivalue_line("markers", "both_backends: run the module's tests on SQLite and on PostgreSQL")


def pytest_generate_tests(metafunc):
    """Tests marked `both_backends` run once per backend; the others on SQLite."""
    if "backend" in metafunc.fixturenames:
        from tests.dbkit import BACKENDS

        backends = BACKENDS if metafunc.definition.get_closest_marker("both_backends") else ("sqlite",)
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request):
    return request.param


@pytest.fixture
def database(backend, tmp_path):
    """Where the bot's store lives for this test: a SQLite file, or a fresh PostgreSQL schema."""
    from tests.dbkit import target_for

    target, schema = target_for(backend, tmp_path)
    yield target
    if schema is not None:
        schema.drop()


@pytest.fixture
def store(database):
    """The bot's store with every migration applied, on the test's backend."""
    from bot.registry import open_migrated

    opened = open_migrated(database)
    yield opened
    opened.close()


@pytest.fixture
def settings(tmp_path, slack, bitbucket, database):
    from tests.harness import make_settings

    return make_settings(tmp_path, slack, bitbucket, **database_settings(database))


def database_settings(target: str) -> dict:
    from bot.core.store import is_postgres_url

    return {"database_url": target} if is_postgres_url(target) else {"database_path": target}


@pytest.fixture
def bot(settings, slack):
    from tests.harness import RunningBot

    running = RunningBot(settings, slack)
    yield running
    running.stop()
