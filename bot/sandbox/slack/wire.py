"""How the simulated Slack reads a request (JSON, forms, multipart, query strings; the Bearer token) and the small
helpers its methods share to check arguments and shape answers, as Slack does."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
from typing import Any
from urllib.parse import parse_qs

from bot.sandbox.slack.blocks import MAX_MESSAGE_BLOCKS, MAX_MESSAGE_TEXT, block_problems, view_problems
from bot.sandbox.slack.state import FIRST_TS_SECONDS, Answer, SlackError

JSON_ARGS = ("blocks", "view", "attachments", "metadata")  # may arrive as JSON strings in form mode


def parse_args(content_type: str, raw_body: bytes, query: str) -> dict:
    args: dict[str, Any] = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/json":
        try:
            body = json.loads(raw_body or b"{}")
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        args.update(body)
    elif media_type == "multipart/form-data":
        args.update(parse_multipart(content_type, raw_body))
    elif raw_body:
        form = parse_qs(raw_body.decode("utf-8", "replace"), keep_blank_values=True)
        args.update({key: values[-1] for key, values in form.items()})
    for name in JSON_ARGS:
        if isinstance(args.get(name), str):
            try:
                args[name] = json.loads(args[name])
            except ValueError:
                raise SlackError("invalid_blocks_format" if name == "blocks" else "invalid_arguments") from None
    return args


def parse_multipart(content_type: str, raw_body: bytes) -> dict:
    document = f"Content-Type: {content_type}\r\n\r\n".encode() + raw_body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(document)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True) or b""
            fields[name] = payload if part.get_filename() else payload.decode("utf-8", "replace")
    return fields


def json_object_or_raw(raw_body: bytes) -> dict:
    """A response_url body: the JSON object, or {"raw": text} when it is not one (Slack says invalid_payload)."""
    try:
        body = json.loads(raw_body or b"{}")
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {"raw": raw_body.decode("utf-8", "replace")}


def bearer_token(headers: dict) -> str | None:
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


def required(args: dict, name: str, error: str) -> str:
    value = args.get(name)
    if not value:
        raise SlackError(error)
    return value


def truthy(value: Any) -> bool:
    return value is True or value == 1 or (isinstance(value, str) and value.lower() in ("1", "true"))


def message_text(args: dict) -> tuple[str, dict]:
    """The message text, cut at Slack's limit, and the warning Slack adds when it cuts."""
    text = args.get("text") or ""
    if not isinstance(text, str):
        text = str(text)
    if len(text) <= MAX_MESSAGE_TEXT:
        return text, {}
    warning = {"warning": "message_truncated", "response_metadata": {"warnings": ["message_truncated"]}}
    return text[:MAX_MESSAGE_TEXT], warning


def message_blocks(args: dict) -> list:
    blocks = args.get("blocks")
    if blocks is None:
        return []
    problems = block_problems(blocks, max_blocks=MAX_MESSAGE_BLOCKS)
    if problems:
        raise SlackError("invalid_blocks", messages=problems)
    return blocks


def view_definition(args: dict) -> dict:
    view = args.get("view")
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", messages=["[ERROR] missing required field: view"])
    problems = view_problems(view)
    if problems:
        raise SlackError("invalid_arguments", messages=problems)
    return view


def view_hash(view: dict) -> str:
    digest = hashlib.sha1(json.dumps(view, sort_keys=True).encode()).hexdigest()
    return f"{FIRST_TS_SECONDS}.{digest[:8]}"


def text_answer(status: int, text: str) -> Answer:
    return Answer(status, text.encode(), content_type="text/plain; charset=utf-8")


def seconds_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def clip(text: str, limit: int = 120) -> str:
    text = text.replace("\n", " / ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short(data: dict) -> str:
    return clip(json.dumps(data, default=str), 160)

