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
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from slack_bolt.request import BoltRequest

from bot import registry, relay
from bot.app import shell_people
from bot.app.bolt import create_bolt_app
from bot.app.shell_sandbox import Sandbox
from bot.app.shell_people import SHELL_CHANNEL, SHELL_TEAM, SHELL_USER, YOU, Person
from bot.app.textview import ShownButton, message_to_text
from bot.core import logredact, outbox
from bot.core.config import Settings
from bot.sandbox import simulations, slackkit
from bot.sandbox.slack import FakeSlack

SHELL_SECRET = "shell-signing-secret"
SHELL_TOKEN = "xoxb-shell"
PROMPT = "bb> "
BITBUCKET_LINK = re.compile(r"https://bitbucket\.org/[^\s<>|]+")
# What `/bb help` adds in the shell: the shell's own commands, which Slack does not have.
SHELL_HELP = "\n".join([
    "*In this shell only*",
    "`/simulate [KIND] [REPO]`: the sandbox Bitbucket makes an event happen and sends the bot its webhook "
    "(`/simulate help` lists the kinds: pr, push, build-failed, build-fixed, comment, inline-comment, approve, "
    "request-changes, review-request, merge, deploy)",
    "`/as [NAME]`: be another member of the team (a guest with no roles, a teammate); alone, who you are",
    "`/home`: your Home tab",
    "A pasted https://bitbucket.org/… link is unfurled, as in Slack.",
])
# Slack gives every interaction its own trigger_id, and one trigger_id opens one form (then `exchanged_trigger_id`).
_TRIGGER_NUMBERS = itertools.count(1)


@dataclass
class Shown:
    """A button on screen, and the message it sits on (so a click can replace that message)."""

    button: ShownButton
    message: dict


