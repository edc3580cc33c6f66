"""What the dashboard shows, read through each feature's public functions (never their tables): the relay's
subscriptions, webhooks and deliveries, the owners rules, the reminders' and digests' schedules, the figures of
`/bb stats` and their cache, deploys and freezes, and the core's audit log."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from datetime import datetime

from bot import freezes, owners, relay, reminders
from bot.bitbucket import BitbucketError
from bot.core.errors import UserError
from bot.dashboard import charts
from bot.dashboard.tables import duration, when
from bot.deploys.overview import EnvironmentState, environment_states
from bot.environments import locks, protections
from bot.insights import digest
from bot.insights.codebase import Codebase, codebase_for
from bot.insights.collect import insights_for
from bot.insights.figures import Insights
from bot.owners.rules import MAX_GROUP, Rule

log = logging.getLogger(__name__)

OVERVIEW_DAYS = 7  # "merged this week"
COMMIT_WEEKS = 8


# --- which repositories the bot knows ----------------------------------------------------------------------


def known_repositories(store, now: float) -> list[str]:
    """Every repository the bot relays, reminds of, digests, holds a webhook of, has owners rules of or has frozen,
    in name order."""
    names = set(relay.subscriptions_by_repository(store))
    names |= {rule.repo for rule in owners.all_rules(store)}
    names |= {hook.repo for hook in relay.registrations(store)}
    names |= {schedule.repo for schedule in reminders.all_schedules(store)}
    names |= {entry.repo for entry in digest.all_digests(store)}
    names |= {freeze.repo for freeze in freezes.active(store, now=now)}
    return sorted(name.lower() for name in names)


def subscribed_repositories(store) -> list[str]:
    return sorted(relay.subscriptions_by_repository(store))


# --- overview ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepositoryFigures:
    repo: str
    insights: Insights | None = None
    codebase: Codebase | None = None
    problems: list[str] = field(default_factory=list)  # what could not be read, in words

    @property
    def open(self) -> int | None:
        return sum(count for _, count in self.insights.open_by_age) if self.insights else None

    def tiles(self) -> list[tuple[str, str]]:
        figures = self.insights.current if self.insights else None
        codebase = self.codebase
        return [
            ("open", _number(self.open)),
            ("stale", _number(self.insights.stale_open if self.insights else None)),
            ("merged this week", _number(figures.merged if figures else None)),
            ("median to first review", duration(figures.first_review_median) if figures else "–"),
            ("median to merge", duration(figures.merge_median) if figures else "–"),
            ("branches", _number(codebase.branches if codebase else None)),
        ]

    def charts(self) -> list[charts.Chart]:
        drawn = []
        if self.insights:
            points = [(bucket.start.strftime("%a %d"), bucket.merged) for bucket in self.insights.buckets]
            drawn.append(charts.bar_chart(f"Pull requests merged per day, last {self.insights.days} days", points, "merged"))
        if self.codebase:
            branch = self.codebase.main_branch or "main branch"
            points = [(start.strftime("%d %b"), count) for start, count in self.codebase.commits_per_week]
            drawn.append(charts.bar_chart(f"Commits per week on {branch}", points, "commits"))
        return drawn


def _number(value) -> str:
    return "–" if value is None else str(value)


def figures_of(services, repo: str, now: datetime) -> RepositoryFigures:
    """The repository's figures, each part on its own: what Bitbucket refuses is said, the rest is shown."""
    insights = codebase = None
    problems = []
    try:
        insights, _, _ = insights_for(services, repo, OVERVIEW_DAYS, now)
    except (UserError, BitbucketError) as error:
        problems.append(_words(error))
    try:
        codebase, _ = codebase_for(services, repo, now, COMMIT_WEEKS)
    except (UserError, BitbucketError) as error:
        problems.append(_words(error))
    return RepositoryFigures(repo, insights, codebase, problems)


def _words(error: Exception) -> str:
    """A refusal as plain text (a UserError's message is Slack mrkdwn: its code marks are dropped)."""
    return html.unescape(str(getattr(error, "message", None) or error).replace("`", ""))


# --- inventory ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InventoryRow:
    kind: str  # subscription | owners | reminder | digest | webhook
    repo: str
    channel: str
    details: str
    next_run: str = ""
    problem: str = ""


INVENTORY_HEADER = ("kind", "repository", "channel", "details", "next run", "problem")


