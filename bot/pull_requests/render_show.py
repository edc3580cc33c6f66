"""`/bb pr REPO ID`, pure: one pull request in full (title, author, branches, a description excerpt, reviewers and
their state, builds, open tasks, comments) and whether it can be merged now, and if not, why; with its buttons."""

from __future__ import annotations

from datetime import datetime

from bot.bitbucket.restrictions import covering
from bot.builds import render as builds_render
from bot.core.render import Message, age_since, code, context, escape, fallback_text, link, message, section, truncate
from bot.pull_requests.render import _user_name, pull_request_buttons

MAX_DESCRIPTION = 400


def reviewer_lines(pr) -> str:
    """Each reviewer with their state: approved, changes requested, or not yet; and approvals by others."""
    approved = {u.uuid for u in pr.approved_by}
    changes = {u.uuid for u in pr.changes_requested_by}
    lines = []
    for reviewer in pr.reviewers:
        state = ("✅ approved" if reviewer.uuid in approved else "✋ requested changes" if reviewer.uuid in changes
                 else "⏳ not yet")
        lines.append(f"• {_user_name(reviewer)}: {state}")
    reviewer_ids = {r.uuid for r in pr.reviewers}
    lines += [f"• {_user_name(u)}: ✅ approved (not a reviewer)" for u in pr.approved_by if u.uuid not in reviewer_ids]
    lines += [f"• {_user_name(u)}: ✋ requested changes (not a reviewer)" for u in pr.changes_requested_by if u.uuid not in reviewer_ids]
    return "\n".join(lines) if lines else "No reviewers"


def restrictions_on(restrictions: list[dict], branch: str | None) -> list[dict]:
    """The branch restrictions (glob ones: the branching model is not read here) that apply to merges into `branch`."""
    return covering(restrictions, branch or "")


def merge_blockers(pr, gate, restrictions: list[dict], open_tasks: int) -> list[str]:
    """Why the pull request cannot be merged now (empty: it can). `restrictions`: those on its destination."""
    if pr.state != "OPEN":
        return [f"it is {escape(pr.state.lower())}"]
    found = []
    if pr.draft:
        found.append("it is a draft (mark it ready for review in Bitbucket)")
    if gate.failed:
        found.append("builds failed: " + ", ".join(escape(truncate(s.name, 80)) for s in gate.failed))
    elif gate.running:
        found.append("builds are still running")
    kinds = {r.get("kind"): r for r in restrictions}
    needed = (kinds.get("require_approvals_to_merge") or {}).get("value") or 0
    if needed and len(pr.approved_by) < needed:
        found.append(f"it needs {needed} approval{'s' if needed != 1 else ''} and has {len(pr.approved_by)}")
    if pr.changes_requested_by and "require_no_changes_requested" in kinds:
        found.append("changes are requested by " + ", ".join(_user_name(u) for u in pr.changes_requested_by))
    if open_tasks and "require_tasks_to_be_completed" in kinds:
        found.append(f"{open_tasks} task{'s are' if open_tasks != 1 else ' is'} still open")
    if "require_passing_builds_to_merge" in kinds and not gate.statuses:
        found.append("it needs passing builds, and none has reported")
    return found


def pull_request_detail(repo: str, pr, data: dict, gate, restrictions: list[dict] | None, now: datetime) -> Message:
    """`restrictions`: those on the destination branch, or None when they could not be read."""
    title = link(pr.url, f"#{pr.id} {truncate(pr.title, 200)}")
    state = "" if pr.state == "OPEN" else f" · *{escape(pr.state.lower())}*"
    draft = " · _draft_" if pr.draft else ""
    head = (f"*{title}*{state}{draft}\n{_user_name(pr.author)} · {code(pr.source_branch)} → {code(pr.destination_branch)} · "
            f"{escape(repo)} · opened {age_since(pr.created_on, now)} ago, updated {age_since(pr.updated_on, now)} ago")
    description = " ".join(str(data.get("description") or "").split())
    open_tasks = int(data.get("task_count") or 0)
    blocks = [section(head)]
    if description:
        blocks.append(section(">" + escape(truncate(description, MAX_DESCRIPTION))))
    approvals = len(pr.approved_by)
    blocks.append(section(f"*Reviewers* · {approvals} approval{'s' if approvals != 1 else ''}\n{reviewer_lines(pr)}"))
    builds = f"*Builds* · {builds_render.gate_summary(gate)}" + (f"\n{builds_render.statuses_text(gate)}" if gate.statuses else "")
    blocks.append(section(builds))
    counts = f"{open_tasks} open task{'s' if open_tasks != 1 else ''} · {pr.comment_count} comment{'s' if pr.comment_count != 1 else ''}"
    blockers = merge_blockers(pr, gate, restrictions or [], open_tasks)
    if pr.state != "OPEN":
        verdict = f"Not mergeable: {blockers[0]}."
    elif blockers:
        verdict = ":no_entry: *Cannot be merged now*: " + "; ".join(blockers) + "."
    else:
        verdict = ":white_check_mark: *Can be merged now.*"
    if restrictions is None and pr.state == "OPEN":
        verdict += " (Branch restrictions could not be read: the bot's Bitbucket credential needs repository admin for that.)"
    blocks.append(section(f"{counts}\n{verdict}"))
    if pr.state == "OPEN":
        blocks.append(pull_request_buttons(repo, pr))
    else:
        blocks.append(context(f"{escape(pr.state.title())}: nothing left to act on."))
    fallback = f"#{pr.id} {escape(pr.title)} in {escape(repo)}: " + ("can be merged now" if not blockers else "; ".join(blockers))
    return message(fallback_text(fallback), blocks)