class Console:
    def __init__(self, settings: Settings, *, sandbox: bool, read: Callable[[str], str] = input, write: Callable[[str], None] = print):
        self.read, self.write = read, write
        self.slack = FakeSlack(bot_token=SHELL_TOKEN, team_id=SHELL_TEAM).start()
        for person in shell_people.ROSTER:  # so Home tabs can be published and `/as` has someone to be
            self.slack.add_user(person.slack_id, person.slack_name, real_name=person.name)
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
        self.me: Person = YOU
        self.signed_in: set[str] = set()  # Slack users linked to their sandbox Bitbucket account
        self.clicked_on: dict[str, str] = {}  # a click's response_url key -> the first line of the message clicked on
        # One writer at a time: a line being handled, or the live printer showing what arrived meanwhile.
        self.screen = threading.RLock()
        self._live_stop = threading.Event()
        self._live_thread: threading.Thread | None = None
        if sandbox:
            self.sandbox = Sandbox(settings, self.slack, person=SHELL_USER)
            self.services, self.app = self.sandbox.services, self.sandbox.bolt_app
            self._sign_in()
            return
        self.services = registry.build_services(settings)
        self.services.provide(outbox.Senders(1))  # one transcript: messages in the order they were queued
        self.app = create_bolt_app(self.services)
        # The outbox worker and the deploy follower run here too, so relayed, reminder and deploy messages show;
        # the scheduler does not (`/bb remind now` still works).
        self.stops = [stop for start in registry.background_starters() for stop in start(self.services, scheduler=False)]

    def close(self) -> None:
        self.stop_live()
        if getattr(self, "temporary_files_dir", None):
            shutil.rmtree(self.temporary_files_dir, ignore_errors=True)
        if self.sandbox is not None:
            self.sandbox.close()
        else:
            for stop in reversed(self.stops):
                stop()
            self.services.shutdown(wait=False)
        self.slack.stop()

    def _sign_in(self, person: Person = YOU) -> bool:
        """In the sandbox the person starts signed in to a sandbox Bitbucket account, through the simulated
        consent page and the bot's own callback, as `/bb login` and a click on its link would do."""
        try:
            page = self.sandbox.sign_in(person.slack_id, SHELL_TEAM, person.nickname)
        except Exception:  # noqa: BLE001 - the shell still works; the banner then points at `/bb login`
            logging.getLogger(__name__).exception("signing in to the sandbox Bitbucket failed")
            return False
        if page.status != 200:
            return False
        self.signed_in.add(person.slack_id)
        if person is YOU:
            self.signed_in_as = f"{person.name} (`{person.nickname}`)"
        # The bot says so in a direct message (through its outbox): let it arrive, so it shows first.
        # (A person's messages go to their direct message channel, which the outbox opens first.)
        self.slack.wait_for(lambda: any(c.method == "chat.postMessage" and c.args.get("channel") in (person.slack_id, f"D{person.slack_id}")
                                        for c in self.slack.calls), timeout=5)
        return True

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
            "progress and result in its thread (they print as they arrive)",
            "  /bb subscribe api, then /simulate the sandbox Bitbucket opens a pull request and sends the bot its "
            "signed webhook: the pull request's card appears here, as in a subscribed channel",
            "  /simulate build-failed            a failed build: its failing step, log tail and a Re-run button",
            "  /simulate review-request          a teammate asks you for a review: a direct message with Approve",
            "  /as guest, /as alice              be someone else: a guest with no roles, a second reviewer (`/as you` to come back)",
            f"`/bb help` lists every command, `/simulate help` every event; paste a bitbucket.org link to see it unfurled; "
            f"`quit` leaves.{logs}",
        ])

    # --- one line in ---------------------------------------------------------------------------

    def handle_line(self, line: str) -> None:
        with self.screen:
            self._handle_line(line)

    def _handle_line(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        if line.isdigit():
            self.click(int(line))
            return
        first = line.split()[0]
        if first == "/simulate":
            self.simulate(line.split()[1:])
            return
        if first == "/as":
            self.act_as(line.split()[1:])
            return
        if line in ("/home", "home"):  # what the Home tab shows you (Slack's `app_home_opened`)
            self._dispatch(slackkit.app_home_opened_body(self.me.slack_id, team_id=SHELL_TEAM), content_type="application/json")
            return
        text = line[len("/bb") :].strip() if line.startswith("/bb") else line
        links = BITBUCKET_LINK.findall(line)
        if links and not line.startswith("/") and registry.COMMANDS.spec_for(text.split()[0]) is None:
            self.say(line, links)
            return
        body = slackkit.slash_command_body(
            text, user_id=self.me.slack_id, user_name=self.me.slack_name, channel_id=SHELL_CHANNEL, team_id=SHELL_TEAM,
            response_url=self.slack.response_url(channel=SHELL_CHANNEL, user=self.me.slack_id), trigger_id=_trigger_id(),
        )
        self._dispatch(body)
        if text.lower() in ("help", "?", "h", "commands"):
            self.write(SHELL_HELP + "\n")

    def click(self, number: int) -> None:
        shown = next((s for s in self.buttons if s.button.number == number), None)
        if shown is None:
            self.write(f"(no button {number} on screen)")
            return
        if shown.button.url and not shown.button.value:
            self.open_link(shown.button.url)
            return
        ts = shown.message.get("ts") or slackkit.DEFAULT_MESSAGE_TS
        channel = shown.message.get("channel") or SHELL_CHANNEL
        response_url = self.slack.response_url(channel=channel, message_ts=ts, user=self.me.slack_id)
        self.clicked_on[response_url.rsplit("/", 1)[-1]] = _first_line_of(shown.message)
        body = slackkit.block_action_body(
            action_id=shown.button.action_id, value=shown.button.value or "", user_id=self.me.slack_id,
            user_name=self.me.slack_name, channel_id=channel, team_id=SHELL_TEAM, message_ts=ts,
            block_id=shown.button.block_id or "b", message=shown.message,
            response_url=response_url, trigger_id=_trigger_id(),
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

    def say(self, text: str, links: list[str]) -> None:
        """A message with bitbucket.org links, posted in the channel: Slack tells the bot (`link_shared`), and the
        bot's unfurl shows under it, as in Slack."""
        posted = self.slack.add_message(SHELL_CHANNEL, text, user=self.me.slack_id)
        body = slackkit.link_shared_body(list(dict.fromkeys(links)), channel=SHELL_CHANNEL, user=self.me.slack_id,
                                         message_ts=posted.ts, team_id=SHELL_TEAM)
        self._dispatch(body, content_type="application/json")

    def act_as(self, args: list[str]) -> None:
        """`/as NAME`: be another member of the team from now on; `/as` alone: who you are."""
        if not args:
            self.write(f"(you are {shell_people.who_line(self.me)} `/as NAME` changes that: {shell_people.roster_line()})\n")
            return
        person = shell_people.person_named(args[0])
        if person is None:
            self.write(f"(nobody called {args[0]} here: try {shell_people.roster_line()})\n")
            return
        if self.sandbox is None and person is not YOU:
            self.write("(/as works in the sandbox: `bitbucket-chatops shell --sandbox`)\n")
            return
        self.me = person
        if self.sandbox is not None and person.nickname and person.slack_id not in self.signed_in:
            self._sign_in(person)
            self.calls_seen = len(self.slack.calls)  # their "you are linked" message is not news to show
        self.write(f"(you are now {shell_people.who_line(person)})\n")

    def simulate(self, args: list[str]) -> None:
        """`/simulate [KIND] [REPO]`: something happens in the sandbox Bitbucket, which sends its webhook."""
        if self.sandbox is None:
            self.write("(/simulate works in the sandbox: `bitbucket-chatops shell --sandbox`)")
            return
        if args and args[0].lower() in ("help", "?", "kinds"):
            self.write("\n".join(["(/simulate KIND [REPO]: the sandbox Bitbucket makes it happen and sends the bot its webhook)"]
                                 + [f"  {kind:<16} {what}" for kind, what in simulations.WHAT_EACH_SHOWS.items()]) + "\n")
            return
        kind = simulations.kind_named(args[0]) if args else "pr"
        if kind is None:
            if len(args) > 1 or args[0].startswith("-"):
                self.write(f"(no event {args[0]!r} to simulate: try {', '.join(simulations.KINDS)})\n")
                return
            kind, rest = "pr", args  # `/simulate api`: a pull request in api, as before kinds existed
        else:
            rest = args[1:]
        repos = [f"acme/{slug}" for slug in ("api", "web", "infra")]
        if rest:
            repo = rest[0] if "/" in rest[0] else f"acme/{rest[0]}"
        else:
            repo = next((r for r in repos if self.sandbox.has_webhook(r)), repos[0])
        try:
            if not self.sandbox.has_webhook(repo):
                self.write(
                    f"({repo} has no webhook, so the sandbox Bitbucket has nobody to tell: "
                    f"`/bb subscribe {repo.split('/', 1)[1]}` first, then `/simulate` again.)"
                )
                return
            done = self.sandbox.simulate(kind, repo, self.me.nickname)
        except KeyError:
            self.write(f"(no repository {repo} in the sandbox: try {', '.join(repos)})")
            return
        except simulations.CannotSimulate as reason:
            self.write(f"(not simulated: {reason})\n")
            return
        keys = ", ".join(f"`{key}`" for key in dict.fromkeys(d.event_key for d in done.sent))
        answers = ", ".join(str(d.status or d.error) for d in done.sent)
        hooks = len({d.url for d in done.sent})
        self.write(f"(simulated: {done.said} in {repo}; Bitbucket sent {keys} to {hooks} webhook{'s' if hooks != 1 else ''}, "
                   f"answered {answers})\n")
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

    def has_news(self) -> bool:
        return len(self.slack.responses) > self.responses_seen or len(self.slack.calls) > self.calls_seen

    def flush(self) -> None:
        """Print what the bot said since last time: answers, channel messages, direct messages, unfurls, forms to
        fill in; and what became of earlier messages (replaced, deleted)."""
        with self.screen:
            posts, self.responses_seen = self.slack.responses[self.responses_seen :], len(self.slack.responses)
            for post in posts:
                self._show_response(post)
            calls, self.calls_seen = self.slack.calls[self.calls_seen :], len(self.slack.calls)
            for call in calls:
                self._show_call(call)

    def _show_response(self, post) -> None:
        original = self.clicked_on.get(post.key)  # a click's answer may replace or delete the message clicked on
        if post.body.get("delete_original"):
            if original is not None:
                self.write(f"-- (deleted: {original})")
            if not (post.body.get("text") or post.body.get("blocks")):
                return
        elif post.body.get("replace_original") and original is not None:
            self.write(f"-- (replaces: {original})")
        self._show(post.body)

    def _show_call(self, call) -> None:
        if not call.ok and call.method != "chat.delete":
            return
        if call.method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            where = " (in a thread)" if call.args.get("thread_ts") else " (updated)" if call.method == "chat.update" else ""
            to = self._direct_to(str(call.args.get("channel", "")))
            where = f" (a direct message to {to})" if to and not where else where
            if where:
                self.write(f"--{where}")
            self._show({**call.args, "ts": (call.response or {}).get("ts") or call.args.get("ts"),
                        "channel": (call.response or {}).get("channel") or call.args.get("channel")})
        elif call.method == "chat.delete" and call.ok:
            self.write(f"-- (deleted: {self._first_line(call.args.get('channel'), call.args.get('ts'))})\n")
        elif call.method == "chat.unfurl":
            for url, unfurl in (call.args.get("unfurls") or {}).items():
                self.write(f"-- (unfurled {url})")
                self._show({"blocks": (unfurl or {}).get("blocks") or [], "text": (unfurl or {}).get("text", "")})
        elif call.method == "views.publish":
            self.write("== your Home tab ==")
            self._show({"blocks": (call.args.get("view") or {}).get("blocks") or []})
        elif call.method == "views.open":
            self._fill_modal(call.args.get("view") or {})
        elif call.method == "files.completeUploadExternal":
            self._save_files(call.response.get("files") or [])

    def _direct_to(self, channel: str) -> str:
        """Whom a message to `channel` is a direct message to ("you", or their name), or "" for a channel."""
        if not channel.startswith(("U", "D")):
            return ""
        slack_id = channel[1:] if channel.startswith("D") else channel
        if slack_id == self.me.slack_id:
            return "you"
        return next((p.name for p in shell_people.ROSTER if p.slack_id == slack_id), slack_id)

    def _first_line(self, channel: str | None, ts: str | None) -> str:
        message = self.slack.message(channel, ts) if channel and ts else None
        return _first_line_of({"text": message.text, "blocks": message.blocks}) if message else "a message"

    def start_live(self, *, at_prompt: threading.Event, terminal: bool = False, every: float = 0.1) -> None:
        """Print news as it arrives (a relayed card, a direct message, a thread reply), while the person sits at
        the prompt, not only when they press Enter. On a terminal the prompt line is cleared first and put back
        after, with what the person had typed so far."""
        def run() -> None:
            while not self._live_stop.wait(every):
                if not at_prompt.is_set() or not self.has_news() or not self.screen.acquire(blocking=False):
                    continue
                try:
                    if terminal:
                        sys.stdout.write("\r\033[K")
                    self.flush()
                    if terminal:
                        _terminal_redraw()
                finally:
                    self.screen.release()

        self._live_thread = threading.Thread(target=run, name="shell-live", daemon=True)
        self._live_thread.start()

    def stop_live(self) -> None:
        self._live_stop.set()
        if self._live_thread is not None:
            self._live_thread.join(timeout=2)

    def _save_files(self, shared: list) -> None:
        """A file the bot shared (a /bb stats chart) is saved on disk, and its path printed."""
        if "files_dir" not in self.__dict__:  # a folder of the shell's own, removed by close() (`quit`)
            self.files_dir = self.temporary_files_dir = tempfile.mkdtemp(prefix="bitbucket-chatops-shell-")
        folder = Path(self.files_dir)
        until = " (removed when you quit)" if getattr(self, "temporary_files_dir", None) == self.files_dir else ""
        for entry in shared:
            upload = self.slack.uploads.get(entry.get("id"))
            if upload is not None and upload.data:
                path = folder / Path(upload.filename).name
                path.write_bytes(upload.data)
                self.write(f"[{upload.title or upload.filename}: saved to {path}{until}]\n")

    def _wait_for_outbox(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Webhooks the sandbox Bitbucket has yet to send, and deliveries not yet routed, will queue messages too.
            sending = self.sandbox is not None and not self.sandbox.courier.idle()
            if not sending and not relay.waiting_deliveries(self.services.store) and not outbox.waiting(self.services.store, now=time.time()):
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
            user_id=self.me.slack_id, user_name=self.me.slack_name, team_id=SHELL_TEAM, trigger_id=_trigger_id(),
        )
        self._dispatch(body)


def _first_line_of(message: dict) -> str:
    """A message's first line of text, for saying which one was replaced or deleted."""
    text, _ = message_to_text({"text": message.get("text", ""), "blocks": message.get("blocks") or []})
    first = next((line.strip() for line in text.splitlines() if line.strip() and not line.startswith("=")), "a message")
    return first if len(first) <= 80 else first[:79] + "…"


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
    at_prompt = threading.Event()
    console.start_live(at_prompt=at_prompt, terminal=read is input and sys.stdout.isatty())
    try:
        while True:
            console.flush()  # what arrived meanwhile (a deploy's progress, say)
            at_prompt.set()  # while the person reads and types, news prints as it arrives
            try:
                line = read(PROMPT)
            except EOFError:
                break
            finally:
                at_prompt.clear()
            if line.strip() in ("quit", "exit", r"\q"):
                break
            console.handle_line(line)
    except KeyboardInterrupt:
        pass
    finally:
        console.close()
    return 0


def _terminal_redraw() -> None:
    """News printed over the prompt: put the prompt back, with what the person had typed so far."""
    try:
        import readline

        typed = readline.get_line_buffer()
    except ImportError:  # no readline (Windows): the prompt alone
        typed = ""
    sys.stdout.write(PROMPT + typed)
    sys.stdout.flush()
