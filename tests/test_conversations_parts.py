"""Conversations (issue 22), the pure parts: Slack's mrkdwn as Bitbucket markdown, the lines of a diff around an inline
comment, the renderers of the comment events and the card's menu; and the client's comment and diff calls against the
simulated Bitbucket."""

from __future__ import annotations

import json

import pytest

from bot import relay
from bot.bitbucket import BearerToken, BitbucketClient, Forbidden, PullRequest
from bot.conversations import render as conversation_render
from bot.conversations.diff import DiffLine, lines_around
from bot.conversations.feature import FEATURE
from bot.conversations.mrkdwn import to_markdown
from bot.core import ids, manifest
from bot.relay import render as relay_render
from bot.sandbox.slack import block_problems
from tests import webhookkit
from tests.harness import BITBUCKET_TOKEN, text_of


def mention(user_id: str) -> str:
    return {"U1": "@{557058:alice}"}.get(user_id, "Somebody")


# --- Slack's mrkdwn as Bitbucket markdown -----------------------------------------------------------------


@pytest.mark.parametrize(("slack", "bitbucket"), [
    ("plain words", "plain words"),
    ("<@U1> and <@U2|bob>", "@{557058:alice} and Somebody"),
    ("see <https://example.com/a?b=1&amp;c=2|the spec>", "see [the spec](https://example.com/a?b=1&c=2)"),
    ("bare <https://example.com/x>", "bare https://example.com/x"),
    ("*bold* and _italic_ and ~gone~", "**bold** and _italic_ and ~~gone~~"),
    ("in `code &lt;T&gt; &amp;&amp;`", "in `code <T> &&`"),
    ("```if a &lt; b:\n    go()```", "```\nif a < b:\n    go()\n```"),
    ("&gt; quoted\nanswer", "> quoted\nanswer"),
    ("<!here> <!channel> <#C123|general> <!subteam^S1|@team>", "@here @channel #general @team"),
    ("Tom &amp; Jerry", "Tom & Jerry"),
])
def test_slack_mrkdwn_becomes_bitbucket_markdown(slack, bitbucket):
    assert to_markdown(slack, mention) == bitbucket


@pytest.mark.parametrize("slack", [
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&lt;img src=x onerror=alert(1)&gt;",
    "[click](javascript:alert(1))",
    "![tracker](https://evil.example/pixel.png)",
    "<javascript:alert(1)|click>",
])
def test_text_from_slack_never_becomes_markup_it_did_not_ask_for(slack):
    written = to_markdown(slack, mention)
    assert "<" not in written and ">" not in written  # no HTML reaches Bitbucket's renderer
    assert "](" not in written.replace("\\](", "")  # no hand-made link or image: its brackets are escaped


# --- the lines around an inline comment -----------------------------------------------------------------------

DIFF = """diff --git a/README.md b/README.md
--- a/README.md
+++ b/README.md
@@ -1,2 +1,2 @@
-old title
+new title
 text
diff --git a/src/app.py b/src/app.py
index 1111111..2222222 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,4 +1,4 @@
 import os
-import sys
+import json
 
 
@@ -20,12 +20,13 @@ def main():
     one()
     two()
     three()
     four()
     five()
-    six()
+    six(fast=True)
+    seven()
     eight()
     nine()
     ten()
     eleven()
     twelve()
"""


def test_the_lines_around_a_new_line_are_at_most_eight_and_hold_it():
    lines = lines_around(DIFF, "src/app.py", 25)
    assert [(line.number, line.mark, line.text.strip()) for line in lines] == [
        (20, " ", "one()"), (21, " ", "two()"), (22, " ", "three()"), (23, " ", "four()"), (24, " ", "five()"),
        (25, "+", "six(fast=True)"), (26, "+", "seven()"), (27, " ", "eight()"),
    ]


def test_a_removed_line_is_found_in_the_old_version_and_a_line_near_a_hunks_edge_keeps_eight():
    assert [(line.number, line.mark) for line in lines_around(DIFF, "src/app.py", 2, old_side=True)] == [(1, " "), (2, "-"), (3, " "), (4, " ")]
    near_end = lines_around(DIFF, "src/app.py", 31)  # the hunk's last line
    assert len(near_end) == 8 and near_end[-1].number == 31 and near_end[0].number == 24


def test_a_line_or_file_the_diff_does_not_hold_gives_nothing():
    assert lines_around(DIFF, "src/app.py", 100) == []
    assert lines_around(DIFF, "src/other.py", 1) == []
    assert lines_around("", "src/app.py", 1) == []
    assert [line.text for line in lines_around(DIFF, "README.md", 1)] == ["new title", "text"]


def test_the_code_block_is_escaped_and_cannot_close_itself():
    block = conversation_render.code_context("a.py", [DiffLine(9, "+", "if a < b: ```x``` <!channel>")])
    text = block["text"]["text"]
    assert text.startswith("```\n") and text.endswith("\n```") and text.count("```") == 2
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text


# --- the comment events' renderers -------------------------------------------------------------------------

COMMENT = "pullrequest.comment_created__goscm-pr_comment_created.json"


def comment_payload(**changes) -> dict:
    payload = webhookkit.load_fixture(COMMENT)
    payload["comment"].update(changes)
    payload["comment"]["content"]["raw"] = "Why <!channel> here?"
    return payload


