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
            "Invalid type for parameter ModelInput, value: text, type: <class 'str'>, valid types: <class 'bytes'>, <class 'bytearray'>",
        ),
        (
            {"ConfigId": "cfg", "ModelInput": b"x", "ModelPrediction": "0.5"},
            "Invalid type for parameter ModelPrediction, value: 0.5, type: <class 'str'>, valid types: <class 'list'>, <class 'dict'>",
        ),
        (
            {"ConfigId": "-bad", "ModelInput": b"x", "ModelPrediction": [1]},
            "Invalid value for parameter ConfigId, value: -bad, valid pattern: ^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$",
        ),
        (
            {"ConfigId": 7, "ModelInput": b"x", "ModelPrediction": [1]},
            "Invalid type for parameter ConfigId, value: 7, type: <class 'int'>, valid types: <class 'str'>",
        ),
        (
            {"ConfigId": "cfg", "ModelInput": b"x", "ModelPrediction": [0.5, float("nan")]},
            "Invalid parameter ModelPrediction must be json serializable: Out of range float values are not JSON compliant",
        ),
        (
            {"ConfigId": "cfg", "ModelInput": b"x", "ModelPrediction": [1], "Metadata": {"t": object}},
            "Invalid parameter Metadata must be json serializable: Object of type type is not JSON serializable",
        ),
        (
            {"ConfigId": "cfg", "ModelInput": b"x", "ModelPrediction": [1], "Metadata": [1]},
            "Invalid type for parameter Metadata, value: [1], type: <class 'list'>, valid types: <class 'dict'>",
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
    assert line in raised.value.report


def test_invoke_inference_service_checks_arguments_like_botocore():
    with pytest.raises(ParamValidationError) as raised:
        ml.client("inference").invoke_inference_service(AlgoType="x", ServiceName=3, ContentType="a/b", Body="not bytes")
    assert raised.value.report == [
        "Invalid type for parameter ServiceName, value: 3, type: <class 'int'>, valid types: <class 'str'>",
        "Invalid type for parameter Body, value: not bytes, type: <class 'str'>, valid types: <class 'bytes'>, <class 'bytearray'>, "
        "file-like object",
    ]
