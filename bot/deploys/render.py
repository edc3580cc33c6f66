"""Pure renderers of the deploys feature: confirmations, the deploy's channel message and its thread, the overview.

Everything that came from Bitbucket (environment, ref and release names, people) is escaped.
"""

from __future__ import annotations

from datetime import datetime

from bot.freezes import render as freeze_render
from bot.core import ids
from bot.builds.render import deploy_ci_text
from bot.bitbucket import BadRequest, BitbucketError
from bot.core.render import (
    MAX_ITEMS_IN_LIST,
    Message,
    context,
    fallback_text,
    header,
    section,
    age,
    age_since,
    bitbucket_words,
    clip,
    code,
    confirmation,
    escape,
    link,
    mention,
    message,
    notice,
    truncate,
)

PRODUCTION_MARK = ":rotating_light:"
SHORT_HASH = 12

# phase or outcome -> (emoji, words)
STATUS = {
    "STARTING": (":hourglass_flowing_sand:", "starting"),
    "PENDING": (":hourglass_flowing_sand:", "waiting to start"),
    "RUNNING": (":arrows_counterclockwise:", "running"),
    "PAUSED": (":double_vertical_bar:", "paused: a manual step waits in Bitbucket"),
    "successful": (":white_check_mark:", "successful"),
    "failed": (":x:", "failed"),
    "stopped": (":octagonal_sign:", "stopped"),
    "GAVE_UP": (":grey_question:", "no longer followed: check Bitbucket"),
}


def short(commit: str | None) -> str:
    return (commit or "")[:SHORT_HASH]


def environment_label(name: str, environment_type: str | None) -> str:
    """`*Staging*`, or `:rotating_light: *Production* (production)` for a production-type environment."""
    label = f"*{escape(name)}*"
    if environment_type == "Production":
        return f"{PRODUCTION_MARK} {label} (production)"
    return label


def ref_label(kind: str, name: str, commit: str) -> str:
    """`tag `v1.4.0` (`abc123def456`)`, or `commit `abc123def456``."""
    if kind == "commit":
        return f"commit {code(short(commit))}"
    return f"{escape(kind)} {code(name)} ({code(short(commit))})"


def release_label(name: str | None, commit: str | None) -> str:
    """A release as Bitbucket names it (usually `#42`), with its commit."""
    if name:
        return f"{code(truncate(name, 80))} ({code(short(commit))})"
    return code(short(commit))


def pipeline_label(number: int | None, url: str | None) -> str:
    return link(url, f"#{number}") if number else "(no number yet)"


# --- answers to a command ----------------------------------------------------------------------------


def unknown_environment(typed: str, environments) -> str:
    if not environments:
        return (
            f"This repository has no deployment environments in Bitbucket, so there is nowhere to deploy `{escape(typed)}`. "
            "They are set up in the repository's settings, under Deployments."
        )
    names = ", ".join(code(env.name) for env in environments)
    return f"There is no environment {code(typed)} here. The repository's environments: {names}."


def unknown_ref(repo: str, ref: str) -> str:
    return f"{code(ref)} is not a branch, tag or commit in {escape(repo)}; nothing was started."


def already_running(record) -> str:
    if record is None:
        return "A deploy to that environment has just started; wait for it to finish, then try again."
    verb = "rollback" if record.kind == "rollback" else "deploy"
    return (
        f"A {verb} to {environment_label(record.environment, record.environment_type)} in {escape(record.repo)} "
        f"is already under way (pipeline {pipeline_label(record.pipeline_number, record.pipeline_url)}, "
        f"started by {mention(record.user_id)}). Wait for it to finish."
    )


def pipeline_busy(repo: str, pipeline_name: str, pipeline) -> str:
    return (
        f"The pipeline {code(pipeline_name)} is already running in {escape(repo)} "
        f"({pipeline_label(pipeline.build_number, pipeline.url)}, not started from here). Wait for it to finish."
    )


