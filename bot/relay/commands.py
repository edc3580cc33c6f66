"""Slack entry points of the relay: `/bb subscribe`, `/bb unsubscribe`, `/bb subscriptions`.

Any member may relay a repository into a channel (it only shows what the channel could read in Bitbucket
through the bot anyway); each change is in the audit log. Subscribing registers the repository's one
webhook when it is missing, or says how to add it by hand.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from bot import relay
from bot.core import render
from bot.bitbucket import BitbucketError, Forbidden, Repository, Unauthorized
from bot.core.commands import Command
from bot.relay.grammar import EVENT_FAMILIES
from bot.core.errors import UserError
from bot.relay.render import RELAYED_EVENTS
from bot.core.invocation import Invocation, split_repo

WEBHOOK_DESCRIPTION = "Bitbucket ChatOps (Slack relay)"
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


def manual_steps(repo: str, url: str | None, why: str) -> str:
    """How to add the webhook by hand. Names the secret's variable, never its value."""
    where = render.code(url) if url else "`https://<this bot's public address>/bitbucket/webhook`"
    events = ", ".join(f"`{e}`" for e in RELAYED_EVENTS)
    return (
        f":warning: {why}, so nothing will arrive until someone adds the webhook by hand: in Bitbucket, "
        f"*{render.escape(repo)}* › Repository settings › Webhooks › Add webhook, with URL {where}, "
        f"the secret set to the value of `BITBUCKET_WEBHOOK_SECRET`, and these triggers: {events}."
    )


def ensure_webhook(inv: Invocation, repo: str, repository: Repository) -> WebhookStatus:
    """The repository's one webhook: reuse ours if it is there, else create it, else explain."""
    services = inv.services
    settings = services.settings
    now = time.time()
    relay.remember_main_branch(services.store, repo=repo, main_branch=repository.main_branch or "", user_id=inv.user_id, now=now)
    if not settings.public_url:
        return WebhookStatus(False, manual_steps(repo, None, "`PUBLIC_URL` is not set, so I cannot register the webhook"))
    url = relay.webhook_url(settings.public_url)
    workspace, slug = split_repo(repo)
    with _registering:
        try:
            hook = relay.find_our_hook(services.bitbucket.list_webhooks(workspace, slug), url)
            created = hook is None
            if created:
                hook = services.bitbucket.create_webhook(
                    workspace, slug, url=url, events=RELAYED_EVENTS, secret=settings.bitbucket_webhook_secret, description=WEBHOOK_DESCRIPTION
                )
        except BitbucketError as error:
            services.audit.record(inv.user_id, "register_webhook", repo, ok=False, result=str(error))
            if isinstance(error, (Forbidden, Unauthorized)):
                why = "Bitbucket would not let the bot manage webhooks (its credential needs the `webhook` scope and admin rights on the repository)"
            else:
                why = f"Bitbucket refused the webhook ({render.bitbucket_words(error)})"
            return WebhookStatus(False, manual_steps(repo, url, why))
        relay.record_registration(services.store, repo=repo, hook_uuid=hook.get("uuid") or "", url=url,
                                  secret=settings.bitbucket_webhook_secret if created else None)
    if created:
        services.audit.record(inv.user_id, "register_webhook", repo, ok=True, result=hook.get("uuid") or "", detail={"url": url})
        return WebhookStatus(True, f"Registered the Bitbucket webhook of {render.escape(repo)}.")
    missing = sorted(set(RELAYED_EVENTS) - set(hook.get("events") or RELAYED_EVENTS))
    if missing:
        return WebhookStatus(True, f"{render.escape(repo)} already has our webhook, but it leaves out {', '.join(render.code(e) for e in missing)}: add them in its settings.")
    return WebhookStatus(True, f"{render.escape(repo)} already has our webhook.")


def subscribe(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo).lower()
    families = tuple(command.args.get("families") or EVENT_FAMILIES)
    glob = command.args.get("branch_glob") or ""
    workspace, slug = split_repo(repo)
    # Bitbucket's answer proves the repository exists and the bot can read it; its main branch matters for builds.
    repository = Repository.from_api(inv.services.bitbucket.get_repository(workspace, slug))
    new = relay.subscribe(
        inv.services.store, channel_id=inv.channel_id, repo=repo, families=families, branch_glob=glob, user_id=inv.user_id, now=time.time()
    )
    inv.services.audit.record(
        inv.user_id, "subscribe", f"{inv.channel_id} {repo}", ok=True, result="new" if new else "changed",
        detail={"families": list(families), "branch_glob": glob},
    )
    webhook = ensure_webhook(inv, repo, repository)
    only = f" on branches matching {render.code(glob)}" if glob else ""
    verb = "subscribed this channel to" if new else "changed this channel's subscription to"
    text = f":satellite_antenna: {render.mention(inv.user_id)} {verb} {render.link(repository.url, repo)}: {families_text(families)}{only}."
    if webhook.ok:
        inv.reply(render.notice(f"{text}\n{webhook.text}"), public=True)
    else:
        inv.reply(render.notice(text), public=True)
        inv.reply(render.notice(webhook.text))


def unsubscribe(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo).lower()
    if not relay.unsubscribe(inv.services.store, channel_id=inv.channel_id, repo=repo):
        raise UserError(f"This channel is not subscribed to {render.escape(repo)}; `/bb subscriptions` lists what it is.")
    inv.services.audit.record(inv.user_id, "unsubscribe", f"{inv.channel_id} {repo}", ok=True, result="removed")
    inv.reply(render.notice(f":mute: {render.mention(inv.user_id)} unsubscribed this channel from {render.escape(repo)}."), public=True)


def subscriptions(inv: Invocation, command: Command) -> None:
    subs = relay.channel_subscriptions(inv.services.store, inv.channel_id)
    if not subs:
        inv.reply(render.notice("This channel relays nothing yet. `/bb subscribe REPO` relays a repository's pull requests, pushes, tags and builds here."))
        return
    lines = ["*This channel relays:*"]
    for sub in subs:
        only = f" · branches {render.code(sub.branch_glob)}" if sub.branch_glob else ""
        line = f"• {render.escape(sub.repo)}: {families_text(sub.families)}{only}"
        if sub.broken_reason:
            hint = BROKEN_HINTS.get(sub.broken_reason, "Slack refused our messages")
            line += f"\n   :warning: *broken* (`{render.escape(sub.broken_reason)}`): {hint}."
        lines.append(line)
    inv.reply(render.notice("\n".join(lines)))


COMMAND_HANDLERS: dict = {"subscribe": subscribe, "unsubscribe": unsubscribe, "subscriptions": subscriptions}
ACTION_HANDLERS: dict = {}  # action_id -> handler(inv, value)
