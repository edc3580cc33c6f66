"""Pure: `/bb where` and the Home tab's environments. Names from Bitbucket are escaped."""

from __future__ import annotations

from datetime import datetime

from bot.core.render import Message, age, age_since, code, context, escape, fallback_text, header, link, mention, message, section, truncate
from bot.deploys.render import environment_label, pipeline_label, ref_label
from bot.environments import render as env_render
from bot.freezes import render as freeze_render

MAX_ENVIRONMENTS = 20
MAX_TAGS = 3  # tags named on one commit


def record_names(record, deployed) -> bool:
    """Whether the bot's own record names the ref of what Bitbucket says runs (the bot deployed that very commit)."""
    return record is not None and deployed is not None and bool(deployed.commit) and \
        (record.commit_hash or "")[:12] == deployed.commit[:12]


def tags_label(tags) -> str:
    """`tag `v1.4.0``, or `tags `v1.4.0`, `stable``, the first few of them."""
    shown = ", ".join(code(truncate(tag, 60)) for tag in tags[:MAX_TAGS])
    more = f" and {len(tags) - MAX_TAGS} more" if len(tags) > MAX_TAGS else ""
    return f"tag{'s' if len(tags) > 1 else ''} {shown}{more}"


def deployed_line(state, now: float, now_dt: datetime) -> str:
    """What runs there: Bitbucket's newest successful deployment (release, commit, when, by whom, pipeline), with the
    ref when the bot itself deployed that commit, else the tags on that commit; else what the bot deployed there last."""
    deployed, record = state.deployed, state.record
    if deployed is not None:
        who = escape(deployed.deployer.display_name) if deployed.deployer else "someone"
        when = f"{age_since(deployed.completed_on, now_dt)} ago" if deployed.completed_on else "at an unknown time"
        release = link(deployed.pipeline_url or deployed.url, truncate(deployed.release_name or "release", 80))
        line = f"Runs {release} · commit {code((deployed.commit or '')[:12])} · deployed {when} by {who}"
        if record_names(record, deployed):
            return line + f" · {ref_label(record.ref_kind, record.ref, record.commit_hash)} · pipeline {pipeline_label(record.pipeline_number, record.pipeline_url)}"
        if state.tags:
            line += f" · {tags_label(state.tags)}"
        if deployed.pipeline_url:
            line += f" · from {link(deployed.pipeline_url, 'its pipeline')}"
        return line
    if record is not None:
        when = age(now - record.finished_at) if record.finished_at else "a while"
        return (f"Last deployed from here: {ref_label(record.ref_kind, record.ref, record.commit_hash)} {when} ago by "
                f"{mention(record.user_id)} · pipeline {pipeline_label(record.pipeline_number, record.pipeline_url)}")
    return "Nothing deployed yet." if state.deployed is None and state.record is None else ""


def environment_text(state, now: float, now_dt: datetime, *, history_read: bool = True) -> str:
    lines = [environment_label(state.environment.name, state.environment.environment_type)]
    deployed = deployed_line(state, now, now_dt)
    if deployed and (history_read or state.record is not None):
        lines.append(deployed)
    if state.running is not None:
        lines.append(f":arrows_counterclockwise: A {escape(state.running.kind)} is under way (by {mention(state.running.user_id)}).")
    lines.append(f":lock: Locked by {env_render.lock_line(state.lock, now)}" if state.lock else ":unlock: Not locked.")
    if state.freeze is not None:
        lines.append(f":ice_cube: Frozen by {mention(state.freeze.frozen_by)} {freeze_render.when(state.freeze.ends_at, now)}")
    if state.protection is not None:
        lines.append(f":shield: Protected: {env_render.protection_line(state.protection)}.")
    lines.append(state.verdict.words)
    return "\n".join(lines)


def where(repo: str, states: list, *, now: float, now_dt: datetime) -> Message:
    if not states:
        return message(f"{escape(repo)} has no deployment environments.", [section(
            f"{escape(repo)} has no deployment environments in Bitbucket. They are set up in the repository's settings, under Deployments.")])
    blocks = [header(truncate(f"Where {repo} stands", 150))]
    blocks += [section(environment_text(state, now, now_dt)) for state in states[:MAX_ENVIRONMENTS]]
    if len(states) > MAX_ENVIRONMENTS:
        blocks.append(context(f"…and {len(states) - MAX_ENVIRONMENTS} more environments"))
    summary = "; ".join(f"{escape(s.environment.name)}: {s.verdict.status}" for s in states[:MAX_ENVIRONMENTS])
    return message(fallback_text(f"Where {escape(repo)} stands: {summary}"), blocks)
