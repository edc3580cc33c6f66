"""The Slack app's manifest (`slack-app-manifest.yml`, what an operator pastes into api.slack.com/apps): which
scopes it declares, and which of those a feature needs are missing. Pure: reads a file or a dict, runs nothing.

Slack takes a manifest as YAML or JSON. This reader takes JSON, and the plain YAML a manifest is written in:
nested mappings, lists of scalars or of mappings, plain or quoted scalars, `[]` / `{}` and short flow lists,
comments. It refuses what it does not know (anchors, tags, multi-line strings, tabs) rather than misread it.

    manifest = load()                                   # the repository's slack-app-manifest.yml
    declared_scopes(manifest)                           # {"bot": frozenset({...}), "user": frozenset({"openid"})}
    missing_scopes(manifest, {"user": ["openid"]})      # {} when declared, else {"user": ["openid"]}
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "slack-app-manifest.yml"
SCOPE_KINDS = ("bot", "user")  # oauth_config.scopes.bot (the bot token), .user (a person's token: Sign in with Slack)

_KEY = re.compile(r"""^(?P<key>"[^"]*"|'[^']*'|[^\s"'#:\[\]{}-][^:#]*?)\s*:(?:\s+(?P<rest>.*))?$""")


class ManifestError(ValueError):
    """The manifest is not one this reader understands (with the line, when there is one)."""


def load(path: str | Path | None = None) -> dict:
    """The manifest at `path` (the repository's `slack-app-manifest.yml` by default), parsed."""
    return parse(Path(path or MANIFEST_PATH).read_text(encoding="utf-8"))


def parse(text: str) -> dict:
    """A manifest's text (JSON, or the plain YAML described above) as a dict."""
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ManifestError(f"not JSON: {error}") from None
    else:
        lines = _lines(text)
        data, end = _block(lines, 0, lines[0][0]) if lines else ({}, 0)
        if end != len(lines):
            raise ManifestError(f"line {lines[end][2]}: unexpected indentation")
    if not isinstance(data, dict):
        raise ManifestError("a manifest is a mapping at the top")
    return data


def declared_scopes(manifest: Mapping) -> dict[str, frozenset[str]]:
    """The scopes the manifest declares under `oauth_config.scopes`, for each kind (bot, user)."""
    scopes = _mapping(_mapping(manifest).get("oauth_config")).get("scopes")
    scopes = _mapping(scopes)
    declared = {}
    for kind in SCOPE_KINDS:
        listed = scopes.get(kind) or []
        if isinstance(listed, str):  # tolerate "a,b" as Slack's APIs write scope lists
            listed = listed.split(",")
        if not isinstance(listed, list):
            raise ManifestError(f"oauth_config.scopes.{kind} is not a list")
        declared[kind] = frozenset(str(scope).strip() for scope in listed if str(scope).strip())
    return declared


def bot_scopes(manifest: Mapping) -> frozenset[str]:
    return declared_scopes(manifest)["bot"]


def user_scopes(manifest: Mapping) -> frozenset[str]:
    return declared_scopes(manifest)["user"]


def missing_scopes(manifest: Mapping, needed: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """What of `needed` ({"bot": [...], "user": [...]}) the manifest does not declare: {kind: sorted scopes},
    only the kinds with something missing; {} when nothing is."""
    declared = declared_scopes(manifest)
    missing = {}
    for kind, scopes in needed.items():
        if kind not in declared:
            raise ValueError(f"unknown scope kind {kind!r} (one of {', '.join(SCOPE_KINDS)})")
        if isinstance(scopes, str):
            scopes = [scopes]
        lacking = sorted({scope for scope in scopes if scope not in declared[kind]})
        if lacking:
            missing[kind] = lacking
    return missing


def _mapping(value: Any) -> Mapping:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ManifestError(f"expected a mapping, found {type(value).__name__}")
    return value


# --- the YAML reader ----------------------------------------------------------------------------------


def _lines(text: str) -> list[tuple[int, str, int]]:
    """(indent, content without its comment, line number) of each line that says something."""
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.strip() in ("---", "..."):
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise ManifestError(f"line {number}: a tab in the indentation")
        content = _without_comment(raw).rstrip()
        if content.strip():
            found.append((len(content) - len(content.lstrip(" ")), content.strip(), number))
    return found


def _without_comment(line: str) -> str:
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'" and (index == 0 or line[index - 1] in " \t:-[,{"):
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index]
    return line


