"""The simulated Slack's messages: `chat.postMessage`, `chat.update`, `chat.postEphemeral`, `chat.delete`,
`chat.getPermalink`, `chat.unfurl`, and posts to a `response_url` (JSON in, `ok` as text/plain out; five uses
within thirty minutes; `replace_original` / `delete_original` change the message an action came from).

A mixin of `FakeSlack`; each method runs under the fake's lock and raises SlackError to fail. Needs FakeSlack's
`_lock`, `messages`, `ephemerals`, `responses`, `_response_urls`, `outage`, `bot_user_id`, `_take_failure`,
`_channel_to_post_in`, `_api_channel`, `_find_message`, `_new_bot_message`, `_echo`, `_echo_message`.
"""

from __future__ import annotations

import json
import time

from bot.sandbox.slack.blocks import MAX_MESSAGE_BLOCKS, MAX_UPDATE_TEXT, block_problems
from bot.sandbox.slack.state import (
    RESPONSE_URL_LIFETIME,
    RESPONSE_URL_MAX_USES,
    Answer,
    IssuedResponseUrl,
    Message,
    ResponseUrlPost,
    SlackError,
)
from bot.sandbox.slack.wire import json_object_or_raw, message_blocks, message_text, required, text_answer, truthy


class ChatMixin:
    def _chat_post_message(self, args: dict) -> dict:
        channel = self._channel_to_post_in(args)
        text, warnings = message_text(args)
        blocks = message_blocks(args)
        if not text and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        message = self._new_bot_message(channel, text, blocks, args.get("thread_ts") or None)
        self.messages.setdefault(channel, []).append(message)
        self._echo_message("", message)
        self._bot_posted(message)  # events.py: the app hears of its own post (and must ignore it)
        return {"channel": channel, "ts": message.ts, "message": message.to_api(), **warnings}

    def _chat_update(self, args: dict) -> dict:
        channel = self._channel_to_post_in(args)
        message = self._find_message(channel, args.get("ts"))
        if message is None or message.deleted:
            raise SlackError("message_not_found")
        if message.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        text = args.get("text") or ""
        if len(text) > MAX_UPDATE_TEXT:
            raise SlackError("msg_too_long")
        if "text" not in args and "blocks" not in args and "attachments" not in args:
            raise SlackError("no_text")
        # Without `blocks`, Slack drops the old ones: the message becomes the new text.
        message.replace(text, message_blocks(args))
        self._echo_message("edited ", message)
        return {"channel": channel, "ts": message.ts, "text": text, "message": message.to_api()}

    def _chat_post_ephemeral(self, args: dict) -> dict:
        channel = self._channel_to_post_in(args)
        user = args.get("user")
        if not user:
            raise SlackError("user_not_found")
        text, warnings = message_text(args)
        blocks = message_blocks(args)
        if not text and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        message = self._new_bot_message(channel, text, blocks, args.get("thread_ts") or None)
        message.ephemeral_to, message.via = user, "chat.postEphemeral"
        self.ephemerals.append(message)
        self._echo_message("", message)
        return {"message_ts": message.ts, **warnings}

    def _chat_delete(self, args: dict) -> dict:
        channel = self._channel_to_post_in(args)
        message = self._find_message(channel, args.get("ts"))
        if message is None or message.deleted:
            raise SlackError("message_not_found")
        if message.user != self.bot_user_id:
            raise SlackError("cant_delete_message")
        message.deleted = True
        self._echo(f"#{channel} deleted {message.ts}")
        return {"channel": channel, "ts": message.ts}

    def _chat_get_permalink(self, args: dict) -> dict:
        channel = self._api_channel(args)
        ts = required(args, "message_ts", "message_not_found")
        permalink = f"https://sandbox.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"channel": channel, "permalink": permalink}

    def _chat_unfurl(self, args: dict) -> dict:
        """Unfurls for the links of a message (`channel` + `ts`, or `unfurl_id` + `source`)."""
        unfurls = args.get("unfurls")
        if isinstance(unfurls, str):
            try:
                unfurls = json.loads(unfurls)
            except ValueError:
                raise SlackError("invalid_unfurls") from None
        if not isinstance(unfurls, dict) or not unfurls:
            raise SlackError("invalid_unfurls")
        if not ((args.get("channel") and args.get("ts")) or (args.get("unfurl_id") and args.get("source"))):
            raise SlackError("invalid_arguments", messages=["[ERROR] channel and ts, or unfurl_id and source, are required"])
        for unfurl in unfurls.values():
            problems = block_problems((unfurl or {}).get("blocks") or [], max_blocks=MAX_MESSAGE_BLOCKS)
            if problems:
                raise SlackError("invalid_unfurls", messages=problems)
        record = {key: args.get(key) for key in ("channel", "ts", "unfurl_id", "source")}
        self.unfurls.append({**record, "unfurls": unfurls})
        self._echo(f"unfurled {', '.join(unfurls)}")
        return {}

    # ---- response_url ---------------------------------------------------------------------------------

    def _serve_response_url(self, key: str, raw_body: bytes) -> Answer:
        with self._lock:
            post = ResponseUrlPost(key, json_object_or_raw(raw_body), time.time())
            self.responses.append(post)
            if self.outage:
                return self._refuse_response(post, 503, "service_unavailable")
            failure = self._take_failure("response_url")
            if failure:
                return self._refuse_response(post, failure.status if failure.status != 200 else 500, failure.error)
            if "raw" in post.body and len(post.body) == 1:
                return self._refuse_response(post, 400, "invalid_payload")
            url = self._response_urls.setdefault(key, IssuedResponseUrl(key, time.time()))  # hand-made URLs work too
            if url.uses >= RESPONSE_URL_MAX_USES:
                return self._refuse_response(post, 404, "used_url")
            if time.time() - url.created > RESPONSE_URL_LIFETIME:
                return self._refuse_response(post, 404, "expired_url")
            try:
                self._apply_response(url, post.body)
            except SlackError as error:
                return self._refuse_response(post, 400, error.error)
            url.uses += 1
            return text_answer(200, "ok")

    def _refuse_response(self, post: ResponseUrlPost, status: int, error: str) -> Answer:
        post.status, post.error = status, error
        return text_answer(status, error)

    def _apply_response(self, url: IssuedResponseUrl, body: dict) -> None:
        """Show a response_url post: replace or delete the original message, or add a new one."""
        original = self._response_original(url)
        if truthy(body.get("delete_original")):
            if original is not None:
                original.deleted = True
                self._echo(f"#{original.channel} deleted {original.ts} (response_url)")
            return
        text, _ = message_text(body)
        blocks = message_blocks(body)
        if not text and not blocks and not body.get("attachments"):
            raise SlackError("no_text")
        if truthy(body.get("replace_original")) and original is not None:
            original.replace(text, blocks)
            self._echo_message("replaced ", original)
            return
        message = self._new_bot_message(url.channel, text, blocks, body.get("thread_ts") or None)
        message.via = "response_url"
        if body.get("response_type") == "in_channel" and url.channel:
            self.messages.setdefault(url.channel, []).append(message)
        else:  # Slack's default response_type is ephemeral
            message.ephemeral_to = url.user or "?"
            self.ephemerals.append(message)
        if url.message_ts is None:  # a slash command's first response becomes its "original"
            url.channel, url.message_ts = message.channel, message.ts
        self._echo_message("", message)

    def _response_original(self, url: IssuedResponseUrl) -> Message | None:
        if url.message_ts is None:
            return None
        candidates = self.messages.get(url.channel or "", []) + self.ephemerals
        return next((m for m in candidates if m.ts == url.message_ts and not m.deleted), None)

