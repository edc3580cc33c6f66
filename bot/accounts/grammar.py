"""The accounts' commands' grammar (pure): `login`, `logout`, `whoami`, `link`."""

from __future__ import annotations

from bot.core.commands import Command, CommandSpec, no_args
from bot.core.errors import UsageError
from bot.core.people import parse_person



def _parse_link(tokens: list[str]) -> Command:
    if len(tokens) == 1:
        return Command("link", {"user_id": None, "nickname": tokens[0]})
    if len(tokens) == 2:
        # `user_id`: a member ID, or the `@name` / email typed, which the handler looks up (bot.core.people).
        return Command("link", {"user_id": parse_person(tokens[0]), "nickname": tokens[1]})
    raise UsageError("`link` needs a Bitbucket nickname, like `/bb link jdoe` or `/bb link @alice jdoe`.")


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("login", "/bb login", "links your own Bitbucket account", no_args("login"), ("connect",), "You"),
    CommandSpec("logout", "/bb logout", "forgets your Bitbucket account", no_args("logout"), ("disconnect",), "You"),
    CommandSpec("whoami", "/bb whoami", "who you are linked as in Bitbucket", no_args("whoami"), ("me",), "You"),
    CommandSpec("link", "/bb link [@user] BITBUCKET_NICKNAME", "ties a Slack user to a Bitbucket account for mentions", _parse_link, (), "You"),
)
