"""`bitbucket-chatops serve | shell | check | deliveries | db copy | rotate-keys | webhooks update`, and `--version`.
Each subcommand's `--help` says what it does and which settings it reads (`described`)."""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot import registry, relay
from bot.app import rotation
from bot.app.check import run_check
from bot.app.sandbox_setup import SANDBOX_APP_TOKEN, SANDBOX_BOT_TOKEN, SANDBOX_SIGNING_SECRET, sandbox_settings, start_fresh
from bot.app.server import BotServer
from bot.app.shell import configure_logging, run_shell
from bot.core import logredact
from bot.core.config import Settings
from bot.core.store import DatabaseError, is_postgres_url, open_store
from bot.core.store.copy import CopyRefused, copy_database
from bot.core.store.postgres_url import redact
from bot.sandbox.bitbucket import FakeBitbucket, demo_workspace
from bot.sandbox.deliveries import Courier
from bot.sandbox.slack import FakeSlack

SETTINGS_HELP = "the README's Settings table says what each one is"
_CREDENTIAL = ("a Bitbucket credential (BITBUCKET_ACCESS_TOKEN; or BITBUCKET_EMAIL and BITBUCKET_API_TOKEN; or "
               "BITBUCKET_OAUTH_CLIENT_ID and BITBUCKET_OAUTH_CLIENT_SECRET), BITBUCKET_API_URL")
_DATABASE = "DATABASE_URL (PostgreSQL) or DATABASE_PATH (SQLite, default ./data/chatops.db)"
SERVE_READS = (
    "HOST and PORT (where it listens, default 0.0.0.0:3000); SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or "
    f"SLACK_APP_TOKEN with --socket-mode), SLACK_API_URL; {_CREDENTIAL}, BITBUCKET_WORKSPACE, BITBUCKET_WEBHOOK_SECRET "
    f"and BITBUCKET_OLD_WEBHOOK_SECRETS; PUBLIC_URL; {_DATABASE}; CHATOPS_ADMINS; for /bb login "
    "BITBUCKET_OAUTH_CLIENT_ID, BITBUCKET_OAUTH_CLIENT_SECRET, CHATOPS_SECRET_KEY, CHATOPS_OLD_SECRET_KEYS, "
    "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET; DEPLOY_PIPELINE, REMINDER_TIMEZONE, METRICS_TOKEN, LOG_LEVEL"
)


