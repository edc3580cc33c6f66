"""`link_shared`: unfurl the Bitbucket links of a message with `chat.unfurl` (nothing when none is readable)."""

from __future__ import annotations

from bot import unfurl


def unfurl_links(services, event: dict) -> None:
    urls = [link.get("url") for link in event.get("links") or () if isinstance(link, dict) and isinstance(link.get("url"), str)]
    found = unfurl.unfurls_for(services, urls)
    if not found:
        return  # a link the bot cannot read is left alone: no error in the channel
    if event.get("unfurl_id") and event.get("source"):
        services.slack.chat_unfurl(unfurl_id=event["unfurl_id"], source=event["source"], unfurls=found)
    else:
        services.slack.chat_unfurl(channel=event.get("channel"), ts=event.get("message_ts"), unfurls=found)
