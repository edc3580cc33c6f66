"""The message shortcut *Reply in Bitbucket*: on a comment the bot relayed into a card's thread, a form asks for the
reply, which is written as the person's reply to that very comment (`parent`). Slack's threads are flat, so a plain
message in the thread is a comment on the pull request; this is how a person answers one comment. The reply's
webhook brings it back into the thread, quoting the first line of the comment it answers."""

from __future__ import annotations

import json

from bot import relay
from bot.conversations import messages
from bot.conversations import render as conversation_render
from bot.core import actions, ids
from bot.core.invocation import Invocation, run_safely
from bot.core.payloads import CommentReply
from bot.core.render import encode_value, escape, input_text, truncate


def reply_in_bitbucket(inv: Invocation, payload: dict) -> None:
    """The shortcut, on the quick pool: the form opens within the trigger's 3 seconds (nothing asked of Bitbucket)."""
    message = payload.get("message") or {}
    found = relay.relayed_comment_at(inv.services.store, inv.channel_id, message.get("ts"))
    if found is None:
        inv.reply(conversation_render.not_a_comment())
        return
    repo, pr_id, comment_id = found
    actions.check(inv.services, inv.user_id, actions.Write("comment", repo, f"{repo}#{pr_id}", acting=actions.PERSON))
    thread_ts = message.get("thread_ts") or relay.card_ts(inv.services.store, inv.channel_id, repo, pr_id) or ""
    meta = encode_value(CommentReply(repo, pr_id, comment_id, inv.channel_id, thread_ts).to_value())
    said = escape(truncate(" ".join(str(message.get("text") or "").split()), 300))
    about = f"Replying on {conversation_render.pr_label(repo, pr_id)} to:\n>{said or '…'}"
    inv.services.slack.views_open(trigger_id=inv.trigger_id, view=conversation_render.reply_modal(meta, about))


def reply_text(view: dict) -> str:
    return input_text(view, ids.REPLY_TEXT_BLOCK, ids.REPLY_TEXT_INPUT)


def on_reply_view(services, ack, body, view, invocation_for) -> None:
    text = reply_text(view)
    if not text:
        ack(response_action="errors", errors={ids.REPLY_TEXT_BLOCK: "Write the reply."})
        return
    ack()
    meta = CommentReply.from_value(json.loads(view.get("private_metadata") or "{}"))
    inv = invocation_for(meta.channel)
    services.submit(run_safely, inv, lambda: reply(inv, meta, text))


def reply(inv: Invocation, meta: CommentReply, text: str) -> None:
    comment = messages.write_comment(inv.services, inv.user_id, meta.channel, "", meta.thread_ts, meta.repo, meta.pr_id, text,
                                     parent_id=meta.comment_id)
    if comment is not None:
        messages.Reply(inv.services, meta.channel, inv.user_id, meta.thread_ts, None).tell(
            conversation_render.replied(conversation_render.pr_label(meta.repo, meta.pr_id)))
