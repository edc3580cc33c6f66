"""Who is who: the Slack user tied to each Bitbucket account (table `user_links`, created by the accounts' first
migration). `/bb link` ties a person by nickname for mentions; `/bb login` ties them to the account they signed in
as. Other features read the links through these functions, never the table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Mapping

from bot.bitbucket import Account


@dataclass(frozen=True)
class LinkedUser:
    """A row of `user_links`: a Slack user and the Bitbucket account they are tied to."""

    slack_user_id: str
    nickname: str = ""
    bitbucket_uuid: str = ""
    account_id: str = ""


_COLUMNS = "slack_user_id, nickname, bitbucket_uuid, account_id"


def linked_users(db) -> list[LinkedUser]:
    """Everyone linked. `db`: the store, or the connection of a transaction."""
    return [LinkedUser(**row) for row in db.query(f"SELECT {_COLUMNS} FROM user_links")]


def linked_user(db, slack_user_id: str) -> LinkedUser | None:
    rows = list(db.query(f"SELECT {_COLUMNS} FROM user_links WHERE slack_user_id = ?", (slack_user_id,)))
    return LinkedUser(**rows[0]) if rows else None


def is_linked(db, slack_user_id: str) -> bool:
    return bool(list(db.query("SELECT 1 AS one FROM user_links WHERE slack_user_id = ?", (slack_user_id,))))


def link(store, *, slack_user_id: str, nickname: str, account: Account | None, linked_by: str) -> None:
    """Tie a Slack user to a Bitbucket account (found in the workspace, or known only by its nickname)."""
    store.execute(
        """INSERT INTO user_links (slack_user_id, nickname, bitbucket_uuid, account_id, display_name, linked_by, linked_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (slack_user_id) DO UPDATE SET
             nickname = excluded.nickname, bitbucket_uuid = excluded.bitbucket_uuid, account_id = excluded.account_id,
             display_name = excluded.display_name, linked_by = excluded.linked_by, linked_at = excluded.linked_at""",
        (
            slack_user_id,
            (account.nickname if account and account.nickname else nickname),
            (account.uuid or "") if account else "",
            (account.account_id or "") if account else "",
            account.display_name if account else "",
            linked_by,
            time.time(),
        ),
    )


# --- pure ---------------------------------------------------------------------------------------------


def slack_user_for(account: Account, links: Iterable[LinkedUser]) -> str | None:
    """The Slack user linked to a Bitbucket account: by uuid, else account_id, else nickname (any case).

    A nickname is not unique in Bitbucket, so it decides only where no uuid or account_id could."""
    links = list(links)
    uuid, account_id, nickname = uuid_key(account.uuid), account.account_id or "", (account.nickname or "").casefold()
    for matches in (
        lambda link: uuid and uuid_key(link.bitbucket_uuid) == uuid,
        lambda link: account_id and link.account_id == account_id,
        lambda link: nickname and link.nickname.casefold() == nickname
        and not (uuid and link.bitbucket_uuid) and not (account_id and link.account_id),
    ):
        for link in links:
            if matches(link):
                return link.slack_user_id
    return None


def is_account(account: Account, link: LinkedUser) -> bool:
    """The Bitbucket account is the one the person is linked to by uuid or account_id (a nickname proves nothing)."""
    uuid = uuid_key(account.uuid)
    return bool(uuid and uuid == uuid_key(link.bitbucket_uuid)) or bool(account.account_id and account.account_id == link.account_id)


def uuid_key(uuid: str | None) -> str:
    return (uuid or "").strip("{}").lower()


def find_member(members: Iterable[Mapping], wanted: str) -> Account | None:
    """A workspace member (`workspace_membership` objects) by nickname (any case), uuid or account_id."""
    wanted_key = wanted.casefold()
    for membership in members:
        user = membership.get("user") or {}
        if (user.get("nickname") or "").casefold() == wanted_key or user.get("account_id") == wanted:
            return Account.from_api(user)
        if user.get("uuid") and uuid_key(user["uuid"]) == uuid_key(wanted):
            return Account.from_api(user)
    return None
