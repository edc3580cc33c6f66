"""`/bb link [@user] BITBUCKET_NICKNAME`: tie a Slack user to a Bitbucket account, so reminders and notifications
can name them. Yourself, or (admins) someone else; the account is looked up among the workspace's members, and a
nickname nobody has is still linked (mentions match nicknames too)."""

from __future__ import annotations

import logging

from bot import reminders
from bot.accounts import links
from bot.bitbucket import Account, BitbucketError
from bot.core import people
from bot.core.commands import Command
from bot.core.errors import NotAllowed
from bot.core.invocation import Invocation, split_repo
from bot.core.render import Message, code, escape, mention, notice

log = logging.getLogger(__name__)


def link(inv: Invocation, command: Command) -> None:
    services = inv.services
    nickname = command.args["nickname"]
    typed = command.args.get("user_id")
    target = people.resolve(services.slack, typed, instead=f"/bb link {people.MEMBER_ID_EXAMPLE} {nickname}") if typed else inv.user_id
    if target != inv.user_id and not services.permissions.is_admin(inv.user_id):
        raise NotAllowed("Only admins (listed in `CHATOPS_ADMINS`) can link someone else. Link yourself with `/bb link NICKNAME`.")
    account, note = _find_account(inv, nickname)
    links.link(services.store, slack_user_id=target, nickname=nickname, account=account, linked_by=inv.user_id)
    services.audit.record(
        inv.user_id, "link", target, ok=True, result=(account.uuid or "") if account else "nickname only",
        detail={"nickname": account.nickname if account and account.nickname else nickname},
    )
    inv.reply(linked(target, account, nickname, note=note))


def _find_account(inv: Invocation, nickname: str):
    """The workspace member with that nickname (or uuid, or account_id), and a note for the person when the
    workspace could not say: then the link holds the nickname alone, which mentions match too."""
    workspace = inv.services.settings.bitbucket_workspace or _channel_workspace(inv)
    if not workspace:
        return None, "No default workspace (`BITBUCKET_WORKSPACE`) to look the nickname up in; linked by nickname."
    try:
        members = inv.services.bitbucket.list_workspace_members(workspace)
    except BitbucketError as error:
        log.info("workspace members of %s not readable: %s", workspace, error.status)
        return None, f"Could not read the members of {code(workspace)} ({code(error.message)}); linked by nickname."
    account = links.find_member(members, nickname)
    if account is None:
        return None, (
            f":warning: Nobody in {code(workspace)} has the nickname {code(nickname)}; linked by nickname anyway. "
            "Check the spelling on the person's Bitbucket profile."
        )
    return account, ""


def _channel_workspace(inv: Invocation) -> str:
    """Without a default workspace: the one of the channel's reminders (where mentions are wanted)."""
    schedules = reminders.channel_schedules(inv.services.store, inv.channel_id)
    return split_repo(schedules[0].repo)[0] if schedules else ""


def linked(slack_user: str, account: Account | None, nickname: str, *, note: str = "") -> Message:
    who = f"*{escape(account.display_name)}* ({code(account.nickname or nickname)})" if account else code(nickname)
    text = f":link: {mention(slack_user)} is linked to the Bitbucket account {who}: reminders mention them."
    return notice(text + (f"\n{note}" if note else ""))


COMMAND_HANDLERS = {"link": link}
