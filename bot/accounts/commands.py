"""People's own Bitbucket accounts in Slack: `/bb login`, `/bb logout`, `/bb whoami`, and the Approve and
Request changes buttons, which act as the person who clicks and never as the bot."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, MarkdownTextObject, SectionBlock

from bot import accounts
from bot.core import actions, ids, render
from bot.accounts import signin
from bot.accounts import LinkedAccount
from bot.bitbucket import BitbucketError, PullRequest
from bot.core.commands import Command, parse_repo
from bot.core.errors import NotLinked, UserError
from bot.core.payloads import PullRequestButton
from bot.core.render import Message
from bot.core.invocation import Invocation, split_repo
from bot.pull_requests import render as pr_render
from bot.relay import render as relay_render

log = logging.getLogger(__name__)


# --- /bb login, /bb logout, /bb whoami ---------------------------------------------------------------


def login(inv: Invocation, command: Command) -> None:
    services = inv.services
    missing = accounts.missing_settings(services.settings)
    if missing:
        raise UserError(
            "Linking Bitbucket accounts is not set up on this bot yet: an admin needs to set "
            + ", ".join(f"`{name}`" for name in missing) + "."
        )
    state = accounts.start_login(services.store, inv.user_id, inv.team_id, now=time.time(), stage=accounts.STAGE_LINK)
    inv.reply(login_link(signin.start_url(services.settings, state), accounts.linked_account(services.store, inv.user_id)))


def logout(inv: Invocation, command: Command) -> None:
    forgotten = accounts.forget_login(inv.services.store, inv.user_id)
    if forgotten is None:
        inv.reply(render.notice("Your Bitbucket account was not linked; there was nothing to forget."))
        return
    inv.services.audit.record(inv.user_id, "logout", _audit_target(forgotten), ok=True)
    inv.reply(logged_out(forgotten))


def whoami(inv: Invocation, command: Command) -> None:
    store = inv.services.store
    account = accounts.linked_account(store, inv.user_id)
    if account:
        inv.reply(linked_notice(account))
        return
    mention_link = store.query_one("SELECT nickname FROM user_links WHERE slack_user_id = ?", (inv.user_id,))
    inv.reply(not_linked_notice(mention_link["nickname"] if mention_link else None))


COMMAND_HANDLERS = {"login": login, "logout": logout, "whoami": whoami}


# --- Approve and Request changes ---------------------------------------------------------------------

# action -> (client method, what the person is told, emoji)
REVIEWS = {
    "approve": ("approve_pull_request", "approved", ":white_check_mark:"),
    "request_changes": ("request_changes", "requested changes on", ":raised_hand:"),
}


def approve(inv: Invocation, value: dict) -> None:
    review(inv, value, "approve")


def request_changes(inv: Invocation, value: dict) -> None:
    review(inv, value, "request_changes")


ACTION_HANDLERS = {ids.APPROVE: approve, ids.REQUEST_CHANGES: request_changes}


def review(inv: Invocation, value: dict, action: str) -> None:
    """Review as the clicker, with their own token (the one write path refuses the unlinked); a review already
    given is said, not given again; then bring the card's summary up to date."""
    button = PullRequestButton.from_value(value)
    repo, pr_id = button.repo, button.pr_id
    services = inv.services
    method, done, emoji = REVIEWS[action]
    workspace, slug = split_repo(repo)
    write = actions.Write(action, repo, f"{repo}#{pr_id}", acting=actions.PERSON)
    try:
        actions.check(services, inv.user_id, write)
    except NotLinked:
        raise NotLinked(
            "Reviews are made as you, never as the bot: link your Bitbucket account with `/bb login`, then click again."
        ) from None
    account = accounts.linked_account(services.store, inv.user_id)
    if account is not None and _already(services, workspace, slug, pr_id, account, action):
        inv.reply(render.notice(f"{emoji} You had already {done} #{pr_id} in {render.escape(repo)}; nothing changed."))
        return
    actions.perform(services, inv.user_id, write, lambda client: getattr(client, method)(workspace, slug, pr_id),
                    describe=lambda _: done)
    try:
        # Read back as the bot, like every card the bot shows; only the review itself is the person's.
        pr = PullRequest.from_api(services.bitbucket.get_pull_request(workspace, slug, pr_id))
    except BitbucketError as error:
        log.info("reviewed %s#%s, but could not read it back: %s", repo, pr_id, error)
        inv.reply(reviewed(f"#{pr_id}", repo, done, emoji, account))
        return
    if relay_render.is_relayed_card(inv.message) and inv.message.get("ts"):
        # A card stays a card (the relay redraws it from Bitbucket's event); the outcome goes into its thread.
        said = reviewed(render.link(pr.url, f"#{pr.id} {render.truncate(pr.title, 200)}"), repo, done, emoji, account, who=inv.user_id)
        services.slack.chat_postMessage(channel=inv.channel_id, thread_ts=inv.message["ts"], text=said.text, blocks=said.blocks)
        return
    blocks = with_fresh_summary(inv.message.get("blocks") or [], repo, pr, render.utcnow()) if inv.message else None
    if blocks is not None:
        inv.respond(text=inv.message.get("text") or "", blocks=blocks, replace_original=True)
    inv.reply(reviewed(render.link(pr.url, f"#{pr.id} {render.truncate(pr.title, 200)}"), repo, done, emoji, account))


