"""`bitbucket-chatops check` as a new user meets it: a refused credential told apart from a host that cannot be
reached (each with its own fix), no log lines before the report, settings that look set but cannot work, no
database file made by looking, and the Slack scopes each feature that is on needs."""

from __future__ import annotations

import re
import socket
import ssl
import urllib.error

import pytest
import requests

from bot.app import check
from bot.app.check import check_lines
from bot.core import manifest
from bot.registry import FEATURES
from tests.harness import make_settings
from tests.test_cli import run_cli


def lines_of(settings) -> list[str]:
    return [str(line) for line in check_lines(settings)]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_workspace(bitbucket):
    bitbucket.add_repository("acme", "api")
    return bitbucket


# --- refused or unreachable ----------------------------------------------------------------------------------


def test_a_refused_bitbucket_credential_is_a_credential_problem(tmp_path, slack, bitbucket):
    with_workspace(bitbucket)
    lines = lines_of(make_settings(tmp_path, slack, bitbucket, bitbucket_access_token="wrong-token"))
    (line,) = [line for line in lines if "Bitbucket" in line and line.startswith("[FIX]")]
    assert "refused the credential" in line and "401" in line and "token" in line and "wrong-token" not in line


@pytest.mark.parametrize("url, said, fix", [
    ("https://no-such-host.invalid/2.0", "does not resolve", "DNS"),
    ("http://127.0.0.1:{closed}/2.0", "nothing accepts connections", "firewall"),
])
def test_an_unreachable_bitbucket_is_not_called_a_refused_credential(tmp_path, slack, bitbucket, url, said, fix):
    settings = make_settings(tmp_path, slack, bitbucket, bitbucket_api_url=url.format(closed=closed_port()))
    (line,) = [line for line in lines_of(settings) if line.startswith("[FIX]") and "Bitbucket" in line]
    assert said in line and fix in line and "BITBUCKET_API_URL" in line
    assert "refused the credential" not in line and "scopes" not in line


def test_a_tls_failure_says_tls(tmp_path, slack, bitbucket):
    plain = bitbucket.base_url.replace("http://", "https://")  # the simulated Bitbucket speaks plain HTTP
    (line,) = [line for line in lines_of(make_settings(tmp_path, slack, bitbucket, bitbucket_api_url=plain))
               if line.startswith("[FIX]") and "Bitbucket" in line]
    assert "TLS" in line and "refused the credential" not in line


def test_slack_refusing_the_token_and_slack_unreachable_are_told_apart(tmp_path, slack, bitbucket):
    with_workspace(bitbucket)
    refused = [line for line in lines_of(make_settings(tmp_path, slack, bitbucket, slack_bot_token="xoxb-wrong")) if "Slack" in line and "FIX" in line]
    assert any("Slack refused the bot token: invalid_auth" in line and "SLACK_BOT_TOKEN" in line for line in refused), refused
    far = make_settings(tmp_path, slack, bitbucket, slack_api_url="https://no-such-host.invalid/api/")
    (line,) = [line for line in lines_of(far) if line.startswith("[FIX]") and "Slack" in line]
    assert "does not resolve" in line and "SLACK_API_URL" in line and "SLACK_BOT_TOKEN" not in line


@pytest.mark.parametrize("error, said", [
    (requests.ConnectTimeout("connect timed out"), "did not answer in time"),
    (requests.ReadTimeout("read timed out"), "did not answer in time"),
    (urllib.error.URLError(socket.timeout("timed out")), "did not answer in time"),
    (TimeoutError("timed out"), "did not answer in time"),
    (urllib.error.URLError(socket.gaierror(-2, "Name or service not known")), "does not resolve"),
    (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "nothing accepts connections"),
    (urllib.error.URLError(ssl.SSLCertVerificationError(1, "certificate verify failed")), "TLS"),
    (requests.exceptions.SSLError("handshake failure"), "TLS"),
])
def test_each_way_of_not_reaching_a_host_has_its_words(error, said):
    what, fix = check.network_trouble(error, "api.bitbucket.org", "BITBUCKET_API_URL")
    assert said in what and fix


def test_a_host_that_answered_is_no_network_trouble():
    assert check.network_trouble(ValueError("no"), "h", "X") is None


