"""A simulated Slack Web API (and `response_url`, file upload and Sign in with Slack) server on 127.0.0.1.

`from bot.sandbox.slack import FakeSlack`; see `server.py` for what it does and which module holds each part.
The names below are the package's public face (tests and the sandbox import them from here).
"""

from bot.sandbox.slack.blocks import (
    MAX_ACTIONS_ELEMENTS,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_CONTEXT_ELEMENTS,
    MAX_FIELD_TEXT,
    MAX_HEADER_TEXT,
    MAX_ID,
    MAX_INPUT_LABEL,
    MAX_MESSAGE_BLOCKS,
    MAX_MESSAGE_TEXT,
    MAX_PRIVATE_METADATA,
    MAX_SECTION_FIELDS,
    MAX_SECTION_TEXT,
    MAX_UPDATE_TEXT,
    MAX_URL,
    MAX_VIEW_BLOCKS,
    MAX_VIEW_TITLE,
    block_problems,
    readable,
    view_problems,
)
from bot.sandbox.slack.files import UPLOAD_PREFIX, UploadedFile
from bot.sandbox.slack.oidc import OidcApp, OidcProvider
from bot.sandbox.slack.server import FakeSlack
from bot.sandbox.slack.state import (
    API_PREFIX,
    FIRST_TS_SECONDS,
    RESPONSE_URL_LIFETIME,
    RESPONSE_URL_MAX_USES,
    RESPONSE_URL_PREFIX,
    SCOPES,
    TS_STEP,
    Message,
    MessageVersion,
    OpenedView,
    RecordedCall,
    ResponseUrlPost,
    SlackChannel,
    SlackError,
    SlackUser,
)

__all__ = [
    "API_PREFIX", "FIRST_TS_SECONDS", "MAX_ACTIONS_ELEMENTS", "MAX_BUTTON_TEXT", "MAX_BUTTON_VALUE", "MAX_CONTEXT_ELEMENTS",
    "MAX_FIELD_TEXT", "MAX_HEADER_TEXT", "MAX_ID", "MAX_INPUT_LABEL", "MAX_MESSAGE_BLOCKS", "MAX_MESSAGE_TEXT",
    "MAX_PRIVATE_METADATA", "MAX_SECTION_FIELDS", "MAX_SECTION_TEXT", "MAX_UPDATE_TEXT", "MAX_URL", "MAX_VIEW_BLOCKS",
    "MAX_VIEW_TITLE", "RESPONSE_URL_LIFETIME", "RESPONSE_URL_MAX_USES", "RESPONSE_URL_PREFIX", "SCOPES", "TS_STEP",
    "UPLOAD_PREFIX", "FakeSlack", "Message", "MessageVersion", "OidcApp", "OidcProvider", "OpenedView", "RecordedCall",
    "ResponseUrlPost", "SlackChannel", "SlackError", "SlackUser", "UploadedFile", "block_problems", "readable",
    "view_problems",
]