def nothing_deployed(environment) -> str:
    return (
        f"Nothing has been deployed successfully to {environment_label(environment.name, environment.environment_type)} yet, "
        "so there is nothing to roll back."
    )


def no_earlier_release(environment, current) -> str:
    return (
        f"{environment_label(environment.name, environment.environment_type)} has had no other successful release "
        f"before {release_label(current.release_name, current.commit)}, so there is nothing to roll back to."
    )


def rollback_changed(environment) -> str:
    return (
        f"What runs in {environment_label(environment.name, environment.environment_type)} has changed since you asked; "
        "run `/bb rollback` again to see what it would roll back to now."
    )


def deploy_confirmation(plan, key: str, *, ci=None, freeze=None, forced: bool = False, now: float = 0.0, ships: str = "") -> Message:
    """The question, naming what goes where, with a button that starts it. `ci`: the commit's builds (failed ones
    turn the button into "Deploy anyway"); `freeze`: the freeze an admin's `--force` goes through; `ships`: what
    ships (`shipment_text`)."""
    where = environment_label(plan.environment.name, plan.environment.environment_type)
    runs = f"Runs the custom pipeline {code(plan.pipeline)} on commit {code(short(plan.ref.hash))}."
    if ci is not None:
        runs += "\n" + deploy_ci_text(ci)
    if freeze is not None:
        runs += "\n" + freeze_render.forced_warning(freeze, now)
    value = {"r": plan.repo, "e": plan.environment.name, "t": plan.ref.kind, "n": plan.ref.name, "h": plan.ref.hash, "k": key}
    if forced or freeze is not None:
        value["x"] = 1  # an admin's --force: the click checks again that an admin clicks
    anyway = bool(ci is not None and ci.failed)
    if anyway:
        value["a"] = 1  # failed builds were shown and accepted
    env_name = truncate(plan.environment.name, 40)
    if plan.kind == "rollback":
        question = (
            f"Roll back *{escape(plan.repo)}* in {where} "
            f"from {release_label(plan.rollback_from.release_name, plan.rollback_from.commit)} "
            f"back to {release_label(plan.rollback_to.release_name, plan.rollback_to.commit)}?\n{runs}"
        )
        value["f"] = plan.rollback_from.commit
        return _with_ships(confirmation(
            question, confirm_text=f"Force roll back {env_name}" if freeze is not None else f"Roll back {env_name}",
            confirm_action=ids.CONFIRM_ROLLBACK, value=value, danger=plan.production or freeze is not None,
        ), ships)
    question = f"Deploy *{escape(plan.repo)}* {ref_label(plan.ref.kind, plan.ref.name, plan.ref.hash)} to {where}?\n{runs}"
    confirm_text = "Deploy anyway" if anyway else f"Force deploy to {env_name}" if freeze is not None else f"Deploy to {env_name}"
    return _with_ships(confirmation(
        question, confirm_text=confirm_text, confirm_action=ids.CONFIRM_DEPLOY, value=value,
        danger=plan.production or anyway or freeze is not None,
    ), ships)


def _with_ships(asked: Message, ships: str) -> Message:
    if ships:
        asked.blocks.insert(1, section(ships).to_dict())
    return asked


def not_started(plan, error: BitbucketError) -> Message:
    """Bitbucket refused to start the pipeline; a 400 usually means the pipeline is missing at that ref."""
    text = f":x: Nothing was started: Bitbucket said {bitbucket_words(error)}"
    if isinstance(error, BadRequest):
        text += (
            f"\nIs there a custom pipeline {code(plan.pipeline)} in `bitbucket-pipelines.yml` at "
            f"{ref_label(plan.ref.kind, plan.ref.name, plan.ref.hash)}, and are Pipelines enabled?"
        )
    return notice(text)


