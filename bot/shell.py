"""`bitbucket-chatops shell`: a local chat console running the same handlers as Slack (like Hubot's shell adapter).

Each line is sent to the real Bolt app as a signed Slack request; what the bot answers (through response_url,
chat.postMessage, a modal) is caught by a simulated Slack and printed as text, its buttons numbered.
Typing a number clicks that button. The console's user is an admin, so every command can be tried.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Callable

from slack_bolt.request import BoltRequest

from bot.config import Settings
from bot.sandbox import slackkit
from bot.textview import ShownButton, message_to_text

SHELL_USER, SHELL_CHANNEL, SHELL_TEAM = "USHELL", "CSHELL", "TSHELL"
SHELL_SECRET = "shell-signing-secret"
SHELL_TOKEN = "xoxb-shell"
PROMPT = "bb> "


@dataclass
class Shown:
    """A button on screen, and the message it sits on (so a click can replace that message)."""

    button: ShownButton
    message: dict


class Console:
    def __init__(self, settings: Settings, *, sandbox: bool, read: Callable[[str], str] = input, write: Callable[[str], None] = print):
        from bot.app import create_bolt_app
        from bot.cli import sandbox_settings
        from bot.sandbox.slack import FakeSlack
        from bot.services import Services

        self.read, self.write = read, write
        self.fakes = []
        self.slack = FakeSlack(bot_token=SHELL_TOKEN, team_id=SHELL_TEAM).start()
        self.slack.add_user(SHELL_USER, "you")  # so your Home tab can be published
        self.fakes.append(self.slack)
        if sandbox:
            from bot.sandbox.bitbucket import FakeBitbucket, demo_workspace

            bitbucket = FakeBitbucket().start()
            demo_workspace(bitbucket)
            bitbucket.auto_advance_pipelines = True
            self.fakes.append(bitbucket)
            settings = sandbox_settings(settings, bitbucket)
        settings = settings.with_overrides(
            slack_api_url=self.slack.api_url,
            slack_bot_token=SHELL_TOKEN,
            slack_signing_secret=SHELL_SECRET,
            chatops_admins=settings.chatops_admins | {SHELL_USER},
        )
        self.services = Services.build(settings)
        self.app = create_bolt_app(self.services)
        self.buttons: list[Shown] = []
        self.calls_seen = self.responses_seen = 0
        # The outbox worker and the deploy follower run here too, so relayed, reminder and deploy messages show;
        # the scheduler does not (`/bb remind now` still works).
        from bot.server import FEATURES

        self.stops = [stop for feature in FEATURES for stop in feature.start_background(self.services, scheduler=False)]

    def close(self) -> None:
        for stop in reversed(self.stops):
            stop()
        self.services.shutdown(wait=False)
        for fake in self.fakes:
            fake.stop()

    # --- one line in ---------------------------------------------------------------------------

    def handle_line(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        if line.isdigit():
            self.click(int(line))
            return
        if line in ("/home", "home"):  # what the Home tab shows you (Slack's `app_home_opened`)
            self._dispatch(slackkit.app_home_opened_body(SHELL_USER, team_id=SHELL_TEAM), content_type="application/json")
            return
        text = line[len("/bb") :].strip() if line.startswith("/bb") else line
        body = slackkit.slash_command_body(
            text, user_id=SHELL_USER, user_name="you", channel_id=SHELL_CHANNEL, team_id=SHELL_TEAM,
            response_url=self.slack.response_url(channel=SHELL_CHANNEL, user=SHELL_USER),
        )
        self._dispatch(body)

    def click(self, number: int) -> None:
        shown = next((s for s in self.buttons if s.button.number == number), None)
        if shown is None:
            self.write(f"(no button {number} on screen)")
            return
        if shown.button.url and not shown.button.value:
            self.write(f"(opens {shown.button.url})")
            return
        ts = shown.message.get("ts") or slackkit.DEFAULT_MESSAGE_TS
        body = slackkit.block_action_body(
            action_id=shown.button.action_id, value=shown.button.value or "", user_id=SHELL_USER, user_name="you",
            channel_id=SHELL_CHANNEL, team_id=SHELL_TEAM, message_ts=ts, block_id=shown.button.block_id or "b",
            message=shown.message, response_url=self.slack.response_url(channel=SHELL_CHANNEL, message_ts=ts, user=SHELL_USER),
        )
        self._dispatch(body)

    # --- the round trip --------------------------------------------------------------------------

    def _dispatch(self, body: bytes, content_type: str = "application/x-www-form-urlencoded") -> None:
        request = BoltRequest(body=body.decode(), headers={**slackkit.sign(SHELL_SECRET, body), "content-type": content_type})
        response = self.app.dispatch(request)
        if response.body:
            self._show(_json_or_text(response.body))
        self.services.wait_idle(timeout=120)
        self._wait_for_outbox(timeout=5)
        self.flush()

    def flush(self) -> None:
        """Print what the bot said since last time: answers, channel messages, and forms to fill in."""
        posts, self.responses_seen = self.slack.responses[self.responses_seen :], len(self.slack.responses)
        for post in posts:
            if post.body.get("delete_original") and not (post.body.get("text") or post.body.get("blocks")):
                continue
            self._show(post.body)
        calls, self.calls_seen = self.slack.calls[self.calls_seen :], len(self.slack.calls)
        for call in calls:
            if call.method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
                where = " (in a thread)" if call.args.get("thread_ts") else " (updated)" if call.method == "chat.update" else ""
                where = " (a direct message to you)" if str(call.args.get("channel", "")).startswith(("U", "D")) and not where else where
                if where:
                    self.write(f"--{where}")
                self._show({**call.args, "ts": (call.response or {}).get("ts") or call.args.get("ts")})
            elif call.method == "views.publish":
                self.write("== your Home tab ==")
                self._show({"blocks": (call.args.get("view") or {}).get("blocks") or []})
            elif call.method == "views.open":
                self._fill_modal(call.args.get("view") or {})

    def _wait_for_outbox(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            due = self.services.store.query_one(
                "SELECT COUNT(*) AS n FROM outbox WHERE state IN ('pending', 'sending') AND next_attempt_at <= ?", (time.time(),)
            )
            if not due["n"]:
                return
            time.sleep(0.05)

    def _show(self, message: dict) -> None:
        first = max((s.button.number for s in self.buttons), default=0) + 1
        text, buttons = message_to_text(message, first_number=first)
        self.buttons += [Shown(b, message) for b in buttons]
        self.write(text + "\n")

    def _fill_modal(self, view: dict) -> None:
        """A modal becomes questions; the answers are submitted like Slack submits the form."""
        self.write(f"== {view.get('title', {}).get('text', 'Form')} == (empty answer = leave blank)")
        values: dict = {}
        for block in view.get("blocks") or []:
            if block.get("type") != "input":
                continue
            label = block.get("label", {}).get("text", block.get("block_id"))
            answer = self.read(f"{label}{'' if block.get('optional') else ' *'}: ").strip()
            values[block["block_id"]] = {block["element"]["action_id"]: answer}
        body = slackkit.view_submission_body(
            callback_id=view.get("callback_id", ""), values=values, private_metadata=view.get("private_metadata", ""),
            user_id=SHELL_USER, user_name="you", team_id=SHELL_TEAM,
        )
        self._dispatch(body)


def _json_or_text(body: str) -> dict:
    try:
        data = json.loads(body)
        return data if isinstance(data, dict) else {"text": body}
    except ValueError:
        return {"text": body}


def run_shell(settings: Settings, *, sandbox: bool) -> int:
    if not sandbox and settings.bitbucket_credential_kind is None:
        print("No Bitbucket credential is configured: try `bitbucket-chatops shell --sandbox`.", file=sys.stderr)
        return 2
    console = Console(settings, sandbox=sandbox)
    where = "the sandbox workspace `acme` (repositories api, web, infra)" if sandbox else settings.bitbucket_api_url
    print(f"Bitbucket ChatOps shell, on {where}. Type `/bb help`, a button's number to click it, or `quit`.")
    try:
        while True:
            console.flush()  # what arrived meanwhile (a deploy's progress, say)
            try:
                line = input(PROMPT)
            except EOFError:
                break
            if line.strip() in ("quit", "exit", r"\q"):
                break
            console.handle_line(line)
    except KeyboardInterrupt:
        pass
    finally:
        console.close()
    return 0
