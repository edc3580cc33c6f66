"""`bitbucket-chatops db copy --to postgresql://…`: a SQLite database moves to PostgreSQL with nothing lost,
and a bot started on the copy carries on (its pending messages are delivered, its tokens still open)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot import accounts, relay, reminders
from bot.core import audit, outbox
from bot.registry import migrations, open_migrated
from bot.core.permissions import Grant, Permissions
from bot.core.render import notice
from bot.core.store import SQLiteStore, open_store
from bot.core.store.copy import NOT_COPIED
from tests.dbkit import PostgresSchema
from tests.harness import RunningBot, make_settings
from tests.test_cli import run_cli

SECRET_KEY = "copy-test-secret-key"


@pytest.fixture
def postgres():
    schema = PostgresSchema()
    yield schema
    schema.drop()


def fill(path: str) -> None:
    """One of everything a team keeps: subscriptions, reminders and their marks, roles, links, tokens, audit, outbox."""
    store = open_migrated(path)
    try:
        relay.subscribe(store, channel_id="C1", repo="acme/api", families=("pushes", "builds"), branch_glob="main", user_id="U1", now=1.0)
        relay.remember_main_branch(store, repo="acme/api", main_branch="main", user_id="U1", now=1.0)
        schedule, _ = reminders.save_schedule(store, channel_id="C1", repo="acme/api", after_seconds=7200, at="09:30", days=("mon",),
                                              user_id="U1", now=datetime(2026, 3, 2, tzinfo=timezone.utc))
        store.execute("INSERT INTO reminder_sent (reminder_id, day, sent_at, stale_count, outbox_id) VALUES (?, '2026-03-02', 5.0, 0, NULL)",
                      (schedule.id,))
        Permissions(store, frozenset()).grant(Grant("U2", "deployer", "production", "acme/api"), granted_by="UADMIN")
        accounts.link(store, slack_user_id="U3", nickname="carol", account=None, linked_by="U3")
        cipher = accounts.TokenCipher(SECRET_KEY)
        accounts.save_login(store, cipher, accounts.LoginRequest("U4", "T1"), accounts.TokenSet("access-4", "refresh-4", 9e9),
                            {"uuid": "{u4}", "account_id": "557058:4", "nickname": "dave", "display_name": "Dave"}, now=2.0)
        audit.AuditLog(store).record("U2", "deploy", "acme/api", ok=True, result="started", detail={"env": "production"})
        with store.transaction() as db:
            outbox.enqueue(db, channel="C1", message=notice("Waiting since before the move"), key="C1|repo:acme/api")
            outbox.enqueue(db, channel="C1", message=notice("Already sent"), key="C1|other")
        store.execute("UPDATE outbox SET state = 'sent', ts = '1.000001' WHERE key = 'C1|other'")
        store.claim("merge:acme/api#3", "U2")
    finally:
        store.close()


def rows_of(store, table: str) -> list[tuple]:
    rows = store.query(f"SELECT * FROM {table}")
    return sorted(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row.values()) for row in rows)


def test_copy_moves_every_table_and_a_bot_on_the_copy_carries_on(tmp_path, postgres, slack, bitbucket):
    source = str(tmp_path / "chatops.db")
    fill(source)
    result = run_cli("db", "copy", "--to", postgres.url, env={"DATABASE_PATH": source}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "outbox: 2 row(s)" in result.stdout and "copied" in result.stdout

    before, after = SQLiteStore(source), open_store(postgres.url)
    try:
        tables = [row["name"] for row in before.query("SELECT name FROM sqlite_master WHERE type = 'table'")
                  if row["name"] not in NOT_COPIED and not row["name"].startswith("sqlite_")]
        assert {"subscriptions", "reminders", "reminder_sent", "grants", "user_links", "bitbucket_logins", "audit", "outbox",
                "action_claims", "webhook_registrations"} <= set(tables)
        for table in tables:
            assert rows_of(after, table) == rows_of(before, table), table
        # New rows get new ids: the identity sequences moved past the copied ones.
        with after.transaction() as db:
            new_id = outbox.enqueue(db, channel="C1", message=notice("after the move"), key="k")
        assert new_id > max(row["id"] for row in before.query("SELECT id FROM outbox"))
        # The encrypted tokens still open with the same key.
        sealed = after.query_one("SELECT tokens, expires_at FROM bitbucket_logins WHERE slack_user_id = 'U4'")
        assert accounts.TokenCipher(SECRET_KEY).open(sealed["tokens"], "U4", sealed["expires_at"]).access_token == "access-4"
        after.execute("DELETE FROM outbox WHERE key = 'k'")
    finally:
        before.close()
        after.close()

    bot = RunningBot(make_settings(tmp_path, slack, bitbucket, database_url=postgres.url), slack)
    try:
        slack.wait_for(lambda: any("Waiting since before the move" in m.text for m in slack.channel_messages("C1")), timeout=10)
        assert [m.text for m in slack.channel_messages("C1")].count("Waiting since before the move") == 1
        assert not any("Already sent" in m.text for m in slack.channel_messages("C1"))
    finally:
        bot.stop()


def test_copy_refuses_a_database_that_is_not_empty_and_changes_nothing(tmp_path, postgres):
    source = str(tmp_path / "chatops.db")
    fill(source)
    target = open_store(postgres.url).migrate(migrations())
    target.execute("INSERT INTO action_claims (key, user_id, claimed_at) VALUES ('theirs', 'U9', 1.0)")
    target.close()
    result = run_cli("db", "copy", "--to", postgres.url, "--from", source, cwd=tmp_path)
    assert result.returncode == 1 and "not empty" in result.stderr and "Traceback" not in result.stderr
    target = open_store(postgres.url)
    try:
        assert target.query("SELECT key FROM action_claims") == [{"key": "theirs"}]
        assert target.query("SELECT COUNT(*) AS n FROM outbox")[0]["n"] == 0
    finally:
        target.close()


def test_copy_with_a_wrong_target_or_source_says_so_in_one_line(tmp_path):
    missing = run_cli("db", "copy", "--to", "postgresql://postgres@127.0.0.1:5432/test", "--from", str(tmp_path / "none.db"), cwd=tmp_path)
    assert missing.returncode == 2 and "no SQLite database" in missing.stderr
    source = str(tmp_path / "chatops.db")
    SQLiteStore(source).migrate(migrations()).close()
    not_pg = run_cli("db", "copy", "--to", str(tmp_path / "other.db"), "--from", source, cwd=tmp_path)
    assert not_pg.returncode == 2 and "PostgreSQL URL" in not_pg.stderr
    down = run_cli("db", "copy", "--to", "postgresql://bot:hunter2@127.0.0.1:1/none", "--from", source, cwd=tmp_path)
    assert down.returncode == 2 and "cannot be used" in down.stderr
    assert "hunter2" not in down.stderr and "Traceback" not in down.stderr
    assert len(down.stderr.strip().splitlines()) == 1
