"""``cullarrd``: run the daemon (``serve``), check a config (``config check``), serve a fake, or
run the whole thing against fakes (``demo``)."""

from __future__ import annotations

import argparse
import os
import sys

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
    _add_fake_parser(commands)
    _add_demo_parser(commands)
    return parser


def _add_fake_parser(commands: argparse._SubParsersAction) -> None:
    fake = commands.add_parser(
        "fake", help="serve a fake Sonarr, Radarr or Tautulli over a generated library"
    )
    fake.add_argument("kind", choices=("sonarr", "radarr", "tautulli"))
    fake.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
    fake.add_argument(
        "--api-key", required=True, help="key the fake accepts (Tautulli: 32 characters)"
    )
    fake.add_argument("--library", choices=("tiny", "medium", "benchmark"), default="tiny")
    fake.add_argument("--seed", type=int, default=1, help="same seed, same library (default 1)")
    fake.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    fake.add_argument(
        "--plex-down", action="store_true", help="tautulli: answer as if Plex were unreachable"
    )


def _add_demo_parser(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo", help="run the daemon against fake Sonarr, Radarr and Tautulli (no media server)"
    )
    demo.add_argument(
        "--port", type=_port, default=8787, help="web page port (default 8787; 0: any free port)"
    )
    demo.add_argument(
        "--dir", help="keep config, store and logs here (default: a new temporary directory)"
    )
    demo.add_argument(
        "--keep", action="store_true", help="do not remove the temporary directory on exit"
    )
    demo.add_argument("--library", choices=("tiny", "medium"), default="medium")
    demo.add_argument("--seed", type=int, default=1, help="same seed, same library (default 1)")


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError("must be a port number from 0 to 65535")
    return int(text)


def _fake_main(args: argparse.Namespace) -> int:
    from cullarrd_plugins.fakelib.runner import run_fake

    try:
        return run_fake(
            args.kind,
            port=args.port,
            api_key=args.api_key,
            library=args.library,
            seed=args.seed,
            plex_down=args.plex_down,
            host=args.host,
        )
    except ValueError as exc:
        print(f"cullarrd fake: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for a bad config or usage)."""
    args = build_parser().parse_args(argv)
    if args.command == "fake":
        return _fake_main(args)
    if args.command == "demo":
        from cullarrd.demo import main as demo_main

        return demo_main(args)
    from cullarrd.config import check_main, config_path_from

    path = config_path_from(args.config, os.environ)
    if args.command == "config":
        return check_main(path)
    from cullarrd.daemon import serve

    return serve(path)


if __name__ == "__main__":
    raise SystemExit(main())
