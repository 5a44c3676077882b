"""Canonical paths: longest enabled mapping on segment boundaries, managed/external roots."""

from __future__ import annotations

import pytest

from cullarrd.config import PathMappingConfig
from cullarrd.sync.paths import PathMapper, classify


def test_the_longest_matching_prefix_wins_whatever_the_config_order():
    mapper = PathMapper([("/data", "/mnt/all"), ("/data/tv", "/mnt/tv"), ("/data/tv/kids", "/k")])
    assert mapper.canonical("/data/tv/kids/Show/e1.mkv") == "/k/Show/e1.mkv"
    assert mapper.canonical("/data/tv/Show/e1.mkv") == "/mnt/tv/Show/e1.mkv"
    assert mapper.canonical("/data/movies/M (2001)/m.mkv") == "/mnt/all/movies/M (2001)/m.mkv"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/tv/Show/e1.mkv", "/mnt/media/tv/Show/e1.mkv"),
        ("/tv", "/mnt/media/tv"),  # the prefix itself
        ("/tvx/Show/e1.mkv", "/tvx/Show/e1.mkv"),  # not on a segment boundary
        ("/tv.old/e1.mkv", "/tv.old/e1.mkv"),
        ("/other/tv/e1.mkv", "/other/tv/e1.mkv"),  # a prefix only matches at the start
    ],
)
def test_prefixes_match_on_segment_boundaries_only(path, expected):
    assert PathMapper([("/tv", "/mnt/media/tv")]).canonical(path) == expected


def test_paths_and_mappings_are_normalised_before_matching():
    mapper = PathMapper([("/tv/", "/mnt//media/tv/")])
    assert mapper.canonical("  \\tv\\\\Show\\e1.mkv ") == "/mnt/media/tv/Show/e1.mkv"
    assert mapper.canonical("/tv//Show/") == "/mnt/media/tv/Show"
    assert mapper.canonical("/Other//Case/File.MKV") == "/Other/Case/File.MKV"  # case kept


def test_root_mappings_and_mappings_to_the_root():
    assert PathMapper([("/", "/mnt")]).canonical("/tv/e1.mkv") == "/mnt/tv/e1.mkv"
    assert PathMapper([("/", "/mnt"), ("/tv", "/t")]).canonical("/tv/e1.mkv") == "/t/e1.mkv"
    assert PathMapper([("/media", "/")]).canonical("/media/tv/e1.mkv") == "/tv/e1.mkv"
    assert PathMapper([("/media", "/")]).canonical("/media") == "/"


def test_windows_drive_paths_map_like_any_other_prefix():
    mapper = PathMapper([("C:/Media", "/mnt/media")])
    assert mapper.canonical("C:\\Media\\TV\\Show\\e1.mkv") == "/mnt/media/TV/Show/e1.mkv"
    assert mapper.canonical("C:\\MediaX\\e1.mkv") == "C:/MediaX/e1.mkv"


def test_among_equal_prefixes_the_first_in_config_order_wins():
    mapper = PathMapper([("/tv", "/first"), ("/tv", "/second")])
    assert mapper.canonical("/tv/e1.mkv") == "/first/e1.mkv"


def test_a_path_no_mapping_covers_is_only_normalised():
    assert PathMapper().canonical("/a//b/") == "/a/b"


def test_from_config_uses_enabled_mappings_only():
    class Cfg:
        path_mappings = (
            PathMappingConfig("/tv/kids", "/disabled", enabled=False),
            PathMappingConfig("/tv", "/mnt/media/tv"),
        )

    mapper = PathMapper.from_config(Cfg())
    assert mapper.canonical("/tv/kids/e1.mkv") == "/mnt/media/tv/kids/e1.mkv"


def test_classify_managed_and_external_on_segment_boundaries():
    roots = ["/mnt/media/tv", "/mnt/media/movies/"]
    assert classify("/mnt/media/tv/Show/e1.mkv", roots) == "managed"
    assert classify("/mnt/media/movies", roots) == "managed"
    assert classify("/mnt/media/tvx/e1.mkv", roots) == "external"
    assert classify("/mnt/other/e1.mkv", roots) == "external"
    assert classify("/mnt/media/tv//Show/", roots) == "managed"


def test_without_managed_roots_nothing_is_known_to_be_external():
    assert classify("/anywhere/e1.mkv", []) == "managed"
