"""Bitbucket's query parameters over a list of JSON items: `fields` (partial responses, with hidden fields only
shown on request), `q` (a subset of BBQL) and `sort`."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from typing import Any, Callable

from bot.sandbox.bitbucket.wire import _bad_request, _parse_datetime

def _split_path(path: str) -> list[str]:
    return [part for part in path.split(".") if part]


def _reveals(requested: list[str], hidden: list[str]) -> bool:
    """Whether a requested field path names a hidden one (`values.reviewers`, `values.*`, `*`)."""
    for index, hidden_part in enumerate(hidden):
        if index >= len(requested):
            return bool(requested) and requested[-1] == "*"
        if requested[index] not in (hidden_part, "*"):
            return False
    return True


def _drop(value: Any, path: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _drop(item, path)
        return
    if not isinstance(value, dict) or not path:
        return
    head, rest = path[0], path[1:]
    keys = list(value) if head == "*" else [head] if head in value else []
    for key in keys:
        if rest:
            _drop(value[key], rest)
        else:
            del value[key]


def _keep_only(value: Any, paths: list[list[str]]) -> Any:
    if any(not path for path in paths):
        return value
    if isinstance(value, list):
        return [_keep_only(item, paths) for item in value]
    if not isinstance(value, dict):
        return value
    kept = {}
    for key, item in value.items():
        deeper = [path[1:] for path in paths if path[0] in (key, "*")]
        if deeper:
            kept[key] = _keep_only(item, deeper)
    return kept


def _partial_response(body: dict, spec: str, hidden: tuple[str, ...]) -> dict:
    """Bitbucket's `fields`: `-a.b` drops a field, `+a.b` adds a hidden one, plain `a.b` keeps only what is listed.

    A raw `+` in a query string decodes to a space; like Bitbucket we then read the field as a plain one.
    """
    items = [item.strip() for item in spec.split(",") if item.strip()]
    added = [_split_path(item[1:]) for item in items if item.startswith("+")]
    removed = [_split_path(item[1:]) for item in items if item.startswith("-")]
    only = [_split_path(item) for item in items if item[0] not in "+-"]
    body = copy.deepcopy(body)
    for hidden_path in map(_split_path, hidden):
        if not any(_reveals(requested, hidden_path) for requested in added + only):
            _drop(body, hidden_path)
    if only:
        body = _keep_only(body, only)
    for path in removed:
        _drop(body, path)
    return body

# --------------------------------------------------------------------------------------------- BBQL (q and sort)

def _values_at(obj: Any, path: list[str]) -> list:
    """Every value at a dotted path; lists along the way fan out (`reviewers.uuid`)."""
    values = [obj]
    for part in path:
        found = []
        for value in values:
            if isinstance(value, list):
                found.extend(item.get(part) for item in value if isinstance(item, dict))
            elif isinstance(value, dict):
                found.append(value.get(part))
        values = found
    flat = []
    for value in values:
        flat.extend(value if isinstance(value, list) else [value])
    return flat

_BBQL_TOKEN = re.compile(r'\s*(?:(\()|(\))|("(?:[^"\\]|\\.)*")|(!=|>=|<=|!~|=|~|>|<)|([^\s()=!~<>"]+))')

class _Query:
    """A subset of BBQL: `field op value` joined by AND / OR, with parentheses.

    Values are "strings", numbers, null, true, false and unquoted ISO-8601 datetimes.
    """

    def __init__(self, text: str):
        self.text = text
        self.tokens = self._tokenize(text)
        self.position = 0
        self.predicate = self._expression()
        if self.position != len(self.tokens):
            self._fail("unexpected text after the end of the query")

    def matches(self, item: dict) -> bool:
        return self.predicate(item)

    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while text[position:].strip():
            match = _BBQL_TOKEN.match(text, position)
            if not match:
                self._fail(f"cannot read {text[position:].strip()!r}")
            index = next(i for i in range(5) if match.group(i + 1) is not None)
            tokens.append((("(", ")", "string", "operator", "word")[index], match.group(index + 1)))
            position = match.end()
        return tokens

    def _fail(self, why: str):
        raise _bad_request("Invalid query", detail=f"{why}: {self.text}")

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, kind: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token is None or (kind and token[0] != kind):
            self._fail(f"expected {kind or 'more'}")
        self.position += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token and token[0] == "word" and token[1].upper() == word:
            self.position += 1
            return True
        return False

    def _expression(self) -> Callable[[dict], bool]:
        left = self._conjunction()
        while self._keyword("OR"):
            right, before = self._conjunction(), left
            left = lambda item, a=before, b=right: a(item) or b(item)
        return left

    def _conjunction(self) -> Callable[[dict], bool]:
        left = self._comparison()
        while self._keyword("AND"):
            right, before = self._comparison(), left
            left = lambda item, a=before, b=right: a(item) and b(item)
        return left

    def _comparison(self) -> Callable[[dict], bool]:
        if self._peek() and self._peek()[0] == "(":
            self._take("(")
            inner = self._expression()
            self._take(")")
            return inner
        path = _split_path(self._take("word")[1])
        operator = self._take("operator")[1]
        expected = self._value()
        return lambda item: _compare_any(_values_at(item, path), operator, expected)

    def _value(self) -> Any:
        kind, text = self._take()
        if kind == "string":
            return json.loads(text)
        if kind != "word":
            self._fail("expected a value")
        constants = {"null": None, "true": True, "false": False}
        if text.lower() in constants:
            return constants[text.lower()]
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return float(text)
        moment = _parse_datetime(text)
        if moment is None:
            self._fail(f"{text!r} is not a value")
        return moment


def _compare_any(actual_values: list, operator: str, expected: Any) -> bool:
    if operator in ("!=", "!~"):
        positive = {"!=": "=", "!~": "~"}[operator]
        return not any(_compare(value, positive, expected) for value in actual_values)
    return any(_compare(value, operator, expected) for value in actual_values)


def _compare(actual: Any, operator: str, expected: Any) -> bool:
    if isinstance(expected, datetime):
        actual = _parse_datetime(actual)
    if operator == "~":
        return actual is not None and str(expected).lower() in str(actual).lower()
    if operator == "=":
        return actual == expected
    if actual is None or expected is None:
        return False
    try:
        return {">": actual > expected, ">=": actual >= expected, "<": actual < expected, "<=": actual <= expected}[
            operator
        ]
    except TypeError:
        return False


def _sort_key(value: Any) -> tuple:
    moment = _parse_datetime(value)
    if moment is not None:
        return (0, moment.timestamp())
    if isinstance(value, (int, float)):
        return (0, value)
    return (0 if value is not None else 1, str(value))


def _sorted(items: list[dict], sort: str | None) -> list[dict]:
    """Bitbucket sorts on one field; `-field` is descending. Missing values go last."""
    if not sort:
        return items
    descending = sort.startswith("-")
    path = _split_path(sort.lstrip("-"))

    def key(item):
        values = _values_at(item, path)
        return _sort_key(values[0] if values else None)

    present = [item for item in items if key(item)[0] == 0]
    missing = [item for item in items if key(item)[0] == 1]
    return sorted(present, key=key, reverse=descending) + missing


def _filtered(items: list[dict], q: str | None) -> list[dict]:
    if not q:
        return items
    query = _Query(q)
    return [item for item in items if query.matches(item)]
