"""Pull requests from Slack: list, open (a command or a form), merge and decline after confirming, tag; the merge
gate's "Merge anyway" for admins."""

from bot.core import ids
from bot.core.feature import Feature
from bot.pull_requests import commands, grammar, merge_gate, show

FEATURE = Feature(
    "pull_requests",
    commands=grammar.SPECS,
    command_handlers={
        "prs": commands.list_open, "pr": commands.create, "merge": commands.ask_merge, "decline": commands.ask_decline,
        "tag": commands.tag, "pr_show": show.show,
    },
    actions={
        ids.ASK_MERGE: commands.ask_merge_button, ids.ASK_DECLINE: commands.ask_decline_button,
        ids.CONFIRM_MERGE: commands.confirm_merge, ids.CONFIRM_DECLINE: commands.confirm_decline, ids.CANCEL: commands.cancel,
        **merge_gate.ACTION_HANDLERS,
    },
    views={ids.CREATE_PR_MODAL: commands.on_create_pr_view, ids.MERGE_ANYWAY_MODAL: merge_gate.on_merge_anyway_view},
)
