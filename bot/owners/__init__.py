"""Owners of paths: `/bb owners REPO GLOB… @person|@group|#channel…`. When a pull request is opened, or updated with
new files, each owner of a path it changes hears of it once:

- a channel gets the pull request's card, threaded as usual (its later events follow in the card's thread, as if
  the channel followed that one pull request);
- a person gets a direct message (notify's kind `owners`, on by default; never about their own pull request);
- a Slack user group is its members (read with `usergroups.users.list` when the rule is made), each as a person, up
  to `MAX_GROUP`; a larger group is named in the channel where the rule was made instead.

    webhook -> router -> (this relay hook) the files the pull request changes (`RoutedEvent.changed_files()`: read
    off the request path by the relay's files reader; the delivery waits for them) -> rules -> posts and notify

| module | what |
| --- | --- |
| `rules` | pure: targets, which rules a pull request's files match |
| `grammar`, `commands` | `/bb owners` |
"""

from __future__ import annotations

import json
import time

from bot import accounts, notify
from bot.bitbucket import Account
from bot.core import render
from bot.core.store import Migration
from bot.owners.rules import MAX_GROUP, MAX_RULES, Rule, Target, owned_paths, owners_of
from bot.relay import render as relay_render
from bot.relay.routing import Post, pull_request_anchor, why

__all__ = ["MIGRATIONS", "relay_hook", "add_rules", "remove_rules", "repository_rules", "all_rules", "owners_lines", "rule_line", "MAX_RULES", "MAX_GROUP"]

MIGRATIONS = [
    Migration("owners", 1, (
        """CREATE TABLE IF NOT EXISTS owner_rules (
            repo TEXT NOT NULL,               -- workspace/slug, lower-case
            glob TEXT NOT NULL,
            target TEXT NOT NULL,             -- U… (a person), S… (a user group), C… (a channel)
            kind TEXT NOT NULL,               -- person | group | channel
            label TEXT NOT NULL DEFAULT '',
            members TEXT NOT NULL DEFAULT '[]',  -- a group's people (JSON), as Slack said when the rule was made
            channel_id TEXT NOT NULL,         -- where the rule was made (a large group is named there)
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (repo, glob, target)
        )""",
        # Who heard of which pull request (once each); channels here follow its later events in the card's thread.
        """CREATE TABLE IF NOT EXISTS owner_heard (
            repo TEXT NOT NULL,
            pr_id INTEGER NOT NULL,
            target TEXT NOT NULL,
            kind TEXT NOT NULL,               -- person | group | channel
            why TEXT NOT NULL DEFAULT '',     -- the context line of a channel's messages
            at REAL NOT NULL,
            PRIMARY KEY (repo, pr_id, target)
        )""",
    )),
]

OPENED = ("pullrequest:created", "pullrequest:updated")


# --- rules ------------------------------------------------------------------------------------------------


def repository_rules(db, repo: str) -> list[Rule]:
    return _rules(db.query("SELECT * FROM owner_rules WHERE repo = ? ORDER BY glob, target", (repo,)))


def all_rules(db) -> list[Rule]:
    """Every repository's rules, by repository, pattern and owner (the dashboard's inventory)."""
    return _rules(db.query("SELECT * FROM owner_rules ORDER BY repo, glob, target"))


def _rules(rows) -> list[Rule]:
    return [Rule(row["repo"], row["glob"], Target(row["kind"], row["target"], row["label"]), row["channel_id"],
                 tuple(json.loads(row["members"] or "[]"))) for row in rows]


def add_rules(store, repo: str, globs, targets, members: dict[str, list[str]], *, channel_id: str, user_id: str,
              now: float | None = None) -> int:
    """Add (or renew) the rules GLOB × TARGET; how many the repository has then. Refused past `MAX_RULES`."""
    now = time.time() if now is None else now
    with store.transaction() as db:
        existing = {(r.glob, r.target.id) for r in repository_rules(db, repo)}
        total = len(existing | {(g, t.id) for g in globs for t in targets})
        if total > MAX_RULES:
            raise ValueError(f"{repo} would have {total} owners rules; at most {MAX_RULES}")
        for glob in globs:
            for target in targets:
                db.execute(
                    """INSERT INTO owner_rules (repo, glob, target, kind, label, members, channel_id, created_by, created_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (repo, glob, target) DO UPDATE SET label = excluded.label, members = excluded.members,
                           channel_id = excluded.channel_id""",
                    (repo, glob, target.id, target.kind, target.label, json.dumps(members.get(target.id, [])), channel_id, user_id, now),
                )
    return total


def remove_rules(store, repo: str, globs) -> int:
    with store.transaction() as db:
        return sum(db.execute("DELETE FROM owner_rules WHERE repo = ? AND glob = ?", (repo, glob)).rowcount for glob in globs)


