"""Conversations both ways: a message in the thread of a relayed pull request card becomes the writer's comment on
the pull request, its edits and deletion follow; Bitbucket's comments come back into the thread (not the ones
written from Slack), with the code around an inline comment and the line a reply answers; Nudge reviewers.

| module | what |
| --- | --- |
| `messages` | the Events API's `message` events: a reply becomes a comment, an edit edits it, a deletion deletes it |
| `mrkdwn` | pure: Slack's mrkdwn as Bitbucket's markdown |
| `relay` | the relay hook: a comment written from Slack is not relayed back; a relayed comment's message is anchored, so its edits, deletion and resolution update it; the context it waits for |
| `context` | the context reader: the diff around an inline comment, the comment a reply answers, read off the request path |
| `diff` | pure: the lines of a diff around a line |
| `nudge` | the card's *Nudge reviewers*, once per pull request per `NUDGE_WINDOW_SECONDS` |
| `shortcut` | the message shortcut *Reply in Bitbucket* on a relayed comment: a reply to that comment |
| `render` | pure: what is said |

The tables below are this feature's; other features read none of them.
"""

from __future__ import annotations

import hashlib
import json

from bot.core.store import Migration

NUDGE_WINDOW_SECONDS = 4 * 3600
COMMENT_GAP_SECONDS = 1.0  # at most one comment per person per second
WRITING_SECONDS = 120.0  # a comment being written this long ago without an id has failed or is lost

MIGRATIONS = [
    Migration("conversations", 1, (
        # Each Slack message that became (or is becoming) a comment: only these are followed when edited or deleted,
        # and their comments' webhooks are not relayed back into the thread.
        """CREATE TABLE IF NOT EXISTS conversation_comments (
            channel TEXT NOT NULL,
            message_ts TEXT NOT NULL,
            slack_user TEXT NOT NULL,
            repo TEXT NOT NULL,
            pr_id INTEGER NOT NULL,
            comment_id INTEGER,              -- set once Bitbucket answered
            raw_sha256 TEXT NOT NULL,        -- of the text sent: tells its webhook if it overtakes the answer
            state TEXT NOT NULL,             -- writing | posted | failed | deleted
            created_at REAL NOT NULL,
            PRIMARY KEY (channel, message_ts)
        )""",
        "CREATE INDEX IF NOT EXISTS conversation_comments_by_comment ON conversation_comments (repo, pr_id, comment_id)",
        # When each person last commented from Slack (one comment a second, across replicas).
        """CREATE TABLE IF NOT EXISTS conversation_pace (
            slack_user TEXT PRIMARY KEY,
            last_at REAL NOT NULL
        )""",
        # The last nudge of each pull request's reviewers (one per window, across replicas).
        """CREATE TABLE IF NOT EXISTS conversation_nudges (
            repo TEXT NOT NULL,
            pr_id INTEGER NOT NULL,
            nudged_at REAL NOT NULL,
            nudged_by TEXT NOT NULL,
            PRIMARY KEY (repo, pr_id)
        )""",
        # What a relayed comment's message waits for (the code around an inline comment, the comment a reply
        # answers), read by the context reader; once read, kept for the comment's later events.
        """CREATE TABLE IF NOT EXISTS comment_context (
            repo TEXT NOT NULL,
            pr_id INTEGER NOT NULL,
            comment_id INTEGER NOT NULL,
            path TEXT NOT NULL DEFAULT '',
            line INTEGER NOT NULL DEFAULT 0,
            old_side INTEGER NOT NULL DEFAULT 0,
            parent_id INTEGER,
            state TEXT NOT NULL DEFAULT 'pending',  -- pending | done
            blocks TEXT NOT NULL DEFAULT '[]',      -- JSON: what is added to the message
            owner TEXT NOT NULL DEFAULT '',
            lease_until REAL NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try_at REAL NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            PRIMARY KEY (repo, pr_id, comment_id)
        )""",
        "CREATE INDEX IF NOT EXISTS comment_context_pending ON comment_context (state, next_try_at)",
        # The comment's newest relayed message in each channel, which the context is added to once read.
        """CREATE TABLE IF NOT EXISTS comment_messages (
            repo TEXT NOT NULL,
            pr_id INTEGER NOT NULL,
            comment_id INTEGER NOT NULL,
            channel TEXT NOT NULL,
            key TEXT NOT NULL,
            anchor TEXT NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (repo, pr_id, comment_id, channel)
        )""",
    )),
    # The links of Slack messages to the comments they became are kept a month (`forget_old_links`).
    Migration("conversations", 2, (
        "CREATE INDEX IF NOT EXISTS conversation_comments_by_age ON conversation_comments (created_at)",
    )),
]