def _already(services, workspace: str, slug: str, pr_id: int, account, action: str) -> bool:
    """True when the person's account already gave this review (read as the bot, like the card)."""
    try:
        pr = PullRequest.from_api(services.bitbucket.get_pull_request(workspace, slug, pr_id))
    except BitbucketError:
        return False
    given = pr.approved_by if action == "approve" else pr.changes_requested_by
    return any(a.uuid and a.uuid.strip("{}").lower() == (account.bitbucket_uuid or "").strip("{}").lower() for a in given)


def pull_request_of(value: dict) -> tuple[str, int]:
    """`workspace/slug` and the pull request number a button carries."""
    try:
        ref = parse_repo(str(value["r"]))
        pr_id = int(value["p"])
    except (KeyError, TypeError, ValueError, UserError):
        ref, pr_id = None, 0
    if ref is None or ref.workspace is None or pr_id <= 0:
        raise UserError("That button's data is not readable; run the command again.")
    return ref.full_name, pr_id


def with_fresh_summary(blocks: list[dict], repo: str, pr: PullRequest, now: datetime) -> list[dict] | None:
    """The message's blocks with the summary of `pr` (the section just above its buttons) rendered anew, the
    rest kept as it was; None when the message holds no such pull request."""
    block_id = pr_render.pull_request_buttons(repo, pr).block_id
    for index, block in enumerate(blocks):
        if block.get("type") == "actions" and block.get("block_id") == block_id:
            if index == 0 or blocks[index - 1].get("type") != "section":
                return None
            summary = render.clip(pr_render.pull_request_summary(repo, pr, now), render.MAX_SECTION_TEXT)
            section = {**blocks[index - 1], "text": {"type": "mrkdwn", "text": summary}}
            return [*blocks[: index - 1], section, *blocks[index:]]
    return None


def _audit_target(account: LinkedAccount) -> str:
    return f"bitbucket:{account.nickname or account.bitbucket_uuid}"


# --- what the person reads ----------------------------------------------------------------------------


def _who(account: LinkedAccount) -> str:
    nickname = f" ({render.code(account.nickname)})" if account.nickname and account.nickname != account.display_name else ""
    return f"*{render.escape(account.name)}*{nickname}"


def login_link(url: str, current: LinkedAccount | None) -> Message:
    text = (
        "*Link your Bitbucket account*\nOpen the link, sign in with Slack, then grant access on Bitbucket's consent "
        "page: approvals, merges and declines you make from Slack are then yours in Bitbucket. The link is for you "
        f"alone (anyone else who opens it is refused), works once, and expires in {accounts.LOGIN_STATE_LIFETIME // 60} minutes."
    )
    if current:
        text += f"\nYou are linked as {_who(current)} now; signing in again replaces that."
    link_button = render.button("Sign in and link", ids.OPEN_LINK, url=url, style="primary")
    return render.message(
        f"Link your Bitbucket account: {url}",
        [SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(elements=[link_button])],
    )


def linked_notice(account: LinkedAccount) -> Message:
    return render.notice(
        f":link: You are linked to Bitbucket as {_who(account)}. Approvals, merges and declines you make from "
        "Slack are yours in Bitbucket. `/bb logout` unlinks."
    )


def not_linked_notice(mention_nickname: str | None) -> Message:
    mention = f"You are tied to {render.code(mention_nickname)} for mentions, but not signed in. " if mention_nickname else ""
    return render.notice(
        f"{mention}You have not linked your Bitbucket account: `/bb login` links it, so that your approvals "
        "are made as you."
    )


def logged_out(account: LinkedAccount) -> Message:
    return render.notice(
        f"Done: the bot forgot your Bitbucket tokens (you were linked as {_who(account)}). To withdraw the access "
        "you granted altogether, revoke it in your Bitbucket account settings."
    )


def reviewed(pr_label: str, repo: str, done: str, emoji: str, account: LinkedAccount | None, *, who: str | None = None) -> Message:
    """What the person is told (`who`: said to the thread, naming them)."""
    as_whom = f" as {_who(account)}" if account else ""
    subject = render.mention(who) if who else "You"
    return render.notice(f"{emoji} {subject} {done} {pr_label} in {render.escape(repo)}{as_whom}.")