def inventory(services, now: datetime, repo: str | None = None) -> list[InventoryRow]:
    """Repositories -> channels (families and filters), owners rules (each in the channel it was made in), reminders
    and digests with their next run, webhooks and the generation of their secret; of one repository or all."""
    store, settings = services.store, services.settings
    zone = reminders.zone_of(settings)
    rows = []
    for name, subscriptions in relay.subscriptions_by_repository(store).items():
        for subscription in subscriptions:
            details = "events: " + ", ".join(subscription.families)
            if subscription.branch_glob:
                details += f"; branches: {subscription.branch_glob}"
            rows.append(InventoryRow("subscription", name, subscription.channel_id, details, problem=subscription.broken_reason))
    for rule in owners.all_rules(store):
        rows.append(InventoryRow("owners", rule.repo, rule.channel_id, owners_details(rule)))
    for schedule in reminders.all_schedules(store):
        rows.append(InventoryRow(
            "reminder", schedule.repo, schedule.channel_id,
            f"stale after {duration(schedule.after_seconds)}, at {schedule.at} ({zone.key}) on {', '.join(schedule.days)}",
            when(reminders.next_occurrence(schedule, now, zone)),
        ))
    for entry in digest.all_digests(store):
        rows.append(InventoryRow(
            "digest", entry.repo, entry.channel_id, f"at {entry.at} ({zone.key}) on {', '.join(entry.days)}",
            when(reminders.next_occurrence(entry.schedule(), now, zone)),
        ))
    for hook in relay.registrations(store):
        generation = relay.secret_generation(hook, settings.bitbucket_webhook_secret, settings.bitbucket_old_webhook_secrets)
        how = f"webhook {hook.hook_uuid} at {hook.url}" if hook.hook_uuid else "webhook added by hand"
        rows.append(InventoryRow(
            "webhook", hook.repo, "", f"{how}; main branch {hook.main_branch or 'unknown'}; secret: {generation}",
            problem="signs with a former secret: run `bitbucket-chatops webhooks update`" if generation == "former" else "",
        ))
    order = {"subscription": 0, "owners": 1, "reminder": 2, "digest": 3, "webhook": 4}
    rows.sort(key=lambda row: (row.repo, order[row.kind], row.channel))
    return [row for row in rows if repo is None or row.repo == repo]


_OWNER_KINDS = {"person": "person", "group": "user group", "channel": "channel"}


def owners_details(rule: Rule) -> str:
    """`paths src/billing/** → user group S1 (@devs), 2 people`: plain text (the page escapes it); Slack's ids, as
    the inventory's other rows show channels, with the name Slack sent when the rule was made."""
    owner = f"{_OWNER_KINDS.get(rule.target.kind, rule.target.kind)} {rule.target.id}"
    if rule.target.label:
        owner += f" ({rule.target.label})"
    if rule.target.kind == "group":
        count = len(rule.members)
        owner += f", {count} {'person' if count == 1 else 'people'}"
        if count > MAX_GROUP:
            owner += f": more than {MAX_GROUP}, so named in {rule.channel_id} instead"
    return f"paths {rule.glob} → {owner}"


# --- environments ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepositoryEnvironments:
    repo: str
    states: list[EnvironmentState]
    freezes: list[freezes.Freeze]
    problem: str = ""
    locks: list[locks.Lock] = field(default_factory=list)
    protections: list[protections.Protection] = field(default_factory=list)

    def freezes_of(self, environment: str) -> list[freezes.Freeze]:
        return [freeze for freeze in self.freezes if freezes.covers(freeze, environment)]

    def locks_of(self, environment: str) -> list[locks.Lock]:
        return [lock for lock in self.locks if lock.environment.lower() == environment.lower()]

    def protections_of(self, environment: str) -> list[protections.Protection]:
        return [p for p in self.protections if p.environment.lower() == environment.lower()]


def environments_of(services, repo: str) -> RepositoryEnvironments:
    now = services.timestamp()
    active = freezes.active(services.store, repo, now=now)
    held, guarded = locks.active(services.store, repo, now=now), protections.of(services.store, repo)
    try:
        return RepositoryEnvironments(repo, environment_states(services.bitbucket, services.store, repo), active,
                                      locks=held, protections=guarded)
    except BitbucketError as error:
        return RepositoryEnvironments(repo, [], active, f"Bitbucket did not list the environments: {error}", held, guarded)
