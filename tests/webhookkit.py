"""Bitbucket webhook deliveries, the way Bitbucket sends them: signed, with its headers, to our app."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from pathlib import Path

import requests

FIXTURES = Path(__file__).parent / "fixtures" / "bitbucket-cloud" / "webhooks"


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


def event_key_of(path: Path) -> str:
    """`repo.push__zulip-push.json` → `repo:push` (INDEX.md: the name starts with the key, `:` written `.`)."""
    return path.name.split("__", 1)[0].replace(".", ":", 1)


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers_for(event_key: str, body: bytes, secret: str | None, *, request_uuid: str | None = None, attempt: int = 1) -> dict:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Bitbucket-Webhooks/2.0",
        "X-Event-Key": event_key,
        "X-Request-UUID": request_uuid or str(uuid.uuid4()),
        "X-Hook-UUID": "{00000000-0000-4000-8000-000000000001}",
        "X-Attempt-Number": str(attempt),
    }
    if secret is not None:
        headers["X-Hub-Signature"] = sign(secret, body)
    return headers


def post(url: str, event_key: str, payload: dict | bytes, secret: str | None, *, request_uuid: str | None = None,
         headers: dict | None = None, timeout: float = 10) -> requests.Response:
    """POST one delivery to `url` (the bot's `/bitbucket/webhook`)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {**headers_for(event_key, body, secret, request_uuid=request_uuid), **(headers or {})}
    with requests.Session() as session:
        session.trust_env = False  # loopback only
        return session.post(url, data=body, headers=sent, timeout=timeout)


# --- payloads built from the fake Bitbucket's state ----------------------------------------------------------


def repository_json(bitbucket, workspace: str, slug: str) -> dict:
    return {
        "type": "repository",
        "full_name": f"{workspace}/{slug}",
        "name": slug,
        "links": {"html": {"href": f"https://bitbucket.org/{workspace}/{slug}"}},
    }


def pull_request_payload(bitbucket, workspace: str, slug: str, pr_id: int, *, actor: str, **extra) -> dict:
    """A `pullrequest:*` body as Bitbucket would send it now: the pull request as the fake holds it."""
    return {
        "actor": bitbucket.user(actor),
        "repository": repository_json(bitbucket, workspace, slug),
        "pullrequest": copy.deepcopy(bitbucket.pull_request(workspace, slug, pr_id)),
        **extra,
    }


def push_payload(workspace: str, slug: str, *, actor: dict, branch: str, commits: list[tuple[str, str]], forced: bool = False,
                 created: bool = False, truncated: bool = False) -> dict:
    """A `repo:push` body with one branch change; `commits` are (hash, message), newest first."""
    commit_json = [
        {"type": "commit", "hash": h, "message": m, "author": {"raw": "Dev <dev@example.com>"},
         "links": {"html": {"href": f"https://bitbucket.org/{workspace}/{slug}/commits/{h}"}}}
        for h, m in commits
    ]
    head = commit_json[0] if commit_json else {"hash": "0" * 40}
    return {
        "actor": actor,
        "repository": {"full_name": f"{workspace}/{slug}", "name": slug, "links": {"html": {"href": f"https://bitbucket.org/{workspace}/{slug}"}}},
        "push": {"changes": [{
            "new": {"type": "branch", "name": branch, "target": head},
            "old": None if created else {"type": "branch", "name": branch, "target": {"hash": "f" * 40}},
            "created": created, "closed": False, "forced": forced, "truncated": truncated, "commits": commit_json,
            "links": {"html": {"href": f"https://bitbucket.org/{workspace}/{slug}/branches/compare/{head['hash']}..ffff"}},
        }]},
    }


def commit_status_payload(workspace: str, slug: str, *, actor: dict, name: str, state: str, refname: str | None, key: str = "build",
                          updated_on: str = "2026-01-01T00:00:00+00:00", commit: str = "a" * 40) -> dict:
    status = {"type": "build", "key": key, "name": name, "state": state, "url": f"https://ci.example.com/{key}",
              "commit": {"hash": commit}, "created_on": updated_on, "updated_on": updated_on, "description": ""}
    if refname is not None:
        status["refname"] = refname
    return {
        "actor": actor,
        "repository": {"full_name": f"{workspace}/{slug}", "name": slug, "links": {"html": {"href": f"https://bitbucket.org/{workspace}/{slug}"}}},
        "commit_status": status,
    }


def commit_numbers(slack, channel: str) -> list[int]:
    """The N of each `commit N` line the relay posted in `channel` (pushes made by the process tests)."""
    found = []
    for message in slack.channel_messages(channel):
        for block in message.blocks:
            text = (block.get("text") or {}).get("text", "")
            found += [int(line.rsplit("commit ", 1)[1].split(" ")[0]) for line in text.splitlines() if "commit " in line and "• " in line]
    return found
