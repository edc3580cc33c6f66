"""Pure renderers of builds: `/bb builds`, the Re-run and Stop buttons, build statuses in confirmations, the
failed step and its log tail, and the merge gate. Everything from Bitbucket is escaped; log lines are inert."""

from __future__ import annotations

from datetime import datetime

from bot.core import ids
from bot.core.render import (
    MAX_SECTION_TEXT,
    Message,
    age,
    age_since,
    code,
    encode_value,
    escape,
    fallback_text,
    link,
    mention,
    message,
    notice,
    text_input_modal,
    truncate,
)

MAX_PIPELINES = 10
LOG_PENDING_BLOCK = "build-log-pending"

STATE_WORDS = {
    "SUCCESSFUL": (":white_check_mark:", "passed"),
    "FAILED": (":x:", "failed"),
    "ERROR": (":x:", "errored"),
    "STOPPED": (":octagonal_sign:", "stopped"),
    "EXPIRED": (":hourglass:", "expired"),
    "INPROGRESS": (":arrows_counterclockwise:", "running"),
    "IN_PROGRESS": (":arrows_counterclockwise:", "running"),
    "PAUSED": (":double_vertical_bar:", "paused"),
    "PENDING": (":hourglass_flowing_sand:", "pending"),
}


def _section(text: str, block_id: str | None = None) -> dict:
    block = {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}}
    if block_id:
        block["block_id"] = block_id
    return block


def _context(text: str, block_id: str | None = None) -> dict:
    block = {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}]}
    if block_id:
        block["block_id"] = block_id
    return block


def _button(text: str, action_id: str, value: dict, style: str | None = None) -> dict:
    button = {"type": "button", "text": {"type": "plain_text", "text": truncate(text, 75), "emoji": True},
              "action_id": action_id, "value": encode_value(value)}
    if style:
        button["style"] = style
    return button


# --- pipelines -------------------------------------------------------------------------------------------


def pipeline_state(pipeline) -> str:
    if pipeline.state == "COMPLETED":
        return pipeline.result or "COMPLETED"
    if pipeline.state == "IN_PROGRESS":
        return "PAUSED" if pipeline.stage == "PAUSED" else "IN_PROGRESS"
    return pipeline.state or "PENDING"


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def pipeline_duration(pipeline, now: datetime) -> str:
    if pipeline.state == "COMPLETED":
        if pipeline.completed_on and pipeline.created_on:
            return f"took {duration((pipeline.completed_on - pipeline.created_on).total_seconds())}"
        return f"took {duration(pipeline.build_seconds or 0)}"
    return f"running for {duration((now - pipeline.created_on).total_seconds())}" if pipeline.created_on else "not started"


def pipeline_target_label(pipeline) -> str:
    if pipeline.ref_name:
        where = f"{escape(pipeline.ref_type or 'ref')} {code(pipeline.ref_name)}"
    else:
        where = f"commit {code((pipeline.commit or '')[:12])}"
    if pipeline.pattern and pipeline.selector_type not in (None, "default", "branches", "tags"):
        where += f" · {escape(pipeline.selector_type)} {code(pipeline.pattern)}"
    return where


def pipeline_line(pipeline, now: datetime) -> str:
    emoji, words = STATE_WORDS.get(pipeline_state(pipeline), (":grey_question:", pipeline_state(pipeline).lower()))
    who = escape(pipeline.creator.display_name) if pipeline.creator else "Bitbucket"
    trigger = escape((pipeline.trigger or "").lower() or "run")
    return (
        f"{emoji} *{link(pipeline.url, f'#{pipeline.build_number}')}* {words} · {pipeline_target_label(pipeline)}\n"
        f"{trigger} by {who} · {pipeline_duration(pipeline, now)} · {age_since(pipeline.created_on, now)} ago"
    )


