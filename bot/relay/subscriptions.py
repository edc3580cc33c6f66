"""Which channels relay which repositories (or every repository of a workspace: `acme/*`), with which filters, and
the webhooks the bot registered (a repository's, or a workspace's under `acme/*`).

A repository's own subscription in a channel overrides the channel's subscription of its workspace."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Iterable

from bot.relay.filters import NO_FILTERS, Filters
from bot.relay.grammar import EVENT_FAMILIES


def workspace_pattern(workspace: str) -> str:
    """How a workspace's subscription is stored (its `repo`): `acme/*`."""
    return f"{workspace.lower()}/*"


def is_workspace_pattern(repo: str) -> bool:
    return repo.endswith("/*")


@dataclass(frozen=True)
class Subscription:
    channel_id: str
    repo: str                            # workspace/slug, or workspace/* for a whole workspace
    families: tuple[str, ...] = EVENT_FAMILIES
    branch_glob: str = ""
    broken_reason: str = ""
    filters: Filters = NO_FILTERS

    def wants(self, family: str, branch: str | None) -> bool:
        """Tags are not branches: `branch:GLOB` keeps pushes, builds and pull requests (by destination)."""
        if family not in self.families:
            return False
        return family == "tags" or branch_matches(self.branch_glob, branch)

    @classmethod
    def from_row(cls, row: dict) -> "Subscription":
        return cls(
            channel_id=row["channel_id"],
            repo=row["repo"],
            families=tuple(f for f in row["families"].split(",") if f),
            branch_glob=row.get("branch_glob") or "",
            broken_reason=row.get("broken_reason") or "",
            filters=Filters.from_json(row.get("filters")),
        )


def branch_matches(glob: str, branch: str | None) -> bool:
    """No glob keeps everything; with one, an unknown branch is not kept."""
    if not glob:
        return True
    return branch is not None and fnmatchcase(branch, glob)


def subscribe(store, *, channel_id: str, repo: str, families: tuple[str, ...], branch_glob: str, user_id: str, now: float,
              filters: Filters = NO_FILTERS) -> Subscription | None:
    """Subscribe a channel, or replace its subscription's families and filters; the subscription it replaced (None
    when it is new). A broken one is mended."""
    with store.transaction() as db:
        before = list(db.query("SELECT * FROM subscriptions WHERE channel_id = ? AND repo = ?", (channel_id, repo)))
        db.execute(
            """INSERT INTO subscriptions (channel_id, repo, families, branch_glob, created_by, created_at, broken_reason, filters)
               VALUES (?, ?, ?, ?, ?, ?, '', ?)
               ON CONFLICT (channel_id, repo) DO UPDATE SET
                 families = excluded.families, branch_glob = excluded.branch_glob, broken_reason = '', filters = excluded.filters""",
            (channel_id, repo, ",".join(families), branch_glob or "", user_id, now, filters.to_json()),
        )
    return Subscription.from_row(before[0]) if before else None


def unsubscribe(store, *, channel_id: str, repo: str) -> bool:
    return store.execute("DELETE FROM subscriptions WHERE channel_id = ? AND repo = ?", (channel_id, repo)).rowcount > 0


def channel_subscriptions(store, channel_id: str) -> list[Subscription]:
    rows = store.query("SELECT * FROM subscriptions WHERE channel_id = ? ORDER BY repo", (channel_id,))
    return [Subscription.from_row(row) for row in rows]


def subscribed_repositories(store) -> list[str]:
    """Every repository some channel relays by name (broken subscriptions included; workspaces' left out), once each."""
    rows = store.query("SELECT DISTINCT repo FROM subscriptions ORDER BY repo")
    return [row["repo"] for row in rows if not is_workspace_pattern(row["repo"])]


def channel_repositories(store, channel_id: str) -> list[str]:
    """The repositories a channel is subscribed to by name: the default REPO of a command typed there."""
    rows = store.query("SELECT repo FROM subscriptions WHERE channel_id = ? ORDER BY repo", (channel_id,))
    return [row["repo"] for row in rows if not is_workspace_pattern(row["repo"])]


def followed_repositories(store) -> list[str]:
    """Every repository some channel is subscribed to (workspace-wide subscriptions left out)."""
    rows = store.query("SELECT DISTINCT repo FROM subscriptions ORDER BY repo")
    return [row["repo"] for row in rows if "*" not in row["repo"]]


