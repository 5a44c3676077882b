"""``cullarrctl``: run commands against a running cullarrd over its control socket.

Each CLI command is one ``Command`` entry in ``COMMANDS``: its words, the socket command it sends,
its arguments, how the request ``args`` are built and how a result is shown to a human. Exit codes
(SPEC §10.4): 0 ok, 1 the daemon answered with an error, 2 usage, 3 daemon not reachable.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from cullarrd import __version__
from cullarrd.control.client import ControlClient, DaemonError, DaemonUnreachable
from cullarrd.ctl_render import (
    deletion_progress_line,
    inline,
    progress_line,
    render_audit,
    render_candidates,
    render_changed,
    render_delete,
    render_deletion_run,
    render_deletion_runs,
    render_exclusions,
    render_generic,
    render_integrations,
    render_keep_markers,
    render_password_set,
    render_plan,
    render_reload,
    render_removed,
    render_run,
    render_runs,
    render_settings,
    render_status,
    render_sync,
    render_unlock,
    render_users,
    render_views,
)

DEFAULT_SOCKET_PATH = "/run/cullarr/cullarrd.sock"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
PROG = "cullarrctl"

ArgSpec = tuple[tuple[str, ...], dict[str, Any]]


class UsageError(Exception):
    """Arguments argparse accepted but the command cannot use; exits 2."""


class NotConfirmed(DaemonError):
    """The operator did not confirm a deletion; reported like a refusal (exit 1)."""

    def __init__(self) -> None:
        message = "not confirmed; nothing was deleted"
        super().__init__({"code": "not_confirmed", "message": message, "correlation_id": None})


def arg(*flags: str, **kwargs: Any) -> ArgSpec:
    """One ``add_argument`` call, kept as data for the command table."""
    return flags, kwargs


def _no_args(ns: argparse.Namespace) -> dict[str, Any]:
    return {}


def _parse_value(raw: str) -> Any:
    def reject(constant: str) -> Any:
        raise ValueError(constant)

    try:
        # NaN/Infinity are not settings values; keep them as the text the user typed.
        return json.loads(raw, parse_constant=reject)
    except ValueError:
        return raw


def build_settings_set(ns: argparse.Namespace) -> dict[str, Any]:
    """``KEY=VALUE`` tokens into ``{"values": {...}}``; VALUE is JSON when it parses."""
    values: dict[str, Any] = {}
    for token in ns.assignments:
        key, sep, raw = token.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"expected KEY=VALUE, got {token!r}")
        if key in values:
            raise UsageError(f"{key} is given more than once")
        values[key] = _parse_value(raw)
    if not ns.confirm:
        return {"values": values}
    # An unsafe change (audit retention to 0) needs the operator to re-authenticate.
    return {"values": values, "confirm": True, "password": read_password(repeat=False)}


def read_password(stdin: TextIO | None = None, *, repeat: bool = True) -> str:
    """Prompt (twice for a new password) on a terminal, else read one stdin line; never echoed."""
    stream = stdin if stdin is not None else sys.stdin
    if stream is None:
        raise UsageError("no password: stdin is closed")
    if stream.isatty() and not repeat:
        password = getpass.getpass("Operator password: ")
    elif stream.isatty():
        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise UsageError("the two passwords do not match")
    else:
        password = stream.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise UsageError("the password is empty")
    return password


def build_set_password(ns: argparse.Namespace) -> dict[str, Any]:
    """The email from argv, the password from the terminal or stdin (never from argv)."""
    return {"email": ns.email, "password": read_password()}


def user_id_list(raw: str) -> list[int]:
    """``1,2`` into ``[1, 2]`` (an argparse ``type``)."""
    try:
        ids = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected user ids such as 1,2, got {raw!r}") from None
    if not ids:
        raise argparse.ArgumentTypeError("expected at least one user id")
    return ids


def _names(raw: str | None) -> list[str] | None:
    """``a, b`` into ``["a", "b"]``; None when the flag was not given."""
    return [part.strip() for part in raw.split(",") if part.strip()] if raw else None


def build_candidates(ns: argparse.Namespace) -> dict[str, Any]:
    """The query from the flags given; the daemon validates every field and resolves names."""
    given = {
        "scope": ns.scope,
        "users": _names(ns.users),
        "watched_match_mode": ns.match,
        "include_blocked": True if ns.include_blocked else None,
        "sort": ns.sort,
        "order": ns.order,
        "limit": ns.limit,
        "cursor": ns.cursor,
        "saved_view": ns.view,
    }
    return {key: value for key, value in given.items() if value is not None}


def build_keep_add(ns: argparse.Namespace) -> dict[str, Any]:
    args: dict[str, Any] = {"target_type": ns.target_type, "target_id": ns.target_id}
    if ns.note is not None:
        args["note"] = ns.note
    return args


def build_view_add(ns: argparse.Namespace) -> dict[str, Any]:
    """The view's filters from the flags given; the daemon validates them."""
    given = {
        "plex_user_ids": ns.user_ids,
        "watched_match_mode": ns.match,
        "include_blocked": ns.include_blocked or None,
        "sort": ns.sort,
        "order": ns.order,
    }
    filters = {key: value for key, value in given.items() if value is not None}
    return {"name": ns.name, "scope": ns.scope, "filters": filters}


