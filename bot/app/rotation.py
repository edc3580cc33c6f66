"""Rotating the bot's secrets without losing anyone: `bitbucket-chatops rotate-keys` and `webhooks update`.

- **The encryption key.** Put the former `CHATOPS_SECRET_KEY` in `CHATOPS_OLD_SECRET_KEYS` and set the new one:
  tokens sealed with a former key still open, and are sealed again with the new key when next read;
  `rotate-keys` seals them all at once, after which the former key can be dropped.
- **The webhook secret.** Put the former `BITBUCKET_WEBHOOK_SECRET` in `BITBUCKET_OLD_WEBHOOK_SECRETS` and set the
  new one: deliveries signed with either are accepted. `webhooks update` moves every hook the bot registered
  (`relay.registrations`) to the new secret and to `PUBLIC_URL` (Bitbucket's "Update a webhook for a
  repository", `PUT /repositories/{workspace}/{repo_slug}/hooks/{uid}`; a workspace's, `PUT /workspaces/{workspace}/hooks/{uid}`),
  after which the former secret can be dropped. The secrets are never printed.
- **The events.** The same run adds to each hook the events the bot relays now (`RELAYED_EVENTS`) that it lacks (a
  hook an earlier version registered has fewer: the comment events the conversations follow), keeping any others it
  has. Each hook is read first (`GET …/hooks/{uid}`), and only what differs is sent: a hook already at the address,
  the secret (known by its mark) and every event is not written to.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from bot import accounts, registry, relay
from bot.bitbucket import BitbucketClient, BitbucketError, NotFound
from bot.core.config import Settings
from bot.core.services import bitbucket_auth
from bot.relay.render import RELAYED_EVENTS

COMMANDS = ("rotate-keys", "webhooks")


def add_commands(sub) -> None:
    """The subcommands, on `bitbucket-chatops`'s argparse subparsers."""
    sub.add_parser(
        "rotate-keys", help="re-encrypt every stored token with CHATOPS_SECRET_KEY (former keys in CHATOPS_OLD_SECRET_KEYS)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Re-encrypts every stored Bitbucket token with CHATOPS_SECRET_KEY, so that the former keys can go.\n\n"
                    "Reads CHATOPS_SECRET_KEY, CHATOPS_OLD_SECRET_KEYS (the former keys, comma-separated) and DATABASE_URL or\n"
                    "DATABASE_PATH; from the environment, and a .env file (the README's Settings table says what each one is).")
    webhooks = sub.add_parser("webhooks", help="the Bitbucket webhooks the bot registered",
                              description="The Bitbucket webhooks the bot registered. `webhooks update` moves them all to the "
                                          "current secret and address, with every event the bot relays.")
    webhooks_sub = webhooks.add_subparsers(dest="webhooks_command", required=True)
    webhooks_sub.add_parser(
        "update", help="move every registered webhook to BITBUCKET_WEBHOOK_SECRET and PUBLIC_URL, with every event the bot relays",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Moves every webhook the bot registered to BITBUCKET_WEBHOOK_SECRET and PUBLIC_URL, adds the events the bot\n"
                    "relays that it lacks (a webhook an earlier version registered), says which gained which, and names any\n"
                    "it could not update (after a rotation of the secret, a change of address, or an upgrade). A webhook\n"
                    "already current is left alone.\n\n"
                    "Reads BITBUCKET_WEBHOOK_SECRET, PUBLIC_URL, a Bitbucket credential (BITBUCKET_ACCESS_TOKEN, ...),\n"
                    "BITBUCKET_API_URL and DATABASE_URL or DATABASE_PATH; from the environment, and a .env file.")


def run(args, settings: Settings, *, out=print) -> int:
    if args.command == "rotate-keys":
        return run_rotate_keys(settings, out=out)
    return run_webhooks_update(settings, out=out)


def _open_store(settings: Settings):
    return registry.open_migrated(settings.database_target)


def run_rotate_keys(settings: Settings, *, out=print) -> int:
    if not settings.chatops_secret_key:
        print("bitbucket-chatops: CHATOPS_SECRET_KEY is not set: it is the key tokens are sealed with", file=sys.stderr)
        return 2
    store = _open_store(settings)
    try:
        result = accounts.rotate_keys(store, accounts.token_keys(settings))
    finally:
        store.close()
    out(f"re-encrypted with the current key: {result.resealed}; already current: {result.current}")
    if result.unreadable:
        out(f"{result.unreadable} could not be read with CHATOPS_SECRET_KEY or CHATOPS_OLD_SECRET_KEYS: "
            "those people must /bb login again (or add the key that sealed them to CHATOPS_OLD_SECRET_KEYS)")
        return 1
    if settings.chatops_old_secret_keys:
        out("every token is sealed with CHATOPS_SECRET_KEY: CHATOPS_OLD_SECRET_KEYS can be removed")
    return 0


@dataclass(frozen=True)
class HookMove:
    repo: str
    ok: bool
    text: str