def mark_channel_broken(db, channel_id: str, reason: str) -> None:
    """Slack refuses the bot's messages in this channel: its subscriptions wait until someone subscribes again."""
    db.execute("UPDATE subscriptions SET broken_reason = ? WHERE channel_id = ?", (reason, channel_id))


def subscriptions_by_repository(store) -> dict[str, list[Subscription]]:
    """Every subscription, by repository (in name order), each repository's channels in order."""
    found: dict[str, list[Subscription]] = {}
    for row in store.query("SELECT * FROM subscriptions ORDER BY repo, channel_id"):
        found.setdefault(row["repo"], []).append(Subscription.from_row(row))
    return found


def working_subscriptions(db, repo: str) -> list[Subscription]:
    """The channels relaying `repo`, each once: its own subscription there, else its workspace's. A broken
    subscription stays broken until someone subscribes again (after inviting the bot back)."""
    pattern = workspace_pattern(repo.split("/", 1)[0])
    rows = db.execute(
        """SELECT channel_id, repo, families, branch_glob, filters FROM subscriptions
           WHERE (repo = ? OR repo = ?) AND broken_reason = '' ORDER BY channel_id""", (repo, pattern)
    ).fetchall()
    chosen: dict[str, Subscription] = {}
    for channel, sub_repo, families, glob, filters in rows:
        if channel in chosen and sub_repo == pattern:
            continue  # the repository's own subscription wins
        chosen[channel] = Subscription(channel, sub_repo, tuple(f for f in families.split(",") if f), glob or "",
                                       filters=Filters.from_json(filters))
    return list(chosen.values())


def overridden(subscriptions: list[Subscription]) -> set[tuple[str, str]]:
    """Pure: of one channel's subscriptions, the (channel, workspace/*) pairs some repository's own overrides there."""
    named = {(s.channel_id, s.repo.split("/", 1)[0]) for s in subscriptions if not is_workspace_pattern(s.repo)}
    return {(s.channel_id, s.repo) for s in subscriptions if is_workspace_pattern(s.repo) and (s.channel_id, s.repo[:-2]) in named}


# --- webhook registrations -----------------------------------------------------------------------------


def webhook_url(public_url: str) -> str:
    return public_url.rstrip("/") + "/bitbucket/webhook"


def remember_main_branch(store, *, repo: str, main_branch: str, user_id: str, now: float) -> None:
    """Known even when the webhook is added by hand: a success on the main branch is worth telling."""
    store.execute(
        """INSERT INTO webhook_registrations (repo, main_branch, registered_by, registered_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (repo) DO UPDATE SET main_branch = excluded.main_branch""",
        (repo, main_branch, user_id, now),
    )


def record_registration(store, *, repo: str, hook_uuid: str, url: str, events: Iterable[str], secret: str | None = None) -> None:
    """The repository's webhook (after `remember_main_branch` made its row) and the events Bitbucket says it has.
    `secret`: what the bot just created it with (a mark of it is kept); None for a webhook found already there
    (whatever mark it had stays)."""
    if secret is None:
        store.execute("UPDATE webhook_registrations SET hook_uuid = ?, url = ?, events = ? WHERE repo = ?",
                      (hook_uuid, url, _events_text(events), repo))
    else:
        store.execute("UPDATE webhook_registrations SET hook_uuid = ?, url = ?, events = ?, secret_mark = ? WHERE repo = ?",
                      (hook_uuid, url, _events_text(events), secret_mark(secret), repo))


def record_moved_hook(store, *, repo: str, url: str, secret: str, events: Iterable[str]) -> None:
    """`webhooks update` brought the repository's webhook to `url`, `secret` and `events`."""
    store.execute("UPDATE webhook_registrations SET url = ?, secret_mark = ?, events = ? WHERE repo = ?",
                  (url, secret_mark(secret), _events_text(events), repo))


def _events_text(events: Iterable[str]) -> str:
    return ",".join(event for event in events if isinstance(event, str))


@dataclass(frozen=True)
class Registration:
    repo: str
    hook_uuid: str  # "" when the webhook was added by hand
    url: str
    main_branch: str
    registered_by: str
    registered_at: float
    secret_mark: str  # "" when unknown (added by hand, or registered before marks were kept)
    events: tuple[str, ...] = ()  # what Bitbucket said the webhook has; () when unknown (registered before they were kept)


def registrations(store) -> list[Registration]:
    """Every repository the bot knows a webhook of, in name order."""
    rows = store.query(
        "SELECT repo, hook_uuid, url, main_branch, registered_by, registered_at, secret_mark, events FROM webhook_registrations ORDER BY repo"
    )
    return [Registration(**{**row, "events": tuple(e for e in row["events"].split(",") if e)}) for row in rows]


