"""Pull requests from Slack: list, open, merge, decline; and tags."""

from __future__ import annotations

import dataclasses
import json
import re
import secrets

from slack_sdk.models.blocks import InputBlock, PlainTextInputElement, PlainTextObject
from slack_sdk.models.views import View

from bot.core import ids, render
from bot.bitbucket import NotFound, PullRequest
from bot.core import actions
from bot.core.commands import Command, parse_repo
from bot.core.errors import UsageError, UserError
from bot.core.payloads import CancelButton, PullRequestButton
from bot.relay import channel_repositories
from bot.pull_requests import build_states, merge_gate
from bot.core.invocation import Invocation, perform_on_click, run_safely, split_repo
from bot.pull_requests import render as pr_render


def title_from_branch(branch: str) -> str:
    """`feature/ABC-12-add-login` → `ABC-12 add login`: a readable default title."""
    tail = branch.rsplit("/", 1)[-1]
    match = re.match(r"^([A-Za-z][A-Za-z0-9]*-\d+)[-_ ]?(.*)$", tail)
    key, rest = (match[1], match[2]) if match else ("", tail)
    words = re.sub(r"[-_]+", " ", rest).strip()
    words = words[:1].upper() + words[1:] if words else ""
    return " ".join(part for part in (key, words) if part) or branch


def new_action_key() -> str:
    return secrets.token_urlsafe(12)


# --- /bb prs ----------------------------------------------------------------------------------------