def _id_or_number(token: str) -> str | int:
    return int(token) if token.isdigit() else token


def candidate_ids(raw: str) -> list[str | int]:
    """``movie:1,movie:2`` (or bare numbers) into a list of target ids (an argparse ``type``)."""
    ids = [_id_or_number(part.strip()) for part in raw.split(",") if part.strip()]
    if not ids:
        raise argparse.ArgumentTypeError("expected candidate ids such as movie:4,movie:7")
    return ids


def version_choice(raw: str) -> tuple[str, list[int]]:
    """``movie:1=10,11`` into ``("movie:1", [10, 11])`` (an argparse ``type``)."""
    target, sep, files = raw.partition("=")
    try:
        ids = [int(part) for part in files.split(",") if part.strip()]
    except ValueError:
        ids = []
    if not sep or not target.strip() or not ids:
        raise argparse.ArgumentTypeError(f"expected TARGET=FILE_ID[,FILE_ID...], got {raw!r}")
    return target.strip(), ids


def build_plan_request(ns: argparse.Namespace) -> dict[str, Any]:
    """The plan request from the flags given; the daemon validates it and resolves user names."""
    versions: dict[str, list[int]] = {}
    for target, files in ns.versions or []:
        versions.setdefault(target, []).extend(files)
    given = {
        "scope": ns.scope,
        "target_ids": ns.ids,
        "versions": versions or None,
        "users": _names(ns.users),
        "watched_match_mode": ns.match,
    }
    return {key: value for key, value in given.items() if value is not None}


