"""Slack entry points of the relay: `/bb subscribe` (a repository, or `WORKSPACE/*`, with filters), `/bb unsubscribe`,
`/bb subscriptions` (with the owners' rules of the channel).

Any member may relay a repository into a channel (it only shows what the channel could read in Bitbucket
through the bot anyway); each change is in the audit log. Subscribing registers the repository's one
webhook when it is missing, or says how to add it by hand.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Callable

from bot import relay
from bot.bitbucket import BitbucketError, Forbidden, NotFound, Repository, Unauthorized
from bot.core import render
from bot.core.commands import Command
from bot.core.errors import UserError
from bot.core.invocation import Invocation, split_repo
from bot.owners import owners_lines
from bot.relay.filters import NO_FILTERS, Filters, describe
from bot.relay.grammar import EVENT_FAMILIES
from bot.relay.render import RELAYED_EVENTS
from bot.relay.subscriptions import channels_following

WEBHOOK_DESCRIPTION = "Bitbucket ChatOps (Slack relay)"
RELAYED_EVENTS_TEXT = ", ".join(f"`{e}`" for e in RELAYED_EVENTS)
FAMILY_WORDS = {"pullrequests": "pull requests", "pushes": "pushes", "tags": "tags", "builds": "builds"}
BROKEN_HINTS = {
    "not_in_channel": "the bot is not in this channel: invite it (`/invite @` and its name), then subscribe again",
    "channel_not_found": "Slack cannot find this channel for the bot: invite it, then subscribe again",
    "is_archived": "this channel is archived",
}

# Two channels subscribing at once must not both create the repository's webhook.
_registering = threading.Lock()


@dataclass(frozen=True)
class WebhookStatus:
    ok: bool
    text: str  # mrkdwn, for the person who subscribed


def families_text(families: tuple[str, ...]) -> str:
    return "everything" if tuple(sorted(families)) == tuple(sorted(EVENT_FAMILIES)) else ", ".join(FAMILY_WORDS[f] for f in families)


def _hook_address(url: str | None) -> str:
    return render.code(url) if url else "`https://<this bot's public address>/bitbucket/webhook`"


def manual_steps(repo: str, url: str | None, why: str) -> str:
    """How to add the webhook by hand. Names the secret's variable, never its value."""
    return (
        f":warning: {why}, so nothing will arrive until someone adds the webhook by hand: in Bitbucket, "
        f"*{render.escape(repo)}* › Repository settings › Webhooks › Add webhook, with URL {_hook_address(url)}, "
        f"the secret set to the value of `BITBUCKET_WEBHOOK_SECRET`, and these triggers: {RELAYED_EVENTS_TEXT}."
    )


def register_hook(inv: Invocation, key: str, url: str, list_hooks: Callable[[], list[dict]],
                  create_hook: Callable[..., dict]) -> tuple[bool, tuple[str, ...]]:
    """Ours among the hooks `list_hooks` answers, else one `create_hook` makes; its registration kept under `key` (a
    repository, or a workspace's pattern) and audited. Answers whether it was created and the relayed events it leaves
    out. Bitbucket's refusal is audited, then raised for the caller to explain."""
    services, settings = inv.services, inv.services.settings
    with _registering:
        try:
            hook = relay.find_our_hook(list_hooks(), url)
            created = hook is None
            if created:
                hook = create_hook(url=url, events=RELAYED_EVENTS, secret=settings.bitbucket_webhook_secret, description=WEBHOOK_DESCRIPTION)
        except BitbucketError as error:
            services.audit.record(inv.user_id, "register_webhook", key, ok=False, result=str(error))
            raise
        relay.record_registration(services.store, repo=key, hook_uuid=hook.get("uuid") or "", url=url, events=hook_events(hook),
                                  secret=settings.bitbucket_webhook_secret if created else None)
    if created:
        services.audit.record(inv.user_id, "register_webhook", key, ok=True, result=hook.get("uuid") or "", detail={"url": url})
    return created, relay.missing_events(hook_events(hook), RELAYED_EVENTS)


def ensure_webhook(inv: Invocation, repo: str, repository: Repository) -> WebhookStatus:
    """The repository's one webhook: reuse ours if it is there, else create it, else explain."""
    services = inv.services
    relay.remember_main_branch(services.store, repo=repo, main_branch=repository.main_branch or "", user_id=inv.user_id, now=time.time())
    if not services.settings.public_url:
        return WebhookStatus(False, manual_steps(repo, None, "`PUBLIC_URL` is not set, so I cannot register the webhook"))
    url = relay.webhook_url(services.settings.public_url)
    workspace, slug = split_repo(repo)
    try:
        created, missing = register_hook(inv, repo, url, partial(services.bitbucket.list_webhooks, workspace, slug),
                                         partial(services.bitbucket.create_webhook, workspace, slug))
    except (Forbidden, Unauthorized):
        return WebhookStatus(False, manual_steps(repo, url, "Bitbucket would not let the bot manage webhooks (its credential needs "
                                                            "the `webhook` scope and admin rights on the repository)"))
    except BitbucketError as error:
        return WebhookStatus(False, manual_steps(repo, url, f"Bitbucket refused the webhook ({render.bitbucket_words(error)})"))
    if created:
        return WebhookStatus(True, f"Registered the Bitbucket webhook of {render.escape(repo)}.")
    if missing:
        return WebhookStatus(True, f"{render.escape(repo)} already has our webhook, but it leaves out {', '.join(render.code(e) for e in missing)}: "
                                   "add them in its settings (or an operator runs `bitbucket-chatops webhooks update`).")
    return WebhookStatus(True, f"{render.escape(repo)} already has our webhook.")


