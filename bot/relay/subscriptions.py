"""Which channels relay which repositories, and the repository webhooks the bot registered."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from bot.relay.grammar import EVENT_FAMILIES

@dataclass(frozen=True)
class Subscription:
    channel_id: str
    repo: str
    families: tuple[str, ...] = EVENT_FAMILIES
    branch_glob: str = ""
    broken_reason: str = ""

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
        )


def branch_matches(glob: str, branch: str | None) -> bool:
    """No glob keeps everything; with one, an unknown branch is not kept."""
    if not glob:
        return True
    return branch is not None and fnmatchcase(branch, glob)


def subscribe(store, *, channel_id: str, repo: str, families: tuple[str, ...], branch_glob: str, user_id: str, now: float) -> bool:
    """Subscribe (or change the subscription of) a channel; True when it is new. A broken one is mended."""
    with store.transaction() as db:
        existed = db.execute("SELECT 1 FROM subscriptions WHERE channel_id = ? AND repo = ?", (channel_id, repo)).fetchone()
        db.execute(
            """INSERT INTO subscriptions (channel_id, repo, families, branch_glob, created_by, created_at, broken_reason)
               VALUES (?, ?, ?, ?, ?, ?, '')
               ON CONFLICT (channel_id, repo) DO UPDATE SET
                 families = excluded.families, branch_glob = excluded.branch_glob, broken_reason = ''""",
            (channel_id, repo, ",".join(families), branch_glob or "", user_id, now),
        )
    return existed is None


def unsubscribe(store, *, channel_id: str, repo: str) -> bool:
    return store.execute("DELETE FROM subscriptions WHERE channel_id = ? AND repo = ?", (channel_id, repo)).rowcount > 0


def channel_subscriptions(store, channel_id: str) -> list[Subscription]:
    rows = store.query("SELECT * FROM subscriptions WHERE channel_id = ? ORDER BY repo", (channel_id,))
    return [Subscription.from_row(row) for row in rows]


def subscribed_repositories(store) -> list[str]:
    """Every repository some channel relays (broken subscriptions included), once each, by name."""
    return [row["repo"] for row in store.query("SELECT DISTINCT repo FROM subscriptions ORDER BY repo")]


def channel_repositories(store, channel_id: str) -> list[str]:
    """The repositories a channel is subscribed to: the default REPO of a command typed there."""
    return [row["repo"] for row in store.query("SELECT repo FROM subscriptions WHERE channel_id = ? ORDER BY repo", (channel_id,))]


def followed_repositories(store) -> list[str]:
    """Every repository some channel is subscribed to (workspace-wide subscriptions left out)."""
    rows = store.query("SELECT DISTINCT repo FROM subscriptions ORDER BY repo")
    return [row["repo"] for row in rows if "*" not in row["repo"]]


def mark_channel_broken(db, channel_id: str, reason: str) -> None:
    """Slack refuses the bot's messages in this channel: its subscriptions wait until someone subscribes again."""
    db.execute("UPDATE subscriptions SET broken_reason = ? WHERE channel_id = ?", (reason, channel_id))


def working_subscriptions(db, repo: str) -> list[Subscription]:
    # A broken subscription stays broken until someone subscribes again (after inviting the bot back).
    rows = db.execute(
        "SELECT channel_id, families, branch_glob FROM subscriptions WHERE repo = ? AND broken_reason = '' ORDER BY channel_id", (repo,)
    ).fetchall()
    return [Subscription(channel, repo, tuple(f for f in families.split(",") if f), glob or "") for channel, families, glob in rows]


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


def record_registration(store, *, repo: str, hook_uuid: str, url: str) -> None:
    """The repository's webhook (after `remember_main_branch` made its row)."""
    store.execute("UPDATE webhook_registrations SET hook_uuid = ?, url = ? WHERE repo = ?", (hook_uuid, url, repo))


@dataclass(frozen=True)
class WebhookRegistration:
    repo: str
    hook_uuid: str  # '' when the webhook was added by hand (only the main branch is known)
    url: str
    main_branch: str


def webhook_registrations(store) -> list[WebhookRegistration]:
    """The repositories' webhooks the bot knows of, by repository (`webhooks update` moves them)."""
    rows = store.query("SELECT repo, hook_uuid, url, main_branch FROM webhook_registrations ORDER BY repo")
    return [WebhookRegistration(**row) for row in rows]


def record_webhook_url(store, *, repo: str, url: str) -> None:
    """The repository's webhook now calls `url` (`webhooks update` moved it)."""
    store.execute("UPDATE webhook_registrations SET url = ? WHERE repo = ?", (url, repo))


def find_our_hook(hooks: list[dict], url: str) -> dict | None:
    """Pure: a hook already pointing at our URL (ignoring case and a trailing slash)."""
    wanted = url.rstrip("/").lower()
    for hook in hooks:
        if (hook.get("url") or "").rstrip("/").lower() == wanted:
            return hook
    return None
