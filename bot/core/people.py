"""Who a command names: Slack's escaped mention `<@U…>` when the person was picked from Slack's list, or what was
typed when they were not (Slack, and the shell, then pass plain text): `@name`, an email, or a member ID.

    parse_person("<@U2|bob>") == "U2"          # pure, in the grammar: an ID, or the text to look up
    parse_person("@bob") == "@bob"
    resolve(slack, "@bob", instead="/bb grant U0123ABCDE merger") == "U2"   # Slack's member list, page by page

A name matches a member's handle, display name or real name, without regard to case; deleted members never match.
When nobody or several people match, or the app may not read the member list, the refusal says exactly what to
type instead (`instead`: the command with a member ID in the person's place).
"""

from __future__ import annotations

import re

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.commands import code_of, parse_user_mention
from bot.core.errors import UsageError, UserError
from bot.core.render import escape, mention

MEMBER_ID_EXAMPLE = "U0123ABCDE"
PAGE_SIZE = 200  # users.list's `limit`; Slack's advice is 200 at most per page
MAX_PAGES = 100  # 20,000 members: far beyond a team this bot serves, and a bound on the calls
SHOWN_WHEN_SEVERAL = 5

_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")
_NAME = re.compile(r"^@(?P<name>[^\s<>@|]{1,80})$")
_EMAIL = re.compile(r"^(?:<mailto:(?P<linked>[^|>\s]+@[^|>\s]+)(?:\|[^>]*)?>|@?(?P<plain>[^\s<>@|]+@[^\s<>@|]+\.[^\s<>@|]+))$")


def parse_person(token: str) -> str:
    """Pure: the member ID the token carries (`<@U…>`, `U…`), else the `@name` or email to look up."""
    if token.startswith("<@"):
        return parse_user_mention(token)
    if _MEMBER_ID.match(token):
        return token
    email = _EMAIL.match(token)
    if email:
        return (email["linked"] or email["plain"]).lower()
    if _NAME.match(token):
        return token
    name = f"@{code_of(token)}" if re.fullmatch(r"[\w.-]{1,80}", token) else "@name"
    raise UsageError(
        f"`{code_of(token)}` is not a Slack user: write `{name}` (or pick them from Slack's list as you type `@`), "
        f"their email, or their member ID (like `{MEMBER_ID_EXAMPLE}`)."
    )


def needs_lookup(typed: str) -> bool:
    """Whether `parse_person` left a name or an email (which hold an `@`) rather than a member ID."""
    return "@" in typed


def resolve(slack: WebClient, typed: str, *, instead: str) -> str:
    """The member ID of the person `typed` names (see `parse_person`); a `UserError` saying what to type otherwise."""
    if not needs_lookup(typed):
        return typed
    try:
        if not typed.startswith("@"):
            return _by_email(slack, typed, instead)
        return _by_name(slack, typed[1:], instead)
    except SlackApiError as error:
        if error.response.get("error") == "missing_scope":
            needed = str(error.response.get("needed") or ("users:read" if typed.startswith("@") else "users:read.email"))
            raise UserError(
                f"I cannot look `{escape(typed)}` up: the Slack app lacks the `{escape(needed)}` scope (an admin adds it "
                "from slack-app-manifest.yml and reinstalls the app). Meanwhile, pick them from Slack's list as you type "
                f"`@`, or {_member_id_hint(instead)}"
            ) from None
        raise


def _by_email(slack: WebClient, email: str, instead: str) -> str:
    try:
        return slack.users_lookupByEmail(email=email)["user"]["id"]
    except SlackApiError as error:
        if error.response.get("error") != "users_not_found":
            raise
    raise UserError(f"No one in this Slack workspace has the email `{escape(email)}`. Pick them from Slack's list as you "
                    f"type `@`, or {_member_id_hint(instead)}")


def _by_name(slack: WebClient, name: str, instead: str) -> str:
    found = {member["id"]: member for member in members_named(slack, name)}
    if len(found) == 1:
        return next(iter(found))
    if not found:
        raise UserError(f"No one in this Slack workspace goes by `@{escape(name)}`. Pick them from Slack's list as you "
                        f"type `@` (then Slack sends who they are), or {_member_id_hint(instead)}")
    shown = ", ".join(f"{mention(member_id)} ({escape(_full_name(member))})" for member_id, member in list(found.items())[:SHOWN_WHEN_SEVERAL])
    more = f" and {len(found) - SHOWN_WHEN_SEVERAL} more" if len(found) > SHOWN_WHEN_SEVERAL else ""
    raise UserError(f"Several people go by `@{escape(name)}`: {shown}{more}. Type `@` and pick the one you mean from "
                    f"Slack's list, or {_member_id_hint(instead)}")


def members_named(slack: WebClient, name: str) -> list[dict]:
    """The members (not deleted) whose handle, display name or real name is `name`, reading users.list page by page."""
    wanted = name.casefold()
    matches, cursor = [], None
    for _ in range(MAX_PAGES):
        page = slack.users_list(limit=PAGE_SIZE, **({"cursor": cursor} if cursor else {}))
        for member in page.get("members") or []:
            if not member.get("deleted") and wanted in _names_of(member):
                matches.append(member)
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return matches


def _names_of(member: dict) -> set[str]:
    profile = member.get("profile") or {}
    names = (member.get("name"), member.get("real_name"), profile.get("display_name"), profile.get("display_name_normalized"),
             profile.get("real_name"), profile.get("real_name_normalized"))
    return {str(n).casefold() for n in names if n}


def _full_name(member: dict) -> str:
    profile = member.get("profile") or {}
    return member.get("real_name") or profile.get("real_name") or member.get("name") or member.get("id", "")


def _member_id_hint(instead: str) -> str:
    return f"give their member ID (their Slack profile › ⋮ › Copy member ID), like `{code_of(instead)}`."