def text_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# --- comments written from Slack -----------------------------------------------------------------------------


def claim_message(store, *, channel: str, ts: str, user: str, repo: str, pr_id: int, raw: str, now: float) -> bool:
    """Take a Slack message to write as a comment: True the first time (whatever replica, whatever retry)."""
    return store.execute(
        """INSERT INTO conversation_comments (channel, message_ts, slack_user, repo, pr_id, raw_sha256, state, created_at)
           VALUES (?, ?, ?, ?, ?, ?, 'writing', ?) ON CONFLICT DO NOTHING""",
        (channel, ts, user, repo, pr_id, text_hash(raw), now),
    ).rowcount == 1


def release_message(store, channel: str, ts: str) -> None:
    """Nothing was written (refused before Bitbucket): a later edit of the message may try again."""
    store.execute("DELETE FROM conversation_comments WHERE channel = ? AND message_ts = ? AND state = 'writing'", (channel, ts))


def mark_written(store, channel: str, ts: str, comment_id: int, raw: str | None = None) -> None:
    store.execute(
        "UPDATE conversation_comments SET comment_id = ?, state = 'posted', raw_sha256 = COALESCE(?, raw_sha256) WHERE channel = ? AND message_ts = ?",
        (int(comment_id), text_hash(raw) if raw is not None else None, channel, ts),
    )


def mark_failed(store, channel: str, ts: str) -> None:
    store.execute("UPDATE conversation_comments SET state = 'failed' WHERE channel = ? AND message_ts = ?", (channel, ts))


def mark_deleted(store, channel: str, ts: str) -> None:
    store.execute("UPDATE conversation_comments SET state = 'deleted' WHERE channel = ? AND message_ts = ?", (channel, ts))


def written_comment(store, channel: str, ts: str) -> dict | None:
    """The comment a Slack message became ({slack_user, repo, pr_id, comment_id}), while it stands; else None."""
    return store.query_one(
        """SELECT slack_user, repo, pr_id, comment_id FROM conversation_comments
           WHERE channel = ? AND message_ts = ? AND state = 'posted'""", (channel, ts))


def written_in(db, repo: str, pr_id: int, comment_id: int, raw: str, *, now: float) -> str | None:
    """Inside the router's transaction: the channel whose thread this comment was written from, or None (not from
    Slack). Known by its id; or, while its writer waits for Bitbucket's answer (the webhook may come first), by a
    write in flight of the same text on the same pull request."""
    rows = list(db.query("SELECT channel FROM conversation_comments WHERE repo = ? AND pr_id = ? AND comment_id = ?",
                         (repo, pr_id, comment_id)))
    if not rows:
        rows = list(db.query(
            """SELECT channel FROM conversation_comments WHERE repo = ? AND pr_id = ? AND state = 'writing'
               AND comment_id IS NULL AND raw_sha256 = ? AND created_at >= ? ORDER BY created_at LIMIT 1""",
            (repo, pr_id, text_hash(raw), now - WRITING_SECONDS)))
    return rows[0]["channel"] if rows else None


def take_turn(store, user: str, *, now: float, gap: float = COMMENT_GAP_SECONDS) -> float:
    """The person's turn to comment: 0 when taken now; else how many seconds until it comes."""
    taken = store.execute(
        """INSERT INTO conversation_pace (slack_user, last_at) VALUES (?, ?)
           ON CONFLICT (slack_user) DO UPDATE SET last_at = excluded.last_at WHERE conversation_pace.last_at <= ?""",
        (user, now, now - gap),
    ).rowcount == 1
    if taken:
        return 0.0
    row = store.query_one("SELECT last_at FROM conversation_pace WHERE slack_user = ?", (user,))
    return max(0.01, (row["last_at"] + gap - now) if row else gap)