def missing_events(have: Iterable[str], wanted: Iterable[str]) -> tuple[str, ...]:
    """Pure: of `wanted`, in its order, what a webhook with the events `have` lacks."""
    present = set(have)
    return tuple(event for event in wanted if event not in present)


def webhook_event_lines(known: list[Registration], wanted: tuple[str, ...]) -> list[tuple[str, str]]:
    """Pure, for `check`: each webhook the bot registered that lacks some of `wanted` (what the bot relays), and
    those whose events were never recorded (registered by an earlier version); `webhooks update` completes both."""
    hooks = [hook for hook in known if hook.hook_uuid]
    lines = []
    for hook in hooks:
        lacking = missing_events(hook.events, wanted) if hook.events else ()
        if lacking:
            lines.append(("FIX", f"the webhook of {_hook_owner(hook.repo)} lacks {', '.join(lacking)}: run "
                                 "`bitbucket-chatops webhooks update` to add them"))
    unknown = [hook.repo for hook in hooks if not hook.events]
    if unknown:
        lines.append((" - ", f"the events of {len(unknown)} webhook(s) the bot registered are not recorded (an earlier version "
                             f"registered them: {', '.join(unknown)}): `bitbucket-chatops webhooks update` adds any they lack"))
    if hooks and not lines:
        lines.append(("ok ", f"webhooks: the {len(hooks)} the bot registered have every event it relays"))
    return lines


_MARK_SALT = b"bitbucket-chatops: which webhook secret"
_MARK_ROUNDS = 100_000


@lru_cache(maxsize=16)
def secret_mark(secret: str) -> str:
    """Tells which secret a webhook was registered with, without keeping it: a slow salted hash, cut to 48 bits, so
    a copy of the database is no shortcut to guessing the secret."""
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), _MARK_SALT, _MARK_ROUNDS, dklen=6).hex()


def secret_generation(registration: Registration, current: str, former: tuple[str, ...]) -> str:
    """`current`, `former` (a secret in BITBUCKET_OLD_WEBHOOK_SECRETS: run `webhooks update`), or `unknown`."""
    if not registration.secret_mark:
        return "unknown"
    if current and registration.secret_mark == secret_mark(current):
        return "current"
    if any(registration.secret_mark == secret_mark(old) for old in former):
        return "former"
    return "unknown"


def _hook_owner(repo: str) -> str:
    return f"workspace {repo[:-2]}" if is_workspace_pattern(repo) else repo


def find_our_hook(hooks: list[dict], url: str) -> dict | None:
    """Pure: a hook already pointing at our URL (ignoring case and a trailing slash)."""
    wanted = url.rstrip("/").lower()
    for hook in hooks:
        if (hook.get("url") or "").rstrip("/").lower() == wanted:
            return hook
    return None


def forget_registration(store, *, repo: str) -> None:
    """The webhook of `repo` (or `workspace/*`) is gone."""
    store.execute("DELETE FROM webhook_registrations WHERE repo = ?", (repo,))


def channels_following(store, repo: str) -> int:
    """How many channels relay `repo` (or `workspace/*`) by that very name."""
    return store.query_one("SELECT COUNT(*) AS n FROM subscriptions WHERE repo = ?", (repo,))["n"]


def workspace_check_lines(store) -> list[tuple[str, str]]:
    """For `check`: each subscribed workspace, and whether its one workspace webhook is registered."""
    hooks = {row["repo"]: row["hook_uuid"] for row in store.query("SELECT repo, hook_uuid FROM webhook_registrations WHERE repo LIKE ?", ("%/*",))}
    lines = []
    for row in store.query("SELECT repo, COUNT(*) AS n FROM subscriptions WHERE repo LIKE ? GROUP BY repo ORDER BY repo", ("%/*",)):
        workspace = row["repo"][:-2]
        if hooks.get(row["repo"]):
            lines.append(("ok ", f"workspace {workspace}: {row['n']} channel(s) follow every repository through its workspace webhook"))
        else:
            lines.append(("FIX", f"workspace {workspace}: {row['n']} channel(s) follow it, but the bot has no workspace webhook there "
                                 "(only a workspace owner's credential, with the `webhook` scope, may add one): "
                                 f"subscribe again with such a credential, or add it by API (POST /workspaces/{workspace}/hooks)"))
    return lines