def test_check_prints_no_log_lines_only_its_report(tmp_path):
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": "https://no-such-host.invalid/api/",
           "BITBUCKET_API_URL": f"http://127.0.0.1:{closed_port()}/2.0", "BITBUCKET_ACCESS_TOKEN": "t",
           "BITBUCKET_WEBHOOK_SECRET": "w", "DATABASE_PATH": str(tmp_path / "bot.db")}
    result = run_cli("check", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == ""
    assert all(line.startswith("[") for line in result.stdout.splitlines() if line.strip()), result.stdout


# --- settings that look set but cannot work --------------------------------------------------------------------


@pytest.mark.parametrize("url, status, words", [
    ("http://chatops.example.com", "FIX", "HTTPS"),
    ("chatops.example.com", "FIX", "https://"),
    ("http://127.0.0.1:3000", " - ", "this machine"),
    ("http://localhost:3000", " - ", "this machine"),
    ("https://chatops.example.com", "ok ", "webhooks are registered at https://chatops.example.com/bitbucket/webhook"),
])
def test_public_url_must_be_https_except_on_this_machine(tmp_path, slack, bitbucket, url, status, words):
    settings = make_settings(tmp_path, slack, bitbucket, public_url=url)
    (line,) = [line for line in check_lines(settings) if line.text.startswith("PUBLIC_URL")]
    assert line.status == status and words in line.text


def test_admins_that_are_not_member_ids_are_named(tmp_path, slack, bitbucket):
    settings = make_settings(tmp_path, slack, bitbucket, chatops_admins=frozenset({"alice", "U0ABC1234"}))
    (line,) = [line for line in check_lines(settings) if "CHATOPS_ADMINS" in line.text]
    assert line.status == "FIX" and "`alice`" in line.text and "U0ABC1234" not in line.text and "member ID" in line.text
    nobody = [line for line in check_lines(make_settings(tmp_path, slack, bitbucket, chatops_admins=frozenset())) if "CHATOPS_ADMINS" in line.text]
    assert len(nobody) == 1 and "nobody can grant roles" in nobody[0].text
    fine = [line for line in check_lines(make_settings(tmp_path, slack, bitbucket, chatops_admins=frozenset({"U0ABC1234"}))) if "CHATOPS_ADMINS" in line.text]
    assert [line.status for line in fine] == ["ok "]


def test_an_empty_workspace_is_named_whatever_bitbucket_answers(tmp_path, slack, bitbucket):
    for credential in ("bot-access-token", "wrong-token"):
        settings = make_settings(tmp_path, slack, bitbucket, bitbucket_workspace="", bitbucket_access_token=credential)
        assert any("BITBUCKET_WORKSPACE is empty" in line for line in lines_of(settings))


def test_a_workspace_the_credential_cannot_see_is_not_a_refused_credential(tmp_path, slack, bitbucket):
    settings = make_settings(tmp_path, slack, bitbucket, bitbucket_workspace="nope")
    (line,) = [line for line in lines_of(settings) if line.startswith("[FIX]") and "Bitbucket" in line]
    assert "BITBUCKET_WORKSPACE" in line and "nope" in line and "refused the credential" not in line


def test_check_makes_no_database_file(tmp_path, slack, bitbucket):
    path = tmp_path / "data" / "chatops.db"
    lines = lines_of(make_settings(tmp_path, slack, bitbucket, database_path=str(path)))
    assert not path.exists() and not path.parent.exists()
    assert any(line.startswith("[ok ]") and "serve creates it" in line and str(path) in line for line in lines), lines
    assert any("database in use: SQLite" in line for line in lines)


def test_a_database_folder_that_cannot_be_made_is_to_fix(tmp_path, slack, bitbucket):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    lines = lines_of(make_settings(tmp_path, slack, bitbucket, database_path=str(blocker / "chatops.db")))
    assert any(line.startswith("[FIX]") and "cannot be created" in line for line in lines), lines


# --- Slack scopes by feature -----------------------------------------------------------------------------------


def test_check_names_the_scopes_each_feature_needs_and_those_the_token_lacks(tmp_path, slack, bitbucket):
    settings = make_settings(tmp_path, slack, bitbucket)
    lines = lines_of(settings)
    (needs,) = [line for line in lines if line.startswith("[ - ] Slack scopes the features on need")]
    assert "roles: users:read" in needs and "insights: files:write" in needs and "unfurl: links:read, links:write" in needs
    assert "openid" not in needs  # /bb login is off: Sign in with Slack's user scope is not needed
    assert any(line.startswith("[ok ] the Slack token has every scope") for line in lines)
    slack.scopes = "commands,chat:write,chat:write.public,im:write,links:read,links:write,files:write"
    (lacking,) = [line for line in lines_of(settings) if "lacks the scopes" in line]
    assert lacking.startswith("[FIX]") and "users:read (roles: find people typed as @name)" in lacking
    assert "reinstall" in lacking


def test_the_user_scope_counts_once_login_is_on(tmp_path, slack, bitbucket):
    settings = make_settings(tmp_path, slack, bitbucket, bitbucket_oauth_client_id="c", bitbucket_oauth_client_secret="cs",
                             public_url="https://bot.example.com", chatops_secret_key="k" * 32, slack_client_id="1.2",
                             slack_client_secret="s")
    (needs,) = [line for line in lines_of(settings) if "Slack scopes the features on need" in line]
    assert "accounts (user token): openid" in needs


def test_a_manifest_that_lacks_a_needed_scope_is_to_fix(tmp_path, slack, bitbucket):
    text = re.sub(r"(?m)^ *- users:read +#.*\n", "", manifest.MANIFEST_PATH.read_text())
    assert "users:read.email" in text and "users:read " not in text
    (tmp_path / "manifest.yml").write_text(text)
    lines = [str(line) for line in check_lines(make_settings(tmp_path, slack, bitbucket), manifest_path=tmp_path / "manifest.yml")]
    assert any(line.startswith("[FIX]") and "manifest.yml does not declare" in line and "users:read" in line for line in lines), lines


def test_the_repositorys_manifest_declares_every_scope_the_features_need():
    needed: dict[str, set] = {"bot": set(), "user": set()}
    for feature in FEATURES:
        for kind, scopes in feature.slack_scopes.items():
            needed[kind] |= set(scopes)
    assert needed["bot"] and needed["user"]
    assert manifest.missing_scopes(manifest.load(), needed) == {}
