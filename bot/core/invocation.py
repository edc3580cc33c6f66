"""What every Slack handler shares: who asked and where, how to answer, and the one place errors become words."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from bot.core import actions, render
from bot.bitbucket import BitbucketError
from bot.core.commands import RepoRef
from bot.core.errors import UsageError, UserError
from bot.core.feature import FeatureSet
from bot.core.render import Message
from bot.core.services import Services

log = logging.getLogger(__name__)


@dataclass
class Invocation:
    """One slash command, click or submission: who, where, and the way back to them."""

    services: Services
    user_id: str
    channel_id: str
    team_id: str
    respond: Callable | None  # Bolt's respond(), bound to the request's response_url
    trigger_id: str | None = None
    message: dict | None = None  # the message a button was on (Slack leaves it out for ephemeral ones)

    def reply(self, message: Message, *, public: bool = False, replace: bool = False) -> None:
        """Answer through response_url: privately by default, in the channel for changes the team should see."""
        if self.respond is None:
            self._post_fallback(message, public=public)
            return
        self.respond(
            text=message.text,
            blocks=message.blocks,
            response_type="in_channel" if public else "ephemeral",
            replace_original=replace,
        )

    def replace_with(self, message: Message) -> None:
        """Replace the message the button was on (ephemeral or not)."""
        self.reply(message, replace=True)

    def replace_publicly(self, message: Message) -> None:
        """Take down the (usually private) confirmation and tell the channel what happened."""
        if self.respond is None:
            self._post_fallback(message)
            return
        self.respond(delete_original=True)
        self.respond(text=message.text, blocks=message.blocks, response_type="in_channel", replace_original=False)

    def _post_fallback(self, message: Message, *, public: bool = False) -> None:
        # No response_url (a modal submission): post in the channel, or a private note there, else a direct message.
        slack = self.services.slack
        try:
            if public:
                slack.chat_postMessage(channel=self.channel_id, text=message.text, blocks=message.blocks)
                return
            slack.chat_postEphemeral(channel=self.channel_id, user=self.user_id, text=message.text, blocks=message.blocks)
        except Exception:  # noqa: BLE001 - the DM below is the fallback for any failure here
            slack.chat_postMessage(channel=self.user_id, text=message.text, blocks=message.blocks)

    def repo(self, ref: RepoRef | None) -> str:
        return resolve_repo(ref, self.services.settings.bitbucket_workspace, self.channel_repositories())

    def channel_repositories(self) -> list[str]:
        """The repositories this channel follows, as the features that know say (the relay's subscriptions)."""
        features = self.services.part(FeatureSet)
        return features.channel_repositories(self.services.store, self.channel_id) if features else []


def resolve_repo(ref: RepoRef | None, default_workspace: str, channel_repos: list[str]) -> str:
    """Pure: `workspace/slug` from what was typed, the default workspace, or the channel's one subscription."""
    if ref is None:
        if len(channel_repos) == 1:
            return channel_repos[0]
        if channel_repos:
            raise UsageError(
                "This channel follows several repositories; name one: " + ", ".join(render.code(r) for r in channel_repos) + "."
            )
        raise UsageError("Name a repository, like `acme/api`. (In a channel subscribed to one repository, it is the default.)")
    if ref.workspace:
        return f"{ref.workspace}/{ref.slug}"
    if default_workspace:
        return f"{default_workspace}/{ref.slug}"
    for full_name in channel_repos:
        if full_name.split("/", 1)[1].lower() == ref.slug.lower():
            return full_name
    raise UsageError(f"Write the repository as `workspace/{render.escape(ref.slug)}`: no default workspace is set (`BITBUCKET_WORKSPACE`).")


def split_repo(full_name: str) -> tuple[str, str]:
    workspace, slug = full_name.split("/", 1)
    return workspace, slug


def run_safely(invocation: Invocation, work: Callable[[], None], *, replace: bool = False) -> None:
    """Run a handler's work; a failure is told to the person in one place, in words they can use."""
    try:
        work()
    except (UserError, BitbucketError) as error:
        if isinstance(error, BitbucketError):
            log.info("bitbucket refused: %s %s", error.status, error.message)
        invocation.reply(render.error_message(error), replace=replace)
    except Exception as error:  # noqa: BLE001 - the person must hear something; the details go to the log
        log.exception("handler failed")
        invocation.reply(render.error_message(error), replace=replace)


def perform_on_click(inv: Invocation, write: actions.Write, call, *, what: str, **options) -> actions.Done | None:
    """A confirmation's click, through the one write path; its answers in one place: an unclear or refused outcome
    replaces the confirmation, a second click (or one after Cancel) is told so. The `Done` when it acted, else None."""
    try:
        done = actions.perform(inv.services, inv.user_id, write, call, **options)
    except actions.OutcomeUnknown as unknown:
        inv.replace_with(render.notice(unknown.message))
        return None
    except (UserError, BitbucketError) as error:
        inv.replace_with(render.error_message(error))
        return None
    if isinstance(done, actions.AlreadyDone):
        inv.reply(render.notice(done.words(what)))
        return None
    return done