def described(sub, name: str, summary: str, what: str, reads: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose `--help` says what it does and, when it reads any, which settings (from the environment,
    and a `.env` file in the working directory)."""
    text = textwrap.fill(what, 100)
    if reads:
        text += "\n\n" + textwrap.fill(f"Reads {reads}; from the environment, and a .env file in the working directory "
                                        f"({SETTINGS_HELP}).", 100)
    return sub.add_parser(name, help=summary, description=text, formatter_class=argparse.RawDescriptionHelpFormatter)


def _version() -> str:
    try:
        return version("bitbucket-chatops")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bitbucket-chatops", description="Drive Bitbucket Cloud from Slack.")
    parser.add_argument("--version", action="version", version=f"bitbucket-chatops {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = described(
        sub, "serve", "run the bot: HTTP, the delivery worker and the scheduler",
        "Runs the bot in one process: the HTTP server (Slack's requests on /slack/events, Bitbucket's webhooks on "
        "/bitbucket/webhook, /healthz, /metrics), the webhook relay's delivery worker and the scheduler. A missing "
        "setting stops it with one line per variable; SIGTERM stops it cleanly.", SERVE_READS)
    serve.add_argument("--sandbox", action="store_true", help="against a built-in simulated Bitbucket (and Slack, if none is configured)")
    serve.add_argument("--no-scheduler", action="store_true", help="leave the scheduler out (for a second web replica)")
    serve.add_argument("--socket-mode", action="store_true", help="talk to Slack over Socket Mode (needs SLACK_APP_TOKEN)")
    shell = described(
        sub, "shell", "a local chat console running the same handlers as Slack",
        "A local chat console running the same handlers as Slack: type `/bb prs api` and read the answer as text, type a "
        "button's number to click it, `quit` to leave. Slack is simulated; with --sandbox Bitbucket is too, so it needs "
        "no configuration at all. Its logs go to shell.log beside the database.",
        f"(without --sandbox) {_CREDENTIAL}, BITBUCKET_WORKSPACE, {_DATABASE}, LOG_LEVEL")
    shell.add_argument("--sandbox", action="store_true", help="against a built-in simulated Bitbucket workspace")
    described(sub, "check", "verify the configuration, line by line",
              "Verifies the configuration and says, line by line, what works and what to fix: the Bitbucket credential "
              "(one request), the Slack token and its scopes (auth.test), the database (not created when it does not "
              "exist yet), PUBLIC_URL, CHATOPS_ADMINS, /bb login, rotations in progress. Exits 1 when something is to fix.",
              f"every setting serve reads: {SERVE_READS}")
    deliveries = described(sub, "deliveries", "webhook deliveries that could not be relayed: list, relay again, or drop",
                           "Lists the webhook deliveries that could not be relayed, and why; --retry hands them to the "
                           "router again (a running serve picks them up), --forget drops them once looked at.", _DATABASE)
    deliveries.add_argument("--retry", action="store_true", help="relay them again (a running `serve` picks them up)")
    deliveries.add_argument("--forget", action="store_true", help="drop them: they were looked at")
    db = described(sub, "db", "the database: copy a SQLite database into PostgreSQL",
                   "The bot's database. `db copy` copies a SQLite database into an empty PostgreSQL database, to move a bot "
                   "from one to the other.")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    copy = described(db_sub, "copy", "copy a SQLite database into an empty PostgreSQL database, everything included",
                     "Copies a SQLite database into an empty PostgreSQL database, everything included (subscriptions, roles, "
                     "links, encrypted tokens, audit, the pending outbox), and counts every table on both sides. Stop the "
                     "bot first; it refuses a database that already holds rows.",
                     "DATABASE_PATH (the SQLite file, unless --from names one)")
    copy.add_argument("--to", required=True, metavar="postgresql://…", help="the empty PostgreSQL database to fill")
    copy.add_argument("--from", dest="source", metavar="PATH", help="the SQLite file (default: DATABASE_PATH)")
    rotation.add_commands(sub)
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.command == "check":  # its report alone: no log lines (slack_sdk's retries, the client's) before it
        logging.basicConfig(handlers=[logging.NullHandler()], force=True)
        return run_check(settings)
    if args.command == "shell":  # its logs go to a file, never between the conversation's lines
        return run_shell(settings, sandbox=args.sandbox, log_path=configure_logging(settings))
    logging.basicConfig(
        level=getattr(logging, settings.log_level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # APScheduler logs every job run at INFO; ours say what matters themselves.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLogger().level))
    logredact.install()  # slack_sdk's DEBUG lines carry tokens, codes and states: redacted
    if args.command == "serve":
        return run_serve(settings, sandbox=args.sandbox, scheduler=not args.no_scheduler, socket_mode=args.socket_mode)
    if args.command == "deliveries":
        return run_deliveries(settings, retry=args.retry, forget=args.forget)
    if args.command == "db":
        return run_db_copy(settings, source=args.source or settings.database_path, target=args.to)
    return rotation.run(args, settings)


def connect_socket_mode(bolt_app, app_token: str) -> SocketModeHandler:
    """Talk to Slack over Socket Mode: `apps.connections.open` with the app-level token, then its WebSocket (slack_sdk's
    built-in client), which hands each envelope to the same Bolt app HTTP serves. `close()` it before leaving."""
    handler = SocketModeHandler(bolt_app, app_token)
    handler.connect()
    return handler


def run_serve(settings: Settings, *, sandbox: bool, scheduler: bool, socket_mode: bool) -> int:
    log = logging.getLogger("bitbucket-chatops")
    fakes = []
    if sandbox:
        bitbucket = FakeBitbucket().start()
        demo_workspace(bitbucket)
        bitbucket.auto_advance_pipelines = True
        fakes.append(bitbucket)
        fakes.append(Courier(bitbucket).start())  # what is done through its API comes back as webhooks
        slack = None
        if not (settings.slack_bot_token and settings.slack_signing_secret):
            slack = FakeSlack(bot_token=SANDBOX_BOT_TOKEN, app_token=SANDBOX_APP_TOKEN,
                              echo=lambda line: log.info("[sandbox slack] %s", line)).start()
            fakes.append(slack)
        settings = sandbox_settings(settings, bitbucket, slack)
        start_fresh(settings)  # the simulated Bitbucket starts empty: so does the sandbox's database
        log.info("sandbox: simulated Bitbucket at %s%s", bitbucket.base_url, "; simulated Slack (signing secret %r)" % SANDBOX_SIGNING_SECRET if slack else "")

    problems = settings.problems(socket_mode=socket_mode)
    if problems:
        for line in problems:
            print(f"bitbucket-chatops: {line}", file=sys.stderr)
        print(f"bitbucket-chatops: `bitbucket-chatops serve --help` lists the settings it reads, and {SETTINGS_HELP}; "
              "or try `bitbucket-chatops shell --sandbox` with no configuration", file=sys.stderr)
        return 2

    try:
        services = registry.build_services(settings)
    except DatabaseError as error:
        print(f"bitbucket-chatops: the database {redact(settings.database_target)} cannot be used: {error}", file=sys.stderr)
        return 2
    server = BotServer(services, host=settings.host, port=settings.port, scheduler=scheduler)
    server.install_signal_handlers()
    handler = None
    try:  # a SIGTERM while Socket Mode connects ends the process as cleanly as one while serving
        if socket_mode:
            handler = connect_socket_mode(server.wsgi.bolt_app, settings.slack_app_token)
            log.info("connected to Slack over Socket Mode")
        server.serve_forever()
    finally:
        if handler is not None:
            handler.close()
        server.stop()  # once only: a second call (serve_forever's own) returns at once
        for fake in reversed(fakes):
            fake.stop()
    return 0


def run_deliveries(settings: Settings, *, retry: bool, forget: bool) -> int:
    """`deliveries`: what could not be relayed, and why; `--retry` or `--forget` them."""
    try:
        store = registry.open_migrated(settings.database_target)
    except DatabaseError as error:
        print(f"bitbucket-chatops: the database {redact(settings.database_target)} cannot be used: {error}", file=sys.stderr)
        return 2
    try:
        if retry:
            print(f"{relay.retry_failed(store)} delivery(ies) handed to the router again")
        elif forget:
            print(f"{relay.forget_failed(store)} failed delivery(ies) dropped")
        else:
            failed = relay.failed_deliveries(store)
            for row in failed:
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row["received_at"]))
                print(f"{when} UTC  {row['event_key']}  {row['request_uuid']}  {row['outcome']}")
            print(f"{len(failed)} webhook delivery(ies) could not be relayed" if failed else "every webhook delivery was relayed")
    finally:
        store.close()
    return 0


def run_db_copy(settings: Settings, *, source: str, target: str) -> int:
    """`db copy`: one line per table copied, or one line saying why nothing was."""
    if not is_postgres_url(target):
        print("bitbucket-chatops: --to must be a PostgreSQL URL: postgresql://user:password@host:5432/database", file=sys.stderr)
        return 2
    if not Path(source).is_file():
        print(f"bitbucket-chatops: there is no SQLite database at {source} (set DATABASE_PATH or use --from)", file=sys.stderr)
        return 2
    try:
        store = open_store(target)
    except DatabaseError as error:
        print(f"bitbucket-chatops: the database {redact(target)} cannot be used: {error}", file=sys.stderr)
        return 2
    try:
        copied = copy_database(source, store, registry.migrations(), progress=lambda line: print(f"  {line}"))
    except (CopyRefused, DatabaseError) as error:
        print(f"bitbucket-chatops: nothing was copied: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"copied {sum(t.rows for t in copied)} row(s) in {len(copied)} table(s) from {source} to {store.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
