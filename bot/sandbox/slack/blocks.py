"""The Block Kit limits Slack enforces that our messages and modals can run into (Block Kit reference, chat.*
and views.* method pages), checked as Slack answers them (`[ERROR] … [json-pointer:…]`), and a plain-text
picture of a message for the sandbox's echo and for failure dumps."""

from __future__ import annotations

from typing import Any, Callable

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_OPTION_VALUE = 150  # an option of a menu (overflow, select)
MAX_OPTION_TEXT = 75
MAX_OVERFLOW_OPTIONS = 5  # and at least 2, in Slack's older reference
MAX_ID = 255  # block_id, action_id, callback_id
MAX_INPUT_LABEL = 2000
MAX_VIEW_TITLE = 24  # also submit and close
MAX_PRIVATE_METADATA = 3000
MAX_MESSAGE_TEXT = 40_000  # longer `text` is cut, with warning `message_truncated`
MAX_UPDATE_TEXT = 4_000  # chat.update answers `msg_too_long` above this


def text_of(text_object: Any) -> str | None:
    if isinstance(text_object, dict):
        value = text_object.get("text")
        return value if isinstance(value, str) else None
    return None


def _too_long(text_object: Any, limit: int) -> bool:
    return len(text_of(text_object) or "") > limit


def block_problems(blocks: Any, *, max_blocks: int) -> list[str]:
    """Slack-style `[ERROR] ... [json-pointer:...]` messages for the Block Kit limits we can hit."""
    if not isinstance(blocks, list):
        return ["[ERROR] must be an array [json-pointer:/blocks]"]
    problems = []
    if len(blocks) > max_blocks:
        problems.append(f"[ERROR] no more than {max_blocks} items allowed [json-pointer:/blocks]")
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"/blocks/{index}"
        if not isinstance(block, dict) or not block.get("type"):
            problems.append(f"[ERROR] missing required field: type [json-pointer:{where}]")
            continue
        found: list[tuple[str, str]] = []  # (message, pointer below the block)
        block_id = block.get("block_id")
        if block_id is not None:
            if len(str(block_id)) > MAX_ID:
                found.append((_must_be_shorter(MAX_ID), "/block_id"))
            if str(block_id) in block_ids:
                found.append(("block_id must be unique", "/block_id"))
            block_ids.add(str(block_id))
        check = BLOCK_CHECKS.get(block["type"])
        if check is not None:
            found += check(block)
        problems += [f"[ERROR] {message} [json-pointer:{where}{pointer}]" for message, pointer in found]
    return problems


def _section_problems(block: dict) -> list[tuple[str, str]]:
    found = []
    text, fields = block.get("text"), block.get("fields")
    if text is None and not fields:
        found.append(("must provide either text or fields", ""))
    if text is not None and not (text_of(text) or "").strip():
        found.append(("must be more than 0 characters", "/text/text"))
    if _too_long(text, MAX_SECTION_TEXT):
        found.append((_must_be_shorter(MAX_SECTION_TEXT), "/text/text"))
    if isinstance(fields, list):
        if len(fields) > MAX_SECTION_FIELDS:
            found.append((f"no more than {MAX_SECTION_FIELDS} items allowed", "/fields"))
        found += [(_must_be_shorter(MAX_FIELD_TEXT), f"/fields/{n}/text")
                  for n, item in enumerate(fields) if _too_long(item, MAX_FIELD_TEXT)]
    if block.get("accessory") is not None:
        found += _element_problems(block["accessory"], "/accessory")
    return found


def _header_problems(block: dict) -> list[tuple[str, str]]:
    text = block.get("text")
    if not isinstance(text, dict) or text.get("type") != "plain_text":
        return [("must be a plain_text object", "/text")]
    if _too_long(text, MAX_HEADER_TEXT):
        return [(_must_be_shorter(MAX_HEADER_TEXT), "/text/text")]
    return []


def _actions_problems(block: dict) -> list[tuple[str, str]]:
    found = []
    elements = block.get("elements") or []
    if not elements:
        found.append(("must provide at least 1 item", "/elements"))
    if len(elements) > MAX_ACTIONS_ELEMENTS:
        found.append((f"no more than {MAX_ACTIONS_ELEMENTS} items allowed", "/elements"))
    action_ids = [e.get("action_id") for e in elements if isinstance(e, dict) and e.get("action_id")]
    if len(action_ids) != len(set(map(str, action_ids))):
        found.append(("action_id must be unique within the block", "/elements"))
    for n, element in enumerate(elements):
        found += _element_problems(element, f"/elements/{n}")
    return found


def _context_problems(block: dict) -> list[tuple[str, str]]:
    elements = block.get("elements") or []
    if not elements or len(elements) > MAX_CONTEXT_ELEMENTS:
        return [(f"must provide 1 to {MAX_CONTEXT_ELEMENTS} items", "/elements")]
    return []


