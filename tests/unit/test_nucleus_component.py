"""The Nucleus's configuration rules and the effectiveConfig.yaml writer, as pure functions."""

from __future__ import annotations

import math

import pytest
import yaml

from greengrass_local.deployment.recipes import ComponentPaths, Variables, interpolate_tree
from greengrass_local.services.nucleus_config import (
    coerce_boolean,
    initial_configuration,
    interpolation_enabled,
    render_yaml,
    with_device_defaults,
)


def test_rendered_yaml_reads_back_as_written():
    tricky = ["s\u0085\x7f\u2028\u2029\ufeff\x00\x1f\U0001f600", 'a\\b"c\td\re\n', "{iot:thingName}", "", " lead", "é", "null", "1.0"]
    document = {
        "system": {"thingName": "t"},
        "services": {
            "b": {
                "configuration": {
                    "list": [{"z": 1, "a": {"x": "y"}}, [1, 2], *tricky, None, True, 1.5, 1e20, 10000000000],
                    "empty": {},
                    "none": [],
                    "true": "reserved key",
                    "a: b": "key with an indicator",
                    "_hidden": "left out",
                },
            },
            "A": {},
        },
    }
    text = render_yaml(document)
    assert text.startswith("---\nsystem:\n")
    back = yaml.safe_load(text)
    configuration = document["services"]["b"]["configuration"]
    del configuration["_hidden"]
    assert back == document
    assert list(back["services"]) == ["A", "b"]  # sorted case-insensitively, as the nucleus's Topics
    assert list(back["services"]["b"]["configuration"]["list"][0]) == ["z", "a"]  # a value inside a list keeps its order


def test_special_floats_are_yaml_floats():
    back = yaml.safe_load(render_yaml({"services": {"x": {"nan": math.nan, "inf": math.inf, "minus": -math.inf, "big": 1e300}}}))
    values = back["services"]["x"]
    assert math.isnan(values["nan"]) and values["inf"] == math.inf and values["minus"] == -math.inf and values["big"] == 1e300


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("yes", True),
        ("Y", True),
        ("TRUE", False),
        ("false", False),
        (1, True),
        (0.0, False),
        (None, False),
    ],
)
def test_interpolation_flag_is_coerced_as_the_nucleus_does(value, expected):
    assert coerce_boolean(value) is expected
    assert interpolation_enabled({"InterpolateComponentConfiguration": value}) is expected  # keys match in any case


def test_device_defaults_fill_only_what_is_missing():
    assert initial_configuration("eu-west-1")["awsRegion"] == "eu-west-1"
    assert initial_configuration("eu-west-1")["interpolateComponentConfiguration"] is False
    kept = with_device_defaults({"awsRegion": "ap-south-1", "interpolateComponentConfiguration": True}, "eu-west-1")
    assert (kept["awsRegion"], kept["interpolateComponentConfiguration"]) == ("ap-south-1", True)
    assert with_device_defaults({"awsRegion": ""}, "eu-west-1")["awsRegion"] == "eu-west-1"


def test_configuration_interpolation_fills_system_variables_only():
    own = ComponentPaths(artifacts="/a", decompressed="/d", work="/w", configuration={"x": "X"})
    dependency = ComponentPaths(artifacts="/dep/a", decompressed="/dep/d", work="/dep/w", configuration={"y": "Y"})
    variables = Variables(own=own, dependencies={"dep": dependency}, root_path="/root", thing_name="thing")
    node = {"k": ["{iot:thingName}/{kernel:rootPath}", "{configuration:/x}", "{dep:configuration:/y}", "{dep:artifacts:path}"]}
    assert interpolate_tree(node, variables, configuration=False) == {
        "k": ["thing//root", "{configuration:/x}", "{dep:configuration:/y}", "/dep/a"]
    }
    assert interpolate_tree(node, variables) == {"k": ["thing//root", "X", "Y", "/dep/a"]}
