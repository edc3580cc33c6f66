"""Roles, scoped by repository and environment; admins; the audit log."""

import pytest

from bot.core.audit import AuditLog
from bot.core.errors import NotAllowed
from bot.core.permissions import Grant, Permissions, grant_allows

pytestmark = pytest.mark.both_backends




def test_grant_allows_by_role_repo_and_environment():
    merger = Grant("U1", "merger")
    assert grant_allows(merger, "merge", "acme/api")
    assert grant_allows(merger, "decline", "acme/web")
    assert not grant_allows(merger, "tag", "acme/api")
    scoped = Grant("U1", "merger", repo="acme/api")
    assert grant_allows(scoped, "merge", "ACME/api")
    assert not grant_allows(scoped, "merge", "acme/web")
    deployer_prod = Grant("U1", "deployer", environment="production")
    assert grant_allows(deployer_prod, "deploy", "acme/api", "Production")
    assert not grant_allows(deployer_prod, "deploy", "acme/api", "staging")
    assert grant_allows(Grant("U1", "deployer"), "rollback", "acme/api", "staging")


def test_everyone_reads_and_opens_pull_requests(store):
    permissions = Permissions(store, frozenset())
    assert permissions.allows("U1", "list", "acme/api")
    assert permissions.allows("U1", "create_pull_request", "acme/api")
    assert not permissions.allows("U1", "merge", "acme/api")


def test_admins_may_do_everything(store):
    permissions = Permissions(store, frozenset({"UADMIN"}))
    assert permissions.allows("UADMIN", "deploy", "acme/api", "production")
    permissions.require_admin("UADMIN")
    with pytest.raises(NotAllowed):
        permissions.require_admin("U1")


def test_grant_and_revoke_are_stored(store):
    permissions = Permissions(store, frozenset())
    grant = Grant("U1", "deployer", environment="staging", repo="acme/api")
    assert permissions.grant(grant, granted_by="UADMIN")
    assert not permissions.grant(grant, granted_by="UADMIN")  # already there
    assert permissions.allows("U1", "deploy", "acme/api", "staging")
    assert permissions.revoke(grant)
    assert not permissions.revoke(grant)
    assert not permissions.allows("U1", "deploy", "acme/api", "staging")


def test_refusal_says_which_role_and_how_to_get_it(store):
    permissions = Permissions(store, frozenset())
    with pytest.raises(NotAllowed) as caught:
        permissions.require("U1", "deploy", "acme/api", "Production")
    assert "`deployer:production` or `deployer`" in caught.value.message
    assert "/bb grant" in caught.value.message


def test_audit_log_records_writes(store):
    audit = AuditLog(store, clock=lambda: 1000.0)
    audit.record("U1", "merge", "acme/api#3", ok=True, result="MERGED", detail={"strategy": "squash"})
    audit.record("U1", "tag", "acme/api@v1", ok=False, result="Tag already exists")
    entries = audit.recent()
    assert [(e.action, e.ok) for e in entries] == [("tag", False), ("merge", True)]
    assert entries[1].detail == '{"strategy": "squash"}' and entries[1].at == 1000.0


def test_a_claim_is_taken_once(store):
    assert store.claim("merge:k1", "U1")
    assert not store.claim("merge:k1", "U2")
    store.release_claim("merge:k1")
    assert store.claim("merge:k1", "U2")
