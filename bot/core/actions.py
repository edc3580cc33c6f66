"""The one write path: every write to Bitbucket, whichever way it starts (a slash command, a button, a form, the
Home tab, a re-run, a thread reply, a scheduled job), goes through `perform`, which applies, in this order:

1. who acts: the person's own linked account where the write is personal (approve, request changes, comment,
   open a pull request), or may be (merge, deploy, …: then Bitbucket's own permissions apply too); else the bot,
   with the person named in the audit;
2. the role (`bot.core.permissions`), unless a linked person acting as themselves is enough for this write;
3. the guards of the target: the features' `write_guards` (freezes, locks, protections of an environment;
   builds that failed). A guard refuses, or lets an admin through with `force` (said in the outcome), or asks
   for approvals first (`Blocked.approvals`: `NeedsApproval`, raised only when no other guard refuses; the write
   that an approved request makes carries its id in `Write.approved`);
4. act once: a confirmation's key is claimed before the call, so a double click, a second device or a stale
   client acts nothing; a Cancel claims it too, and a later click says who cancelled;
5. the call, and one audit record of it, whatever came of it. A write whose outcome is unknown (a 5xx, a lost
   connection after sending) keeps its claim, so the same button cannot do it twice.

`check` runs steps 1–3 without acting: entry points call it before they ask for a confirmation, so a refusal
comes at once and the same way everywhere. The confirmation itself is the entry point's (its words differ).
The core knows no feature: guards and the person's client are provided by features (`services.provide`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from bot.bitbucket import BitbucketClient, Unauthorized, outcome_unknown
from bot.core.errors import NotAllowed, NotLinked, UserError
from bot.core.render import escape, mention

log = logging.getLogger(__name__)

# Who acts: the person only (refused when not linked), the person when linked else the bot, or the bot only.
PERSON, PERSON_OR_BOT, BOT = "person", "person_or_bot", "bot"
CANCELLED = "cancelled:"  # a claim's holder when a Cancel consumed the confirmation


@dataclass(frozen=True)
class Write:
    """One write, described before it is done."""

    kind: str  # what the audit calls it
    repo: str  # workspace/slug
    target: str  # what the audit names: `acme/api#3`, `acme/api@production`, `acme/api#pipeline-42`
    environment: str | None = None  # a deploy's (a re-run of a deploy pipeline is a deploy)
    acting: str = PERSON_OR_BOT
    role_waived_when_linked: bool = False  # a linked person acts under Bitbucket's own permissions alone
    force: bool = False  # an admin's way through a guard (`--force`, "Deploy anyway")
    key: str | None = None  # the confirmation's: the write happens at most once per key
    # The claims versions before the one write path made for the same confirmation: a button posted before an
    # upgrade and clicked then is not acted on again after it.
    former_keys: tuple[str, ...] = ()
    detail: dict = field(default_factory=dict)
    permission: str | None = None  # the permission asked for (permissions.ROLE_FOR_ACTION), when not `kind`
    approved: int | None = None  # the approved request that lets it through a guard asking for approvals

    @property
    def needs(self) -> str:
        return self.permission or self.kind


@dataclass(frozen=True)
class Blocked:
    """A guard's refusal. `forceable`: an admin's `force` goes through it (and the outcome says so)."""

    reason: str  # mrkdwn, escaped
    forceable: bool = True
    kind: str = "guard"
    # More than 0: not a refusal but a question: this many others must approve first (a protected environment).
    # `check` raises `NeedsApproval` for it once no other guard refuses; the entry point asks for the approvals.
    approvals: int = 0


class Guard(Protocol):
    def __call__(self, services: Any, user_id: str, write: Write) -> Blocked | None: ...


@dataclass(frozen=True)
class WriteGuards:
    """The guards the features declare (`Feature(write_guards=…)`), provided to the services once."""

    guards: Sequence[Guard] = ()


@dataclass(frozen=True)
class PersonalClients:
    """How to act as a person: their linked account's client, or None (the accounts feature provides it)."""

    client_for: Callable[[Any, str], BitbucketClient | None]


@dataclass(frozen=True)
class Checked:
    client: BitbucketClient
    as_person: bool  # the write is made with the person's own account
    forced_through: tuple[Blocked, ...] = ()  # what an admin's force went through


@dataclass(frozen=True)
class Done:
    value: Any
    checked: Checked


@dataclass(frozen=True)
class AlreadyDone:
    """The key was claimed before: by a click that acted, or by a Cancel (`cancelled_by`)."""

    holder: str

    @property
    def cancelled_by(self) -> str | None:
        return self.holder[len(CANCELLED):] if self.holder.startswith(CANCELLED) else None

    def words(self, what: str) -> str:
        if self.cancelled_by:
            return f"That {what} was cancelled by {mention(self.cancelled_by)}; nothing was done. Run the command again to ask anew."
        return f"That {what} is already under way or done."


class NeedsApproval(UserError):
    """Nothing refuses the write, but a guard asks for approvals first (`blocked.approvals`): the entry point turns
    the write into a request for them instead of a confirmation."""

    def __init__(self, blocked: Blocked):
        super().__init__(blocked.reason)
        self.blocked = blocked


class OutcomeUnknown(UserError):
    """Bitbucket did not answer clearly: the write may have happened; the claim is kept."""


def person_client(services, user_id: str) -> BitbucketClient | None:
    clients = services.part(PersonalClients)
    return clients.client_for(services, user_id) if clients else None