def pipeline_buttons(repo: str, pipeline, key: str = "") -> dict:
    """Re-run for a finished pipeline, Stop for one that runs. `key`: the message's own, so a double click acts once."""
    value = {"r": repo, "n": pipeline.build_number, "k": key}
    if pipeline.state == "COMPLETED":
        elements = [_button("Re-run", ids.RERUN_PIPELINE, value)]
    else:
        elements = [_button("Stop", ids.STOP_PIPELINE, value, style="danger")]
    return {"type": "actions", "block_id": f"pipeline:{repo}#{pipeline.build_number}"[:255], "elements": elements}


def builds_list(repo: str, branch: str | None, pipelines: list, now: datetime, key: str = "") -> Message:
    where = f"{escape(repo)}" + (f" on {code(branch)}" if branch else "")
    if not pipelines:
        return notice(f"No pipelines have run in {where} yet.")
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": truncate(f"Latest pipelines of {repo}" + (f" on {branch}" if branch else ""), 150)}}]
    for pipeline in pipelines[:MAX_PIPELINES]:
        blocks.append(_section(pipeline_line(pipeline, now)))
        blocks.append(pipeline_buttons(repo, pipeline, key))
    fallback = f"Latest pipelines of {where}: " + "; ".join(
        f"#{p.build_number} {STATE_WORDS.get(pipeline_state(p), ('', pipeline_state(p).lower()))[1]}" for p in pipelines[:MAX_PIPELINES]
    )
    return message(fallback, blocks)


def rerun_started(repo: str, old, new, user_id: str) -> Message:
    return notice(
        f":repeat: {mention(user_id)} re-ran pipeline {link(old.url, f'#{old.build_number}')} of {escape(repo)} "
        f"({pipeline_target_label(old)}): now {link(new.url, f'#{new.build_number}')}."
    )


def stopped(repo: str, pipeline, user_id: str) -> Message:
    return notice(f":octagonal_sign: {mention(user_id)} stopped pipeline {link(pipeline.url, f'#{pipeline.build_number}')} of {escape(repo)}.")


# --- build statuses: the merge gate and the deploy gate --------------------------------------------------


def status_line(status) -> str:
    emoji, words = STATE_WORDS.get(status.state, (":grey_question:", escape(status.state.lower())))
    return f"{emoji} {link(status.url, truncate(status.name or status.key, 120))} {words}"


def statuses_text(gate, *, none: str = "No builds reported.") -> str:
    if not gate.statuses:
        return none
    order = {"FAILED": 0, "INPROGRESS": 1, "STOPPED": 2, "SUCCESSFUL": 3}
    shown = sorted(gate.statuses, key=lambda s: order.get(s.state, 4))[:10]
    more = len(gate.statuses) - len(shown)
    return "\n".join(status_line(s) for s in shown) + (f"\n…and {more} more" if more > 0 else "")


def gate_summary(gate) -> str:
    if gate.failed:
        return f":x: {len(gate.failed)} build{'s' if len(gate.failed) != 1 else ''} failed"
    if gate.running:
        return f":arrows_counterclockwise: {len(gate.running)} build{'s' if len(gate.running) != 1 else ''} still running"
    return ":white_check_mark: builds passed" if gate.statuses else "no builds reported"


def merge_gate(repo: str, pr, strategy: str | None, key: str, gate, *, admin: bool) -> Message:
    """The merge confirmation while builds failed or run: the statuses, and for admins only, Merge anyway."""
    title = link(pr.url, f"#{pr.id} {truncate(pr.title, 200)}")
    how = f" with `{strategy}`" if strategy else ""
    head = f"Merge {title} ({code(pr.source_branch)} → {code(pr.destination_branch)}){how}? *{gate_summary(gate)}*:"
    blocks = [_section(head), _section(statuses_text(gate))]
    if admin:
        value = {"r": repo, "p": pr.id, "s": strategy, "k": key}
        blocks.append({"type": "actions", "elements": [
            _button("Merge anyway…", ids.ASK_MERGE_ANYWAY, value, style="danger"),
            _button("Cancel", ids.CANCEL, {"k": key}),
        ]})
        blocks.append(_context("As an admin you may merge anyway; you will be asked for a reason, kept in the audit log."))
    else:
        blocks.append(_context("Only an admin can merge while builds fail or run. Wait for them to pass, or ask an admin."))
    return message(fallback_text(f"{head} {statuses_text(gate)}"), blocks)


