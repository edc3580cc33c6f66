"""`/bb notify` and the buttons that flip a kind of direct message (on its answer and on the Home tab)."""

from __future__ import annotations

from bot.core import ids
from bot import accounts, notify
from bot.core.commands import Command
from bot.home import commands as home_commands
from bot.notify.grammar import NOTIFY_KINDS
from bot.core.errors import UserError
from bot.notify import messages
from bot.core.invocation import Invocation


def notify_command(inv: Invocation, command: Command) -> None:
    store = inv.services.store
    kinds, on = command.args["kinds"], command.args["on"]
    changed = ""
    if kinds:
        enabled = notify.set_enabled(store, inv.user_id, kinds, on)
        which = "All your direct messages" if len(kinds) > 1 else f"Direct messages of kind *{kinds[0]}*"
        changed = f"{which} are now *{'on' if on else 'off'}*."
    else:
        enabled = notify.enabled_for(store, inv.user_id)
    inv.reply(messages.settings_message(enabled, linked=accounts.is_linked(store, inv.user_id), changed=changed))


def toggle(inv: Invocation, value: dict) -> None:
    kind, on = value.get("k"), value.get("on")
    if kind not in NOTIFY_KINDS or not isinstance(on, bool):
        raise UserError("That button's data is not readable; run `/bb notify` again.")
    store = inv.services.store
    enabled = notify.set_enabled(store, inv.user_id, (kind,), on)
    if value.get("h"):  # on the Home tab: draw it again
        home_commands.publish(inv.services, inv.user_id)
        return
    changed = f"Direct messages of kind *{kind}* are now *{'on' if on else 'off'}*."
    inv.replace_with(messages.settings_message(enabled, linked=accounts.is_linked(store, inv.user_id), changed=changed))


COMMAND_HANDLERS = {"notify": notify_command}
ACTION_HANDLERS = {ids.NOTIFY_TOGGLE: toggle}