def _input_problems(block: dict) -> list[tuple[str, str]]:
    found = []
    if _too_long(block.get("label"), MAX_INPUT_LABEL):
        found.append((_must_be_shorter(MAX_INPUT_LABEL), "/label/text"))
    if not isinstance(block.get("element"), dict):
        found.append(("missing required field: element", ""))
    return found


def _element_problems(element: Any, where: str) -> list[tuple[str, str]]:
    """Problems of an interactive element (a button, a select, ...) at `where` below its block."""
    if not isinstance(element, dict) or not element.get("type"):
        return [("missing required field: type", where)]
    found = []
    if len(str(element.get("action_id") or "")) > MAX_ID:
        found.append((_must_be_shorter(MAX_ID), f"{where}/action_id"))
    if element["type"] == "button":
        if _too_long(element.get("text"), MAX_BUTTON_TEXT):
            found.append((_must_be_shorter(MAX_BUTTON_TEXT), f"{where}/text/text"))
        if len(str(element.get("value") or "")) > MAX_BUTTON_VALUE:
            found.append((_must_be_shorter(MAX_BUTTON_VALUE), f"{where}/value"))
        if len(str(element.get("url") or "")) > MAX_URL:
            found.append((_must_be_shorter(MAX_URL), f"{where}/url"))
    if element["type"] == "overflow":
        options = element.get("options")
        if not isinstance(options, list) or not 2 <= len(options) <= MAX_OVERFLOW_OPTIONS:
            found.append((f"must provide between 2 and {MAX_OVERFLOW_OPTIONS} items", f"{where}/options"))
        for n, option in enumerate(options if isinstance(options, list) else []):
            if len(str((option or {}).get("value") or "")) > MAX_OPTION_VALUE:
                found.append((_must_be_shorter(MAX_OPTION_VALUE), f"{where}/options/{n}/value"))
            if _too_long((option or {}).get("text"), MAX_OPTION_TEXT):
                found.append((_must_be_shorter(MAX_OPTION_TEXT), f"{where}/options/{n}/text/text"))
    return found


# Block type -> its checks; other block types are accepted as they are.
BLOCK_CHECKS: dict[str, Callable[[dict], list[tuple[str, str]]]] = {
    "section": _section_problems,
    "header": _header_problems,
    "actions": _actions_problems,
    "context": _context_problems,
    "input": _input_problems,
}


def _must_be_shorter(limit: int) -> str:
    return f"must be less than {limit + 1} characters"  # Slack's wording


def _too_long_error(limit: int, pointer: str) -> str:
    return f"[ERROR] {_must_be_shorter(limit)} [json-pointer:{pointer}]"


def view_problems(view: dict) -> list[str]:
    """The modal checks Slack makes that our modals can run into."""
    problems = []
    if view.get("type") not in ("modal", "home"):
        problems.append("[ERROR] must be one of modal, home [json-pointer:/view/type]")
    if view.get("type") == "modal":
        title = view.get("title")
        if not text_of(title):
            problems.append("[ERROR] missing required field: title [json-pointer:/view/title]")
        for name in ("title", "submit", "close"):
            if _too_long(view.get(name), MAX_VIEW_TITLE):
                problems.append(_too_long_error(MAX_VIEW_TITLE, f"/view/{name}/text"))
    if len(view.get("private_metadata") or "") > MAX_PRIVATE_METADATA:
        problems.append(_too_long_error(MAX_PRIVATE_METADATA, "/view/private_metadata"))
    if len(view.get("callback_id") or "") > MAX_ID:
        problems.append(_too_long_error(MAX_ID, "/view/callback_id"))
    problems += [p.replace("[json-pointer:/blocks", "[json-pointer:/view/blocks")
                 for p in block_problems(view.get("blocks", []), max_blocks=MAX_VIEW_BLOCKS)]
    return problems


# --------------------------------------------------------------------------------------------------------
# Readable output
# --------------------------------------------------------------------------------------------------------


def readable(text: str, blocks: list) -> str:
    """A plain-text picture of a message: its blocks when it has them, else its text."""
    if not blocks:
        return text or "(empty)"
    lines = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {text_of(block.get('text'))} ==")
        elif kind == "section":
            if text_of(block.get("text")):
                lines.append(text_of(block["text"]))
            lines += [f"  {text_of(f)}" for f in block.get("fields") or [] if text_of(f)]
            if isinstance(block.get("accessory"), dict) and text_of(block["accessory"].get("text")):
                lines.append(f"  [{text_of(block['accessory']['text'])}]")
        elif kind == "context":
            lines.append(" | ".join(text_of(e) or "" for e in block.get("elements") or []))
        elif kind == "actions":
            lines.append(" ".join(f"[{text_of(e.get('text')) or e.get('type')}]" for e in block.get("elements") or []))
        elif kind == "divider":
            lines.append("---")
        else:
            lines.append(f"({kind})")
    return "\n".join(lines)