def merge_statuses_context(gate) -> dict:
    return _context(f"Builds: {gate_summary(gate)}" + (f"\n{statuses_text(gate)}" if gate.statuses else ""))


def merge_anyway_modal(meta: str, pr_label: str) -> dict:
    return text_input_modal(callback_id=ids.MERGE_ANYWAY_MODAL, title="Merge anyway", submit="Merge anyway", meta=meta,
                            about=f"Builds of {pr_label} failed or still run. Why merge now?",
                            block_id=ids.MERGE_REASON_BLOCK, label="Reason (kept in the audit log)",
                            action_id=ids.MERGE_REASON_INPUT, max_length=500)


def merged_anyway(repo: str, pr, user_id: str, gate, reason: str) -> Message:
    return notice(
        f":warning: {mention(user_id)} merged {link(pr.url, f'#{pr.id} {truncate(pr.title, 200)}')} into "
        f"{code(pr.destination_branch)} in {escape(repo)} *anyway* ({gate_summary(gate)}). Reason: “{escape(truncate(reason, 500))}”"
    )


def deploy_ci_text(gate) -> str:
    """The builds of the commit a deploy would run, for its confirmation."""
    if not gate.statuses:
        return "Builds of this commit: none reported."
    words = "*failed*: deploying it needs *Deploy anyway*" if gate.failed else "running" if gate.running else "passed"
    return f"Builds of this commit {words}.\n{statuses_text(gate)}"


# --- the failed build's step and log (relayed) ----------------------------------------------------------


def log_pending() -> dict:
    return _context(":hourglass_flowing_sand: Reading the failed step's log…", LOG_PENDING_BLOCK)


def failure_blocks(step_name: str | None, tail: str | None, log_url: str | None) -> list[dict]:
    """The failing step and the end of its log in a code block; a link when the log could not be read."""
    blocks = []
    if step_name:
        blocks.append(_section(f"Failed in step *{escape(truncate(step_name, 150))}*"))
    if tail:
        blocks.append(_section(f"```\n{tail}\n```"))
    elif tail == "":
        blocks.append(_context("The step's log is empty."))
    else:
        blocks.append(_context(f"The log could not be read here: {link(log_url, 'open it in Bitbucket')}."))
    return blocks


def with_failure(original: dict, step_name: str | None, tail: str | None, log_url: str | None) -> Message:
    """The relayed message again, its "reading the log" note replaced by the step and the log, before its buttons."""
    blocks = [b for b in original.get("blocks") or [] if b.get("block_id") != LOG_PENDING_BLOCK]
    at = next((i for i, b in enumerate(blocks) if b.get("type") == "actions"), len(blocks))
    blocks[at:at] = failure_blocks(step_name, tail, log_url)
    text = original.get("text") or ""
    if step_name:
        text = truncate(f"{text} Failed in step {escape(step_name)}.", 3900)
    return Message(text=text, blocks=blocks)


def builds_line(data: dict) -> str | None:
    """`Builds: ❌ Unit tests failed · ✅ Lint passed`, or None without builds."""
    statuses = ((data.get("builds") or {}).get("statuses")) or {}
    if not statuses:
        return None
    order = {"FAILED": 0, "INPROGRESS": 1, "STOPPED": 2, "SUCCESSFUL": 3}
    parts = []
    for entry in sorted(statuses.values(), key=lambda e: order.get(e.get("state"), 4))[:6]:
        emoji, words = STATE_WORDS.get(entry.get("state") or "", (":grey_question:", "unknown"))
        parts.append(f"{emoji} {link(entry.get('url'), truncate(entry.get('name') or 'build', 80))} {words}")
    more = len(statuses) - len(parts)
    return "Builds: " + " · ".join(parts) + (f" · …and {more} more" if more > 0 else "")