def _is_item(content: str) -> bool:
    return content == "-" or content.startswith("- ")


def _block(lines: list, start: int, indent: int) -> tuple[Any, int]:
    """The mapping or list whose lines begin at `start`, indented by `indent`; and the index after it."""
    if _is_item(lines[start][1]):
        return _sequence(lines, start, indent)
    return _mapping_block(lines, start, indent)


def _sequence(lines: list, start: int, indent: int) -> tuple[list, int]:
    items, i = [], start
    while i < len(lines) and lines[i][0] == indent and _is_item(lines[i][1]):
        rest = lines[i][1][1:].lstrip()
        number = lines[i][2]
        if not rest:  # "-" alone: the item is the block below
            if i + 1 < len(lines) and lines[i + 1][0] > indent:
                value, i = _block(lines, i + 1, lines[i + 1][0])
            else:
                value, i = None, i + 1
        elif _KEY.match(rest):
            # "- key: value": a mapping whose further keys line up with this first one
            inner = indent + (len(lines[i][1]) - len(rest))
            value, i = _mapping_block([*lines[:i], (inner, rest, number), *lines[i + 1 :]], i, inner)
        else:
            value, i = _scalar(rest, number), i + 1
        items.append(value)
    return items, i


def _mapping_block(lines: list, start: int, indent: int) -> tuple[dict, int]:
    mapping, i = {}, start
    while i < len(lines) and lines[i][0] == indent and not _is_item(lines[i][1]):
        content, number = lines[i][1], lines[i][2]
        match = _KEY.match(content)
        if not match:
            raise ManifestError(f"line {number}: expected `key: value`")
        key = _unquote(match.group("key").strip(), number)
        if key in mapping:
            raise ManifestError(f"line {number}: {key!r} given twice")
        rest = match.group("rest")
        i += 1
        if rest:
            mapping[key] = _scalar(rest, number)
        elif i < len(lines) and (lines[i][0] > indent or (lines[i][0] == indent and _is_item(lines[i][1]))):
            mapping[key], i = _block(lines, i, lines[i][0])
        else:
            mapping[key] = None
    if i < len(lines) and lines[i][0] > indent:
        raise ManifestError(f"line {lines[i][2]}: unexpected indentation")
    return mapping, i


def _unquote(text: str, number: int) -> str:
    if text[:1] == '"':
        try:
            return json.loads(text)
        except ValueError:
            raise ManifestError(f"line {number}: a bad double-quoted string") from None
    if text[:1] == "'":
        return text[1:-1].replace("''", "'")
    return text


def _scalar(text: str, number: int) -> Any:
    text = text.strip()
    if text[:1] in ("&", "*", "!", "|", ">", "%", "@", "`"):
        raise ManifestError(f"line {number}: YAML this reader does not take ({text[:1]})")
    if text[:1] in "\"'":
        if len(text) < 2 or text[-1] != text[0]:
            raise ManifestError(f"line {number}: an unterminated string")
        return _unquote(text, number)
    if text.startswith("["):
        if not text.endswith("]"):
            raise ManifestError(f"line {number}: a flow list must close on its line")
        inner = text[1:-1].strip()
        return [_scalar(part, number) for part in inner.split(",")] if inner else []
    if text == "{}":
        return {}
    if text.startswith("{"):
        raise ManifestError(f"line {number}: YAML this reader does not take (a flow mapping)")
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "~"):
        return None
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+)", text):
        return float(text)
    return text
