"""Who is who (`user_links`) belongs to the accounts feature: created by its first migration, read and written by
its functions only. A database that already holds links keeps them, and every feature reads them through accounts."""

from __future__ import annotations

import pytest

from bot import accounts, reminders
from bot.bitbucket import Account, PullRequest
from bot.registry import open_migrated

pytestmark = pytest.mark.both_backends


def test_a_database_linked_before_keeps_its_links(database):
    # What an earlier bot wrote with `/bb link` and `/bb login`, straight into its table.
    old = open_migrated(database)
    old.execute("INSERT INTO user_links (slack_user_id, nickname, bitbucket_uuid, account_id, display_name, linked_by, linked_at) "
                "VALUES ('U1', 'ann', '{a}', '1:ann', 'Ann', 'U1', 5.0), ('U2', 'rob', '', '', '', 'UADMIN', 6.0)")
    applied = old.applied_migrations()
    old.close()

    store = open_migrated(database)
    try:
        assert store.applied_migrations() == applied  # nothing re-created, nothing renamed
        assert ("accounts", 1) in applied
        assert accounts.linked_user(store, "U1") == accounts.LinkedUser("U1", "ann", "{a}", "1:ann")
        assert accounts.linked_user(store, "U3") is None
        assert sorted(link.slack_user_id for link in accounts.linked_users(store)) == ["U1", "U2"]
        assert accounts.is_linked(store, "U2") and not accounts.is_linked(store, "U3")
        # The reminders mention them, through accounts.
        pr = PullRequest.from_api({"id": 1, "title": "t", "state": "OPEN", "reviewers": [{"uuid": "{A}", "display_name": "Ann"}],
                                   "participants": []})
        assert list(reminders.mentions_for([pr], accounts.linked_users(store)).values()) == ["U1"]
    finally:
        store.close()


def test_link_ties_a_person_again_and_a_nickname_alone(store):
    accounts.link(store, slack_user_id="U1", nickname="ann", account=None, linked_by="U1")
    assert accounts.linked_user(store, "U1") == accounts.LinkedUser("U1", "ann")
    ann = Account(uuid="{a}", account_id="1:ann", nickname="Ann", display_name="Ann A.")
    accounts.link(store, slack_user_id="U1", nickname="ann", account=ann, linked_by="UADMIN")
    assert accounts.linked_user(store, "U1") == accounts.LinkedUser("U1", "Ann", "{a}", "1:ann")
    assert accounts.is_account(Account("Ann", uuid="{A}"), accounts.linked_user(store, "U1"))
    assert not accounts.is_account(Account("Ann", nickname="Ann"), accounts.linked_user(store, "U1"))  # a nickname proves nothing