def hook_events(hook: dict) -> tuple[str, ...]:
    """Pure: the events of a webhook as Bitbucket answered it (all the bot relays when the answer leaves them out)."""
    events = hook.get("events")
    return tuple(e for e in events if isinstance(e, str)) if isinstance(events, list) and events else RELAYED_EVENTS


def ensure_workspace_webhook(inv: Invocation, workspace: str) -> WebhookStatus:
    """The workspace's one webhook (it fires for every repository, present and future): reuse ours, else create it
    (only a workspace owner's credential may), else explain."""
    services = inv.services
    key = relay.workspace_pattern(workspace)
    relay.remember_main_branch(services.store, repo=key, main_branch="", user_id=inv.user_id, now=time.time())
    if not services.settings.public_url:
        return WebhookStatus(False, workspace_manual_steps(workspace, None, "`PUBLIC_URL` is not set, so I cannot register the workspace's webhook"))
    url = relay.webhook_url(services.settings.public_url)
    try:
        created, missing = register_hook(inv, key, url, partial(services.bitbucket.list_workspace_webhooks, workspace),
                                         partial(services.bitbucket.create_workspace_webhook, workspace))
    except (Forbidden, Unauthorized):
        return WebhookStatus(False, workspace_manual_steps(
            workspace, url, "Bitbucket would not let the bot manage the workspace's webhooks: only a credential of a workspace *owner*, "
                            "with the `webhook` scope, may (a repository or project access token never can)"))
    except BitbucketError as error:
        return WebhookStatus(False, workspace_manual_steps(workspace, url, f"Bitbucket refused the workspace's webhook ({render.bitbucket_words(error)})"))
    if created:
        return WebhookStatus(True, f"Registered the Bitbucket webhook of workspace {render.escape(workspace)}: every repository in it, present and future.")
    if missing:
        return WebhookStatus(True, f"Workspace {render.escape(workspace)} already has our webhook, but it leaves out "
                                   f"{', '.join(render.code(e) for e in missing)}: an operator runs `bitbucket-chatops webhooks update` to add them.")
    return WebhookStatus(True, f"Workspace {render.escape(workspace)} already has our webhook.")


def workspace_manual_steps(workspace: str, url: str | None, why: str) -> str:
    return (f":warning: {why}, so nothing will arrive until a workspace owner adds it: Bitbucket shows workspace webhooks "
            f"read-only, so by API, `POST /2.0/workspaces/{render.escape(workspace)}/hooks` with URL {_hook_address(url)}, the secret set to "
            f"the value of `BITBUCKET_WEBHOOK_SECRET`, and these events: {RELAYED_EVENTS_TEXT}. (Or subscribe each repository instead.)")


def subscription_words(families: tuple[str, ...], glob: str, filters: Filters) -> list[str]:
    """A subscription in words: its families, its branches, its filters."""
    return [families_text(families), *([f"branches {render.code(glob)}"] if glob else []), *describe(filters)]


