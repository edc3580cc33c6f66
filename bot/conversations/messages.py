"""The Events API's `message` events in channels the bot is in: a person's reply in the thread of a relayed pull
request card becomes their comment on the pull request, written as them (`/bb login`), never as the bot; editing the
reply edits the comment, deleting it deletes the comment. Only messages that became comments are followed; the
bot's own messages, other bots', and messages outside a card's thread are left alone.

Each event is acted on once across replicas (`handlers.events` claims its id; each message is claimed too). What
happens is said with a reaction on the person's message (:speech_balloon: written, :exclamation: not), and a
refusal in a note only they see, in the thread.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from bot import accounts, conversations, relay
from bot.bitbucket import BitbucketError
from bot.conversations import render as conversation_render
from bot.conversations.mrkdwn import to_markdown
from bot.core import actions
from bot.core.errors import NotLinked, UserError
from bot.core.render import Message, bitbucket_words, escape
from bot.core.invocation import split_repo

log = logging.getLogger(__name__)

# Bitbucket Cloud documents no limit on a comment's length; Bitbucket Server's is 32,768 characters, and the bot
# holds comments written from Slack to it (a Slack message may be longer: 40,000).
MAX_COMMENT_CHARS = 32768
TURN_TRIES = 2  # waits for the person's next second to comment, before saying it was too fast


def on_message(services, event: dict) -> None:
    subtype = event.get("subtype") or ""
    if subtype == "message_changed":
        edited(services, event)
    elif subtype == "message_deleted":
        deleted(services, event)
    elif subtype in ("", "thread_broadcast") and not by_a_bot(event):
        written(services, event)


def by_a_bot(message: dict) -> bool:
    """The bot's own posts and other apps' (a modern app's post has `bot_id` and no subtype)."""
    return bool(message.get("bot_id") or message.get("app_id") or message.get("bot_profile")) or message.get("subtype") == "bot_message"


def in_card_thread(services, message: dict, channel: str) -> tuple[str, int] | None:
    """(repo, pr_id) when the message is a reply in the thread of a relayed pull request card."""
    ts, thread_ts = message.get("ts"), message.get("thread_ts")
    if not (isinstance(ts, str) and isinstance(thread_ts, str)) or ts == thread_ts or not channel or channel.startswith("D"):
        return None
    return relay.pull_request_in_thread(services.store, channel, thread_ts)


# --- a reply becomes a comment --------------------------------------------------------------------------------


def written(services, event: dict) -> None:
    channel, user, ts = event.get("channel") or "", event.get("user") or "", event.get("ts") or ""
    found = in_card_thread(services, event, channel)
    if found is None or not user:
        return
    repo, pr_id = found
    write_comment(services, user, channel, ts, event["thread_ts"], repo, pr_id, event.get("text") or "")


def write_comment(services, user: str, channel: str, ts: str, thread_ts: str, repo: str, pr_id: int, text: str,
                  *, parent_id: int | None = None) -> dict | None:
    """Write `text` (Slack's mrkdwn) as the person's comment on the pull request (a reply to `parent_id`); the
    comment, or None when it was not written (and the person was told why)."""
    say = Reply(services, channel, user, thread_ts, ts)
    write = actions.Write("comment", repo, f"{repo}#{pr_id}", acting=actions.PERSON, detail={"from": "slack"})
    try:
        actions.check(services, user, write)
    except NotLinked:
        say.tell(conversation_render.not_linked())
        return None
    raw = to_markdown(text, mention_writer(services))
    if not raw:
        return None
    if len(raw) > MAX_COMMENT_CHARS:
        say.refused(conversation_render.too_long(len(raw), MAX_COMMENT_CHARS))
        return None
    if ts and not conversations.claim_message(services.store, channel=channel, ts=ts, user=user, repo=repo, pr_id=pr_id, raw=raw,
                                              now=services.timestamp()):
        return None  # taken already: a retried event, or another replica
    if not wait_turn(services, user):
        conversations.release_message(services.store, channel, ts)
        say.refused(conversation_render.too_fast())
        return None
    workspace, slug = split_repo(repo)
    try:
        done = actions.perform(services, user, write,
                               lambda client: client.create_pull_request_comment(workspace, slug, pr_id, raw, parent_id=parent_id),
                               describe=lambda comment: f"comment {comment.get('id')}" if isinstance(comment, dict) else "done")
    except (UserError, BitbucketError) as error:
        if not isinstance(error, actions.OutcomeUnknown):
            conversations.mark_failed(services.store, channel, ts)
        say.refused(_failure(error, repo))
        return None
    comment = done.value if isinstance(done.value, dict) else {}
    if ts and isinstance(comment.get("id"), int):
        conversations.mark_written(services.store, channel, ts, comment["id"])
    say.react(conversation_render.REACTION_POSTED)
    return comment


def wait_turn(services, user: str) -> bool:
    """At most one comment a second per person, across replicas: wait for the turn a little, else False."""
    for _ in range(TURN_TRIES):
        wait = conversations.take_turn(services.store, user, now=services.timestamp())
        if wait <= 0:
            return True
        time.sleep(min(wait, conversations.COMMENT_GAP_SECONDS))
    return conversations.take_turn(services.store, user, now=services.timestamp()) <= 0


def mention_writer(services) -> Callable[[str], str]:
    """How a Slack mention is written in Bitbucket: `@{account_id}` of the linked person, else their Slack name."""
    names: dict[str, str] = {}

    def mention(user_id: str) -> str:
        if user_id not in names:
            linked = accounts.linked_user(services.store, user_id)
            if linked is not None and linked.account_id:
                names[user_id] = "@{" + linked.account_id + "}"
            else:
                names[user_id] = _slack_name(services, user_id)
        return names[user_id]

    return mention


def _slack_name(services, user_id: str) -> str:
    try:
        user = services.slack.users_info(user=user_id)["user"]
    except Exception:  # noqa: BLE001 - a name is a nicety: without it, "someone"
        return "someone"
    profile = user.get("profile") or {}
    name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name") or "someone"
    return str(name).replace("@", "").replace("[", "").replace("]", "")[:80]


# --- edits and deletions follow -------------------------------------------------------------------------------


def edited(services, event: dict) -> None:
    message, previous = event.get("message") or {}, event.get("previous_message") or {}
    channel, ts = event.get("channel") or "", message.get("ts") or ""
    if by_a_bot(message) or (message.get("text") or "") == (previous.get("text") or ""):
        return  # Slack also sends message_changed for unfurls and the like: only a new text is an edit
    row = conversations.written_comment(services.store, channel, ts)
    if row is None or (message.get("user") and message["user"] != row["slack_user"]):
        return
    user, repo, pr_id, comment_id = row["slack_user"], row["repo"], row["pr_id"], row["comment_id"]
    say = Reply(services, channel, user, message.get("thread_ts") or "", ts)
    raw = to_markdown(message.get("text") or "", mention_writer(services))
    if not raw:
        return
    if len(raw) > MAX_COMMENT_CHARS:
        say.refused(conversation_render.too_long(len(raw), MAX_COMMENT_CHARS))
        return
    if not wait_turn(services, user):
        say.refused(conversation_render.too_fast())
        return
    workspace, slug = split_repo(repo)
    write = actions.Write("edit comment", repo, f"{repo}#{pr_id}", acting=actions.PERSON, detail={"comment": comment_id})
    try:
        actions.perform(services, user, write,
                        lambda client: client.update_pull_request_comment(workspace, slug, pr_id, comment_id, raw))
    except (UserError, BitbucketError) as error:
        say.refused(_failure(error, repo, "edited"))
        return
    conversations.mark_written(services.store, channel, ts, comment_id, raw)


def deleted(services, event: dict) -> None:
    channel, ts = event.get("channel") or "", event.get("deleted_ts") or ""
    row = conversations.written_comment(services.store, channel, ts)
    if row is None:
        return
    user, repo, pr_id, comment_id = row["slack_user"], row["repo"], row["pr_id"], row["comment_id"]
    thread_ts = (event.get("previous_message") or {}).get("thread_ts") or ""
    say = Reply(services, channel, user, thread_ts, None)
    workspace, slug = split_repo(repo)
    write = actions.Write("delete comment", repo, f"{repo}#{pr_id}", acting=actions.PERSON, detail={"comment": comment_id})
    try:
        actions.perform(services, user, write, lambda client: client.delete_pull_request_comment(workspace, slug, pr_id, comment_id))
    except (UserError, BitbucketError) as error:
        say.refused(_failure(error, repo, "deleted"))
        return
    conversations.mark_deleted(services.store, channel, ts)


# --- telling the person ---------------------------------------------------------------------------------------


def _failure(error: Exception, repo: str, what: str = "posted") -> Message:
    if isinstance(error, actions.OutcomeUnknown):  # a 5xx after sending: it may have been written
        return conversation_render.unknown(str(error.message).removeprefix(":hourglass: "), what)
    if isinstance(error, BitbucketError):
        return conversation_render.failed(conversation_render.refusal_words(error.status, bitbucket_words(error), repo), what)
    if isinstance(error, UserError):
        return conversation_render.failed(error.message, what)
    return conversation_render.failed(escape(str(error)), what)


class Reply:
    """Where a person's reply is, to answer them: a note only they see in the thread, and reactions on the message."""

    def __init__(self, services, channel: str, user: str, thread_ts: str, ts: str | None):
        self.services, self.channel, self.user, self.thread_ts, self.ts = services, channel, user, thread_ts, ts

    def tell(self, message: Message) -> None:
        try:
            self.services.slack.chat_postEphemeral(channel=self.channel, user=self.user, text=message.text, blocks=message.blocks,
                                                   thread_ts=self.thread_ts or None)
        except Exception:  # noqa: BLE001 - the person is not in the channel any more, or Slack is down
            log.info("could not tell %s in %s", self.user, self.channel, exc_info=True)

    def refused(self, message: Message) -> None:
        self.react(conversation_render.REACTION_FAILED)
        self.tell(message)

    def react(self, name: str) -> None:
        if not self.ts:
            return
        try:
            self.services.slack.reactions_add(channel=self.channel, timestamp=self.ts, name=name)
        except Exception as error:  # noqa: BLE001 - already_reacted, a deleted message: nothing to add
            log.info("no :%s: on %s in %s: %s", name, self.ts, self.channel, error)