def call_plan(client: ControlClient, ns: argparse.Namespace, args: dict[str, Any]) -> Any:
    """Plan, then write the plan as the daemon returned it to ``--out``."""
    plan = client.call("deletion.plan", args)
    if ns.out:
        try:
            with open(ns.out, "w", encoding="utf-8") as out:
                out.write(json.dumps(plan, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write the plan to {ns.out}: {exc.strerror or exc}") from None
    return plan


def _stdin_is_tty() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def read_plan(path: str) -> dict[str, Any]:
    """The plan JSON ``cullarrctl plan --out`` wrote."""
    try:
        with open(path, encoding="utf-8") as source:
            plan = json.load(source)
    except OSError as exc:
        raise UsageError(f"cannot read the plan {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"the plan {path} is not JSON: {exc}") from None
    if not isinstance(plan, dict):
        raise UsageError(f"{path} is not a plan (write one with: {PROG} plan --out FILE)")
    return plan


def build_delete(ns: argparse.Namespace) -> dict[str, Any]:
    """``delete cancel ID``'s run id, or the reviewed plan a new run is created from."""
    if ns.action == "cancel":
        if ns.id is None:
            raise UsageError("delete cancel needs the run ID")
        return {"id": ns.id}
    if ns.id is not None:
        raise UsageError(f"unexpected {ns.id}: a run ID goes with 'delete cancel'")
    if not ns.plan:
        raise UsageError("the following arguments are required: --plan")
    plan = read_plan(ns.plan)
    if not ns.yes and not _stdin_is_tty():
        raise UsageError("stdin is not a terminal to confirm on: give --yes")
    return {"plan": plan, "wait": ns.wait}


def confirm_delete(plan: dict[str, Any]) -> bool:
    """Ask on the terminal; only ``y``/``yes`` confirms."""
    files = plan.get("files") if isinstance(plan.get("files"), list) else []
    size = plan.get("total_bytes")
    gb = f"{size / 1e9:.2f}" if isinstance(size, int | float) else "?"
    print(f"Delete {len(files)} files ({gb} GB)? [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def call_delete(client: ControlClient, ns: argparse.Namespace, args: dict[str, Any]) -> Any:
    """Cancel a run; or confirm (unless ``--yes``), unlock (unless ``--token``) and create one.

    Confirming first means a declined deletion never issues an unlock token."""
    if ns.action == "cancel":
        return client.call("deletion.cancel", args)
    if not ns.yes and not confirm_delete(args["plan"]):
        raise NotConfirmed()
    token = ns.token
    if token is None:
        unlocked = client.call("delete.unlock", {"password": read_password(repeat=False)})
        token = unlocked["token"]
    on_event = None if ns.json else _print_event
    return client.call("deletion.create", {**args, "token": token}, on_event=on_event)


Render = Callable[[Any, argparse.Namespace], str]


def _sync_or_deletion(sync: Render, deletion: Render) -> Render:
    """A renderer for a command whose ``--deletion`` flag asks about deletion runs."""
    return lambda result, ns: (deletion if ns.deletion else sync)(result, ns)


@dataclass(frozen=True)
class Command:
    """One CLI command and the socket command it sends."""

    words: tuple[str, ...]
    cmd: str
    help: str
    arguments: tuple[ArgSpec, ...] = ()
    build: Callable[[argparse.Namespace], dict[str, Any]] = _no_args
    render: Callable[[Any, argparse.Namespace], str] = render_generic
    epilog: str | None = None
    # When one CLI word serves two socket commands (``sync`` / ``sync cancel``).
    pick: Callable[[argparse.Namespace], str] | None = None
    # When a command takes more than one request (``delete``: unlock, then create).
    call: Callable[[ControlClient, argparse.Namespace, dict[str, Any]], Any] | None = None


GROUP_HELP = {
    ("settings",): "read and change runtime settings",
    ("operator",): "manage the operator account",
    ("integrations",): "list and check the configured services",
    ("keep",): "keep movies, episodes, seasons or series from deletion",
    ("exclude",): "exclude path prefixes from deletion",
    ("views",): "saved candidate queries",
}

COMMANDS: tuple[Command, ...] = (
    Command(
        ("status",), "status", "show daemon, store and integration status", render=render_status
    ),
    Command(
        ("settings", "get"),
        "settings.get",
        "show settings and where each value comes from",
        arguments=(arg("key", nargs="?", metavar="KEY", help="one setting (default: all)"),),
        build=lambda ns: {"key": ns.key} if ns.key else {},
        render=render_settings,
    ),
    Command(
        ("settings", "set"),
        "settings.set",
        "change settings",
        arguments=(
            arg("assignments", nargs="+", metavar="KEY=VALUE"),
            arg(
                "--confirm",
                action="store_true",
                help="confirm an unsafe change; asks for the operator password",
            ),
        ),
        build=build_settings_set,
        render=render_changed,
        epilog="VALUE is read as JSON when it parses (true, 30, '[\"/a\"]'), else as text.",
    ),
    Command(("reload",), "reload", "re-read the configuration file", render=render_reload),
    Command(
        ("sync",),
        "sync.trigger",
        "start a sync now (or queue one next); 'sync cancel' stops the active one",
        arguments=(
            arg("action", nargs="?", choices=["cancel"], help="cancel the active run"),
            arg("--wait", action="store_true", help="follow progress until the run ends"),
        ),
        build=lambda ns: {} if ns.action else {"wait": ns.wait},
        pick=lambda ns: "sync.cancel" if ns.action == "cancel" else "sync.trigger",
        render=render_sync,
    ),
    Command(
        ("runs",),
        "runs.list",
        "list recent sync runs (or deletion runs)",
        arguments=(
            arg("--limit", type=int, default=20, metavar="N"),
            arg("--deletion", action="store_true", help="list deletion runs instead"),
        ),
        build=lambda ns: {"limit": ns.limit},
        pick=lambda ns: "deletion.list" if ns.deletion else "runs.list",
        render=_sync_or_deletion(render_runs, render_deletion_runs),
    ),
    Command(
        ("run",),
        "runs.get",
        "show one sync run with its phases and integrations (or a deletion run)",
        arguments=(
            arg("id", type=int, metavar="ID"),
            arg("--deletion", action="store_true", help="a deletion run, with its actions"),
        ),
        build=lambda ns: {"id": ns.id},
        pick=lambda ns: "deletion.get" if ns.deletion else "runs.get",
        render=_sync_or_deletion(render_run, render_deletion_run),
    ),
    Command(
        ("integrations", "reset-history"),
        "integrations.reset_history",
        "rebuild one Tautulli integration's watch history with the next sync",
        arguments=(arg("name", metavar="NAME"),),
        build=lambda ns: {"name": ns.name},
    ),
    Command(
        ("integrations", "list"),
        "integrations.list",
        "show integrations with their health",
        render=render_integrations,
    ),
    Command(
        ("integrations", "check"),
        "integrations.check",
        "check integrations now (all, or one by name)",
        arguments=(arg("name", nargs="?", metavar="NAME", help="one integration"),),
        build=lambda ns: {"name": ns.name} if ns.name else {},
        render=render_integrations,
    ),
    Command(
        ("audit",),
        "audit.list",
        "show recent audit events",
        arguments=(arg("--limit", type=int, default=50, metavar="N", help="at most N events"),),
        build=lambda ns: {"limit": ns.limit},
        render=render_audit,
    ),
    Command(
        ("operator", "set-password"),
        "operator.set_password",
        "create the operator or reset its password",
        arguments=(arg("--email", required=True, metavar="EMAIL"),),
        build=build_set_password,
        render=render_password_set,
        epilog="The password is prompted for twice on a terminal, else read as one stdin line.",
    ),
    Command(
        ("unlock",),
        "delete.unlock",
        "unlock delete mode: a single-use token for one deletion run",
        build=lambda ns: {"password": read_password(repeat=False)},
        render=render_unlock,
        epilog="The operator password is prompted for on a terminal, else read as one stdin line.",
    ),
    Command(
        ("plan",),
        "deletion.plan",
        "what deleting these candidates would do: files, blocked targets, side effects",
        arguments=(
            arg("--scope", required=True, choices=["movie", "tv_episode", "tv_season", "tv_show"]),
            arg(
                "--ids",
                required=True,
                action="extend",
                type=candidate_ids,
                metavar="ID[,ID...]",
                help="candidate ids as candidates prints them (movie:4, season:3, ...)",
            ),
            arg(
                "--version",
                dest="versions",
                action="append",
                type=version_choice,
                metavar="MOVIE=FILE[,FILE...]",
                help="delete only these media files of a movie, e.g. movie:4=26 (repeatable)",
            ),
            arg("--users", metavar="A,B", help="usernames, friendly names or Tautulli user ids"),
            arg("--match", choices=["all", "any", "none"], help="default: all"),
            arg("--out", metavar="FILE", help="also write the plan JSON here, for 'delete --plan'"),
        ),
        build=build_plan_request,
        call=call_plan,
        render=render_plan,
        epilog="Planning changes nothing. Without --users every user Plex has not hidden counts.",
    ),
    Command(
        ("delete",),
        "deletion.create",
        "delete what a reviewed plan lists; 'delete cancel ID' stops a run",
        arguments=(
            arg("action", nargs="?", choices=["cancel"], help="cancel deletion run ID"),
            arg("id", nargs="?", type=int, metavar="ID", help="the run to cancel"),
            arg("--plan", metavar="FILE", help="the plan 'plan --out FILE' wrote"),
            arg("--token", metavar="T", help="an unlock token from 'unlock' (else: password)"),
            arg("--yes", action="store_true", help="do not ask for confirmation"),
            arg("--wait", action="store_true", help="follow progress until the run ends"),
        ),
        build=build_delete,
        call=call_delete,
        render=render_delete,
        epilog=(
            "First 'Delete N files (X GB)? [y/N]' is asked on the terminal; when stdin is not a "
            "terminal --yes is required (the answer is never read from a pipe). Then, without "
            "--token, the operator password is prompted for on a terminal, else read as one "
            "stdin line (as 'unlock' does), and delete mode is unlocked for this run. The daemon "
            "re-plans and refuses the run if anything changed since the plan was made."
        ),
    ),
    Command(("users",), "users.list", "list the Plex users Tautulli knows", render=render_users),
    Command(
        ("candidates",),
        "candidates.query",
        "what is safe to delete: one page of candidates with blockers and reasons",
        arguments=(
            arg("--scope", choices=["movie", "tv_episode", "tv_season", "tv_show"]),
            arg("--users", metavar="A,B", help="usernames, friendly names or Tautulli user ids"),
            arg("--match", choices=["all", "any", "none"], help="default: all"),
            arg("--include-blocked", action="store_true", help="also show blocked rows"),
            arg("--sort", choices=["reclaimable_bytes", "last_watched_at", "added_at", "title"]),
            arg("--order", choices=["asc", "desc"]),
            arg("--limit", type=int, metavar="N", help="rows per page, 1..200 (default 50)"),
            arg("--cursor", metavar="C", help="the next-page cursor a previous page printed"),
            arg("--view", metavar="NAME", help="a saved view's filters as defaults"),
        ),
        build=build_candidates,
        render=render_candidates,
        epilog="Without --users every user Plex has not hidden counts.",
    ),
    Command(
        ("keep", "add"),
        "keep.add",
        "keep one movie, episode, season or series from deletion",
        arguments=(
            arg("target_type", choices=["movie", "episode", "season", "series", "show"]),
            arg("target_id", type=int, metavar="ID"),
            arg("--note", metavar="TEXT", help="why it is kept"),
        ),
        build=build_keep_add,
        render=render_keep_markers,
    ),
    Command(
        ("keep", "rm"),
        "keep.remove",
        "remove a keep marker",
        arguments=(arg("id", type=int, metavar="ID"),),
        build=lambda ns: {"id": ns.id},
        render=render_removed("keep marker"),
    ),
    Command(("keep", "list"), "keep.list", "list keep markers", render=render_keep_markers),
    Command(
        ("exclude", "add"),
        "exclusions.add",
        "exclude every file under an absolute path prefix from deletion",
        arguments=(
            arg("name", metavar="NAME"),
            arg("path_prefix", metavar="PREFIX"),
            arg("--disabled", action="store_true", help="add it switched off"),
        ),
        build=lambda ns: {
            "name": ns.name,
            "path_prefix": ns.path_prefix,
            "enabled": not ns.disabled,
        },
        render=render_exclusions,
    ),
    Command(
        ("exclude", "rm"),
        "exclusions.remove",
        "remove a path exclusion",
        arguments=(arg("id", type=int, metavar="ID"),),
        build=lambda ns: {"id": ns.id},
        render=render_removed("path exclusion"),
    ),
    Command(
        ("exclude", "list"), "exclusions.list", "list path exclusions", render=render_exclusions
    ),
    Command(
        ("exclude", "enable"),
        "exclusions.set_enabled",
        "switch a path exclusion on",
        arguments=(arg("id", type=int, metavar="ID"),),
        build=lambda ns: {"id": ns.id, "enabled": True},
        render=render_exclusions,
    ),
    Command(
        ("exclude", "disable"),
        "exclusions.set_enabled",
        "switch a path exclusion off",
        arguments=(arg("id", type=int, metavar="ID"),),
        build=lambda ns: {"id": ns.id, "enabled": False},
        render=render_exclusions,
    ),
    Command(
        ("exclude", "rename"),
        "exclusions.update",
        "rename a path exclusion",
        arguments=(arg("id", type=int, metavar="ID"), arg("name", metavar="NAME")),
        build=lambda ns: {"id": ns.id, "name": ns.name},
        render=render_exclusions,
    ),
    Command(
        ("views", "add"),
        "views.add",
        "save a candidate query under a name",
        arguments=(
            arg("name", metavar="NAME"),
            arg(
                "--scope", required=True, metavar="S", help="movie, tv_episode, tv_season, tv_show"
            ),
            arg(
                "--user-ids",
                "--users-ids",
                dest="user_ids",
                type=user_id_list,
                metavar="1,2",
                help="plex user ids (default: all non-hidden users)",
            ),
            arg("--match", choices=["all", "any", "none"], help="watched match mode"),
            arg("--include-blocked", action="store_true", help="also show blocked rows"),
            arg(
                "--sort", metavar="S", help="reclaimable_bytes, last_watched_at, added_at or title"
            ),
            arg("--order", choices=["asc", "desc"]),
        ),
        build=build_view_add,
        render=render_views,
    ),
    Command(
        ("views", "rm"),
        "views.remove",
        "remove a saved view",
        arguments=(arg("id", type=int, metavar="ID"),),
        build=lambda ns: {"id": ns.id},
        render=render_removed("saved view"),
    ),
    Command(("views", "list"), "views.list", "list saved views", render=render_views),
)


def _add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # Subparser copies use SUPPRESS so a value given before the command is not reset.
    unset = argparse.SUPPRESS if suppress else None
    parser.add_argument("--socket", metavar="PATH", default=unset, help="control socket path")
    parser.add_argument("--config", metavar="PATH", default=unset, help="read socket.path here")
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print one JSON document instead of text",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``cullarrctl`` parser, generated from ``COMMANDS``."""
    parser = argparse.ArgumentParser(prog=PROG, description="Control a running cullarrd.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_common(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, suppress=True)
    subparsers: dict[tuple[str, ...], Any] = {
        (): parser.add_subparsers(dest="_word0", metavar="COMMAND", required=True)
    }
    for command in COMMANDS:
        for depth in range(1, len(command.words)):
            prefix = command.words[:depth]
            if prefix not in subparsers:
                group = subparsers[prefix[:-1]].add_parser(
                    prefix[-1], help=GROUP_HELP.get(prefix), parents=[common]
                )
                subparsers[prefix] = group.add_subparsers(
                    dest=f"_word{depth}", metavar="SUBCOMMAND", required=True
                )
        leaf = subparsers[command.words[:-1]].add_parser(
            command.words[-1],
            help=command.help,
            description=command.help,
            epilog=command.epilog,
            parents=[common],
        )
        for flags, kwargs in command.arguments:
            leaf.add_argument(*flags, **kwargs)
        leaf.set_defaults(_command=command, _parser=leaf)
    return parser


def _socket_path_from_config(config_path: str, env: Mapping[str, str]) -> str | None:
    try:
        from cullarrd.config import load_config

        return load_config(config_path, env=env).socket.path
    except Exception as exc:
        print(
            f"{PROG}: cannot read socket.path from {config_path} ({exc}); "
            f"using {DEFAULT_SOCKET_PATH}",
            file=sys.stderr,
        )
        return None


def resolve_socket_path(
    cli_socket: str | None, cli_config: str | None, env: Mapping[str, str]
) -> str:
    """--socket, else $CULLARRD_SOCKET, else the named config's socket.path, else the default."""
    if cli_socket:
        return cli_socket
    if env.get("CULLARRD_SOCKET"):
        return env["CULLARRD_SOCKET"]
    config_path = cli_config or env.get("CULLARRD_CONFIG")
    if config_path:
        return _socket_path_from_config(config_path, env) or DEFAULT_SOCKET_PATH
    return DEFAULT_SOCKET_PATH


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


def _print_event(event: Any) -> None:
    if isinstance(event, dict) and isinstance(event.get("percent"), int | float):
        print(progress_line(event, tty=sys.stderr.isatty()), end="", file=sys.stderr, flush=True)
        return
    if isinstance(event, dict) and isinstance(event.get("actions"), dict):
        print(deletion_progress_line(event), file=sys.stderr, flush=True)
        return
    text = event.get("message") if isinstance(event, dict) else None
    print(text if isinstance(text, str) else inline(event), file=sys.stderr, flush=True)


def _report_error(error: DaemonError, as_json: bool) -> int:
    if as_json:
        _print_json({"error": error.error})
        return EXIT_ERROR
    print(f"error {error.code}: {error.message}", file=sys.stderr)
    fields = error.details.get("fields") if isinstance(error.details, dict) else None
    if isinstance(fields, dict):
        for name, messages in fields.items():
            print(f"  {name}: {inline(messages)}", file=sys.stderr)
    if error.correlation_id:
        print(f"  correlation id: {error.correlation_id}", file=sys.stderr)
    return EXIT_ERROR


def _report_unreachable(exc: DaemonUnreachable, as_json: bool) -> int:
    print(f"{PROG}: {exc}", file=sys.stderr)
    if as_json:
        error = {
            "code": "daemon_unreachable",
            "message": str(exc),
            "correlation_id": None,
            "details": {"socket": exc.path, "reason": exc.reason},
        }
        _print_json({"error": error})
    return EXIT_UNREACHABLE


def _call(client: ControlClient, ns: argparse.Namespace, args: dict[str, Any]) -> Any:
    command: Command = ns._command
    cmd = command.pick(ns) if command.pick else command.cmd
    return client.call(cmd, args, on_event=None if ns.json else _print_event)


def _run(ns: argparse.Namespace, env: Mapping[str, str]) -> int:
    command: Command = ns._command
    try:
        args = command.build(ns)
        path = resolve_socket_path(ns.socket, ns.config, env)
        with ControlClient(path) as client:
            result = (command.call or _call)(client, ns, args)
    except UsageError as exc:
        ns._parser.print_usage(sys.stderr)
        print(f"{ns._parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DaemonUnreachable as exc:
        return _report_unreachable(exc, ns.json)
    except DaemonError as exc:
        return _report_error(exc, ns.json)
    if ns.json:
        _print_json(result)
    else:
        text = command.render(result, ns)
        if text:
            print(text)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run one command against the daemon and return the exit code."""
    try:
        ns = build_parser().parse_args(argv)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    try:
        return _run(ns, os.environ)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
