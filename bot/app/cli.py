"""`bitbucket-chatops serve | shell | check | rotate-keys | webhooks update`."""

from __future__ import annotations

import argparse
import logging
import sys

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import rotation
from bot.app.sandbox_setup import SANDBOX_APP_TOKEN, SANDBOX_BOT_TOKEN, SANDBOX_SIGNING_SECRET, sandbox_settings, start_fresh
from bot.core import logredact
from bot.core.config import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bitbucket-chatops", description="Drive Bitbucket Cloud from Slack.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the bot: HTTP, the delivery worker and the scheduler")
    serve.add_argument("--sandbox", action="store_true", help="against a built-in simulated Bitbucket (and Slack, if none is configured)")
    serve.add_argument("--no-scheduler", action="store_true", help="leave the scheduler out (for a second web replica)")
    serve.add_argument("--socket-mode", action="store_true", help="talk to Slack over Socket Mode (needs SLACK_APP_TOKEN)")
    shell = sub.add_parser("shell", help="a local chat console running the same handlers as Slack")
    shell.add_argument("--sandbox", action="store_true", help="against a built-in simulated Bitbucket workspace")
    sub.add_parser("check", help="verify the configuration, line by line")
    deliveries = sub.add_parser("deliveries", help="webhook deliveries that could not be relayed: list, relay again, or drop")
    deliveries.add_argument("--retry", action="store_true", help="relay them again (a running `serve` picks them up)")
    deliveries.add_argument("--forget", action="store_true", help="drop them: they were looked at")
    db = sub.add_parser("db", help="the database: copy a SQLite database into PostgreSQL")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    copy = db_sub.add_parser("copy", help="copy a SQLite database into an empty PostgreSQL database, everything included")
    copy.add_argument("--to", required=True, metavar="postgresql://…", help="the empty PostgreSQL database to fill")
    copy.add_argument("--from", dest="source", metavar="PATH", help="the SQLite file (default: DATABASE_PATH)")
    rotation.add_commands(sub)
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.command == "shell":  # its logs go to a file, never between the conversation's lines
        from bot.app.shell import configure_logging, run_shell

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
    if args.command in rotation.COMMANDS:
        return rotation.run(args, settings)
    from bot.app.check import run_check

    return run_check(settings)


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
        from bot.sandbox.bitbucket import FakeBitbucket, demo_workspace
        from bot.sandbox.deliveries import Courier

        bitbucket = FakeBitbucket().start()
        demo_workspace(bitbucket)
        bitbucket.auto_advance_pipelines = True
        fakes.append(bitbucket)
        fakes.append(Courier(bitbucket).start())  # what is done through its API comes back as webhooks
        slack = None
        if not (settings.slack_bot_token and settings.slack_signing_secret):
            from bot.sandbox.slack import FakeSlack

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
        print("bitbucket-chatops: see .env.example, or try `bitbucket-chatops shell --sandbox` with no configuration", file=sys.stderr)
        return 2

    from bot.app.server import BotServer
    from bot.registry import build_services
    from bot.core.store import DatabaseError
    from bot.core.store.postgres_url import redact

    try:
        services = build_services(settings)
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
    import time as clock

    from bot import relay
    from bot.registry import open_migrated
    from bot.core.store import DatabaseError
    from bot.core.store.postgres_url import redact

    try:
        store = open_migrated(settings.database_target)
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
                when = clock.strftime("%Y-%m-%d %H:%M:%S", clock.gmtime(row["received_at"]))
                print(f"{when} UTC  {row['event_key']}  {row['request_uuid']}  {row['outcome']}")
            print(f"{len(failed)} webhook delivery(ies) could not be relayed" if failed else "every webhook delivery was relayed")
    finally:
        store.close()
    return 0


def run_db_copy(settings: Settings, *, source: str, target: str) -> int:
    """`db copy`: one line per table copied, or one line saying why nothing was."""
    from pathlib import Path

    from bot.registry import migrations
    from bot.core.store import DatabaseError, is_postgres_url, open_store
    from bot.core.store.copy import CopyRefused, copy_database
    from bot.core.store.postgres_url import redact

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
        copied = copy_database(source, store, migrations(), progress=lambda line: print(f"  {line}"))
    except (CopyRefused, DatabaseError) as error:
        print(f"bitbucket-chatops: nothing was copied: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"copied {sum(t.rows for t in copied)} row(s) in {len(copied)} table(s) from {source} to {store.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
