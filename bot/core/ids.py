"""Identifiers defined once: the slash command, button action IDs, modal callback IDs."""

SLASH_COMMAND = "/bb"

# Buttons on pull requests (lists and relayed cards).
ASK_MERGE = "bb_ask_merge"  # opens the confirmation
ASK_DECLINE = "bb_ask_decline"
APPROVE = "bb_approve"
REQUEST_CHANGES = "bb_request_changes"
# Confirmation buttons: these act.
CONFIRM_MERGE = "bb_confirm_merge"
CONFIRM_DECLINE = "bb_confirm_decline"
CONFIRM_DEPLOY = "bb_confirm_deploy"
CONFIRM_ROLLBACK = "bb_confirm_rollback"
CANCEL = "bb_cancel"
# Builds (issue 11): pipelines' buttons, and the merge gate.
RERUN_PIPELINE = "bb_rerun_pipeline"
STOP_PIPELINE = "bb_stop_pipeline"
ASK_MERGE_ANYWAY = "bb_ask_merge_anyway"  # an admin's merge over failed or running builds: opens MERGE_ANYWAY_MODAL
# The relayed card's overflow menu (its options' values say which), and conversations (issue 22).
CARD_MENU = "bb_card_menu"
REPLY_IN_BITBUCKET = "bb_reply_in_bitbucket"  # the message shortcut "Reply in Bitbucket" (its callback_id)
REPLY_MODAL = "bb_reply_modal"
REPLY_TEXT_BLOCK, REPLY_TEXT_INPUT = "reply", "reply_input"
# Links (a button with a url still sends a block_actions payload that needs an ack).
OPEN_LINK = "bb_open_link"

# Modals.
CREATE_PR_MODAL = "bb_create_pr"
PR_SOURCE_BLOCK, PR_SOURCE_INPUT = "source", "source_input"
PR_DEST_BLOCK, PR_DEST_INPUT = "destination", "destination_input"
PR_TITLE_BLOCK, PR_TITLE_INPUT = "title", "title_input"
PR_DESCRIPTION_BLOCK, PR_DESCRIPTION_INPUT = "description", "description_input"
MERGE_ANYWAY_MODAL = "bb_merge_anyway"
MERGE_REASON_BLOCK, MERGE_REASON_INPUT = "reason", "reason_input"

# Personal notifications: a settings button (on `/bb notify`'s answer and on the Home tab).
NOTIFY_TOGGLE = "bb_notify_toggle"

# Deploy safety (issue 23): requests for approval of a deploy to a protected environment.
APPROVE_DEPLOY_REQUEST = "bb_approve_deploy_request"
REJECT_DEPLOY_REQUEST = "bb_reject_deploy_request"  # opens REJECT_REQUEST_MODAL: the reason
REJECT_REQUEST_MODAL = "bb_reject_deploy_request_modal"
REJECT_REASON_BLOCK, REJECT_REASON_INPUT = "reject_reason", "reject_reason_input"
