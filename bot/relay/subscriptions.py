"""Which channels relay which repositories, and the repository webhooks the bot registered."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

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


def subscriptions_by_repository(store) -> dict[str, list[Subscription]]:
    """Every subscription, by repository (in name order), each repository's channels in order."""
    found: dict[str, list[Subscription]] = {}
    for row in store.query("SELECT * FROM subscriptions ORDER BY repo, channel_id"):
        found.setdefault(row["repo"], []).append(Subscription.from_row(row))
    return found


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


def record_registration(store, *, repo: str, hook_uuid: str, url: str, secret: str | None = None) -> None:
    """The repository's webhook (after `remember_main_branch` made its row). `secret`: what the bot just created it
    with (a mark of it is kept); None for a webhook found already there (whatever mark it had stays)."""
    if secret is None:
        store.execute("UPDATE webhook_registrations SET hook_uuid = ?, url = ? WHERE repo = ?", (hook_uuid, url, repo))
    else:
        store.execute("UPDATE webhook_registrations SET hook_uuid = ?, url = ?, secret_mark = ? WHERE repo = ?",
                      (hook_uuid, url, secret_mark(secret), repo))


def record_moved_hook(store, *, repo: str, url: str, secret: str) -> None:
    """`webhooks update` moved the repository's webhook to `url` and `secret`."""
    store.execute("UPDATE webhook_registrations SET url = ?, secret_mark = ? WHERE repo = ?", (url, secret_mark(secret), repo))


@dataclass(frozen=True)
class Registration:
    repo: str
    hook_uuid: str  # "" when the webhook was added by hand
    url: str
    main_branch: str
    registered_by: str
    registered_at: float
    secret_mark: str  # "" when unknown (added by hand, or registered before marks were kept)


def registrations(store) -> list[Registration]:
    """Every repository the bot knows a webhook of, in name order."""
    rows = store.query(
        "SELECT repo, hook_uuid, url, main_branch, registered_by, registered_at, secret_mark FROM webhook_registrations ORDER BY repo"
    )
    return [Registration(**row) for row in rows]


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


def find_our_hook(hooks: list[dict], url: str) -> dict | None:
    """Pure: a hook already pointing at our URL (ignoring case and a trailing slash)."""
    wanted = url.rstrip("/").lower()
    for hook in hooks:
        if (hook.get("url") or "").rstrip("/").lower() == wanted:
            return hook
    return None