def started_note(record) -> Message:
    """Replaces the confirmation, for the person who clicked."""
    return notice(
        f":rocket: Pipeline {pipeline_label(record.pipeline_number, record.pipeline_url)} ({code(record.pipeline)}) started; "
        "its progress follows in the channel."
    )


# --- the deploy's message and its thread (sent through the outbox) ------------------------------------


def _what(record) -> str:
    where = environment_label(record.environment, record.environment_type)
    if record.kind == "rollback":
        return (
            f"Rollback of *{escape(record.repo)}* in {where} from {release_label(record.from_release, record.from_commit)} "
            f"back to {release_label(record.to_release, record.commit_hash)}"
        )
    return f"Deploy of *{escape(record.repo)}* {ref_label(record.ref_kind, record.ref, record.commit_hash)} to {where}"


def card(record) -> Message:
    """The one channel message of a deploy: what, where, who, the pipeline, and how it stands."""
    emoji, words = STATUS[record.status]
    result = f" ({escape(record.result)})" if record.result and record.result not in ("SUCCESSFUL", "STOPPED", "FAILED") else ""
    head = f"{emoji} {_what(record)}: *{words}*{result}"
    details = (
        f"by {mention(record.user_id)} · pipeline {pipeline_label(record.pipeline_number, record.pipeline_url)} "
        f"· {code(record.pipeline)}"
    )
    return message(fallback_text(f"{head} {details}"), [section(head), context(details)])


def progress(record, *, followed_for: float) -> Message:
    """A reply in the deploy's thread for one change of state."""
    status = record.status
    emoji, words = STATUS[status]
    pipeline = f"Pipeline {pipeline_label(record.pipeline_number, record.pipeline_url)}"
    if status == "GAVE_UP":
        return notice(
            f"{emoji} Stopped following pipeline {pipeline_label(record.pipeline_number, record.pipeline_url)} "
            f"after {age(followed_for)}; "
            f"check it in Bitbucket. {mention(record.user_id)}"
        )
    if record.phase != "COMPLETED":
        return notice(f"{emoji} {pipeline} is {words}.")
    result = f" ({escape(record.result)})" if status == "failed" and record.result != "FAILED" else ""
    done = {
        "successful": f"{escape(record.environment)} now runs {code(short(record.commit_hash))}.",
        "failed": "Its log in Bitbucket says why.",
        "stopped": "Someone stopped it in Bitbucket.",
    }[status]
    return notice(f"{emoji} {pipeline} finished: *{words}*{result}. {done} {mention(record.user_id)}")


# --- /bb deployments --------------------------------------------------------------------------------


def _deployment_line(deployment, now: datetime) -> str:
    who = escape(deployment.deployer.display_name) if deployment.deployer else "someone"
    if deployment.state == "COMPLETED":
        state = (deployment.status or "completed").lower()
        when = f"{age_since(deployment.completed_on, now)} ago"
    else:
        state = "in progress" if deployment.state == "IN_PROGRESS" else (deployment.state or "unknown").lower()
        when = f"started {age_since(deployment.started_on, now)} ago"
    release = link(deployment.pipeline_url or deployment.url, truncate(deployment.release_name or "release", 80))
    return f"{release} · {code(short(deployment.commit))} · {when} by {who} · {escape(state)}"


def deployments_overview(repo: str, environments, histories: dict, now: datetime) -> Message:
    """Each environment with its current release (the newest successful one), and the latest if that differs."""
    if not environments:
        return notice(f"{escape(repo)} has no deployment environments in Bitbucket.")
    blocks = [header(truncate(f"Deployments of {repo}", 150))]
    fallback = []
    for environment in environments[:MAX_ITEMS_IN_LIST]:
        history = histories.get(environment.uuid) or []
        current = next((d for d in history if d.state == "COMPLETED" and d.status == "SUCCESSFUL"), None)
        lines = [environment_label(environment.name, environment.environment_type)]
        if current:
            lines.append(f"Current: {_deployment_line(current, now)}")
        if history and history[0] is not current:
            lines.append(f"Latest: {_deployment_line(history[0], now)}")
        if not history:
            lines.append("Nothing deployed yet.")
        blocks.append(section("\n".join(lines)))
        release = escape(current.release_name or short(current.commit)) if current else "nothing deployed"
        fallback.append(f"{escape(environment.name)}: {release}")
    return message(f"Deployments of {escape(repo)}: " + "; ".join(fallback), blocks)


