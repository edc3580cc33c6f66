"""`bitbucket-chatops shell`: a local chat console running the same handlers as Slack (like Hubot's shell adapter).

Each line is sent to the real Bolt app as a signed Slack request; what the bot answers (through response_url,
chat.postMessage, a modal) is caught by a simulated Slack and printed as text, its buttons numbered.
Typing a number clicks that button. The console's user is an admin, so every command can be tried.

With `--sandbox` the bot is served on 127.0.0.1 against a simulated Bitbucket (`bot.shell_sandbox`): the
person starts signed in to a sandbox Bitbucket account, links open in a simulated browser, and `/simulate`
makes the simulated Bitbucket send a webhook. Logs go to a file (`shell_log_path`), never between the answers.
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from slack_bolt.request import BoltRequest

from bot import registry
from bot.core import logredact
from bot.core.config import Settings
from bot.sandbox import slackkit
from bot.app.textview import ShownButton, message_to_text

SHELL_USER, SHELL_CHANNEL, SHELL_TEAM = "USHELL", "CSHELL", "TSHELL"
SHELL_SECRET = "shell-signing-secret"
SHELL_TOKEN = "xoxb-shell"
PROMPT = "bb> "
# Slack gives every interaction its own trigger_id, and one trigger_id opens one form (then `exchanged_trigger_id`).
_TRIGGER_NUMBERS = itertools.count(1)


@dataclass
class Shown:
    """A button on screen, and the message it sits on (so a click can replace that message)."""

    button: ShownButton
    message: dict


class Console:
    def __init__(self, settings: Settings, *, sandbox: bool, read: Callable[[str], str] = input, write: Callable[[str], None] = print):
        from bot.sandbox.slack import FakeSlack

        self.read, self.write = read, write
        self.slack = FakeSlack(bot_token=SHELL_TOKEN, team_id=SHELL_TEAM).start()
        self.slack.add_user(SHELL_USER, "you")  # so your Home tab can be published
        settings = settings.with_overrides(
            slack_api_url=self.slack.api_url,
            slack_bot_token=SHELL_TOKEN,
            slack_signing_secret=SHELL_SECRET,
            chatops_admins=settings.chatops_admins | {SHELL_USER},
        )
        self.buttons: list[Shown] = []
        self.calls_seen = self.responses_seen = 0
        self.stops: list = []
        self.sandbox = None
        self.signed_in_as = ""
        if sandbox:
            from bot.app.shell_sandbox import Sandbox

            self.sandbox = Sandbox(settings, self.slack, person=SHELL_USER)
            self.services, self.app = self.sandbox.services, self.sandbox.bolt_app
            self._sign_in()
            return
        from bot.app.bolt import create_bolt_app
        self.services = registry.build_services(settings)
        self.app = create_bolt_app(self.services)
        # The outbox worker and the deploy follower run here too, so relayed, reminder and deploy messages show;
        # the scheduler does not (`/bb remind now` still works).
        self.stops = [stop for start in registry.background_starters() for stop in start(self.services, scheduler=False)]

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
        else:
            for stop in reversed(self.stops):
                stop()
            self.services.shutdown(wait=False)
        self.slack.stop()

    def _sign_in(self) -> None:
        """In the sandbox the person starts signed in to a sandbox Bitbucket account, through the simulated
        consent page and the bot's own callback, as `/bb login` and a click on its link would do."""
        from bot.app.shell_sandbox import PERSON_NAME, PERSON_NICKNAME

        try:
            page = self.sandbox.sign_in(SHELL_USER, SHELL_TEAM)
        except Exception:  # noqa: BLE001 - the shell still works; the banner then points at `/bb login`
            logging.getLogger(__name__).exception("signing in to the sandbox Bitbucket failed")
            return
        if page.status == 200:
            self.signed_in_as = f"{PERSON_NAME} (`{PERSON_NICKNAME}`)"
            # The bot says so in a direct message (through its outbox): let it arrive, so it shows first.
            # (A person's messages go to their direct message channel, which the outbox opens first.)
            self.slack.wait_for(lambda: any(c.method == "chat.postMessage" and c.args.get("channel") in (SHELL_USER, f"D{SHELL_USER}")
                                            for c in self.slack.calls), timeout=5)

    def banner(self, log_path: Path | None = None) -> str:
        """What the shell says first: where it runs, who you are, and commands to try with what each shows."""
        logs = f" Logs go to {log_path}." if log_path else ""
        if self.sandbox is None:
            return (
                f"Bitbucket ChatOps shell, on {self.services.settings.bitbucket_api_url}. Type `/bb help`, "
                f"a button's number to click it, or `quit`.{logs}"
            )
        if self.signed_in_as:
            who = (
                f"You are an admin of the bot, signed in to the sandbox Bitbucket as {self.signed_in_as}: Approve and "
                "Request changes act as that account (`/bb logout`, then `/bb login`, shows the sign-in)."
            )
        else:
            who = "You are an admin of the bot; `/bb login` links you to a sandbox Bitbucket account."
        return "\n".join([
            "Bitbucket ChatOps shell, on a simulated Bitbucket: workspace `acme`, repositories api, web and infra. "
            "The sandbox starts fresh each time (its Bitbucket and the bot's database together).",
            who,
            "Try:",
            "  /bb prs api                       the open pull requests, each with Approve, Request changes, Merge… "
            "and Decline… buttons; type a button's number to click it",
            "  /bb deploy api main to staging    a confirmation; click Deploy and the deploy's message appears, its "
            "progress and result in its thread (press Enter to see what arrived since)",
            "  /bb subscribe api, then /simulate the sandbox Bitbucket opens a pull request and sends the bot its "
            "signed webhook: the pull request's card appears here, as in a subscribed channel",
            f"`/bb help` lists every command; `quit` leaves.{logs}",
        ])

    # --- one line in ---------------------------------------------------------------------------

    def handle_line(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        if line.isdigit():
            self.click(int(line))
            return
        if line.split()[0] == "/simulate":
            self.simulate(line.split()[1:])
            return
        if line in ("/home", "home"):  # what the Home tab shows you (Slack's `app_home_opened`)
            self._dispatch(slackkit.app_home_opened_body(SHELL_USER, team_id=SHELL_TEAM), content_type="application/json")
            return
        text = line[len("/bb") :].strip() if line.startswith("/bb") else line
        body = slackkit.slash_command_body(
            text, user_id=SHELL_USER, user_name="you", channel_id=SHELL_CHANNEL, team_id=SHELL_TEAM,
            response_url=self.slack.response_url(channel=SHELL_CHANNEL, user=SHELL_USER), trigger_id=_trigger_id(),
        )
        self._dispatch(body)

    def click(self, number: int) -> None:
        shown = next((s for s in self.buttons if s.button.number == number), None)
        if shown is None:
            self.write(f"(no button {number} on screen)")
            return
        if shown.button.url and not shown.button.value:
            self.open_link(shown.button.url)
            return
        ts = shown.message.get("ts") or slackkit.DEFAULT_MESSAGE_TS
        body = slackkit.block_action_body(
            action_id=shown.button.action_id, value=shown.button.value or "", user_id=SHELL_USER, user_name="you",
            channel_id=SHELL_CHANNEL, team_id=SHELL_TEAM, message_ts=ts, block_id=shown.button.block_id or "b",
            message=shown.message, response_url=self.slack.response_url(channel=SHELL_CHANNEL, message_ts=ts, user=SHELL_USER),
            trigger_id=_trigger_id(),
        )
        self._dispatch(body)

    def open_link(self, url: str) -> None:
        """A link button: the sandbox follows links into its own Bitbucket and bot, as a browser would."""
        if self.sandbox is None or not self.sandbox.opens_here(url):
            self.write(f"(opens {url})")
            return
        page = self.sandbox.visit(url)
        self.write(f"(opened in the browser: {page.text})\n")
        self._wait_for_outbox(timeout=5)
        self.flush()

    def simulate(self, args: list[str]) -> None:
        """`/simulate [REPO]`: the sandbox Bitbucket opens a pull request in REPO and sends its webhooks."""
        if self.sandbox is None:
            self.write("(/simulate works in the sandbox: `bitbucket-chatops shell --sandbox`)")
            return
        repos = [f"acme/{slug}" for slug in ("api", "web", "infra")]
        if args:
            repo = args[0] if "/" in args[0] else f"acme/{args[0]}"
        else:
            repo = next((r for r in repos if self.sandbox.has_webhook(r)), repos[0])
        try:
            if not self.sandbox.has_webhook(repo):
                self.write(
                    f"({repo} has no webhook, so the sandbox Bitbucket has nobody to tell: "
                    f"`/bb subscribe {repo.split('/', 1)[1]}` first, then `/simulate` again.)"
                )
                return
            pull_request, sent = self.sandbox.simulate(repo)
        except KeyError:
            self.write(f"(no repository {repo} in the sandbox: try {', '.join(repos)})")
            return
        who = (pull_request.get("author") or {}).get("display_name") or "someone"
        answers = ", ".join(str(d.status or d.error) for d in sent)
        self.write(
            f"(simulated: {who} opened #{pull_request['id']} \"{pull_request['title']}\" in {repo}; Bitbucket sent "
            f"`pullrequest:created` to {len(sent)} webhook{'s' if len(sent) != 1 else ''}, answered {answers})\n"
        )
        self._wait_for_outbox(timeout=5)
        self.flush()

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
            elif call.method == "files.completeUploadExternal" and call.ok:
                self._save_files(call.response.get("files") or [])

    def _save_files(self, shared: list) -> None:
        """A file the bot shared (a /bb stats chart) is saved on disk, and its path printed."""
        import tempfile
        from pathlib import Path

        folder = Path(self.__dict__.setdefault("files_dir", tempfile.mkdtemp(prefix="bitbucket-chatops-shell-")))
        for entry in shared:
            upload = self.slack.uploads.get(entry.get("id"))
            if upload is not None and upload.data:
                path = folder / Path(upload.filename).name
                path.write_bytes(upload.data)
                self.write(f"[{upload.title or upload.filename}: saved to {path}]\n")

    def _wait_for_outbox(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Deliveries not yet routed will queue messages too.
            due = self.services.store.query_one(
                """SELECT (SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending') AND next_attempt_at <= ?)
                        + (SELECT COUNT(*) FROM deliveries WHERE state = 'pending') AS n""", (time.time(),)
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
            user_id=SHELL_USER, user_name="you", team_id=SHELL_TEAM, trigger_id=_trigger_id(),
        )
        self._dispatch(body)


def _trigger_id() -> str:
    return f"{next(_TRIGGER_NUMBERS)}.shell.trigger"


def _json_or_text(body: str) -> dict:
    try:
        data = json.loads(body)
        return data if isinstance(data, dict) else {"text": body}
    except ValueError:
        return {"text": body}


def shell_log_path(settings: Settings) -> Path:
    """Where the shell's logs go: beside the database (`./data/shell.log` by default)."""
    return Path(settings.database_path).parent / "shell.log"


def configure_logging(settings: Settings) -> Path | None:
    """Logs into `shell_log_path`, so that they never land between the bot's answers; if that file cannot be
    written, only warnings and errors reach the terminal. The file's path, or None."""
    level = getattr(logging, settings.log_level, logging.INFO)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    path = shell_log_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(level=level, format=fmt, filename=str(path), force=True)
    except OSError:
        logging.basicConfig(level=max(level, logging.WARNING), format=fmt, force=True)
        path = None
    logging.captureWarnings(True)  # Python's warnings are log lines too
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLogger().level))
    logredact.install()  # slack_sdk's DEBUG lines carry tokens, codes and states: redacted
    return path


def run_shell(settings: Settings, *, sandbox: bool, read: Callable[[str], str] = input, write: Callable[[str], None] = print,
              log_path: Path | None = None) -> int:
    if not sandbox and settings.bitbucket_credential_kind is None:
        print("No Bitbucket credential is configured: try `bitbucket-chatops shell --sandbox`.", file=sys.stderr)
        return 2
    console = Console(settings, sandbox=sandbox, read=read, write=write)
    write(console.banner(log_path) + "\n")
    try:
        while True:
            console.flush()  # what arrived meanwhile (a deploy's progress, say)
            try:
                line = read(PROMPT)
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
