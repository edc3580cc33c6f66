"""Pull requests in Slack: the list and its cards' buttons, the confirmations of a merge or decline, and the
outcomes of the pull request commands. Pure: a `Message` from what Bitbucket said."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock

from bot.core import ids
from bot.core.render import (
    MAX_ITEMS_IN_LIST,
    Block,
    Message,
    age_since,
    button,
    code,
    confirmation,
    context,
    escape,
    fallback_text,
    header,
    link,
    mention,
    message,
    outcome,
    section,
    truncate,
)


def _user_name(user) -> str:
    if user is None:
        return "someone"
    return escape(getattr(user, "display_name", None) or getattr(user, "nickname", None) or "someone")


def pull_request_buttons(repo: str, pr, *, with_merge: bool = True) -> ActionsBlock:
    value = {"r": repo, "p": pr.id}
    elements = [
        button("Approve", ids.APPROVE, value, style="primary"),
        button("Request changes", ids.REQUEST_CHANGES, value),
    ]
    if with_merge and not pr.draft:  # Bitbucket refuses to merge a draft
        elements.append(button("Merge…", ids.ASK_MERGE, value))
    if with_merge:
        elements.append(button("Decline…", ids.ASK_DECLINE, value, style="danger"))
    return ActionsBlock(block_id=f"pr:{repo}#{pr.id}"[:255], elements=elements)


def reviewers_line(pr) -> str:
    """`Reviewers: bob ✅, carol ✋, dave` — ✅ approved, ✋ changes requested."""
    approved = {u.uuid for u in pr.approved_by}
    changes = {u.uuid for u in pr.changes_requested_by}
    names = []
    for reviewer in pr.reviewers:
        mark = " ✅" if reviewer.uuid in approved else " ✋" if reviewer.uuid in changes else ""
        names.append(_user_name(reviewer) + mark)
    # People who approved without being reviewers count too.
    reviewer_ids = {r.uuid for r in pr.reviewers}
    names += [_user_name(u) + " ✅" for u in pr.approved_by if u.uuid not in reviewer_ids]
    names += [_user_name(u) + " ✋" for u in pr.changes_requested_by if u.uuid not in reviewer_ids and u.uuid not in approved]
    return ("Reviewers: " + ", ".join(names)) if names else "No reviewers"


BUILD_BADGES = {"passed": "✅ builds passed", "failed": "❌ builds failed", "running": "⏳ builds running"}


def pull_request_summary(repo: str, pr, now: datetime, build: str | None = None) -> str:
    """`build`: passed, failed or running (its badge after the title), or None when no build is known."""
    title = link(pr.url, f"#{pr.id} {truncate(pr.title, 200)}")
    draft = " · _draft_" if pr.draft else ""
    draft += f" · {BUILD_BADGES[build]}" if build in BUILD_BADGES else ""
    approvals = len(pr.approved_by)
    lines = [
        f"*{title}*{draft}",
        f"{_user_name(pr.author)} · {code(pr.source_branch)} → {code(pr.destination_branch)} · "
        f"updated {age_since(pr.updated_on, now)} ago",
        f"{reviewers_line(pr)} · {approvals} approval{'s' if approvals != 1 else ''}",
    ]
    return "\n".join(lines)


def pull_request_list(repo: str, prs: list, total: int, now: datetime, *, repo_url: str | None = None,
                      builds: dict[int, str] | None = None) -> Message:
    """Open pull requests, newest first, with buttons; the total even when only the newest are shown. `builds`:
    the build state of those whose builds are known, by id (see `build_states`)."""
    if not prs:
        return message(f"No open pull requests in {repo}.", [section(f"No open pull requests in {link(repo_url, repo)}. :tada:")])
    # A pull request updated while the listing was paged can come twice; Slack refuses a message whose
    # buttons repeat a block_id, so each is shown once.
    shown = [pr for index, pr in enumerate(prs) if pr.id not in {earlier.id for earlier in prs[:index]}][:MAX_ITEMS_IN_LIST]
    blocks: list[Block] = [header(truncate(f"Open pull requests in {repo} ({total})", 150))]
    for pr in shown:
        blocks.append(section(pull_request_summary(repo, pr, now, (builds or {}).get(pr.id))))
        blocks.append(pull_request_buttons(repo, pr))
    if total > len(shown):
        more = link(f"{repo_url}/pull-requests/" if repo_url else None, "see them all in Bitbucket")
        blocks.append(context(f"Showing the {len(shown)} newest of {total} open pull requests · {more}"))
    fallback = f"{total} open pull request{'s' if total != 1 else ''} in {repo}: " + "; ".join(
        f"#{pr.id} {escape(pr.title)}" for pr in shown
    )
    return message(fallback, blocks)


def merge_confirmation(repo: str, pr, strategy: str | None, key: str) -> Message:
    """The question; without a chosen strategy, one Merge button per strategy the destination branch allows (its
    default first), all of one confirmation: the first click merges, the others then act nothing."""
    offered = strategies_offered(pr, strategy)
    if strategy or len(offered) <= 1:
        how = f" with `{strategy or offered[0]}`" if (strategy or offered) else " with the branch's default strategy"
    else:
        how = f"? {code(pr.destination_branch)} allows " + ", ".join(code(s) for s in offered) + ": pick one"
    question = (
        f"Merge {link(pr.url, f'#{pr.id} {truncate(pr.title, 200)}')} "
        f"({code(pr.source_branch)} → {code(pr.destination_branch)}){how}" + ("" if how.endswith("pick one") else "?")
    )
    if len(offered) <= 1:
        value = {"r": repo, "p": pr.id, "s": strategy or (offered[0] if offered else None), "k": key}
        return confirmation(question, confirm_text="Merge", confirm_action=ids.CONFIRM_MERGE, value=value)
    buttons = [button(f"Merge ({name})", ids.CONFIRM_MERGE, {"r": repo, "p": pr.id, "s": name, "k": key},
                      style="primary" if index == 0 else None) for index, name in enumerate(offered)]
    buttons.append(button("Cancel", ids.CANCEL, {"k": key}))
    return message(fallback_text(question), [section(question), ActionsBlock(elements=buttons)])


def strategies_offered(pr, strategy: str | None) -> list[str]:
    """Pure: the strategies a merge confirmation offers: the chosen one, or what the destination branch allows,
    its default first (none when Bitbucket did not say)."""
    if strategy:
        return [strategy]
    allowed = list(pr.merge_strategies)
    if pr.default_merge_strategy in allowed:
        allowed.remove(pr.default_merge_strategy)
        allowed.insert(0, pr.default_merge_strategy)
    return allowed


def draft_not_mergeable(repo: str, pr) -> str:
    """What `/bb merge` answers on a draft, by the card's rule (no Merge button on drafts): how to publish it."""
    return (
        f"{link(pr.url, f'#{pr.id} {truncate(pr.title, 200)}')} in {escape(repo)} is a draft, and Bitbucket does not "
        "merge drafts. Publish it first: open it in Bitbucket and click *Mark as ready*; then merge it "
        f"(`/bb merge {escape(repo)} {pr.id}`, or the Merge button on its card)."
    )


