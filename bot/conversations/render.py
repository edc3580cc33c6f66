"""Pure: what conversations say in Slack (hints, refusals, the nudge, the reply form) and the context added to a
relayed comment's message (the lines of code around an inline comment; the first line of the comment replied to)."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.core import ids
from bot.core.render import Message, clip, escape, link, mention, notice, text_input_modal, truncate
from bot.conversations.diff import DiffLine

REACTION_POSTED = "speech_balloon"
REACTION_FAILED = "exclamation"
CONTEXT_BLOCK = "conversation-context"  # the block_id of what is added to a relayed comment's message
MAX_CODE_LINE = 160


def not_linked() -> Message:
    return notice(":link: That reply stays in Slack: comments are written as you, never as the bot. Link your Bitbucket "
                  "account with `/bb login`, then write it again.")


def too_long(length: int, limit: int) -> Message:
    return notice(f":warning: That reply is {length:,} characters once written for Bitbucket; a comment takes at most "
                  f"{limit:,}. Nothing was posted: shorten it, or split it in two.")


def too_fast() -> Message:
    return notice(":hourglass: One comment a second at most: that one was not posted. Write it again in a moment.")


def failed(reason: str, what: str = "posted") -> Message:
    """Bitbucket refused or failed: its reason, escaped by the caller."""
    return notice(f":exclamation: Your reply was not {what} in Bitbucket: {reason}")


def unknown(reason: str, what: str = "posted") -> Message:
    """Bitbucket failed after the reply was sent: it may or may not be there (`reason` escaped by the caller)."""
    verb = {"posted": "reached", "edited": "edited it in", "deleted": "deleted it in"}.get(what, "reached")
    return notice(f":exclamation: Your reply may not have {verb} Bitbucket: {reason}")


def refusal_words(status: int | None, words: str, repo: str) -> str:
    """Why Bitbucket refused, in words a person can act on (`words`: Bitbucket's own, escaped)."""
    if status == 403:
        return f"your Bitbucket account may not comment on {escape(repo)} ({words})."
    if status == 404:
        return f"Bitbucket does not show you that pull request or comment any more ({words})."
    if status is not None and status >= 500:
        return f"Bitbucket failed ({words}); write it again in a moment."
    return f"{words}."


# --- the nudge -----------------------------------------------------------------------------------------------


def nudge(pr_label: str, who: list[str], user_id: str) -> Message:
    """In the card's thread: the reviewers who have not approved (Slack mentions where linked)."""
    if not who:
        return notice(f":wave: {mention(user_id)} nudged the reviewers of {pr_label}, but every reviewer has approved.")
    return notice(f":wave: {', '.join(who)}: {mention(user_id)} asks for your review of {pr_label}.")


def nudge_direct(pr_label: str, repo: str, user_id: str) -> Message:
    return notice(f":wave: {mention(user_id)} asks for your review of {pr_label} in {escape(repo)}.")


def nudged_recently(at: float, by: str, now: float, window: float) -> Message:
    when = datetime.fromtimestamp(at, timezone.utc).strftime("%H:%M UTC")
    again = max(1, int((at + window - now + 59) // 60))
    wait = f"{again // 60}h{again % 60:02d}m" if again >= 60 else f"{again}m"
    return notice(f":zzz: {mention(by)} nudged its reviewers at {when}; one nudge per pull request every "
                  f"{int(window // 3600)} hours. Try again in {wait}.")


def reviewer_name(display_name: str) -> str:
    return f"*{escape(truncate(display_name, 100))}*"


# --- context added to a relayed comment --------------------------------------------------------------------


def code_context(path: str, lines: list[DiffLine]) -> dict:
    """The lines of code around an inline comment, as a code block (its numbers, and + / - for changed lines)."""
    width = max(len(str(line.number)) for line in lines)
    body = "\n".join(f"{line.number:>{width}} {line.mark} {truncate(line.text, MAX_CODE_LINE)}" for line in lines)
    body = escape(body).replace("```", "`\u200b``")
    return {"type": "section", "block_id": CONTEXT_BLOCK, "text": {"type": "mrkdwn", "text": clip(f"```\n{body}\n```", 3000)}}


def parent_context(author: str, first_line: str, url: str | None) -> dict:
    quoted = escape(truncate(first_line, 200)) if first_line else "_(no text)_"
    return {"type": "context", "block_id": CONTEXT_BLOCK,
            "elements": [{"type": "mrkdwn", "text": clip(f":leftwards_arrow_with_hook: {link(url, 'In reply to')} {escape(author)}: “{quoted}”", 3000)}]}


def with_context(original: dict, blocks: list[dict]) -> Message:
    """The relayed comment's message with `blocks` under its first line, above the quoted comment (any context it had
    before is replaced)."""
    kept = [b for b in original.get("blocks") or [] if b.get("block_id") != CONTEXT_BLOCK]
    at = 1 if kept else 0
    return Message(text=original.get("text") or "", blocks=[*kept[:at], *blocks, *kept[at:]][:50])


# --- the "Reply in Bitbucket" form --------------------------------------------------------------------------


def reply_modal(meta: str, about: str) -> dict:
    return text_input_modal(callback_id=ids.REPLY_MODAL, title="Reply in Bitbucket", submit="Reply", meta=meta, about=about,
                            block_id=ids.REPLY_TEXT_BLOCK, label="Your reply (written as you)",
                            action_id=ids.REPLY_TEXT_INPUT, max_length=3000)


def reply_about(author: str, first_line: str, pr_label: str) -> str:
    return f"Replying to {escape(author)} on {pr_label}:\n>{escape(truncate(first_line, 300)) or '…'}"


def not_a_comment() -> Message:
    return notice(":information_source: *Reply in Bitbucket* works on a comment the bot relayed into a pull request's "
                  "thread. To comment on the pull request itself, just write in the card's thread.")


def replied(pr_label: str) -> Message:
    return notice(f":speech_balloon: Your reply was posted on {pr_label} in Bitbucket.")


def pr_label(repo: str, pr_id: int, url: str | None = None) -> str:
    label = f"#{pr_id} in {escape(repo)}"
    return link(url, label) if url else label