def check(services, user_id: str, write: Write) -> Checked:
    """Who acts, the role, the guards: a `Checked`, or the refusal (NotLinked, NotAllowed, UserError)."""
    personal = person_client(services, user_id) if write.acting != BOT else None
    if write.acting == PERSON and personal is None:
        raise NotLinked("This is done as you, never as the bot: link your Bitbucket account with `/bb login`, then try again.")
    if not (personal is not None and write.role_waived_when_linked):
        try:
            services.permissions.require(user_id, write.needs, write.repo, write.environment)
        except NotAllowed as refusal:
            if write.role_waived_when_linked:
                raise NotAllowed(refusal.message + " Or link your own Bitbucket account with `/bb login`.") from None
            raise
    if write.force and not services.permissions.is_admin(user_id):
        raise NotAllowed("Only admins (listed in `CHATOPS_ADMINS`) can push through with `--force`; nothing was started.")
    forced, asking = [], []
    guards = services.part(WriteGuards)
    for guard in guards.guards if guards else ():
        blocked = guard(services, user_id, write)
        if blocked is None:
            continue
        if blocked.approvals > 0:
            asking.append(blocked)  # a question, asked only when nothing refuses outright
            continue
        if not (write.force and blocked.forceable):
            raise UserError(blocked.reason)
        forced.append(blocked)
    if asking:
        raise NeedsApproval(asking[0])
    return Checked(personal or services.bitbucket, personal is not None, tuple(forced))


def perform(services, user_id: str, write: Write, call: Callable[[BitbucketClient], Any], *,
            describe: Callable[[Any], str] | None = None, target_of: Callable[[Any], str] | None = None,
            checked: Checked | None = None) -> Done | AlreadyDone:
    """Check again (the click may come long after the question), claim the key, call, audit once. `describe`
    says in the audit what came of it (by default Bitbucket's state or name of what was written); `target_of`
    names what was written once it exists (a new pull request's number); `checked`: what this same click's
    `check` of this write just gave (it is not run twice)."""
    checked = checked or check(services, user_id, write)
    key = claim_key(write)
    done_before = _holder(services, write.former_keys if write.key else ())
    if done_before is not None:
        return AlreadyDone(done_before)
    if key and not services.store.claim(key, user_id):
        return AlreadyDone(services.store.claim_holder(key) or "")
    detail = {**write.detail, **({"forced_through": [b.kind for b in checked.forced_through]} if checked.forced_through else {}),
              **({"as": "person"} if checked.as_person else {})}
    try:
        value = call(checked.client)
    except Exception as error:
        if key and not outcome_unknown(error):
            services.store.release_claim(key)  # nothing happened: the same confirmation may act again
        _audit(services, user_id, write.kind, write.target, ok=False, result=_failure_words(error), detail=detail)
        if isinstance(error, Unauthorized) and checked.as_person:
            raise NotLinked("Bitbucket no longer accepts your sign-in: run `/bb login` again, then try again.") from None
        if outcome_unknown(error):
            raise OutcomeUnknown(
                f":hourglass: Bitbucket did not answer clearly ({escape(error)}). Look in Bitbucket before trying again."
            ) from error
        raise
    target = target_of(value) if target_of else write.target
    _audit(services, user_id, write.kind, target, ok=True, result=(describe or _result_words)(value), detail=detail)
    return Done(value, checked)


def _audit(services, user_id: str, kind: str, target: str, **record) -> None:
    """The audit record of a call that was made: a store that fails to keep it is logged, and the person is still
    told what Bitbucket did (a write that happened must not be reported as failed, nor its error hidden)."""
    try:
        services.audit.record(user_id, kind, target, **record)
    except Exception:  # noqa: BLE001 - the call's own outcome is what the person must hear
        log.exception("the audit record of %s on %s was not kept", kind, target)


def already(services, write: Write) -> AlreadyDone | None:
    """What holds the write's key, when a click acted on it or a Cancel consumed it (before re-reading anything)."""
    key = claim_key(write)
    holder = _holder(services, ((key,) if key else ()) + (write.former_keys if key else ()))
    return AlreadyDone(holder) if holder is not None else None


def _holder(services, keys: tuple[str, ...]) -> str | None:
    """Who holds the first of `keys` that is claimed (the key, then those of former versions), or None."""
    for key in keys:
        holder = services.store.claim_holder(key)
        if holder is not None:
            return holder
    return None


def cancel(services, user_id: str, key: str) -> AlreadyDone | None:
    """Consume a confirmation: its key is claimed as cancelled by `user_id`. None when it was still open; else
    what held it (a click that already acted, or an earlier Cancel)."""
    if services.store.claim(once_key(key), CANCELLED + user_id):
        return None
    return AlreadyDone(services.store.claim_holder(once_key(key)) or "")


def claim_key(write: Write) -> str | None:
    return once_key(write.key) if write.key else None


def once_key(key: str) -> str:
    """The claim of a confirmation's key, shared by all its buttons (Confirm, Cancel, "… anyway")."""
    return f"once:{key}"


def _failure_words(error: Exception) -> str:
    return str(error)[:500]


def _result_words(value) -> str:
    if isinstance(value, dict):
        return str(value.get("state") or value.get("name") or value.get("type") or "done")[:200]
    return "done" if value is None else str(value)[:200]