def list_open(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    workspace, slug = split_repo(repo)
    # Newest first across every page, not just within the first one.
    page = inv.services.bitbucket.list_pull_requests(workspace, slug, limit=render.MAX_ITEMS_IN_LIST, sort="-created_on")
    prs = [PullRequest.from_api(item) for item in page.values]
    repo_url = f"https://bitbucket.org/{repo}"
    builds = build_states.for_listing(inv.services.store, repo, prs)  # what the relay saw: no request to Bitbucket
    inv.reply(pr_render.pull_request_list(repo, prs, page.total, render.utcnow(), repo_url=repo_url, builds=builds))


# --- /bb pr -----------------------------------------------------------------------------------------


def create(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    if command.args.get("modal"):
        open_create_modal(inv, repo)
        return
    source = command.args["source"]
    create_and_announce(inv, repo, source, command.args.get("destination"), command.args.get("title") or title_from_branch(source))


def create_and_announce(inv: Invocation, repo: str, source: str, destination: str | None, title: str, description: str = "") -> None:
    """Opened as the person when they linked their account (so it is theirs in Bitbucket), else by the bot's."""
    workspace, slug = split_repo(repo)
    write = actions.Write("create_pull_request", repo, f"{repo} {source} → {destination or '(main branch)'}",
                          acting=actions.PERSON_OR_BOT)
    done = actions.perform(inv.services, inv.user_id, write, lambda client: client.create_pull_request(
        workspace, slug, title=title, source=source, destination=destination, description=description),
        describe=lambda _: "created", target_of=lambda data: f"{repo}#{data.get('id')}")
    pr = PullRequest.from_api(done.value)
    inv.reply(pr_render.pull_request_created(repo, pr, inv.user_id, as_person=done.checked.as_person), public=True)


def open_create_modal(inv: Invocation, repo: str) -> None:

    def text_input(block_id, action_id, label, *, optional, placeholder="", multiline=False):
        return InputBlock(
            block_id=block_id,
            label=PlainTextObject(text=label),
            optional=optional,
            element=PlainTextInputElement(
                action_id=action_id, multiline=multiline, placeholder=PlainTextObject(text=placeholder) if placeholder else None
            ),
        )

    view = View(
        type="modal",
        callback_id=ids.CREATE_PR_MODAL,
        title=PlainTextObject(text="Open a pull request"),
        submit=PlainTextObject(text="Open"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps({"repo": repo, "channel": inv.channel_id}),
        blocks=[
            text_input(ids.PR_SOURCE_BLOCK, ids.PR_SOURCE_INPUT, f"Source branch in {repo}"[:2000], optional=False, placeholder="feature/my-change"),
            text_input(ids.PR_DEST_BLOCK, ids.PR_DEST_INPUT, "Destination branch", optional=True, placeholder="the main branch"),
            text_input(ids.PR_TITLE_BLOCK, ids.PR_TITLE_INPUT, "Title", optional=True, placeholder="made from the branch name"),
            text_input(ids.PR_DESCRIPTION_BLOCK, ids.PR_DESCRIPTION_INPUT, "Description", optional=True, multiline=True),
        ],
    )
    inv.services.slack.views_open(trigger_id=inv.trigger_id, view=view)


def modal_values(view: dict) -> dict:
    """Pure: the fields of a submitted create-PR modal, stripped, with empty ones as None."""
    values = view.get("state", {}).get("values", {})

    def field(block_id, action_id):
        value = (values.get(block_id, {}).get(action_id, {}) or {}).get("value")
        return value.strip() if isinstance(value, str) and value.strip() else None

    meta = json.loads(view.get("private_metadata") or "{}")
    return {
        "repo": meta.get("repo"),
        "channel": meta.get("channel"),
        "source": field(ids.PR_SOURCE_BLOCK, ids.PR_SOURCE_INPUT),
        "destination": field(ids.PR_DEST_BLOCK, ids.PR_DEST_INPUT),
        "title": field(ids.PR_TITLE_BLOCK, ids.PR_TITLE_INPUT),
        "description": field(ids.PR_DESCRIPTION_BLOCK, ids.PR_DESCRIPTION_INPUT) or "",
    }


# --- /bb merge, /bb decline: a confirmation first ----------------------------------------------------


def _open_pull_request(inv: Invocation, repo: str, pr_id: int) -> PullRequest:
    workspace, slug = split_repo(repo)
    pr = PullRequest.from_api(inv.services.bitbucket.get_pull_request(workspace, slug, pr_id))
    if pr.state != "OPEN":
        raise UserError(f"{render.link(pr.url, f'#{pr.id}')} in {render.escape(repo)} is already {pr.state.lower()}.")
    return pr


def ask_merge(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    inv.services.permissions.require(inv.user_id, "merge", repo)
    pr = _open_pull_request(inv, repo, command.args["pr_id"])
    if pr.draft:  # the card's rule: Bitbucket refuses to merge a draft, so no confirmation is offered
        raise UserError(pr_render.draft_not_mergeable(repo, pr))
    strategy = command.args.get("strategy")
    if strategy and pr.merge_strategies and strategy not in pr.merge_strategies:
        allowed = ", ".join(render.code(s) for s in pr.merge_strategies)
        raise UsageError(f"{render.code(pr.destination_branch or 'The destination branch')} does not allow {render.code(strategy)}: "
                         f"it allows {allowed}. Leave the strategy out to choose among them.")
    inv.reply(merge_gate.confirmation(inv, repo, pr, command.args.get("strategy"), new_action_key()))


def ask_decline(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    inv.services.permissions.require(inv.user_id, "decline", repo)
    pr = _open_pull_request(inv, repo, command.args["pr_id"])
    inv.reply(pr_render.decline_confirmation(repo, pr, new_action_key()))


def ask_merge_button(inv: Invocation, value: dict) -> None:
    ask_merge(inv, Command("merge", {"pr_id": int(value["p"]), "strategy": None}, _repo_ref(value)))


def ask_decline_button(inv: Invocation, value: dict) -> None:
    ask_decline(inv, Command("decline", {"pr_id": int(value["p"])}, _repo_ref(value)))


def confirm_merge(inv: Invocation, value: dict) -> None:
    button = PullRequestButton.from_value(value)
    if merge_gate.gated_on_click(inv, button):  # builds went red since the question
        return

    def merge(client, workspace, slug):
        return client.merge_pull_request(workspace, slug, button.pr_id, strategy=button.strategy)

    _act_once(inv, button, "merge", merge, lambda pr: pr_render.merged(button.repo, pr, inv.user_id, button.strategy),
              {"strategy": button.strategy})


def confirm_decline(inv: Invocation, value: dict) -> None:
    button = PullRequestButton.from_value(value)

    def decline(client, workspace, slug):
        return client.decline_pull_request(workspace, slug, button.pr_id)

    _act_once(inv, button, "decline", decline, lambda pr: pr_render.declined(button.repo, pr, inv.user_id), {})


def cancel(inv: Invocation, value: dict) -> None:
    """Cancel consumes the confirmation: any of its buttons clicked later (another device, a stale client) acts
    nothing and says who cancelled."""
    held = actions.cancel(inv.services, inv.user_id, CancelButton.from_value(value).key)
    if held is not None and not held.cancelled_by:
        inv.reply(render.notice(held.words("action")))
        return
    inv.respond(delete_original=True)


def _act_once(inv: Invocation, button: PullRequestButton, action: str, call, announce, detail: dict) -> None:
    """The confirmed write, through the one write path: checked again, once per confirmation, audited."""
    repo, pr_id = button.repo, button.pr_id
    workspace, slug = split_repo(repo)
    write = actions.Write(action, repo, f"{repo}#{pr_id}", key=button.key or None, detail=detail,
                          former_keys=(f"{action}:{button.key}:{repo}#{pr_id}",))
    done = perform_on_click(inv, write, lambda client: call(client, workspace, slug), what=f"{action} of #{pr_id}")
    if done is not None:
        inv.replace_publicly(announce(PullRequest.from_api(done.value)))


def _repo_ref(value: dict):
    return parse_repo(str(value.get("r", "")))


# --- /bb tag ----------------------------------------------------------------------------------------


def tag(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    name = command.args["name"]
    if command.repo is None:
        _refuse_a_guessed_tag_name(inv, repo, name)
    workspace, slug = split_repo(repo)
    ref_name = command.args.get("ref")
    write = actions.Write("tag", repo, f"{repo}@{name}", acting=actions.BOT, detail={"ref": ref_name})
    actions.check(inv.services, inv.user_id, write)  # refused before Bitbucket is read
    bitbucket = inv.services.bitbucket
    if not ref_name:
        ref_name = (bitbucket.get_repository(workspace, slug).get("mainbranch") or {}).get("name") or "main"
    resolved = {}

    def create(client):
        resolved["ref"] = client.resolve_ref(workspace, slug, ref_name)
        return client.create_tag(workspace, slug, name, resolved["ref"].hash)

    done = actions.perform(inv.services, inv.user_id, dataclasses.replace(write, detail={"ref": ref_name}), create)
    tag_url = ((done.value or {}).get("links", {}).get("html") or {}).get("href")
    inv.reply(pr_render.tagged(repo, name, resolved["ref"], inv.user_id, tag_url), public=True)


def _refuse_a_guessed_tag_name(inv: Invocation, repo: str, name: str) -> None:
    """`/bb tag api` in a channel that follows a repository: `api` names a repository, so it is not taken as the
    tag's name (a write never happens on a guessed argument)."""
    lowered = name.lower()
    named = [r for r in channel_repositories(inv.services.store, inv.channel_id) if lowered in (r.lower(), r.split("/", 1)[1].lower())]
    if not named and "/" not in name:
        workspace = split_repo(repo)[0]
        try:
            inv.services.bitbucket.get_repository(workspace, name)
            named = [f"{workspace}/{name}"]
        except NotFound:
            named = []
    elif not named and "/" in name and name.count("/") == 1:
        named = [name]
    if named:
        raise UsageError(f"Which tag? `{render.escape(name)}` names the repository {render.code(named[0])}, so it is not taken as a "
                         f"tag name: write `/bb tag {render.escape(named[0])} NAME [REF]`.", usage="/bb tag REPO NAME [REF]")


def on_create_pr_view(services, ack, body, view, invocation_for) -> None:
    """The `/bb pr` form, submitted: refuse it with its errors, or open the pull request off the request path."""
    fields = modal_values(view)
    if not fields["source"]:
        ack(response_action="errors", errors={ids.PR_SOURCE_BLOCK: "Which branch should be pulled?"})
        return
    if not fields["repo"]:
        ack(response_action="errors", errors={ids.PR_SOURCE_BLOCK: "This form lost its repository; run /bb pr again."})
        return
    ack()
    inv = invocation_for(fields["channel"])
    title = fields["title"] or title_from_branch(fields["source"])

    def work():
        create_and_announce(inv, fields["repo"], fields["source"], fields["destination"], title, fields["description"])

    services.submit(run_safely, inv, work)