@pytest.mark.parametrize(("key", "words"), [
    ("pullrequest:comment_updated", ":pencil2: edited by"),
    ("pullrequest:comment_resolved", ":white_check_mark: *Resolved* by"),
    ("pullrequest:comment_reopened", ":leftwards_arrow_with_hook: *Reopened* by"),
])
def test_an_edited_resolved_or_reopened_comment_is_the_comment_with_its_state(key, words):
    message = relay_render.RENDERERS[key](comment_payload())
    text = text_of(message.to_dict())
    assert words in text and "Why &lt;!channel&gt; here?" in text and "<!channel>" not in text
    assert not block_problems(message.blocks, max_blocks=50)


def test_a_deleted_comment_says_whose_it_was_and_who_deleted_it():
    payload = webhookkit.load_fixture("pullrequest.comment_deleted__goscm-pr_comment_deleted.json")
    assert "Rutvij Mehta's comment was deleted._" in relay_render.pull_request_comment_deleted(payload).text
    payload["actor"] = {"display_name": "An Admin", "uuid": "{other}"}
    payload["comment"]["inline"] = {"path": "pom.xml", "to": 3}
    assert "Rutvij Mehta's comment on `pom.xml:3` was deleted by An Admin._" in relay_render.pull_request_comment_deleted(payload).text


def test_a_reply_says_replied():
    text = text_of(relay_render.pull_request_comment(comment_payload(parent={"id": 7})).to_dict())
    assert "|replied>:" in text


def test_the_cards_menu_is_left_out_when_a_repository_name_would_not_fit_its_values():
    payload = webhookkit.load_fixture("pullrequest.created__zulip-created_or_updated.json")
    long_repo = "acme-corporation-engineering/" + "r" * 100
    card = relay_render.pull_request_card(long_repo, relay.slim_pull_request("pullrequest:created", payload))
    elements = [e for b in card.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in elements] == [ids.APPROVE, ids.REQUEST_CHANGES, ids.ASK_MERGE, ids.ASK_DECLINE]


def test_nudged_recently_says_when_and_how_long_to_wait():
    at = 1_900_000_000.0  # 2030-03-17 17:46:40 UTC
    text = conversation_render.nudged_recently(at, "U9", at + 3600, 4 * 3600).text
    assert "<@U9> nudged its reviewers at 17:46 UTC" in text and "in 3h00m" in text


# --- the client's calls, against the simulated Bitbucket --------------------------------------------------------


def test_the_client_writes_edits_deletes_comments_and_reads_the_diff(bitbucket):
    bitbucket.add_repository("acme", "api", branches=("main", "feature/x"))
    bitbucket.add_user("ann")
    pr = PullRequest.from_api(bitbucket.add_pull_request("acme", "api", title="X", source="feature/x", author="ann"))
    bitbucket.set_diff("acme", "api", pr.id, DIFF)
    bitbucket.send_comment_webhooks = False
    client = BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN), max_retries=0)
    first = client.create_pull_request_comment("acme", "api", pr.id, "Top level", inline={"path": "src/app.py", "to": 25})
    reply = client.create_pull_request_comment("acme", "api", pr.id, "A reply", parent_id=first["id"])
    assert reply["parent"]["id"] == first["id"] and first["inline"]["path"] == "src/app.py"
    assert client.update_pull_request_comment("acme", "api", pr.id, reply["id"], "An edited reply")["content"]["raw"] == "An edited reply"
    assert client.get_pull_request_comment("acme", "api", pr.id, first["id"])["content"]["raw"] == "Top level"
    client.delete_pull_request_comment("acme", "api", pr.id, reply["id"])
    assert [(c["user"]["nickname"], c["deleted"]) for c in bitbucket.comments("acme", "api", pr.id)] == [("chatops-bot", False), ("chatops-bot", True)]
    assert client.get_pull_request_diff("acme", "api", pr.id) == DIFF  # 302 to the repository's diff, followed
    # Someone else's comment is theirs to edit.
    others = bitbucket.add_comment("acme", "api", pr.id, "ann", "Mine")
    with pytest.raises(Forbidden):
        client.update_pull_request_comment("acme", "api", pr.id, others["id"], "Not yours")
    posts = [r for r in bitbucket.requests if r.method == "POST" and r.path.endswith("/comments")]
    assert json.loads(posts[1].body) == {"content": {"raw": "A reply"}, "parent": {"id": first["id"]}}


# --- the Slack app's manifest ---------------------------------------------------------------------------------


def test_the_manifest_gains_only_the_scopes_events_and_shortcut_conversations_need():
    declared = manifest.load()
    assert set(FEATURE.slack_scopes["bot"]) == {"channels:history", "groups:history", "reactions:write"}
    assert manifest.missing_scopes(declared, {"bot": FEATURE.slack_scopes["bot"]}) == {}
    assert {"message.channels", "message.groups"} <= set(declared["settings"]["event_subscriptions"]["bot_events"])
    assert not {"message.im", "message.mpim"} & set(declared["settings"]["event_subscriptions"]["bot_events"])
    assert declared["features"]["shortcuts"] == [{
        "name": "Reply in Bitbucket", "type": "message", "callback_id": ids.REPLY_IN_BITBUCKET,
        "description": "Reply to this pull request comment in Bitbucket, as yourself",
    }]
