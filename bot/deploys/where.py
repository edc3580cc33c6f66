"""`/bb where REPO [ENV]`: for each environment, what is deployed (commit, tag or release, when, by whom, from
which pipeline), its lock, freeze and protection, and whether *you* may deploy there now and, if not, why. The
Home tab shows the same for the repositories a person deploys to (`states` without Bitbucket's deployments: then
what the bot itself deployed).

The ref deployed is known from the bot's own records when the bot deployed that commit; a deployment made
elsewhere (Bitbucket's UI, a push pipeline) is named by the tags on its commit: one tags query for all the
environments (none when the records name them all)."""

from __future__ import annotations

from dataclasses import dataclass

from bot import deploys, freezes
from bot.bitbucket import Deployment, Environment
from bot.core import actions, render
from bot.core.commands import Command
from bot.core.errors import UserError
from bot.core.invocation import Invocation
from bot.deploys import reading
from bot.deploys import records as deploy_records
from bot.deploys import where_render
from bot.environments import locks, protections

YES, APPROVALS, NO = "yes", "approvals", "no"


@dataclass(frozen=True)
class Verdict:
    status: str  # yes | approvals | no
    words: str  # mrkdwn


@dataclass(frozen=True)
class EnvironmentState:
    environment: Environment
    deployed: Deployment | None  # Bitbucket's newest successful deployment (None when not read, or none)
    record: deploys.DeployRecord | None  # the newest the bot itself deployed there
    lock: locks.Lock | None
    freeze: freezes.Freeze | None
    protection: protections.Protection | None
    running: deploys.DeployRecord | None  # a deploy the bot follows there now
    verdict: Verdict
    tags: tuple[str, ...] = ()  # the tags on the deployed commit, when the bot's record does not name its ref


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def may_deploy(services, user_id: str, repo: str, environment: str, *, force: bool = False) -> Verdict:
    """Whether `user_id` may deploy to `environment` now, by the one write path's own checks (role, freezes, locks,
    protections), and if not, why."""
    write = actions.Write("deploy", repo, f"{repo}@{environment}", environment=environment, force=force)
    try:
        actions.check(services, user_id, write)
    except actions.NeedsApproval as asked:
        n = asked.blocked.approvals
        return Verdict(APPROVALS, f":shield: You may ask: a deploy there needs {n} approval{'s' if n != 1 else ''} by others first.")
    except UserError as refused:
        return Verdict(NO, f":no_entry: You may not deploy there now: {_first_line(refused.message)}")
    running = deploys.active(services.store, repo, environment)
    if running is not None:
        return Verdict(NO, f":hourglass_flowing_sand: Not now: a {running.kind} there is under way (by {render.mention(running.user_id)}).")
    return Verdict(YES, ":white_check_mark: You may deploy there now.")


def states(services, user_id: str, repo: str, environments: list[Environment],
           history: list[Deployment] | None) -> list[EnvironmentState]:
    """Each environment's state; `history` None: Bitbucket's deployments were not read (the Home tab)."""
    store, now = services.store, services.timestamp()
    records = deploy_records.last_successful(store, repo)
    held = {lock.environment.lower(): lock for lock in locks.active(store, repo, now=now)}
    frozen = freezes.active(store, repo, now=now)
    protected = {p.environment.lower(): p for p in protections.of(store, repo)}
    deployed = {e.name.lower(): deploys.choose_rollback(history, e)[0] if history else None for e in environments}
    shown = list(deployed.items())[:where_render.MAX_ENVIRONMENTS]
    untold = [d.commit for key, d in shown
              if d is not None and d.commit and not where_render.record_names(records.get(key), d)]
    tags = reading.tags_on(services, repo, untold)  # one request at most, for every environment shown
    found = []
    for environment in environments:
        key = environment.name.lower()
        current = deployed[key]
        found.append(EnvironmentState(
            environment,
            current,
            records.get(key),
            held.get(key),
            freezes.blocking(frozen, environment.name, now),
            protected.get(key),
            deploys.active(store, repo, environment.name),
            may_deploy(services, user_id, repo, environment.name),
            tuple(tags.get((current.commit or "").lower(), ())) if current is not None else (),
        ))
    return found


def show(inv: Invocation, command: Command) -> None:
    repo = inv.repo(command.repo)
    services = inv.services
    environments = reading.environments(services, repo)
    typed = command.args.get("environment")
    if typed:
        environments = [deploys.match_environment(environments, typed)]
    history = reading.deployments(services, repo) if environments else []
    found = states(services, inv.user_id, repo, environments, history)
    inv.reply(where_render.where(repo, found, now=services.timestamp(), now_dt=render.utcnow()))
