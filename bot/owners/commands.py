"""`/bb owners`: add, list and remove the owners of a repository's paths. A user group's members are read from Slack
(`usergroups.users.list`, scope usergroups:read) when its rule is made; each change is in the audit log."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from bot import owners
from bot.core import render
from bot.core.commands import Command
from bot.core.errors import UserError
from bot.core.invocation import Invocation, split_repo
from bot.owners.rules import MAX_GROUP


def _members(inv: Invocation, targets) -> dict[str, list[str]]:
    found = {}
    for target in targets:
        if target.kind != "group":
            continue
        try:
            found[target.id] = list(inv.services.slack.usergroups_users_list(usergroup=target.id).get("users") or [])
        except SlackApiError as error:
            code = error.response.get("error") or "an error"
            hint = " (the app needs the `usergroups:read` scope: reinstall it from the manifest)" if code == "missing_scope" else ""
            raise UserError(f"Slack would not list the members of {target.mention}: `{render.escape(code)}`{hint}. Nothing was changed.") from None
    return found


def owners_add(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo).lower()
    workspace, slug = split_repo(repo)
    inv.services.bitbucket.get_repository(workspace, slug)  # it exists and the bot can read it
    globs, targets = command.args["globs"], command.args["targets"]
    members = _members(inv, targets)
    try:
        total = owners.add_rules(inv.services.store, repo, globs, targets, members, channel_id=inv.channel_id, user_id=inv.user_id)
    except ValueError:
        raise UserError(f"{render.escape(repo)} may have at most {owners.MAX_RULES} owners rules; `/bb owners {render.escape(repo)}` "
                        "lists them, `off GLOB` removes some. Nothing was changed.") from None
    inv.services.audit.record(inv.user_id, "owners", repo, ok=True, result="added",
                              detail={"globs": list(globs), "owners": [t.id for t in targets]})
    large = [t for t in targets if t.kind == "group" and len(members.get(t.id, [])) > MAX_GROUP]
    note = "".join(f"\n{t.mention} has more than {MAX_GROUP} people: it is named in this channel instead of messaging each." for t in large)
    who = ", ".join(t.mention for t in targets)
    inv.reply(render.notice(f":mag: {render.mention(inv.user_id)} made {who} owner(s) of {', '.join(render.code(g) for g in globs)} "
                            f"in {render.escape(repo)} ({total} rule(s) there): they hear of pull requests that change them.{note}"), public=True)


def owners_list(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo).lower()
    rules = owners.repository_rules(inv.services.store, repo)
    if not rules:
        inv.reply(render.notice(f"{render.escape(repo)} has no owners rules. `/bb owners {render.escape(repo)} GLOB… @person|@group|#channel…` adds one."))
        return
    lines = [f"*Owners of {render.escape(repo)}* ({len(rules)} of at most {owners.MAX_RULES} rules):"]
    lines += [f"• {owners.rule_line(rule)}" for rule in rules]
    inv.reply(render.notice("\n".join(lines)))


def owners_off(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo).lower()
    removed = owners.remove_rules(inv.services.store, repo, command.args["globs"])
    if not removed:
        raise UserError(f"{render.escape(repo)} has no owners rule for {', '.join(render.code(g) for g in command.args['globs'])}; "
                        f"`/bb owners {render.escape(repo)}` lists them.")
    inv.services.audit.record(inv.user_id, "owners", repo, ok=True, result="removed", detail={"globs": list(command.args["globs"])})
    inv.reply(render.notice(f":mag: {render.mention(inv.user_id)} removed {removed} owners rule(s) of {render.escape(repo)}."), public=True)


COMMAND_HANDLERS: dict = {"owners_add": owners_add, "owners_list": owners_list, "owners_off": owners_off}
