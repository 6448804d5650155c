"""The `xmpp-video` command: serve, check, db upgrade, user add|passwd|del|list|fast-revoke,
calls list|terminate|stats (the last ones ask a running server, see cli/calls.py).

Every command reads the same configuration and environment as `serve` and, on error, exits
non-zero with one clear line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from xmpp_video.cli.errors import CliError
from xmpp_video.config import ConfigError, Settings, load_settings

EXIT_ERROR = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: an option given before the subcommand is not reset by the subcommand's parser
    common.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help="TOML configuration file"
    )
    common.add_argument(
        "--production",
        action="store_true",
        default=argparse.SUPPRESS,
        help="production mode: refuse missing or default secrets",
    )
    parser = argparse.ArgumentParser(
        prog="xmpp-video", parents=[common], description="XMPP server for voice and video calls"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", parents=[common], help="run the server")
    sub.add_parser(
        "check",
        parents=[common],
        help="validate the configuration and print what would be listened on",
    )
    db = sub.add_parser("db", parents=[common], help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", parents=[common], help="apply migrations")
    user = sub.add_parser("user", parents=[common], help="manage accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    for name, help_ in (("add", "create an account"), ("passwd", "change a password")):
        cmd = user_sub.add_parser(name, parents=[common], help=help_)
        cmd.add_argument("jid")
        cmd.add_argument("--password", help="without it: one line from stdin, or a prompt")
    cmd = user_sub.add_parser("del", parents=[common], help="delete an account")
    cmd.add_argument("jid")
    cmd = user_sub.add_parser(
        "fast-revoke", parents=[common], help="revoke an account's FAST login tokens (XEP-0484)"
    )
    cmd.add_argument("jid")
    cmd = user_sub.add_parser("list", parents=[common], help="list accounts")
    cmd.add_argument("--domain")
    _calls_parser(sub, common)
    return parser


def _calls_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    remote = argparse.ArgumentParser(add_help=False, parents=[common])
    remote.add_argument(
        "--url", help="the server's HTTP address (default: http://127.0.0.1:HTTP_PORT)"
    )
    calls = sub.add_parser("calls", parents=[common], help="live calls of the running server")
    calls_sub = calls.add_subparsers(dest="calls_command", required=True)
    cmd = calls_sub.add_parser("list", parents=[remote], help="list the live calls")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd = calls_sub.add_parser("terminate", parents=[remote], help="end a call (as an admin)")
    cmd.add_argument("call_id")
    cmd = calls_sub.add_parser("stats", parents=[remote], help="call statistics over a period")
    cmd.add_argument("--hours", type=int, help="the last N hours (default 24)")
    cmd.add_argument("--start", help="period start, ISO 8601 (e.g. 2024-05-01T00:00:00Z)")
    cmd.add_argument("--end", help="period end, ISO 8601 (default: now)")
    cmd.add_argument("--json", action="store_true", help="print JSON")


def _read_password(given: str | None) -> str:
    if given is not None:
        return given
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise CliError("passwords do not match")
        return first
    line = sys.stdin.readline()
    if not line:
        raise CliError("no password given (use --password or one line on stdin)")
    return line.rstrip("\r\n")


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(
            getattr(args, "config", None), production=getattr(args, "production", None)
        )
        level = getattr(logging, settings.log_level.upper(), logging.INFO)
        logging.basicConfig(
            # one-shot commands print only their result and real problems
            level=level if args.command == "serve" else max(level, logging.WARNING),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        return _dispatch(args, settings)
    except (ConfigError, CliError) as exc:
        print(f"xmpp-video: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from xmpp_video.cli import commands

    if args.command == "serve":
        return _run(commands.serve(settings))
    if args.command == "check":
        return commands.check(settings)
    if args.command == "db":
        return commands.db_upgrade(settings)
    if args.command == "calls":
        return _calls(args, settings)
    if args.user_command in ("add", "passwd"):
        password = _read_password(args.password)
        return _run(
            commands.user_set(settings, args.jid, password, create=args.user_command == "add")
        )
    if args.user_command == "del":
        return _run(commands.user_del(settings, args.jid))
    if args.user_command == "fast-revoke":
        return _run(commands.user_fast_revoke(settings, args.jid))
    return _run(commands.user_list(settings, args.domain))


def _calls(args: argparse.Namespace, settings: Settings) -> int:
    from xmpp_video.cli import calls

    if args.calls_command == "list":
        return calls.calls_list(settings, args.url, args.json)
    if args.calls_command == "terminate":
        return calls.calls_terminate(settings, args.url, args.call_id)
    return calls.calls_stats(
        settings, args.url, hours=args.hours, start=args.start, end=args.end, as_json=args.json
    )


if __name__ == "__main__":
    sys.exit(main())
