"""The simulated Slack's file uploads, in Slack's current three steps (`files.upload` is retired):

1. `files.getUploadURLExternal(filename, length)` answers an `upload_url` and a `file_id`;
2. the bytes are POSTed to `upload_url` (no token: the URL is the credential), answered `200 OK - <length>`;
3. `files.completeUploadExternal(files=[{"id", "title"}], channel_id, initial_comment, thread_ts)` shares the
   file: a message with the file appears in the channel.

A mixin of `FakeSlack`: `uploads` holds every file (its bytes in `.data`), `shared_files(channel)` what was shared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.sandbox.slack.state import Answer, SlackError
from bot.sandbox.slack.wire import text_answer

UPLOAD_PREFIX = "/upload/"


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int  # as announced in step 1
    alt_txt: str = ""
    data: bytes | None = None  # step 2
    title: str = ""
    channel: str | None = None  # step 3
    message_ts: str | None = None


class FilesMixin:
    """Needs FakeSlack's `_lock`, `base_url`, `messages`, `_channel_to_post_in`, `_new_bot_message`, `_echo`."""

    def shared_files(self, channel: str) -> list[UploadedFile]:
        with self._lock:
            return [f for f in self._uploads().values() if f.channel == channel]

    @property
    def uploads(self) -> dict[str, UploadedFile]:
        with self._lock:
            return dict(self._uploads())

    def _uploads(self) -> dict[str, UploadedFile]:
        return self.__dict__.setdefault("_files", {})

    def _files_get_upload_url_external(self, args: dict) -> dict:
        filename = args.get("filename") or ""
        try:
            length = int(args.get("length") or 0)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None
        if not filename or length <= 0:
            raise SlackError("invalid_arguments")
        file_id = f"F{len(self._uploads()) + 1:08d}"
        self._uploads()[file_id] = UploadedFile(file_id, filename, length, alt_txt=args.get("alt_txt") or "")
        return {"upload_url": f"{self.base_url}{UPLOAD_PREFIX}{file_id}", "file_id": file_id}

    def _serve_upload(self, file_id: str, raw_body: bytes) -> Answer:
        with self._lock:
            upload = self._uploads().get(file_id)
            if upload is None or upload.data is not None:
                return text_answer(404, "not_found")
            upload.data = raw_body
        return text_answer(200, f"OK - {len(raw_body)}")

    def _files_complete_upload_external(self, args: dict) -> dict:
        files = args.get("files")
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError:
                raise SlackError("invalid_arguments") from None
        if not isinstance(files, list) or not files:
            raise SlackError("invalid_arguments")
        uploads = []
        for entry in files:
            upload = self._uploads().get((entry or {}).get("id"))
            if upload is None or upload.data is None or upload.channel is not None:
                raise SlackError("file_not_found")  # never announced, its bytes never sent, or shared already
            if len(upload.data) != upload.length:
                raise SlackError("file_upload_size_mismatch")  # hypothetical name; Slack refuses a short upload
            uploads.append((upload, entry.get("title") or upload.filename))
        channel = None
        if args.get("channel_id"):
            channel = self._channel_to_post_in({"channel": args["channel_id"]})
        answered = []
        for upload, title in uploads:
            upload.title = title
            answered.append({"id": upload.id, "name": upload.filename, "title": title, "mimetype": _mimetype(upload.filename),
                             "size": len(upload.data)})
        if channel is not None:
            text = args.get("initial_comment") or ""
            message = self._new_bot_message(channel, text, [], args.get("thread_ts") or None)
            message.via = "files.completeUploadExternal"
            message.files = answered
            self.messages.setdefault(channel, []).append(message)
            for upload, _ in uploads:
                upload.channel, upload.message_ts = channel, message.ts
            self._echo(f"#{channel} file {', '.join(u.filename for u, _ in uploads)} ({sum(len(u.data) for u, _ in uploads)} bytes): {text}")
        return {"files": answered}


def _mimetype(filename: str) -> str:
    return {"png": "image/png", "jpg": "image/jpeg", "txt": "text/plain"}.get(filename.rsplit(".", 1)[-1].lower(), "application/octet-stream")
