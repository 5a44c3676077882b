"""``cullarrd``: run the daemon (``serve``) or check a configuration file (``config check``)."""

from __future__ import annotations

import argparse
import os

from cullarrd import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cullarrd", description=__doc__)
    parser.add_argument("--version", action="version", version=f"cullarrd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the daemon until SIGTERM")
    serve.add_argument("--config", help="config file (default: $CULLARRD_CONFIG or /etc/...)")
    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help='print "ok" or one line per problem')
    check.add_argument("--config", help="config file to check")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for a bad config or usage)."""
    args = build_parser().parse_args(argv)
    from cullarrd.config import check_main, config_path_from

    path = config_path_from(args.config, os.environ)
    if args.command == "config":
        return check_main(path)
    from cullarrd.daemon import serve

    return serve(path)


if __name__ == "__main__":
    raise SystemExit(main())
