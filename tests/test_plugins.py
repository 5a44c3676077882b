"""Plugins load through the entry-point group, each guarded; a bad one is reported and skipped."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from cullarrd.plugins import ENTRY_POINT_GROUP, load_plugins
from tests.fixtures import plugins as fixtures


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def builtins() -> list[EntryPoint]:
    return list(entry_points(group=ENTRY_POINT_GROUP))


def test_builtin_plugins_are_registered_through_the_entry_point_group():
    assert {e.name for e in builtins()} >= {"sonarr", "radarr", "tautulli"}
    plugins = load_plugins()
    assert plugins.kinds == {"sonarr": "inventory", "radarr": "inventory", "tautulli": "watch"}
    assert all(status.ok for status in plugins.statuses)


def test_broken_duplicate_and_misspelled_plugins_are_reported_and_skipped():
    plugins = load_plugins(
        [
            *builtins(),
            ep("missing", "tests.fixtures.no_such_module:plugin"),
            ep("dupe", "tests.fixtures.plugins:second_sonarr"),
            ep("typo", "tests.fixtures.plugins:misspelled"),
            ep("emby", "tests.fixtures.plugins:emby"),
        ]
    )
    by_name = {s.name: s for s in plugins.statuses}
    assert by_name["missing"].ok is False
    assert "ModuleNotFoundError" in by_name["missing"].error
    assert by_name["dupe"].ok is False
    assert "kind sonarr is already provided" in by_name["dupe"].error
    assert by_name["typo"].ok is False and "cullarrd_sync_finishd" in by_name["typo"].error
    assert by_name["emby"].ok is True and by_name["emby"].kinds == ["emby"]
    assert plugins.kinds["sonarr"] == "inventory" and plugins.kinds["emby"] == "watch"
    assert {s.name for s in plugins.failed} == {"missing", "dupe", "typo"}
    registered = {plugins.manager.get_name(p) for p in plugins.manager.get_plugins()}
    assert "dupe" not in registered and "typo" not in registered


def test_notification_hooks_reach_plugins_and_a_crashing_one_does_not_stop_others():
    fixtures.notifier.finished.clear()
    plugins = load_plugins(
        [ep("crashing", "tests.fixtures.plugins:crashing"),
         ep("notifier", "tests.fixtures.plugins:notifier")]
    )  # fmt: skip
    plugins.call_safely("cullarrd_sync_finished", run={"id": 3, "status": "success"})
    assert fixtures.notifier.finished == [{"id": 3, "status": "success"}]
