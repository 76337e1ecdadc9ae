from __future__ import annotations

import pytest

from greengrass_local.deployment import semver
from greengrass_local.deployment.recipes import ComponentPaths, RecipeError, Variables, interpolate, parse_recipe, select_manifest

LINUX = {"os": "linux", "architecture": "amd64"}


def recipe(manifests, **extra):
    return parse_recipe(
        {"RecipeFormatVersion": "2020-01-25", "ComponentName": "c.X", "ComponentVersion": "1.2.3", "Manifests": manifests, **extra}
    )


def test_keys_are_case_insensitive():
    parsed = parse_recipe(
        {"componentname": "c.Y", "COMPONENTVERSION": "1.0.0", "manifests": [{"platform": {"os": "*"}, "lifecycle": {"run": "x"}}]}
    )
    assert (parsed.name, parsed.version) == ("c.Y", "1.0.0")
    assert select_manifest(parsed, LINUX).lifecycle == {"run": "x"}


def test_first_matching_manifest_wins_and_may_inherit_the_top_level_lifecycle():
    parsed = recipe(
        [
            {"Platform": {"os": "windows"}, "Lifecycle": {"Run": "win"}},
            {"Platform": {"os": "linux", "architecture": "/amd64|aarch64/"}},
            {"Platform": {"os": "all"}, "Lifecycle": {"Run": "other"}},
        ],
        Lifecycle={"Run": "top"},
    )
    assert select_manifest(parsed, LINUX).lifecycle == {"Run": "top"}
    assert select_manifest(parsed, {"os": "linux", "architecture": "arm"}).lifecycle == {"Run": "other"}


def test_no_matching_manifest_is_the_nucleus_error():
    with pytest.raises(
        RecipeError, match=r"Failed to find usable recipe for current platform: \{os=linux, architecture=amd64\}, for package: 'c.X-v1.2.3'"
    ):
        select_manifest(recipe([{"Platform": {"os": "darwin"}}]), LINUX)
    with pytest.raises(RecipeError, match="is missing manifests"):
        select_manifest(recipe([]), LINUX)


def test_interpolation_fills_known_variables_and_leaves_the_rest():
    own = ComponentPaths("/a", "/u", "/w", {"n": 5, "obj": {"b": 1, "a": [1]}, "flag": True})
    dep = ComponentPaths("/da", "/du", "/dw", {"port": 8})
    variables = Variables(own, {"c.Dep": dep}, "/root", "thing")
    text = "{artifacts:path} {artifacts:decompressedPath} {work:path} {kernel:rootPath} {iot:thingName}"
    assert interpolate(text, variables) == "/a /u /w /root thing"
    assert interpolate("{configuration:/n} {configuration:/obj} {configuration:/flag}", variables) == '5 {"a":[1],"b":1} true'
    assert interpolate("{c.Dep:artifacts:path} {c.Dep:configuration:/port}", variables) == "/da 8"
    for untouched in ("{configuration:/missing}", "{c.Other:work:path}", "{foo:bar}", "{artifacts:nope}"):
        assert interpolate(untouched, variables) == untouched


def test_semver_requirements():
    assert semver.satisfies("1.4.0", "^1.2.0") and not semver.satisfies("2.0.0", "^1.2.0")
    assert semver.satisfies("0.2.5", "^0.2.1") and not semver.satisfies("0.3.0", "^0.2.1")
    assert semver.satisfies("1.2.9", "~1.2.0") and not semver.satisfies("1.3.0", "~1.2.0")
    assert semver.satisfies("1.5.0", ">=1.0.0 <2.0.0") and semver.satisfies("3.0.0", "<1.0.0 || >=3.0.0")
    assert semver.satisfies("1.9.9", "1.x") and semver.satisfies("7.0.0", "*")
    assert semver.satisfies("1.0.0", "1.0.0") and not semver.satisfies("1.0.1", "=1.0.0")
    assert semver.Version.parse("1.0.0-rc.1") < semver.Version.parse("1.0.0")
    with pytest.raises(ValueError):
        semver.satisfies("1.0.0", ">=banana")
