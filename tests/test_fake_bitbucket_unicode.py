"""Non-ASCII ref names work end to end in the simulated Bitbucket (issue 14), and the simulator never prints
into the console: a handler's unexpected failure is a 500 with Bitbucket's error body and a log record."""

from __future__ import annotations

import json
import logging
import socket
from urllib.parse import quote, unquote

import pytest
import requests

from bot.core.config import Settings
from bot.sandbox.bitbucket import FakeBitbucket

WS, REPO = "acme", "api"
TAG = "v1.0-ß🚀"


@pytest.fixture
def fake():
    with FakeBitbucket() as server:
        server.add_user("alice", "Alice Nguyen")
        server.allow_bearer("alice-token", user="alice")
        server.add_repository(WS, REPO, branches=("main",))
        yield server


def api() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = "Bearer alice-token"
    return session


def repo_url(fake: FakeBitbucket, rest: str = "") -> str:
    return f"{fake.base_url}/repositories/{WS}/{REPO}{rest}"


def test_a_tag_with_a_non_ascii_name_is_created_and_its_location_is_percent_encoded(fake, capfd):
    main = fake.branches(WS, REPO)["main"]
    with api() as session:
        created = session.post(repo_url(fake, "/refs/tags"), json={"name": TAG, "target": {"hash": main}})
        assert created.status_code == 201, created.text
        assert created.json()["name"] == TAG
        location = created.headers["Location"]
        assert location.isascii() and unquote(location) == repo_url(fake, f"/refs/tags/{TAG}")
        assert created.json()["links"]["self"]["href"] == location
        html = created.json()["links"]["html"]["href"]
        assert html.isascii() and unquote(html).endswith(f"/commits/tag/{TAG}")
        # The Location answers, and so does the name percent-encoded by hand.
        assert session.get(location).json()["name"] == TAG
        assert session.get(repo_url(fake, "/refs/tags/" + quote(TAG))).json()["target"]["hash"] == main
        assert [tag["name"] for tag in session.get(repo_url(fake, "/refs/tags")).json()["values"]] == [TAG]
    assert [tag["name"] for tag in fake.tags(WS, REPO)] == [TAG]
    assert capfd.readouterr().err == ""


def test_a_branch_with_a_non_ascii_name_is_found_by_its_percent_encoded_path(fake):
    fake.add_branch(WS, REPO, "feature/café-ß")
    with api() as session:
        found = session.get(repo_url(fake, "/refs/branches/" + quote("feature/café-ß")))
    assert found.status_code == 200 and found.json()["name"] == "feature/café-ß"
    assert found.json()["links"]["self"]["href"].isascii()


def test_a_raw_non_ascii_request_path_is_read_as_utf8(fake):
    """A client that sends the bytes unencoded is understood too (as percent-encoded UTF-8)."""
    fake.add_tag(WS, REPO, TAG)
    path = f"/2.0/repositories/{WS}/{REPO}/refs/tags/{TAG}".encode()
    request = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\nConnection: close\r\n\r\n"
    with socket.create_connection((fake.host, fake.port), timeout=5) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert json.loads(body)["name"] == TAG


def test_non_ascii_header_values_are_percent_encoded_not_a_broken_connection(fake, capfd):
    fake.fail_next("GET", "/user$", status=429, body="slow down", headers={"Retry-After": "1", "X-Note": "ß🚀"})
    with api() as session:
        limited = session.get(f"{fake.base_url}/user")
        assert limited.status_code == 429 and limited.text == "slow down"
        assert limited.headers["Retry-After"] == "1" and unquote(limited.headers["X-Note"]) == "ß🚀"
        assert session.get(f"{fake.base_url}/user").status_code == 200  # the connection is still sound
    assert capfd.readouterr().err == ""


def test_an_unexpected_failure_in_a_handler_is_a_500_json_error_and_a_log_record_not_console_output(fake, capfd, caplog):
    def broken(call):
        raise RuntimeError("a bug in the simulator")

    fake._get_repository = broken
    with caplog.at_level(logging.DEBUG, logger="bot.sandbox"), api() as session:
        answer = session.get(repo_url(fake))
        assert answer.status_code == 500
        body = answer.json()
        assert body["type"] == "error" and body["error"]["message"] == "Something went wrong"
        assert "a bug in the simulator" in body["error"]["detail"]
        assert session.get(f"{fake.base_url}/user").status_code == 200
    assert capfd.readouterr().err == ""
    logged = [record for record in caplog.records if record.name.startswith("bot.sandbox") and record.exc_info]
    assert logged and logged[0].levelno == logging.DEBUG and "a bug in the simulator" in str(logged[0].exc_info[1])


def test_a_failure_while_answering_is_a_500_json_error_and_a_log_record(fake, capfd, caplog):
    """Even a failure after the handler (while the answer is written) reaches the client as a 500."""
    fake.fail_next("GET", "/user$", status=200, body={"unencodable": {1, 2}})  # a set is not JSON
    with caplog.at_level(logging.DEBUG, logger="bot.sandbox"), api() as session:
        answer = session.get(f"{fake.base_url}/user")
        assert answer.status_code == 500 and answer.json()["type"] == "error"
        assert session.get(f"{fake.base_url}/user").status_code == 200
    assert capfd.readouterr().err == ""
    assert any(record.name.startswith("bot.sandbox") and record.exc_info for record in caplog.records)


def test_tag_with_a_non_ascii_name_from_the_sandbox_shell(tmp_path, capfd):
    """`/bb tag api v1.0-ß🚀` in the sandbox: the tag is made, the answer says so, the console shows no traceback."""
    from bot.app.shell import Console

    lines: list[str] = []
    console = Console(Settings(database_path=str(tmp_path / "shell.db")), sandbox=True, write=lines.append)
    try:
        console.handle_line(f"/bb tag api {TAG}")
        console.flush()
        shown = "\n".join(lines)
        tags = [tag["name"] for tag in console.sandbox.bitbucket.tags("acme", "api")]
    finally:
        console.close()
    assert TAG in tags
    assert TAG in shown and "broke off" not in shown and "went wrong" not in shown.lower(), shown
    err = capfd.readouterr().err
    assert "Traceback" not in err and "UnicodeEncodeError" not in err, err
