"""Keep markers, path exclusions and saved views through the command layer, over a real store."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from structlog.testing import capture_logs

from cullarrd import ctl
from cullarrd.audit import AuditRecorder
from cullarrd.candidates.guards import get_view
from cullarrd.config import parse_config
from cullarrd.control.protocol import CommandContext
from cullarrd.control.server import ControlServer
from cullarrd.ctl_render import render_exclusions, render_keep_markers, render_views
from cullarrd.daemon import config_settings
from cullarrd.errors import CullarrError, ValidationFailed
from cullarrd.plugins import load_plugins
from cullarrd.service import Caller, Runtime, Service
from cullarrd.settings import Settings
from cullarrd.store.models import (
    AuditEvent,
    Episode,
    Integration,
    KeepMarker,
    Movie,
    PathExclusion,
    PlexUser,
    SavedView,
    Season,
    Series,
)

CALLER = Caller(correlation_id="cid-guards", channel="socket", peer_uid=1000)


@pytest.fixture
def service(store, database_url, tmp_path) -> Service:
    config = parse_config(
        {"database": {"url": database_url}, "socket": {"path": str(tmp_path / "s.sock")}},
        env={},
        base_dir=str(tmp_path),
    )
    audit = AuditRecorder()

    async def no_reload(caller):
        raise AssertionError("not used here")

    runtime = Runtime(
        config=config,
        store=store,
        settings=Settings(lambda: config_settings(config), audit),
        audit=audit,
        plugins=load_plugins(),
        reload=no_reload,
    )
    return Service(runtime)


@pytest.fixture
def inventory(store) -> SimpleNamespace:
    """A movie, a show with one season and episode, a movie gone upstream, two Plex users."""
    with store.db.atomic():
        radarr = Integration.create(kind="radarr", name="radarr", base_url="http://radarr")
        sonarr = Integration.create(kind="sonarr", name="sonarr", base_url="http://sonarr")
        movie = Movie.create(integration=radarr, radarr_movie_id=1, title="Heat", year=1995)
        gone = Movie.create(
            integration=radarr,
            radarr_movie_id=2,
            title="Gone",
            missing_since=dt.datetime(2026, 1, 1),
        )
        show = Series.create(integration=sonarr, sonarr_series_id=1, title="The Wire")
        season = Season.create(series=show, season_number=1)
        episode = Episode.create(
            integration=sonarr,
            season=season,
            sonarr_episode_id=1,
            season_number=1,
            episode_number=2,
            title="The Detail",
        )
        users = [PlexUser.create(tautulli_user_id=100 + n, username=f"u{n}") for n in (1, 2)]
    return SimpleNamespace(
        movie=movie.id,
        gone=gone.id,
        series=show.id,
        season=season.id,
        episode=episode.id,
        users=[u.id for u in users],
    )


async def call(service: Service, cmd: str, args: dict[str, Any] | None = None) -> Any:
    return await service.dispatch(cmd, args or {}, CALLER)


async def fields_of(service: Service, cmd: str, args: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as caught:
        await call(service, cmd, args)
    return caught.value.fields


async def error_of(service: Service, cmd: str, args: dict[str, Any]) -> CullarrError:
    with pytest.raises(CullarrError) as caught:
        await call(service, cmd, args)
    return caught.value


def payloads(event_name: str) -> list[dict[str, Any]]:
    events = AuditEvent.select().where(AuditEvent.event_name == event_name)
    return [e.payload_json for e in events.order_by(AuditEvent.id)]


# --- keep markers -------------------------------------------------------------------------------


async def test_keep_markers_on_every_target_type_with_titles(service, inventory):
    movie = await call(
        service, "keep.add", {"target_type": "movie", "target_id": inventory.movie, "note": " fav "}
    )
    assert movie["candidate_id"] == f"movie:{inventory.movie}"
    assert movie["title"] == "Heat (1995)" and movie["note"] == "fav"
    assert movie["created_at"].endswith("Z")
    for target_type, target_id in (("episode", inventory.episode), ("season", inventory.season),
                                   ("show", inventory.series)):  # fmt: skip
        await call(service, "keep.add", {"target_type": target_type, "target_id": target_id})
    items = (await call(service, "keep.list"))["items"]
    assert [(i["target_type"], i["candidate_id"], i["title"], i["note"]) for i in items] == [
        ("series", f"show:{inventory.series}", "The Wire", None),
        ("season", f"season:{inventory.season}", "The Wire - Season 1", None),
        ("episode", f"episode:{inventory.episode}", "The Wire S01E02 The Detail", None),
        ("movie", f"movie:{inventory.movie}", "Heat (1995)", "fav"),
    ]
    added = payloads("keep_marker.added")
    assert len(added) == 4
    assert added[0] == {
        "id": movie["id"], "target_type": "movie", "target_id": inventory.movie,
        "candidate_id": f"movie:{inventory.movie}", "title": "Heat (1995)", "note": "fav",
        "actor": {"channel": "socket", "peer_uid": 1000},
    }  # fmt: skip
    event = AuditEvent.get(AuditEvent.event_name == "keep_marker.added")
    assert event.correlation_id == "cid-guards"


async def test_keep_add_reports_every_bad_field_at_once(service, inventory):
    fields = await fields_of(
        service,
        "keep.add",
        {"target_type": "album", "target_id": 0, "note": "x" * 501, "colour": "red"},
    )
    assert fields == {
        "colour": ["unknown argument"],
        "target_type": ["must be one of: movie, episode, season, series (or show)"],
        "target_id": ["must be a positive integer"],
        "note": ["must be at most 500 characters long"],
    }
    assert await fields_of(service, "keep.add", {}) == {
        "target_type": ["is required"],
        "target_id": ["is required"],
    }
    assert KeepMarker.select().count() == 0
    assert payloads("keep_marker.added") == []


async def test_keep_add_needs_a_present_target(service, inventory):
    missing = await fields_of(service, "keep.add", {"target_type": "movie", "target_id": 9999})
    assert missing == {"target_id": ["no movie has id 9999"]}
    gone = {"target_type": "movie", "target_id": inventory.gone, "note": 5}
    assert await fields_of(service, "keep.add", gone) == {
        "target_id": [f"movie {inventory.gone} is missing upstream"],
        "note": ["must be a string"],
    }
    # An id that exists in another table does not satisfy the named type.
    wrong = {"target_type": "season", "target_id": inventory.episode + 1000}
    assert "target_id" in await fields_of(service, "keep.add", wrong)
    huge = {"target_type": "movie", "target_id": 2**64}
    assert await fields_of(service, "keep.add", huge) == {
        "target_id": ["must be a positive integer"]
    }
    assert KeepMarker.select().count() == 0


async def test_one_keep_marker_per_target(service, inventory):
    first = await call(
        service, "keep.add", {"target_type": "series", "target_id": inventory.series}
    )
    again = await error_of(
        service, "keep.add", {"target_type": "show", "target_id": inventory.series}
    )
    assert again.code == "conflict" and again.http_status == 409
    assert f"keep marker {first['id']}" in again.message
    assert again.details["existing_id"] == first["id"]
    assert KeepMarker.select().count() == 1
    # The same id of another type is another target.
    await call(service, "keep.add", {"target_type": "movie", "target_id": inventory.series})


async def test_keep_remove_and_not_found(service, inventory):
    marker = await call(service, "keep.add", {"target_type": "movie", "target_id": inventory.movie})
    assert await call(service, "keep.remove", {"id": marker["id"]}) == {"removed": marker["id"]}
    assert KeepMarker.select().count() == 0
    [removed] = payloads("keep_marker.removed")
    assert removed["id"] == marker["id"] and removed["title"] == "Heat (1995)"
    gone = await error_of(service, "keep.remove", {"id": marker["id"]})
    assert gone.code == "not_found" and gone.http_status == 404
    assert await fields_of(service, "keep.remove", {"id": "one", "x": 1}) == {
        "id": ["must be an integer from 1 to 9223372036854775807"],
        "x": ["unknown argument"],
    }
    assert await fields_of(service, "keep.remove", {}) == {"id": ["is required"]}


async def test_lists_write_nothing(service, inventory):
    await call(service, "keep.add", {"target_type": "movie", "target_id": inventory.movie})
    await call(service, "exclusions.add", {"name": "kids", "path_prefix": "/data/kids"})
    await call(service, "views.add", {"name": "all movies", "scope": "movie"})
    before = AuditEvent.select().count()
    for cmd in ("keep.list", "exclusions.list", "views.list"):
        assert len((await call(service, cmd))["items"]) == 1
    assert AuditEvent.select().count() == before
    assert "unknown argument" in (await fields_of(service, "keep.list", {"all": True}))["all"]


# --- path exclusions ----------------------------------------------------------------------------


async def test_exclusion_prefixes_are_normalised_and_audited(service):
    tv = await call(service, "exclusions.add", {"name": " TV ", "path_prefix": " /data//tv/ "})
    assert {k: tv[k] for k in ("name", "path_prefix", "enabled")} == {
        "name": "TV", "path_prefix": "/data/tv", "enabled": True,
    }  # fmt: skip
    args = {"name": "films", "path_prefix": "\\data\\films\\", "enabled": False}
    films = await call(service, "exclusions.add", args)
    assert films["path_prefix"] == "/data/films" and films["enabled"] is False
    listed = (await call(service, "exclusions.list"))["items"]
    assert [row["path_prefix"] for row in listed] == ["/data/films", "/data/tv"]
    assert payloads("path_exclusion.added")[0] == {
        "id": tv["id"], "name": "TV", "path_prefix": "/data/tv", "enabled": True,
        "actor": {"channel": "socket", "peer_uid": 1000},
    }  # fmt: skip


async def test_exclusion_add_reports_every_bad_field_at_once(service):
    args = {"name": "", "path_prefix": "data/tv", "enabled": "yes", "extra": 1}
    assert await fields_of(service, "exclusions.add", args) == {
        "extra": ["unknown argument"],
        "name": ["must not be empty"],
        "path_prefix": ["must be an absolute path"],
        "enabled": ["must be true or false"],
    }
    assert await fields_of(service, "exclusions.add", {"name": "n" * 201}) == {
        "name": ["must be 1 to 200 characters long"],
        "path_prefix": ["is required"],
    }
    assert PathExclusion.select().count() == 0


async def test_exclusion_prefix_is_unique_after_normalisation(service):
    first = await call(service, "exclusions.add", {"name": "tv", "path_prefix": "/data/tv"})
    dup = await error_of(service, "exclusions.add", {"name": "tv2", "path_prefix": "/data//tv/"})
    assert dup.code == "conflict" and dup.details["existing_id"] == first["id"]
    assert "path_prefix" in dup.details["fields"]
    other = await call(service, "exclusions.add", {"name": "tvx", "path_prefix": "/data/tvx"})
    moved = await error_of(
        service, "exclusions.update", {"id": other["id"], "path_prefix": "/data/tv/"}
    )
    assert moved.code == "conflict"
    assert PathExclusion.get_by_id(other["id"]).path_prefix == "/data/tvx"


async def test_exclusion_update_writes_and_audits_only_changes(service):
    row = await call(service, "exclusions.add", {"name": "tv", "path_prefix": "/data/tv"})
    updated = await call(
        service,
        "exclusions.update",
        {"id": row["id"], "name": "series", "path_prefix": "/data/tv/", "enabled": False},
    )
    assert (updated["name"], updated["path_prefix"], updated["enabled"]) == (
        "series", "/data/tv", False,
    )  # fmt: skip
    assert payloads("path_exclusion.updated") == [
        {
            "id": row["id"], "name": "tv",
            "changes": {"name": {"old": "tv", "new": "series"},
                        "enabled": {"old": True, "new": False}},
            "actor": {"channel": "socket", "peer_uid": 1000},
        }
    ]  # fmt: skip
    same = await call(service, "exclusions.set_enabled", {"id": row["id"], "enabled": False})
    assert same["enabled"] is False
    assert len(payloads("path_exclusion.updated")) == 1
    enabled = await call(service, "exclusions.set_enabled", {"id": row["id"], "enabled": True})
    assert enabled["enabled"] is True
    assert payloads("path_exclusion.updated")[-1]["changes"] == {
        "enabled": {"old": False, "new": True}
    }


async def test_exclusion_update_errors(service):
    row = await call(service, "exclusions.add", {"name": "tv", "path_prefix": "/data/tv"})
    bad = {"id": row["id"], "name": " ", "path_prefix": "tv", "enabled": 1}
    assert await fields_of(service, "exclusions.update", bad) == {
        "name": ["must not be empty"],
        "path_prefix": ["must be an absolute path"],
        "enabled": ["must be true or false"],
    }
    assert await fields_of(service, "exclusions.set_enabled", {"id": row["id"]}) == {
        "enabled": ["is required"]
    }
    missing = await error_of(service, "exclusions.update", {"id": row["id"] + 1, "name": "x"})
    assert missing.code == "not_found"
    assert (await error_of(service, "exclusions.remove", {"id": row["id"] + 1})).code == "not_found"
    assert PathExclusion.get_by_id(row["id"]).name == "tv"
    assert payloads("path_exclusion.updated") == []


async def test_exclusion_remove(service):
    row = await call(service, "exclusions.add", {"name": "tv", "path_prefix": "/data/tv"})
    assert await call(service, "exclusions.remove", {"id": row["id"]}) == {"removed": row["id"]}
    assert (await call(service, "exclusions.list"))["items"] == []
    assert payloads("path_exclusion.removed")[0]["path_prefix"] == "/data/tv"


# --- saved views --------------------------------------------------------------------------------


async def test_saved_view_round_trip(service, inventory, store):
    u1, u2 = inventory.users
    filters = {"plex_user_ids": [u2, u1, u2], "watched_match_mode": "any", "sort": "title"}
    view = await call(service, "views.add", {"name": "Shared", "scope": "tv_show",
                                            "filters": filters})  # fmt: skip
    assert view["filters"] == {
        "plex_user_ids": [u1, u2], "watched_match_mode": "any", "sort": "title",
    }  # fmt: skip
    assert view["scope"] == "tv_show" and view["updated_at"].endswith("Z")
    expected = {"id": view["id"], "name": "Shared", "scope": "tv_show", "filters": view["filters"]}
    assert await store.read(lambda: get_view(view["id"])) == expected
    assert await store.read(lambda: get_view("Shared")) == expected
    with pytest.raises(CullarrError) as unknown:
        await store.read(lambda: get_view("Nope"))
    assert unknown.value.code == "not_found"
    assert payloads("saved_view.added")[0] == {
        **expected, "actor": {"channel": "socket", "peer_uid": 1000},
    }  # fmt: skip
    bare = await call(service, "views.add", {"name": "Movies", "scope": "movie"})
    assert bare["filters"] == {}
    listed = (await call(service, "views.list"))["items"]
    assert [v["name"] for v in listed] == ["Movies", "Shared"]


async def test_saved_view_reports_every_bad_field_at_once(service, inventory):
    args = {
        "name": "",
        "scope": "albums",
        "filters": {"colour": "red", "watched_match_mode": "most", "include_blocked": "no",
                    "sort": "size", "order": "up", "plex_user_ids": [0]},
    }  # fmt: skip
    fields = await fields_of(service, "views.add", args)
    assert set(fields) == {
        "name", "scope", "filters.colour", "filters.watched_match_mode",
        "filters.include_blocked", "filters.sort", "filters.order", "filters.plex_user_ids",
    }  # fmt: skip
    assert fields["filters.colour"][0].startswith("unknown filter")
    not_object = await fields_of(service, "views.add", {"name": "x", "scope": "movie",
                                                        "filters": [1]})  # fmt: skip
    assert not_object == {"filters": ["must be an object"]}
    assert SavedView.select().count() == 0


async def test_saved_view_rejects_unknown_plex_users(service, inventory):
    args = {"name": "x", "scope": "movie",
            "filters": {"plex_user_ids": [inventory.users[0], 9998, 9999]}}  # fmt: skip
    assert await fields_of(service, "views.add", args) == {
        "filters.plex_user_ids": ["no plex user has id 9998, 9999"]
    }
    view = await call(service, "views.add", {"name": "x", "scope": "movie"})
    update = {"id": view["id"], "filters": {"plex_user_ids": [9999]}}
    assert await fields_of(service, "views.update", update) == {
        "filters.plex_user_ids": ["no plex user has id 9999"]
    }
    too_big = {"id": view["id"], "filters": {"plex_user_ids": [2**64]}}
    assert await fields_of(service, "views.update", too_big) == {
        "filters.plex_user_ids": ["must be a list of positive integer user ids"]
    }


async def test_saved_view_names_are_unique(service):
    first = await call(service, "views.add", {"name": "Mine", "scope": "movie"})
    dup = await error_of(service, "views.add", {"name": " Mine ", "scope": "tv_show"})
    assert dup.code == "conflict" and dup.details["existing_id"] == first["id"]
    other = await call(service, "views.add", {"name": "Other", "scope": "movie"})
    renamed = await error_of(service, "views.update", {"id": other["id"], "name": "Mine"})
    assert renamed.code == "conflict"
    # Renaming a view to its own name is no conflict.
    await call(service, "views.update", {"id": first["id"], "name": "Mine"})


async def test_saved_view_update_replaces_filters_and_audits_changes(service, inventory):
    filters = {"watched_match_mode": "none", "include_blocked": True}
    view = await call(service, "views.add", {"name": "v", "scope": "movie", "filters": filters})
    updated = await call(
        service,
        "views.update",
        {"id": view["id"], "scope": "tv_episode", "filters": {"sort": "title"}},
    )
    assert updated["scope"] == "tv_episode" and updated["filters"] == {"sort": "title"}
    assert payloads("saved_view.updated") == [
        {
            "id": view["id"], "name": "v",
            "changes": {"scope": {"old": "movie", "new": "tv_episode"},
                        "filters": {"old": filters, "new": {"sort": "title"}}},
            "actor": {"channel": "socket", "peer_uid": 1000},
        }
    ]  # fmt: skip
    await call(service, "views.update", {"id": view["id"], "name": "v"})
    assert len(payloads("saved_view.updated")) == 1
    bad = await fields_of(service, "views.update", {"id": view["id"], "scope": "x", "name": ""})
    assert set(bad) == {"scope", "name"}
    missing = await error_of(service, "views.update", {"id": view["id"] + 1, "name": "w"})
    assert missing.code == "not_found"


async def test_saved_view_remove(service):
    view = await call(service, "views.add", {"name": "v", "scope": "movie"})
    assert await call(service, "views.remove", {"id": view["id"]}) == {"removed": view["id"]}
    assert SavedView.select().count() == 0
    assert payloads("saved_view.removed")[0]["name"] == "v"
    assert (await error_of(service, "views.remove", {"id": view["id"]})).code == "not_found"


# --- cullarrctl ---------------------------------------------------------------------------------


def parsed(*argv: str) -> tuple[str, dict[str, Any]]:
    """The socket command and args ``cullarrctl argv`` would send."""
    ns = ctl.build_parser().parse_args(list(argv))
    command = ns._command
    return (command.pick(ns) if command.pick else command.cmd), command.build(ns)


def test_cli_builds_the_socket_arguments():
    assert parsed("keep", "add", "show", "7", "--note", "rewatch") == (
        "keep.add", {"target_type": "show", "target_id": 7, "note": "rewatch"},
    )  # fmt: skip
    assert parsed("keep", "rm", "3") == ("keep.remove", {"id": 3})
    assert parsed("exclude", "add", "Kids", "/data/kids", "--disabled") == (
        "exclusions.add", {"name": "Kids", "path_prefix": "/data/kids", "enabled": False},
    )  # fmt: skip
    assert parsed("exclude", "disable", "4") == (
        "exclusions.set_enabled",
        {"id": 4, "enabled": False},
    )
    assert parsed("exclude", "enable", "4") == (
        "exclusions.set_enabled",
        {"id": 4, "enabled": True},
    )
    assert parsed("exclude", "rename", "4", "Cartoons") == (
        "exclusions.update", {"id": 4, "name": "Cartoons"},
    )  # fmt: skip
    argv = ("views", "add", "Shared", "--scope", "tv_show", "--users-ids", "2,1",
            "--match", "any", "--include-blocked", "--sort", "title", "--order", "asc")  # fmt: skip
    assert parsed(*argv) == ("views.add", {
        "name": "Shared", "scope": "tv_show",
        "filters": {"plex_user_ids": [2, 1], "watched_match_mode": "any",
                    "include_blocked": True, "sort": "title", "order": "asc"},
    })  # fmt: skip
    assert parsed("views", "add", "M", "--scope", "movie") == (
        "views.add", {"name": "M", "scope": "movie", "filters": {}},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["views", "add", "x", "--scope", "movie", "--user-ids", "1,bob"], "expected user ids"),
        (["views", "add", "x"], "--scope"),
        (["keep", "add", "album", "1"], "invalid choice"),
        (["exclude", "rm", "one"], "invalid int value"),
    ],
)
def test_cli_usage_errors_exit_2(capsys, argv, message):
    assert ctl.main(["--socket", "/nonexistent/cullarrd.sock", *argv]) == 2
    assert message in capsys.readouterr().err


def test_renderers_show_tables_and_empty_lists():
    marker = {"id": 3, "candidate_id": "movie:9", "title": "Heat (1995)", "note": None,
              "target_type": "movie", "target_id": 9}  # fmt: skip
    lines = render_keep_markers({"items": [marker]}, None).splitlines()
    assert lines[0].split() == ["ID", "TARGET", "TITLE", "NOTE"]
    assert lines[1].split() == ["3", "movie:9", "Heat", "(1995)", "-"]
    assert render_keep_markers(marker, None) == render_keep_markers({"items": [marker]}, None)
    assert render_keep_markers({"items": []}, None) == "no keep markers"
    assert render_exclusions({"items": []}, None) == "no path exclusions"
    view = {"id": 1, "name": "Shared", "scope": "tv_show",
            "filters": {"plex_user_ids": [1, 2], "watched_match_mode": "any"}}  # fmt: skip
    assert "plex_user_ids=1,2 watched_match_mode=any" in render_views({"items": [view]}, None)


@contextlib.contextmanager
def socket_daemon(service: Service, path: str) -> Iterator[None]:
    """A real control server on a background loop, answering through ``service``."""

    async def dispatch(cmd: str, args: dict[str, Any], ctx: CommandContext) -> Any:
        who = Caller(correlation_id=ctx.correlation_id, channel="socket", peer_uid=ctx.peer.uid)
        return await service.dispatch(cmd, args, who)

    server = ControlServer(path, dispatch)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    with capture_logs():
        thread.start()
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
        try:
            yield
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()


def test_cli_against_the_daemon(service, inventory, short_tmp, capsys):
    path = f"{short_tmp}/d.sock"

    def run(*argv: str) -> tuple[int, str, str]:
        code = ctl.main(["--socket", path, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    with socket_daemon(service, path):
        code, out, _ = run("exclude", "add", "Kids", "/data//kids/")
        assert code == 0 and "/data/kids" in out and "Kids" in out
        code, _, err = run("exclude", "add", "Again", "/data/kids")
        assert code == 1 and "error conflict" in err
        code, out, _ = run("keep", "add", "episode", str(inventory.episode), "--note", "classic")
        assert code == 0 and "The Wire S01E02 The Detail" in out and "classic" in out
        code, out, _ = run("keep", "list")
        assert f"episode:{inventory.episode}" in out.splitlines()[1]
        code, _, err = run("views", "add", "x", "--scope", "movie", "--sort", "size")
        assert code == 1 and "filters.sort" in err
        code, out, _ = run("--json", "views", "add", "x", "--scope", "movie", "--match", "none")
        assert code == 0 and json.loads(out)["filters"] == {"watched_match_mode": "none"}
        code, out, _ = run("views", "rm", str(json.loads(out)["id"]))
        assert code == 0 and out.startswith("removed saved view ")
        code, out, _ = run("views", "list")
        assert out.strip() == "no saved views"
