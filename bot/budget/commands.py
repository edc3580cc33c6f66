"""`/bb usage` (admins): the rolling hour's Bitbucket requests by feature and priority, from the shared count."""

from __future__ import annotations

from bot import budget
from bot.bitbucket.metering import BOT, PERSONAL
from bot.budget import render as budget_render
from bot.core.errors import NotAllowed


def usage(inv, command) -> None:
    services = inv.services
    if not services.permissions.is_admin(inv.user_id):
        raise NotAllowed("Only admins (listed in `CHATOPS_ADMINS`) can see the bot's Bitbucket usage.")
    meter = budget.meter_for(services)
    if meter is not None:
        budget.flush(services.store, meter)  # this replica's last second counted too
    now = services.timestamp()
    used = budget.hour_used(services.store, now)
    bot_used = used.get(BOT, (BOT, 0))[1]
    limit = meter.limit_of(BOT) if meter else budget.HOURLY_LIMIT
    left = meter.remaining(BOT) if meter else max(0, limit - bot_used)
    people = sum(1 for kind, _ in used.values() if kind == PERSONAL)
    inv.reply(budget_render.usage(budget.hour_by_feature(services.store, now), bot_used=bot_used, bot_limit=limit, bot_left=left,
                                  people=people))


COMMAND_HANDLERS = {"usage": usage}
