"""Pull requests from Slack: list, open, merge, decline; and tags."""

from __future__ import annotations

import json
import re
import secrets

from slack_sdk.models.blocks import InputBlock, PlainTextInputElement, PlainTextObject
from slack_sdk.models.views import View

from bot import accounts
from bot.core import ids, render
from bot.bitbucket import PullRequest, outcome_unknown
from bot.core.commands import Command, parse_repo
from bot.core.errors import UserError
from bot.pull_requests import build_states, merge_gate
from bot.pull_requests.merge_gate import acting_client
from bot.core.invocation import Invocation, run_safely, split_repo
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
    workspace, slug = split_repo(repo)
    target = f"{repo} {source} → {destination or '(main branch)'}"
    try:
        data = inv.services.bitbucket.create_pull_request(
            workspace, slug, title=title, source=source, destination=destination, description=description
        )
    except Exception as error:
        inv.services.audit.record(inv.user_id, "create_pull_request", target, ok=False, result=str(error))
        raise
    pr = PullRequest.from_api(data)
    inv.services.audit.record(inv.user_id, "create_pull_request", f"{repo}#{pr.id}", ok=True, result="created")
    inv.reply(pr_render.pull_request_created(repo, pr, inv.user_id), public=True)


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
    repo, pr_id, strategy = value["r"], int(value["p"]), value.get("s")
    if merge_gate.gated_on_click(inv, value):  # builds went red since the question
        return

    def merge(client, workspace, slug):
        return client.merge_pull_request(workspace, slug, pr_id, strategy=strategy)

    _act_once(inv, value, "merge", repo, pr_id, merge, lambda pr: pr_render.merged(repo, pr, inv.user_id, strategy), {"strategy": strategy})


def confirm_decline(inv: Invocation, value: dict) -> None:
    repo, pr_id = value["r"], int(value["p"])

    def decline(client, workspace, slug):
        return client.decline_pull_request(workspace, slug, pr_id)

    _act_once(inv, value, "decline", repo, pr_id, decline, lambda pr: pr_render.declined(repo, pr, inv.user_id), {})


def cancel(inv: Invocation, value: dict) -> None:
    inv.respond(delete_original=True)


def _act_once(inv: Invocation, value: dict, action: str, repo: str, pr_id: int, call, announce, detail: dict) -> None:
    """The confirmed write: permission again, one claim per button, the call, the audit, the outcome."""
    services = inv.services
    services.permissions.require(inv.user_id, action, repo)
    key = f"{action}:{value.get('k') or ''}:{repo}#{pr_id}"
    if not services.store.claim(key, inv.user_id):
        inv.reply(render.notice(f"That {action} of #{pr_id} is already under way or done."))
        return
    workspace, slug = split_repo(repo)
    client = acting_client(inv)
    try:
        data = call(client, workspace, slug)
    except Exception as error:
        services.audit.record(inv.user_id, action, f"{repo}#{pr_id}", ok=False, result=str(error), detail=detail)
        if outcome_unknown(error):
            # It may have happened: keep the claim, so this confirmation cannot do it a second time.
            inv.replace_with(render.notice(
                f":hourglass: Bitbucket did not answer clearly ({render.escape(error)}). Look at #{pr_id} in Bitbucket "
                "before trying again."
            ))
            return
        services.store.release_claim(key)  # nothing happened: the same confirmation may act again
        inv.replace_with(render.error_message(error))
        return
    pr = PullRequest.from_api(data)
    services.audit.record(inv.user_id, action, f"{repo}#{pr_id}", ok=True, result=pr.state, detail=detail)
    inv.replace_publicly(announce(pr))


def _repo_ref(value: dict):
    return parse_repo(str(value.get("r", "")))


# --- /bb tag ----------------------------------------------------------------------------------------


def tag(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    inv.services.permissions.require(inv.user_id, "tag", repo)
    workspace, slug = split_repo(repo)
    bitbucket = inv.services.bitbucket
    ref_name = command.args.get("ref")
    if not ref_name:
        ref_name = (bitbucket.get_repository(workspace, slug).get("mainbranch") or {}).get("name") or "main"
    name = command.args["name"]
    target = f"{repo}@{name}"
    try:
        ref = bitbucket.resolve_ref(workspace, slug, ref_name)
        data = bitbucket.create_tag(workspace, slug, name, ref.hash)
    except Exception as error:
        inv.services.audit.record(inv.user_id, "tag", target, ok=False, result=str(error), detail={"ref": ref_name})
        raise
    inv.services.audit.record(inv.user_id, "tag", target, ok=True, result=ref.hash, detail={"ref": ref_name})
    tag_url = ((data or {}).get("links", {}).get("html") or {}).get("href")
    inv.reply(pr_render.tagged(repo, name, ref, inv.user_id, tag_url), public=True)


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