def decline_confirmation(repo: str, pr, key: str) -> Message:
    question = f"Decline {link(pr.url, f'#{pr.id} {truncate(pr.title, 200)}')} by {_user_name(pr.author)}?"
    value = {"r": repo, "p": pr.id, "k": key}
    return confirmation(question, confirm_text="Decline", confirm_action=ids.CONFIRM_DECLINE, value=value, danger=True)


def merged(repo: str, pr, by_user_id: str, strategy: str | None) -> Message:
    how = f" with `{strategy}`" if strategy else ""
    return outcome(
        f":white_check_mark: {mention(by_user_id)} merged {link(pr.url, f'#{pr.id} {truncate(pr.title, 200)}')} "
        f"into {code(pr.destination_branch)} in {escape(repo)}{how}."
    )


def declined(repo: str, pr, by_user_id: str) -> Message:
    return outcome(f":no_entry_sign: {mention(by_user_id)} declined {link(pr.url, f'#{pr.id} {truncate(pr.title, 200)}')} in {escape(repo)}.")


def pull_request_created(repo: str, pr, by_user_id: str, *, as_person: bool = True) -> Message:
    """`as_person`: opened with the person's own Bitbucket account; else with the bot's, and said so."""
    text = (f":sparkles: {mention(by_user_id)} opened {link(pr.url, f'#{pr.id} {truncate(pr.title, 200)}')} "
            f"in {escape(repo)}: {code(pr.source_branch)} → {code(pr.destination_branch)}.")
    if not as_person:
        text += ("\nIt was opened with the bot's Bitbucket account, so Bitbucket shows the bot as its author: "
                 "link your own with `/bb login` to open pull requests as yourself.")
    return outcome(text)


def tagged(repo: str, tag_name: str, ref, by_user_id: str, tag_url: str | None = None) -> Message:
    return outcome(
        f":label: {mention(by_user_id)} tagged {escape(repo)} {link(tag_url, tag_name) if tag_url else code(tag_name)} "
        f"at {escape(ref.kind)} {code(ref.name)} ({code(ref.hash[:12])})."
    )


