"""Rotating the bot's secrets without losing anyone: `bitbucket-chatops rotate-keys` and `webhooks update`.

- **The encryption key.** Put the former `CHATOPS_SECRET_KEY` in `CHATOPS_OLD_SECRET_KEYS` and set the new one:
  tokens sealed with a former key still open, and are sealed again with the new key when next read;
  `rotate-keys` seals them all at once, after which the former key can be dropped.
- **The webhook secret.** Put the former `BITBUCKET_WEBHOOK_SECRET` in `BITBUCKET_OLD_WEBHOOK_SECRETS` and set the
  new one: deliveries signed with either are accepted. `webhooks update` moves every hook the bot registered
  (table `webhook_registrations`) to the new secret and to `PUBLIC_URL` (Bitbucket's "Update a webhook for a
  repository", `PUT /repositories/{workspace}/{repo_slug}/hooks/{uid}`; a workspace's, `PUT /workspaces/{workspace}/hooks/{uid}`),
  after which the former secret can be dropped. The secrets are never printed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from bot import accounts, registry, relay
from bot.bitbucket import BitbucketClient, BitbucketError, NotFound
from bot.core.config import Settings
from bot.core.services import bitbucket_auth

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
                                          "current secret and address.")
    webhooks_sub = webhooks.add_subparsers(dest="webhooks_command", required=True)
    webhooks_sub.add_parser(
        "update", help="move every registered webhook to BITBUCKET_WEBHOOK_SECRET and PUBLIC_URL",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Moves every webhook the bot registered to BITBUCKET_WEBHOOK_SECRET and PUBLIC_URL, and names any it\n"
                    "could not (after a rotation of the secret, or a change of address).\n\n"
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


def update_webhooks(store, client, settings: Settings) -> list[HookMove]:
    """Move each hook the bot registered to the current secret and URL; one line per repository."""
    url = relay.webhook_url(settings.public_url)
    moves = []
    known = relay.registrations(store)
    for hook in [hook for hook in known if hook.hook_uuid]:
        workspace, _, slug = hook.repo.partition("/")
        try:
            if relay.is_workspace_pattern(hook.repo):  # a workspace's webhook (`/bb subscribe WORKSPACE/*`)
                client.update_workspace_webhook(workspace, hook.hook_uuid, url=url, secret=settings.bitbucket_webhook_secret)
            else:
                client.update_webhook(workspace, slug, hook.hook_uuid, url=url, secret=settings.bitbucket_webhook_secret)
        except NotFound:
            moves.append(HookMove(hook.repo, False, "its webhook is gone from Bitbucket: /bb subscribe there again to add it"))
            continue
        except BitbucketError as error:
            moves.append(HookMove(hook.repo, False, f"Bitbucket refused: {error}"))
            continue
        relay.record_moved_hook(store, repo=hook.repo, url=url, secret=settings.bitbucket_webhook_secret)
        moved = f"moved from {hook.url} to {url}" if hook.url and hook.url != url else f"at {url}"
        moves.append(HookMove(hook.repo, True, f"new secret set, {moved}"))
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