def subscribe(inv: Invocation, command: Command) -> None:
    families = tuple(command.args.get("families") or EVENT_FAMILIES)
    glob = command.args.get("branch_glob") or ""
    filters = command.args.get("filters") or NO_FILTERS
    workspace = command.args.get("workspace")
    if workspace:
        # Bitbucket's answer proves the workspace exists and the bot can read it.
        inv.services.bitbucket.get_workspace(workspace)
        repo, name = relay.workspace_pattern(workspace), f"every repository of {render.escape(workspace)} (`{render.escape(workspace)}/*`)"
    else:
        repo = inv.repo(command.repo).lower()
        ws, slug = split_repo(repo)
        # Bitbucket's answer proves the repository exists and the bot can read it; its main branch matters for builds.
        repository = Repository.from_api(inv.services.bitbucket.get_repository(ws, slug))
        name = render.link(repository.url, repo)
    before = relay.subscribe(inv.services.store, channel_id=inv.channel_id, repo=repo, families=families, branch_glob=glob,
                             user_id=inv.user_id, now=time.time(), filters=filters)
    inv.services.audit.record(
        inv.user_id, "subscribe", f"{inv.channel_id} {repo}", ok=True, result="new" if before is None else "changed",
        detail={"families": list(families), "branch_glob": glob, "filters": filters.to_json()},
    )
    webhook = ensure_workspace_webhook(inv, workspace) if workspace else ensure_webhook(inv, repo, repository)
    words = subscription_words(families, glob, filters)
    if before is None:
        text = f":satellite_antenna: {render.mention(inv.user_id)} subscribed this channel to {name}: {' · '.join(words)}."
    else:
        was = subscription_words(before.families, before.branch_glob, before.filters)
        added, removed = [w for w in words if w not in was], [w for w in was if w not in words]
        change = "; ".join(part for part in (f"now {', '.join(added)}" if added else "", f"no longer {', '.join(removed)}" if removed else "") if part)
        text = (f":satellite_antenna: {render.mention(inv.user_id)} changed this channel's subscription to {name}: {' · '.join(words)}."
                f"\n{change or 'Nothing changed'}.")
    if webhook.ok:
        inv.reply(render.notice(f"{text}\n{webhook.text}"), public=True)
    else:
        inv.reply(render.notice(text), public=True)
        inv.reply(render.notice(webhook.text))


def unsubscribe(inv: Invocation, command: Command) -> None:
    workspace = command.args.get("workspace")
    repo = relay.workspace_pattern(workspace) if workspace else inv.repo(command.repo).lower()
    if not relay.unsubscribe(inv.services.store, channel_id=inv.channel_id, repo=repo):
        raise UserError(f"This channel is not subscribed to {render.escape(repo)}; `/bb subscriptions` lists what it is.")
    inv.services.audit.record(inv.user_id, "unsubscribe", f"{inv.channel_id} {repo}", ok=True, result="removed")
    note = _drop_workspace_webhook(inv, workspace) if workspace else ""
    inv.reply(render.notice(f":mute: {render.mention(inv.user_id)} unsubscribed this channel from {render.escape(repo)}.{note}"), public=True)


def _drop_workspace_webhook(inv: Invocation, workspace: str) -> str:
    """The last channel following a workspace left it: its webhook goes too (a repository's stays, as ever)."""
    store, key = inv.services.store, relay.workspace_pattern(workspace)
    if channels_following(store, key):
        return ""
    hook = next((r for r in relay.registrations(store) if r.repo == key), None)
    if hook is None or not hook.hook_uuid:
        relay.forget_registration(store, repo=key)
        return ""
    try:
        inv.services.bitbucket.delete_workspace_webhook(workspace, hook.hook_uuid)
    except NotFound:
        pass
    except BitbucketError as error:
        inv.services.audit.record(inv.user_id, "delete_webhook", key, ok=False, result=str(error))
        return f" Its workspace webhook stays (Bitbucket said: {render.bitbucket_words(error)})."
    relay.forget_registration(store, repo=key)
    inv.services.audit.record(inv.user_id, "delete_webhook", key, ok=True, result=hook.hook_uuid)
    return " No channel follows the workspace any more: its webhook is removed."


def subscriptions(inv: Invocation, command: Command) -> None:
    subs = relay.channel_subscriptions(inv.services.store, inv.channel_id)
    rules = owners_lines(inv.services.store, inv.channel_id)
    if not subs and not rules:
        inv.reply(render.notice("This channel relays nothing yet. `/bb subscribe REPO` relays a repository's pull requests, pushes, "
                                "tags and builds here; `/bb subscribe WORKSPACE/*` every repository of a workspace."))
        return
    followed = {s.repo for s in subs}
    named = {r for r in followed if not relay.is_workspace_pattern(r)}
    lines = ["*This channel relays:*"] if subs else []
    for sub in subs:
        line = f"• {render.escape(sub.repo)}: {' · '.join(subscription_words(sub.families, sub.branch_glob, sub.filters))}"
        its_workspace = relay.workspace_pattern(sub.repo.split("/", 1)[0])
        if relay.is_workspace_pattern(sub.repo):
            mine = sorted(r for r in named if r.startswith(sub.repo[:-1]))
            line += "\n   every repository of the workspace, present and future" + (
                f"; except {', '.join(render.escape(r) for r in mine)}, whose own subscription here wins" if mine else "")
        elif its_workspace in followed:
            line += f"\n   wins here over {render.escape(its_workspace)}"
        if sub.broken_reason:
            hint = BROKEN_HINTS.get(sub.broken_reason, "Slack refused our messages")
            line += f"\n   :warning: *broken* (`{render.escape(sub.broken_reason)}`): {hint}."
        lines.append(line)
    inv.reply(render.notice("\n".join(lines + rules)))


COMMAND_HANDLERS: dict = {"subscribe": subscribe, "unsubscribe": unsubscribe, "subscriptions": subscriptions}
ACTION_HANDLERS: dict = {}  # action_id -> handler(inv, value)