@dataclass(frozen=True)
class HookChange:
    """What `webhooks update` sends one hook: `fields` for its PUT (empty: it is current, nothing is sent)."""
    fields: dict
    events: tuple[str, ...]  # the hook's events once changed
    added: tuple[str, ...]  # of them, the ones it gains
    moved_from: str  # its former URL when it moves, else ""
    secret_known: bool = True  # whether the bot knew which secret the hook had (by its mark)

    def words(self, url: str) -> str:
        if not self.fields:
            return f"already current: at {url}, with the current secret and every event the bot relays"
        parts = []
        if "secret" in self.fields:
            parts.append("new secret set" if self.secret_known else "secret set (which one it had was not known)")
        parts.append(f"moved from {self.moved_from} to {url}" if self.moved_from else f"at {url}")
        if self.added:
            parts.append(f"gained {', '.join(self.added)}")
        return ", ".join(parts)


def plan_hook_change(hook: dict, *, url: str, secret: str, generation: str, wanted: tuple[str, ...]) -> HookChange:
    """Pure: from the hook as Bitbucket answered it, what to PUT so that it is at `url`, signs with `secret` (sent
    unless its `generation`, from the registration's mark, is `current`: Bitbucket never shows a secret) and has
    every `wanted` event. The events are sent whole, its own first (any others it has stay), then those it lacks."""
    have = tuple(e for e in hook.get("events") or () if isinstance(e, str))
    added = relay.missing_events(have, wanted)
    fields: dict = {}
    current_url = hook.get("url") or ""
    if current_url != url:
        fields["url"] = url
    if generation != "current":
        fields["secret"] = secret
    if added:
        fields["events"] = [*have, *added]
    return HookChange(fields, (*have, *added), added, current_url if "url" in fields else "", generation != "unknown")


def update_webhooks(store, client, settings: Settings, *, wanted: tuple[str, ...] = RELAYED_EVENTS) -> list[HookMove]:
    """Bring each hook the bot registered to the current secret and URL and to every `wanted` event; one line per
    repository (or workspace)."""
    url = relay.webhook_url(settings.public_url)
    secret = settings.bitbucket_webhook_secret
    moves = []
    known = relay.registrations(store)
    for hook in [hook for hook in known if hook.hook_uuid]:
        workspace, _, slug = hook.repo.partition("/")
        on_workspace = relay.is_workspace_pattern(hook.repo)  # a workspace's webhook (`/bb subscribe WORKSPACE/*`)
        try:
            found = client.get_workspace_webhook(workspace, hook.hook_uuid) if on_workspace else client.get_webhook(workspace, slug, hook.hook_uuid)
            change = plan_hook_change(found if isinstance(found, dict) else {}, url=url, secret=secret, wanted=wanted,
                                      generation=relay.secret_generation(hook, secret, settings.bitbucket_old_webhook_secrets))
            if change.fields and on_workspace:
                client.update_workspace_webhook(workspace, hook.hook_uuid, **change.fields)
            elif change.fields:
                client.update_webhook(workspace, slug, hook.hook_uuid, **change.fields)
        except NotFound:
            moves.append(HookMove(hook.repo, False, "its webhook is gone from Bitbucket: /bb subscribe there again to add it"))
            continue
        except BitbucketError as error:
            moves.append(HookMove(hook.repo, False, f"Bitbucket refused: {error}"))
            continue
        relay.record_moved_hook(store, repo=hook.repo, url=url, secret=secret, events=change.events)
        moves.append(HookMove(hook.repo, True, change.words(url)))
    for hook in [r for r in known if not r.hook_uuid and relay.is_workspace_pattern(r.repo)]:
        moves.append(HookMove(hook.repo, False, "the bot could not register this workspace's webhook: a workspace owner sets the "
                                                f"new secret (and URL {url}) by API, PUT /workspaces/{{workspace}}/hooks/{{uid}}"))
    for hook in [r for r in known if not r.hook_uuid and not relay.is_workspace_pattern(r.repo)]:
        moves.append(HookMove(hook.repo, False, "its webhook was added by hand: set the new secret (and URL "
                                                f"{url}) in its Repository settings › Webhooks"))
    return moves


def run_webhooks_update(settings: Settings, *, out=print) -> int:
    missing = [name for name, value in (
        ("BITBUCKET_WEBHOOK_SECRET", settings.bitbucket_webhook_secret), ("PUBLIC_URL", settings.public_url),
    ) if not value]
    auth = bitbucket_auth(settings)
    if auth is None:
        missing.append("a Bitbucket credential (BITBUCKET_ACCESS_TOKEN, …)")
    if missing:
        print(f"bitbucket-chatops: set {', '.join(missing)} first", file=sys.stderr)
        return 2
    store = _open_store(settings)
    try:
        moves = update_webhooks(store, BitbucketClient(settings.bitbucket_api_url, auth), settings)
    finally:
        store.close()
    for move in moves:
        out(f"[{'ok ' if move.ok else 'FIX'}] {move.repo}: {move.text}")
    if not moves:
        out("no webhook registered by the bot: nothing to update")
    if moves and all(move.ok for move in moves) and settings.bitbucket_old_webhook_secrets:
        out("every webhook signs with BITBUCKET_WEBHOOK_SECRET: BITBUCKET_OLD_WEBHOOK_SECRETS can be removed")
    return 0 if all(move.ok for move in moves) else 1