# --- nudges ----------------------------------------------------------------------------------------------------


def claim_nudge(store, repo: str, pr_id: int, user: str, *, now: float, window: float = NUDGE_WINDOW_SECONDS) -> dict | None:
    """Take the pull request's nudge: None when taken now; else the last one ({nudged_at, nudged_by}), still in its window."""
    taken = store.execute(
        """INSERT INTO conversation_nudges (repo, pr_id, nudged_at, nudged_by) VALUES (?, ?, ?, ?)
           ON CONFLICT (repo, pr_id) DO UPDATE SET nudged_at = excluded.nudged_at, nudged_by = excluded.nudged_by
           WHERE conversation_nudges.nudged_at <= ?""",
        (repo, pr_id, now, user, now - window),
    ).rowcount == 1
    if taken:
        return None
    return store.query_one("SELECT nudged_at, nudged_by FROM conversation_nudges WHERE repo = ? AND pr_id = ?", (repo, pr_id))


def release_nudge(store, repo: str, pr_id: int, user: str, at: float) -> None:
    """The nudge could not be sent: the next click may nudge."""
    store.execute("DELETE FROM conversation_nudges WHERE repo = ? AND pr_id = ? AND nudged_by = ? AND nudged_at = ?",
                  (repo, pr_id, user, at))


# --- a relayed comment's context (for the relay hook, inside the router's transaction) ------------------------------


def known_context(db, repo: str, pr_id: int, comment_id: int) -> list[dict] | None:
    """The context already read for the comment (blocks), or None while there is none yet."""
    rows = list(db.query("SELECT blocks FROM comment_context WHERE repo = ? AND pr_id = ? AND comment_id = ? AND state = 'done'",
                         (repo, pr_id, comment_id)))
    return json.loads(rows[0]["blocks"]) if rows else None


def context_writes(repo: str, pr_id: int, comment_id: int, *, path: str, line: int, old_side: bool, parent_id: int | None,
                   messages: list[tuple[str, str, str, dict]], now: float) -> list[tuple[str, tuple]]:
    """The SQL that asks the context reader for the comment's context (once), and keeps the comment's newest message
    in each channel (channel, key, anchor, message), which the context is added to once read."""
    writes = [(
        """INSERT INTO comment_context (repo, pr_id, comment_id, path, line, old_side, parent_id, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        (repo, pr_id, comment_id, path, line, int(old_side), parent_id, now),
    )]
    for channel, key, anchor, message in messages:
        writes.append((
            """INSERT INTO comment_messages (repo, pr_id, comment_id, channel, key, anchor, message) VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (repo, pr_id, comment_id, channel) DO UPDATE SET key = excluded.key, anchor = excluded.anchor,
                   message = excluded.message""",
            (repo, pr_id, comment_id, channel, key, anchor, json.dumps(message, separators=(",", ":"))),
        ))
    return writes


# --- forgetting ------------------------------------------------------------------------------------------------


def forget_old_links(store, *, now: float, kept_seconds: float) -> int:
    """Forget which Slack message became which comment once it was written `kept_seconds` ago (editing or deleting
    that message then no longer follows, and the comment's later events come into the thread like any other's), and
    the messages kept for a context nobody will read any more (its job finished or gone: left by a race with the
    reader), and nudges past their window (the next click takes the pull request's nudge either way). How many rows
    went."""
    with store.transaction() as db:
        links = db.execute("DELETE FROM conversation_comments WHERE created_at < ?", (now - kept_seconds,)).rowcount
        links += db.execute("DELETE FROM conversation_nudges WHERE nudged_at <= ?", (now - NUDGE_WINDOW_SECONDS,)).rowcount
        waiting = db.execute(
            """DELETE FROM comment_messages WHERE NOT EXISTS (
                   SELECT 1 FROM comment_context c WHERE c.repo = comment_messages.repo AND c.pr_id = comment_messages.pr_id
                   AND c.comment_id = comment_messages.comment_id AND c.state = 'pending')""").rowcount
    return links + waiting
