"""The v1 SDK's argument checks: they fail before anything is sent."""

from __future__ import annotations

import pytest

import greengrass_machine_learning_sdk as ml
from greengrass_machine_learning_sdk import ParamValidationError


def test_unknown_client_names_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown client name 'training': valid names are 'feedback', 'inference'"):
        ml.client("training")


@pytest.mark.parametrize(
    ("kwargs", "line"),
    [
        ({"ModelInput": b"x", "ModelPrediction": [1]}, 'Missing required parameter in input: "ConfigId"'),
        ({"ConfigId": "cfg", "ModelPrediction": [1]}, 'Missing required parameter in input: "ModelInput"'),
        ({"ConfigId": "cfg", "ModelInput": b"x"}, 'Missing required parameter in input: "ModelPrediction"'),
        (
            {"ConfigId": "cfg", "ModelInput": "text", "ModelPrediction": [1]},
            "Invalid type (valid types: <class 'bytes'>, <class 'bytearray'>) for parameter ModelInput",
        ),
        (
            {"ConfigId": "cfg", "ModelInput": b"x", "ModelPrediction": "0.5"},
            "Invalid type (valid types: <class 'list'>, <class 'dict'>) for parameter ModelPrediction",
        ),
        (
            {"ConfigId": "-bad", "ModelInput": b"x", "ModelPrediction": [1]},
            "Invalid value (must match ^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$) for parameter ConfigId",
        ),
        ({"ConfigId": 7, "ModelInput": b"x", "ModelPrediction": [1]}, "Invalid type (valid types: <class 'str'>) for parameter ConfigId"),
        (
            {"ConfigId": "cfg", "ModelInput": b"x", "ModelPrediction": [1], "Metadata": [1]},
            "Invalid type (valid types: <class 'dict'>) for parameter Metadata",
        ),
        (
            {"ConfigId": "cfg", "ModelInput": b"x", "ModelPrediction": [1], "Meta": {}},
            'Unknown parameter in input: "Meta", must be one of: ConfigId, ModelInput, ModelPrediction, Metadata',
        ),
    ],
)
def test_publish_checks_arguments_like_v1(kwargs, line):
    with pytest.raises(ParamValidationError) as raised:
        ml.client("feedback").publish(**kwargs)
    assert str(raised.value).startswith("Parameter validation failed:\n")
    assert any(entry.startswith(line) for entry in raised.value.report), raised.value.report
