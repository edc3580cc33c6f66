"""Conversations both ways: replies in a card's thread become the writer's comments (their edits and deletions
follow), Bitbucket's comments come back with their code and the line they answer, and Nudge reviewers."""

from bot import conversations
from bot.conversations import context, messages, nudge, relay, shortcut
from bot.core import ids
from bot.core.feature import Feature

FEATURE = Feature(
    "conversations",
    migrations=conversations.MIGRATIONS,
    actions={ids.CARD_MENU: nudge.on_card_menu},
    views={ids.REPLY_MODAL: shortcut.on_reply_view},
    events={"message": messages.on_message},
    shortcuts={ids.REPLY_IN_BITBUCKET: shortcut.reply_in_bitbucket},
    relay_hooks=(relay.relay_hook,),
    background=context.start_background,
    check=context.check_lines,
    slack_scopes={"bot": {
        "channels:history": "hear replies in the threads of cards in public channels (message.channels)",
        "groups:history": "hear them in private channels (message.groups)",
        "reactions:write": "mark a reply written to Bitbucket (:speech_balloon:) or not (:exclamation:)",
    }},
)