def rule_line(rule: Rule) -> str:
    size = f" ({len(rule.members)} people)" if rule.target.kind == "group" else ""
    return f"{render.code(rule.glob)} → {rule.target.mention}{size}"


def owners_lines(store, channel_id: str) -> list[str]:
    """For `/bb subscriptions`: the owners rules made in this channel or naming it."""
    rows = store.query("SELECT DISTINCT repo FROM owner_rules WHERE channel_id = ? OR target = ? ORDER BY repo", (channel_id, channel_id))
    lines = []
    for row in rows:
        rules = [r for r in repository_rules(store, row["repo"]) if r.channel_id == channel_id or r.target.id == channel_id]
        lines.append(f"*Owners of {render.escape(row['repo'])}:* " + " · ".join(rule_line(r) for r in rules))
    return lines


# --- the relay hook ---------------------------------------------------------------------------------------


def relay_hook(event) -> None:
    """Owners of the paths a pull request changes hear of it once; channels that did follow its later events."""
    if not event.is_pull_request or not event.pull_request:
        return
    db, repo, pr = event.db, event.repo, event.pull_request
    anchor = pull_request_anchor(repo, pr["id"])
    told = {p.channel for p in event.posts if anchor in (p.anchor, p.thread_anchor)}
    heard = {row["target"]: row for row in db.query("SELECT target, kind, why FROM owner_heard WHERE repo = ? AND pr_id = ?", (repo, pr["id"]))}
    for target, row in heard.items():
        if row["kind"] == "channel" and target not in told:
            _post_card(event, target, row["why"], anchor)
            told.add(target)
    if event.event_key not in OPENED or pr.get("state") != "OPEN":
        return
    if ("owners", repo) not in event.memo:
        event.memo["owners", repo] = repository_rules(db, repo)
    rules = event.memo["owners", repo]
    if not rules:
        return
    files = event.changed_files()  # the delivery waits here until the files reader has them
    if not files.known:
        return  # Bitbucket could not say which files: no owner can be told
    owned = {target: found for target, found in owners_of(rules, files.paths).items() if target not in heard}
    if not owned:
        return
    if ("owners", "people") not in event.memo:
        event.memo["owners", "people"] = accounts.linked_users(db)
    people = event.memo["owners", "people"]
    own = {_slack_user(pr.get("author"), people), _slack_user(event.payload.get("actor"), people)} - {None}
    for target, (rule, globs) in owned.items():
        _hear(event, target, rule, globs, files.paths, told, own)


def _slack_user(user, people) -> str | None:
    if not isinstance(user, dict) or not user:
        return None
    return accounts.slack_user_for(Account.from_api(user), people)


def _record(event, target: str, kind: str, context: str = "") -> None:
    event.writes.append(("INSERT INTO owner_heard (repo, pr_id, target, kind, why, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                         (event.repo, event.pull_request["id"], target, kind, context, event.now)))


def _hear(event, target: str, rule: Rule, globs: list[str], paths, told: set, own: set) -> None:
    repo, pr = event.repo, event.pull_request
    anchor = pull_request_anchor(repo, pr["id"])
    owned = ", ".join(f"`{g}`" for g in globs)
    if rule.target.kind == "channel":
        context = why(repo, f"this channel owns {owned} (owners rule)")
        _record(event, target, "channel", context)
        if target not in told:
            _post_card(event, target, context, anchor)
            told.add(target)
        return
    members = [target] if rule.target.kind == "person" else list(rule.members)
    if rule.target.kind == "group" and len(members) > MAX_GROUP:
        _record(event, target, "group")
        context = why(repo, f"owners rule: {owned}") + f" · {rule.target.mention} own these paths"
        _record(event, rule.channel_id, "channel", context)
        if rule.channel_id not in told:
            _post_card(event, rule.channel_id, context, anchor)
            told.add(rule.channel_id)
        return
    _record(event, target, rule.target.kind)
    who = relay_render.user_name(event.payload.get("actor"))
    verb = "opened" if event.event_key == "pullrequest:created" else "updated"
    shown = ", ".join(render.code(p) for p in owned_paths(globs, paths))
    line = f":mag: {who} {verb} it; it changes {shown} (yours by {render.escape(owned)})."
    for person in members:
        if person not in own:
            if notify.tell(event.db, person, repo, pr, "owners", line, event.now):
                event.queued += 1


def _post_card(event, channel: str, context: str, anchor: str) -> None:
    """The pull request's card in `channel` (created or updated), and the event's reply in its thread."""
    card = relay_render.with_context(relay_render.pull_request_card(event.repo, event.pull_request), context)
    key = f"{channel}|{anchor}"
    event.posts.append(Post(channel, card, key, anchor=anchor))
    reply = relay_render.RENDERERS[event.event_key](event.payload)
    if reply is not None:
        event.posts.append(Post(channel, relay_render.with_context(reply, context), key, thread_anchor=anchor))
