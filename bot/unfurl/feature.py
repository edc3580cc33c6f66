"""Unfurls of bitbucket.org links: a pull request's card, a commit's or a pipeline's line."""

from bot.core.feature import Feature
from bot.unfurl import commands

FEATURE = Feature(
    "unfurl",
    events={"link_shared": commands.unfurl_links},
    slack_scopes={"bot": {"links:read": "hear of bitbucket.org links", "links:write": "unfurl them"}},
)
