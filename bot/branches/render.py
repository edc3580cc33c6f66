"""Pure renderers of branches: the listing, a created branch, the delete confirmation and its outcome, refusals.
Everything from Bitbucket is escaped."""

from __future__ import annotations

from datetime import datetime

from bot.bitbucket import Pipeline, parse_timestamp
from bot.branches.rules import Refusal
from bot.builds.render import STATE_WORDS, pipeline_state
from bot.core import render
from bot.core.render import Message, age_since, code, confirmation, escape, link, mention, outcome, truncate

MAX_BRANCHES = 25
BRANCHES_PER_SECTION = 8
CONFIRM_DELETE_BRANCH = "bb_confirm_delete_branch"


def _html(data: dict) -> str | None:
    return ((data.get("links") or {}).get("html") or {}).get("href")


def branch_line(branch: dict, build: Pipeline | None, now: datetime) -> str:
    target = branch.get("target") or {}
    name = branch.get("name") or "?"
    commit = (target.get("hash") or "")[:7]
    summary = render.one_line((target.get("message") or "").split("\n", 1)[0])
    author = ((target.get("author") or {}).get("user") or {}).get("display_name") or (
        (target.get("author") or {}).get("raw") or "").split("<", 1)[0].strip()
    when = parse_timestamp(target.get("date"))
    line = f"*{link(_html(branch), truncate(name, 200))}* · {link(_html(target), commit) if commit else ''} {escape(truncate(summary, 80))}"
    details = [escape(author)] if author else []
    if when:
        details.append(f"{age_since(when, now)} ago")
    if build is not None:
        emoji, words = STATE_WORDS.get(pipeline_state(build), (":grey_question:", pipeline_state(build).lower()))
        details.append(f"{emoji} {link(build.url, f'#{build.build_number}')} {words}")
    else:
        details.append("no build yet")
    return line + "\n      " + " · ".join(details)


def branch_list(repo: str, glob: str | None, branches: list[dict], builds: dict[str, Pipeline], total: int | None,
                now: datetime) -> Message:
    matching = f" matching {code(glob)}" if glob else ""
    if not branches:
        return render.notice(f"No branches{matching} in {escape(repo)}.")
    shown = branches[:MAX_BRANCHES]
    lines = [branch_line(b, builds.get(b.get("name") or ""), now) for b in shown]
    blocks: list = [render.header(truncate(f"Branches of {repo}" + (f" matching {glob}" if glob else ""), 150))]
    for start in range(0, len(lines), BRANCHES_PER_SECTION):
        blocks.append(render.section("\n".join(lines[start:start + BRANCHES_PER_SECTION])))
    more = (total or len(branches)) - len(shown)
    note = f"Newest commit first. {more} more not shown." if more > 0 else "Newest commit first."
    blocks.append(render.context(note + " The last build is the branch's newest pipeline."))
    fallback = f"Branches of {escape(repo)}{matching}: " + ", ".join(escape(b.get("name") or "?") for b in shown)
    return render.message(render.fallback_text(fallback), blocks)


def created(repo: str, data: dict, ref: str, commit: str, by_user_id: str) -> Message:
    name = data.get("name") or "?"
    return outcome(f":seedling: {mention(by_user_id)} created branch {link(_html(data), truncate(name, 200))} in "
                   f"{escape(repo)} from {code(ref)} ({code(commit[:7])}).")


def delete_confirmation(repo: str, name: str, head: str, key: str, forced_past: list[Refusal]) -> Message:
    question = f"Delete branch {code(name)} of {escape(repo)} (at {code(head[:7])})?"
    if forced_past:
        question += "\n:warning: `--force`: deleted although " + "; ".join(r.text for r in forced_past) + "."
    value = {"r": repo, "b": name, "h": head, "k": key, **({"f": 1} if forced_past else {})}
    return confirmation(question, confirm_text="Delete branch", confirm_action=CONFIRM_DELETE_BRANCH, value=value, danger=True)


def deleted(repo: str, name: str, head: str, by_user_id: str, forced: bool) -> Message:
    how = " (forced by an admin)" if forced else ""
    return outcome(f":wastebasket: {mention(by_user_id)} deleted branch {code(name)} of {escape(repo)}, which was at "
                   f"{code(head[:7])}{how}.")


def refused(repo: str, name: str, reasons: list[Refusal], *, admin: bool) -> str:
    """Why the branch stays (a refusal's text, for `UserError`)."""
    said = "; ".join(r.text for r in reasons)
    text = f"Branch {code(name)} of {escape(repo)} is not deleted: {said}."
    if all(r.forceable for r in reasons):
        text += " You may add `--force` to delete it anyway." if admin else " An admin may delete it anyway with `--force`."
    return text
