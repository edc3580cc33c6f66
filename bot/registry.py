"""The features of the bot, in one list. Everything else is built from it: the migrations, the command table and
its help, the Slack dispatch (commands, buttons, forms, events), the background work, the scheduler's jobs,
`check`, the relay hooks and who hears of a channel that refuses the bot. Adding a feature is one package with a
`feature.py` and one line here.

The core (bot/core) imports no feature and not this module; the composition root (bot/app, handlers/) does. Every
function takes `features=` (this list unless told), and `build_services(settings, features=…)` puts the tuple into
the services (`FeatureSet`), where the server, the Slack dispatch and the features' own background work find it:
so a process can run any tuple of features (a test adds a throwaway one).
"""

from __future__ import annotations

from bot.accounts.feature import FEATURE as ACCOUNTS
from bot.branches.feature import FEATURE as BRANCHES
from bot.budget.feature import FEATURE as BUDGET
from bot.builds.feature import FEATURE as BUILDS
from bot.conversations.feature import FEATURE as CONVERSATIONS
from bot.core import audit, outbox, permissions, slack_events
from bot.core.actions import WriteGuards
from bot.core.commands import HELP, CommandTable
from bot.core.config import Settings
from bot.core.feature import Feature, FeatureSet
from bot.core.services import Services
from bot.core.store import Store, open_store
from bot.deploys.feature import FEATURE as DEPLOYS
from bot.environments.feature import FEATURE as ENVIRONMENTS
from bot.freezes.feature import FEATURE as FREEZES
from bot.home.feature import FEATURE as HOME
from bot.insights.feature import FEATURE as INSIGHTS
from bot.notify.feature import FEATURE as NOTIFY
from bot.owners.feature import FEATURE as OWNERS
from bot.people.feature import FEATURE as PEOPLE
from bot.pull_requests.feature import FEATURE as PULL_REQUESTS
from bot.relay.feature import FEATURE as RELAY
from bot.reminders.feature import FEATURE as REMINDERS
from bot.roles.feature import FEATURE as ROLES
from bot.unfurl.feature import FEATURE as UNFURL

# The core's own tables and work: roles, the audit log, the outbox and its worker, Events API ids.
CORE = Feature(
    "core",
    migrations=[*permissions.MIGRATIONS, *audit.MIGRATIONS, *outbox.MIGRATIONS, *slack_events.MIGRATIONS],
    background=outbox.start_background,
    check=outbox.check_lines,
    slack_scopes={"bot": {"commands": "the /bb command", "chat:write": "post and update messages",
                          "chat:write.public": "post in public channels without an invitation",
                          "im:write": "direct messages when a channel is closed to the bot"}},
)

# In the order their tables may refer to each other and their background work should start; the help lists the
# commands by group in GROUPS' order, and within a group in this order.
FEATURES: tuple[Feature, ...] = (
    CORE, PULL_REQUESTS, ROLES, RELAY, REMINDERS, PEOPLE, DEPLOYS, ACCOUNTS, FREEZES, ENVIRONMENTS, BUILDS, INSIGHTS, NOTIFY, OWNERS,
    HOME, UNFURL, BRANCHES, CONVERSATIONS, BUDGET,
)
GROUPS = ("Help", "Pull requests", "Releases", "Builds", "Channel", "Insights", "You", "Admin")


def command_table(features=FEATURES) -> CommandTable:
    specs = [HELP] + [spec for feature in features for spec in feature.commands]
    return CommandTable(sorted(specs, key=lambda spec: GROUPS.index(spec.group) if spec.group in GROUPS else len(GROUPS)))


def command_handlers(features=FEATURES) -> dict:
    return _merged(features, "command_handlers")


def action_handlers(features=FEATURES) -> dict:
    return _merged(features, "actions")


def view_handlers(features=FEATURES) -> dict:
    return _merged(features, "views")


def event_handlers(features=FEATURES) -> dict:
    return _merged(features, "events")


def shortcut_handlers(features=FEATURES) -> dict:
    return _merged(features, "shortcuts")


def _merged(features, field: str) -> dict:
    merged: dict = {}
    for feature in features:
        for key, handler in getattr(feature, field).items():
            if key in merged:
                raise ValueError(f"{feature.name} declares {field} {key!r}, which another feature declares too")
            merged[key] = handler
    return merged


COMMANDS = command_table()


def migrations(features=FEATURES) -> list:
    return [migration for feature in features for migration in feature.migrations]


def open_migrated(target: str, features=FEATURES) -> Store:
    """The bot's store at `target` (a SQLite path or a postgresql:// URL), with every migration applied."""
    store = open_store(target)
    try:
        return store.migrate(migrations(features))
    except BaseException:
        store.close()
        raise


def build_services(settings: Settings, *, store: Store | None = None, features=FEATURES) -> Services:
    """The services of one process running `features`, on the store migrated for them, with the features' parts
    and write guards."""
    services = Services.build(settings, store=store or open_migrated(settings.database_target, features))
    services.provide(FeatureSet(tuple(features)))
    for feature in features:
        if feature.provide is not None:
            feature.provide(services)
    services.provide(WriteGuards(tuple(guard for feature in features for guard in feature.write_guards)))
    return services


def features_of(services: Services) -> tuple[Feature, ...]:
    """The features the services were built for (`build_services`)."""
    found = services.part(FeatureSet)
    return found.features if found is not None else FEATURES


def check_lines(store: Store, features=FEATURES) -> list[tuple[str, str]]:
    lines = []
    for feature in features:
        if feature.check is not None:
            lines += feature.check(store)
    return lines


def job_starters(features=FEATURES) -> list:
    return [feature.jobs for feature in features if feature.jobs is not None]


def background_starters(features=FEATURES) -> list:
    return [feature.background for feature in features if feature.background is not None]


def relay_hooks(features=FEATURES) -> tuple:
    """Every feature's relay hooks, in this order (the relay's router calls them for each delivery)."""
    return FeatureSet(tuple(features)).relay_hooks()


def channel_refused_handlers(features=FEATURES) -> tuple:
    return FeatureSet(tuple(features)).channel_refused_handlers()
