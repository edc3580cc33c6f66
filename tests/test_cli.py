"""The command line: serve refuses clearly, check says what works, the shell runs the same handlers."""

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.core.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, env=None, cwd=None, timeout=60):
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost"}
    return subprocess.run(
        [sys.executable, "-m", "bot.app.cli", *args], env={**base, **(env or {})}, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_serve_without_settings_says_one_line_per_variable_and_no_traceback(tmp_path):
    result = run_cli("serve", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "BITBUCKET_ACCESS_TOKEN", "BITBUCKET_WEBHOOK_SECRET"):
        assert name in result.stderr
    assert "shell --sandbox" in result.stderr


def test_serve_without_settings_points_at_what_an_installed_bot_has(tmp_path):
    """A pip-installed bot has no .env.example: the refusal points at `serve --help` and the README's table."""
    result = run_cli("serve", cwd=tmp_path)
    assert ".env.example" not in result.stderr
    assert "serve --help" in result.stderr and "Settings table" in result.stderr


def test_the_readme_settings_table_names_every_setting_the_bot_reads():
    import re

    read = set(re.findall(r'get\("([A-Z_]+)"', (ROOT / "bot" / "core" / "config.py").read_text()))
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Settings"):readme.index("## Monitoring")]
    assert len(read) > 25 and {name for name in read if f"`{name}`" not in table} == set()


def test_version():
    from importlib.metadata import version

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"bitbucket-chatops {version('bitbucket-chatops')}"


SUBCOMMANDS = [("serve",), ("shell",), ("check",), ("deliveries",), ("db",), ("db", "copy"), ("rotate-keys",), ("webhooks",),
               ("webhooks", "update")]


def test_every_subcommand_says_what_it_does_and_which_settings_it_reads():
    for words in SUBCOMMANDS:
        result = run_cli(*words, "--help")
        assert result.returncode == 0, words
        text = " ".join(result.stdout.split())
        description = text.split("options:")[0]
        assert len(description.split()) > 12, (words, text)  # more than the usage line: what it does
        assert "Reads" in text or words in (("db",), ("webhooks",)), (words, text)
    serve = " ".join(run_cli("serve", "--help").stdout.split())
    for name in ("HOST", "PORT", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "BITBUCKET_WEBHOOK_SECRET", "DATABASE_URL"):
        assert name in serve, name
    assert "DATABASE_PATH" in " ".join(run_cli("check", "--help").stdout.split())
    assert "CHATOPS_SECRET_KEY" in " ".join(run_cli("rotate-keys", "--help").stdout.split())


def test_secrets_never_appear_in_refusals(tmp_path):
    result = run_cli("serve", env={"SLACK_BOT_TOKEN": "not-a-bot-token-s3cret", "BITBUCKET_EMAIL": "a@example.com"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "s3cret" not in result.stderr and "xoxb-" in result.stderr


def test_dotenv_is_read_and_the_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("BITBUCKET_WORKSPACE=from-file\nPORT=4000\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORT", "5000")
    monkeypatch.delenv("BITBUCKET_WORKSPACE", raising=False)
    settings = Settings.from_env()
    assert (settings.bitbucket_workspace, settings.port) == ("from-file", 5000)


def test_settings_problems_for_a_bad_time_zone_and_port():
    problems = Settings.from_env({"PORT": "http", "REMINDER_TIMEZONE": "Mars/Olympus"}, dotenv=False).problems()
    assert any("PORT" in line for line in problems) and any("Mars/Olympus" in line for line in problems)


def test_check_reports_line_by_line(tmp_path, slack, bitbucket):
    bitbucket.add_repository("acme", "api")
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": slack.api_url,
        "BITBUCKET_API_URL": bitbucket.base_url, "BITBUCKET_ACCESS_TOKEN": "bot-access-token", "BITBUCKET_WORKSPACE": "acme",
        "BITBUCKET_WEBHOOK_SECRET": "w", "DATABASE_PATH": str(tmp_path / "db" / "chatops.db"),
    }
    result = run_cli("check", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[ok ] Bitbucket: can read workspace acme" in result.stdout
    assert "[ok ] Slack auth.test" in result.stdout
    assert "does not exist yet; serve creates it" in result.stdout and not (tmp_path / "db").exists()
    assert "/bb login is off" in result.stdout and "CHATOPS_SECRET_KEY" in result.stdout
    assert "SLACK_CLIENT_ID" in result.stdout and "SLACK_CLIENT_SECRET" in result.stdout
    assert "bot-access-token" not in result.stdout

    ready = run_cli("check", env={**env, "BITBUCKET_OAUTH_CLIENT_ID": "c", "BITBUCKET_OAUTH_CLIENT_SECRET": "cs",
                                  "PUBLIC_URL": "https://bot.example.com", "CHATOPS_SECRET_KEY": "k" * 32, "SLACK_CLIENT_ID": "1.2",
                                  "SLACK_CLIENT_SECRET": "slack-secret-value", "CHATOPS_OLD_SECRET_KEYS": "old-key-value",
                                  "BITBUCKET_OLD_WEBHOOK_SECRETS": "old-hook-secret,older"}, cwd=tmp_path)
    assert "/bb login is on" in ready.stdout and "https://bot.example.com/slack/oidc/callback" in ready.stdout
    assert "rotate-keys" in ready.stdout and "2 former secret(s)" in ready.stdout and "webhooks update" in ready.stdout
    for secret in ("slack-secret-value", "old-key-value", "old-hook-secret"):
        assert secret not in ready.stdout + ready.stderr

    refused = run_cli("check", env={**env, "BITBUCKET_ACCESS_TOKEN": "wrong-token", "SLACK_BOT_TOKEN": "xoxb-wrong"}, cwd=tmp_path)
    assert refused.returncode == 1
    assert "[FIX] Bitbucket refused the credential" in refused.stdout
    assert "[FIX] Slack refused the bot token: invalid_auth" in refused.stdout
    assert "wrong-token" not in refused.stdout


def test_the_shell_runs_commands_and_clicks_buttons_in_the_sandbox(tmp_path):
    from bot.app.shell import Console

    lines: list[str] = []
    console = Console(Settings(database_path=str(tmp_path / "shell.db")), sandbox=True, write=lines.append)
    try:
        console.handle_line("/bb prs api")
        listing = "\n".join(lines)
        assert "Open pull requests in acme/api" in listing and "[1] Approve" in listing
        merge_button = next(s.button.number for s in console.buttons if s.button.action_id == "bb_ask_merge")
        lines.clear()
        console.handle_line(str(merge_button))
        confirm = next(s.button.number for s in console.buttons if s.button.action_id == "bb_confirm_merge")
        assert "Merge" in "\n".join(lines)
        lines.clear()
        console.handle_line(str(confirm))
        assert "merged" in "\n".join(lines)
        lines.clear()
        console.handle_line("mrege api 1")
        assert "Did you mean `/bb merge`?" in "\n".join(lines)
    finally:
        console.close()


def test_socket_mode_needs_no_signing_secret_and_refuses_unsigned_http(tmp_path):
    import io

    from bot.app.server import BotServer
    from bot.registry import build_services

    settings = Settings(
        slack_bot_token="xoxb-x", slack_app_token="xapp-1", bitbucket_access_token="t", bitbucket_webhook_secret="w",
        database_path=str(tmp_path / "db.sqlite"),
    )
    assert settings.problems(socket_mode=True) == []
    server = BotServer(build_services(settings), host="127.0.0.1", port=0)
    statuses = []
    body = server.wsgi(
        {"REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events", "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO(b"")},
        lambda status, headers: statuses.append(status),
    )
    assert statuses == ["401 Unauthorized"] and b"Socket Mode" in b"".join(body)
    # What SocketModeHandler serves answers /bb: a command arriving over the WebSocket, dispatched the way the
    # handler dispatches each one (unsigned, mode "socket_mode"), is acknowledged with the help.
    from slack_bolt.adapter.socket_mode.internals import run_bolt_app
    from slack_sdk.socket_mode.request import SocketModeRequest

    payload = {"command": "/bb", "text": "help", "team_id": "T1", "channel_id": "C1", "user_id": "U1",
               "response_url": "https://hooks.slack.invalid/commands/1", "trigger_id": "trig-1"}
    try:
        ack = run_bolt_app(server.wsgi.bolt_app, SocketModeRequest(type="slash_commands", envelope_id="e1", payload=payload))
    finally:
        server.stop()
    assert ack.status == 200, ack.body
    answer = json.loads(ack.body)
    assert answer["response_type"] == "ephemeral" and answer["text"].startswith("/bb commands: help, prs")


def test_a_broken_deploy_pipeline_template_is_caught_at_start():
    problems = Settings.from_env({"DEPLOY_PIPELINE": "deploy-{env}"}, dotenv=False).problems()
    assert any("DEPLOY_PIPELINE" in line and "{environment}" in line for line in problems)
    assert not any("DEPLOY_PIPELINE" in line for line in Settings.from_env({}, dotenv=False).problems())
