"""A database that is wrong, down at start, or lost while running: a clear line, or a 503 that makes
Bitbucket retry. Nothing is acknowledged that was not stored."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from bot.core.store import DatabaseUnavailable, open_store
from tests import webhookkit
from tests.dbkit import PostgresSchema, with_schema
from tests.harness import WEBHOOK_SECRET, RunningBot, make_settings, text_of
from tests.tcprelay import TcpRelay
from tests.test_cli import run_cli

SERVE_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-test",
    "SLACK_SIGNING_SECRET": "s",
    "BITBUCKET_ACCESS_TOKEN": "t",
    "BITBUCKET_WEBHOOK_SECRET": "w",
    "PORT": "39999",
}


def test_a_wrong_database_url_stops_serve_with_one_clear_line(tmp_path):
    result = run_cli("serve", env={**SERVE_ENV, "DATABASE_URL": "mysql://bot:pw@localhost/x"}, cwd=tmp_path)
    assert result.returncode == 2 and "DATABASE_URL must be a PostgreSQL URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_database_server_that_is_down_at_start_stops_serve_with_one_line_and_no_password(tmp_path):
    result = run_cli("serve", env={**SERVE_ENV, "DATABASE_URL": "postgresql://bot:s3cret-pw@127.0.0.1:1/chatops"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot be used" in result.stderr and "127.0.0.1:1" in result.stderr
    assert "s3cret-pw" not in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_names_the_database_in_use(tmp_path):
    schema = PostgresSchema()
    try:
        result = run_cli("check", env={"DATABASE_URL": schema.url}, cwd=tmp_path)
        assert "database in use: PostgreSQL" in result.stdout
        sqlite = run_cli("check", env={"DATABASE_PATH": str(tmp_path / "bot.db")}, cwd=tmp_path)
        assert "database in use: SQLite" in sqlite.stdout and str(tmp_path / "bot.db") in sqlite.stdout
    finally:
        schema.drop()


@pytest.fixture
def relayed_postgres():
    """A fresh schema on the real server, reached through a relay the test can cut."""
    schema = PostgresSchema()
    server = urlsplit(schema.server_url)
    relay = TcpRelay(server.hostname, server.port or 5432)
    url = with_schema(schema.server_url.replace(f"{server.hostname}:{server.port}", f"127.0.0.1:{relay.port}"), schema.schema)
    yield relay, url
    relay.close()
    schema.drop()


def test_a_database_lost_while_running_answers_503_and_the_retry_after_it_is_back_is_relayed_once(tmp_path, slack, bitbucket, relayed_postgres):
    relay, url = relayed_postgres
    bitbucket.add_repository("acme", "api")
    bot = RunningBot(make_settings(tmp_path, slack, bitbucket, database_url=url), slack)
    try:
        from bot import relay as relay_feature

        relay_feature.subscribe(bot.services.store, channel_id="C1", repo="acme/api", families=("pushes",), branch_glob="", user_id="U1", now=1.0)
        first = webhookkit.push_payload("acme", "api", actor={"display_name": "Ann"}, branch="main", commits=[("a" * 40, "before")])
        assert webhookkit.post(f"{bot.url}/bitbucket/webhook", "repo:push", first, WEBHOOK_SECRET, request_uuid="d-1").status_code == 200
        slack.wait_for(lambda: len(slack.channel_messages("C1")) == 1)
        # Cut only once the outbox has recorded it: a message in flight at the cut may be posted again.
        slack.wait_for(lambda: bot.services.store.query("SELECT state FROM outbox") == [{"state": "sent"}])

        relay.cut()
        second = webhookkit.push_payload("acme", "api", actor={"display_name": "Ann"}, branch="main", commits=[("b" * 40, "during")])
        lost = webhookkit.post(f"{bot.url}/bitbucket/webhook", "repo:push", second, WEBHOOK_SECRET, request_uuid="d-2")
        assert lost.status_code == 503
        assert bot.services.store.ping() is False
        import requests

        assert requests.get(f"{bot.url}/healthz", timeout=15).status_code == 503

        relay.mend()
        retried = None
        for _ in range(20):  # Bitbucket retries; the pool reconnects on its own
            retried = webhookkit.post(f"{bot.url}/bitbucket/webhook", "repo:push", second, WEBHOOK_SECRET, request_uuid="d-2")
            if retried.status_code == 200:
                break
        assert retried.status_code == 200 and retried.json()["duplicate"] is False
        def texts():
            return [text_of(m.to_api()) for m in slack.channel_messages("C1")]

        slack.wait_for(lambda: any("during" in t for t in texts()), timeout=15)
        assert sum("during" in t for t in texts()) == 1 and sum("before" in t for t in texts()) == 1
    finally:
        bot.stop()


def test_a_store_whose_server_is_gone_raises_unavailable_not_a_driver_error(relayed_postgres):
    relay, url = relayed_postgres
    store = open_store(url)
    try:
        assert store.ping()
        relay.cut()
        with pytest.raises(DatabaseUnavailable):
            store.query("SELECT 1 AS one")
    finally:
        relay.mend()
        store.close()


def test_health_says_what_the_intake_would_answer_when_sqlite_cannot_grow(bot, monkeypatch):
    """A full disk: reads still work (the old health said ok) but appends fail and deliveries get 503. Health
    answers 503 with the reason as long as an append would fail, and ok again once it would not."""
    import sqlite3

    import requests

    from tests import webhookkit
    from tests.harness import WEBHOOK_SECRET

    def push(n: int, size: int = 20_000):
        payload = {"repository": {"full_name": "acme/api"}, "push": {"changes": []}, "n": n, "pad": "x" * size}
        return webhookkit.post(f"{bot.url}/bitbucket/webhook", "repo:push", payload, WEBHOOK_SECRET)

    assert push(1).status_code == 200
    assert requests.get(f"{bot.url}/healthz", timeout=5).status_code == 200
    store = bot.services.store
    full = store.query("PRAGMA page_count")[0]["page_count"]

    def limit(pages: int) -> None:  # SQLite's own cap on the file: appends fail as on a full disk ("database or disk is full")
        for conn in list(store._connections):
            conn.execute(f"PRAGMA max_page_count = {pages}")

    real_connect = sqlite3.connect

    def capped_connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.execute(f"PRAGMA max_page_count = {full}")
        return conn

    monkeypatch.setattr(sqlite3, "connect", capped_connect)
    limit(full)
    assert push(2, 250_000).status_code == 503  # more than the pages the file has free
    health = requests.get(f"{bot.url}/healthz", timeout=5)
    assert health.status_code == 503 and "full" in health.json()["intake"], health.text
    assert requests.get(f"{bot.url}/healthz", timeout=5).status_code == 503  # still, while it would fail

    monkeypatch.setattr(sqlite3, "connect", real_connect)
    limit(1_000_000_000)
    assert requests.get(f"{bot.url}/healthz", timeout=5).json() == {"status": "ok", "database": "ok"}
    assert push(3).status_code == 200
