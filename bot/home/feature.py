"""The Home tab: a person's pull requests, reviews and builds, published when they open it."""

from bot.core.feature import Feature
from bot.home import commands

FEATURE = Feature("home", events={"app_home_opened": commands.on_home_opened})