# --- what ships (every confirmation, request card and dry run) ------------------------------------------------


def _shipped_line(commit) -> str:
    line = f"• {link(commit.url, code(short(commit.hash)[:7]))} {escape(truncate(commit.summary, 72))} · {escape(truncate(commit.author, 40))}"
    if commit.pull_request:
        title = f" {truncate(commit.pull_request_title, 60)}" if commit.pull_request_title else ""
        line += f" · {link(commit.pull_request_url, f'#{commit.pull_request}{title}')}"
    return line


def _count(commits, more: bool) -> str:
    n = len(commits)
    return f"more than {n} commits" if more else f"{n} commit{'s' if n != 1 else ''}"


def shipment_text(shipment, now: datetime) -> str:
    """What ships: the commits since what runs in the environment (with their pull requests), or a downgrade."""
    env = f"*{escape(shipment.environment)}*"
    deployed = shipment.deployed
    if deployed is None:
        return f"*What ships*: nothing has been deployed to {env} yet, so everything up to this commit does."
    since = release_label(deployed.release_name, deployed.commit)
    when = f", deployed {age_since(deployed.completed_on, now)} ago" if deployed.completed_on else ""
    if shipment.same:
        return f"*What ships*: nothing new: {env} already runs this commit ({since}{when})."
    if shipment.trouble:
        return f"*What ships*: the commits since {since} could not be read ({shipment.trouble})."
    lines = []
    if shipment.commits:
        lines.append(f"*What ships*: {_count(shipment.commits, shipment.more)} since {env} got {since}{when}:")
        lines += [_shipped_line(c) for c in shipment.commits]
        if shipment.more:
            lines.append(f"…the list stops at {len(shipment.commits)}; see the compare view in Bitbucket for the rest.")
    if shipment.removed:
        lines.append(f":warning: *A downgrade*: this commit lacks {_count(shipment.removed, shipment.removed_more)} that {env} runs now "
                     f"({since}); they would be taken out:")
        lines += [_shipped_line(c) for c in shipment.removed[:5]]
        if len(shipment.removed) > 5 or shipment.removed_more:
            lines.append("…and more.")
    if not lines:
        lines.append(f"*What ships*: no commits between {since} and this one.")
    return clip("\n".join(lines), 2900)


def dry_run(plan, ships: str, verdict: str, ci=None) -> Message:
    """`/bb deploy … --dry-run`: what would ship and which pipeline would run; nothing runs."""
    where = environment_label(plan.environment.name, plan.environment.environment_type)
    text = (f":mag: *Dry run*: deploying *{escape(plan.repo)}* {ref_label(plan.ref.kind, plan.ref.name, plan.ref.hash)} to {where} "
            f"would run the custom pipeline {code(plan.pipeline)} on commit {code(short(plan.ref.hash))}. Nothing was started.")
    if ci is not None:
        text += "\n" + deploy_ci_text(ci)
    return message(fallback_text(text), [section(text), section(ships), context(verdict)])


def moved_text(ref: str, old_commit: str, new_commits, more: bool) -> str:
    """A request asked again because its branch moved: the commits that came since."""
    lines = [f":arrows_counterclockwise: {code(ref)} moved since this was first asked (then {code(short(old_commit))}): "
             f"{_count(new_commits, more)} new:"]
    lines += [_shipped_line(c) for c in new_commits[:10]]
    if len(new_commits) > 10 or more:
        lines.append("…and more.")
    return "\n".join(lines)
