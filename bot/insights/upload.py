"""Posting a file in a channel with Slack's current upload flow (`files.upload` is retired): slack_sdk's
`files_upload_v2` asks `files.getUploadURLExternal` for an upload URL, POSTs the bytes there, then calls
`files.completeUploadExternal` to share the file in the channel. Scope `files:write`."""

from __future__ import annotations


def post_png(slack, *, channel: str, filename: str, data: bytes, title: str, alt_text: str, comment: str = "") -> str:
    """Share `data` (a PNG) in `channel`; returns the file's id. Raises slack_sdk's errors as they come."""
    answer = slack.files_upload_v2(
        channel=channel, filename=filename, file=data, title=title, alt_txt=alt_text, initial_comment=comment or None,
    )
    return (answer.get("file") or {}).get("id") or ""
