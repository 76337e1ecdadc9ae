from __future__ import annotations

import pytest

from greengrass_local.deployment.configtree import (
    KeyNotFound,
    changed_paths,
    get_path,
    merge_at,
    merged,
    parse_pointer,
    resolve_deployment_configuration,
)
from greengrass_local.wire.gson import as_doubles


def test_merge_is_deep_for_objects_and_whole_for_lists():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    assert merged(base, {"a": {"y": [3]}, "c": 2}) == {"a": {"x": 1, "y": [3]}, "b": 1, "c": 2}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1}, "merging copies, never mutates"


def test_keys_are_found_regardless_of_case_and_keep_their_first_spelling():
    tree = {"RequestLimit": 10, "Nested": {"Key": 1}}
    assert get_path(tree, ("requestlimit",)) == 10
    assert merged(tree, {"REQUESTLIMIT": 5}) == {"RequestLimit": 5, "Nested": {"Key": 1}}
    assert merge_at(tree, ("nested",), {"other": 2}) == {"RequestLimit": 10, "Nested": {"Key": 1, "other": 2}}
    with pytest.raises(KeyNotFound):
        get_path(tree, ("Nested", "missing"))


def test_json_pointers():
    assert parse_pointer("") == ()
    assert parse_pointer("/a~1b/c~0d") == ("a/b", "c~d")
    with pytest.raises(ValueError):
        parse_pointer("no-slash")


def test_deployment_configuration_order_reset_then_defaults_then_merge():
    current = {"keep": 1, "gone": {"x": 1}, "limit": 99}
    defaults = {"limit": 10, "gone": {"x": 0, "y": 0}, "new": True}
    result = resolve_deployment_configuration(current, defaults, reset=["/gone"], merge={"extra": [1]})
    # Running values win over defaults; a reset key comes back at its default; new defaults appear.
    assert result == {"keep": 1, "gone": {"x": 0, "y": 0}, "limit": 99, "new": True, "extra": [1]}
    assert resolve_deployment_configuration(current, defaults, reset=[""]) == defaults
    assert resolve_deployment_configuration(None, defaults) == defaults


def test_changed_paths_name_every_changed_node():
    old = {"a": {"b": 1, "c": 2}, "d": [1], "e": 1}
    new = {"a": {"b": 1, "c": 3}, "d": [1, 2], "f": {"g": 1}, "e": 1.0}
    assert changed_paths(old, new) == [("a", "c"), ("d",), ("f",)]


def test_numbers_become_doubles_like_gson_parses_them():
    assert as_doubles({"a": 1, "b": [2, True, None, "3"], "c": 1.5}) == {"a": 1.0, "b": [2.0, True, None, "3"], "c": 1.5}
