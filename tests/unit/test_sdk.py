"""The v1 SDK's argument checks: they fail before anything is sent; and what publish sends."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import greengrass_machine_learning_sdk as ml
from greengrass_machine_learning_sdk import ParamValidationError, _ipc
from ml_feedback import messages


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
            'Unknown parameter in input: "Meta", must be one of: ConfigId, ModelInput, ModelPrediction, Metadata, Embedding, Fingerprint',
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


# -- beyond v1: Embedding and Fingerprint ----------------------------------------------------------

VALID = {"ConfigId": "cfg", "ModelInput": b"x", "ModelPrediction": [1]}


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (
            {"Embedding": "0.5"},
            "Invalid type for parameter Embedding, value: 0.5, type: <class 'str'>, "
            "valid types: <class 'list'>, <class 'tuple'>, <class 'numpy.ndarray'>",
        ),
        (
            {"Embedding": None},
            "Invalid type for parameter Embedding, value: None, type: <class 'NoneType'>, "
            "valid types: <class 'list'>, <class 'tuple'>, <class 'numpy.ndarray'>",
        ),
        ({"Embedding": []}, "Invalid length for parameter Embedding, value: [], valid min length: 1"),
        ({"Embedding": ()}, "Invalid length for parameter Embedding, value: (), valid min length: 1"),
        ({"Embedding": np.zeros(0)}, "Invalid length for parameter Embedding, value: [], valid min length: 1"),
        (
            {"Embedding": [0.1, 0.2, 0.3, float("nan")]},
            "Invalid value for parameter Embedding[3], value: nan, valid values: finite numbers",
        ),
        ({"Embedding": (1, float("-inf"))}, "Invalid value for parameter Embedding[1], value: -inf, valid values: finite numbers"),
        ({"Embedding": [10**400]}, f"Invalid value for parameter Embedding[0], value: {10**400}, valid values: finite numbers"),
        (
            {"Embedding": np.array([0.5, np.inf], dtype=np.float32)},
            "Invalid value for parameter Embedding[1], value: inf, valid values: finite numbers",
        ),
        (
            {"Embedding": [1, "2"]},
            "Invalid type for parameter Embedding[1], value: 2, type: <class 'str'>, valid types: <class 'float'>, <class 'int'>",
        ),
        (
            {"Embedding": [True, 0.5]},
            "Invalid type for parameter Embedding[0], value: True, type: <class 'bool'>, valid types: <class 'float'>, <class 'int'>",
        ),
        (
            {"Embedding": [[0.5]]},
            "Invalid type for parameter Embedding[0], value: [0.5], type: <class 'list'>, valid types: <class 'float'>, <class 'int'>",
        ),
        (
            {"Embedding": np.array([[0.5, 1.0]])},
            "Invalid value for parameter Embedding, value: [[0.5 1. ]], valid values: 1-D arrays, not shape (1, 2)",
        ),
        ({"Embedding": np.array(0.5)}, "Invalid value for parameter Embedding, value: 0.5, valid values: 1-D arrays, not shape ()"),
        (
            {"Embedding": np.array([1 + 2j])},
            "Invalid type for parameter Embedding[0], value: (1+2j), type: <class 'complex'>, valid types: <class 'float'>, <class 'int'>",
        ),
        (
            {"Fingerprint": 1.5},
            "Invalid type for parameter Fingerprint, value: 1.5, type: <class 'float'>, valid types: <class 'int'>, <class 'str'>",
        ),
        (
            {"Fingerprint": True},
            "Invalid type for parameter Fingerprint, value: True, type: <class 'bool'>, valid types: <class 'int'>, <class 'str'>",
        ),
        (
            {"Fingerprint": b"0123456789abcdef"},
            "Invalid type for parameter Fingerprint, value: b'0123456789abcdef', type: <class 'bytes'>, valid types: <class 'int'>, <class 'str'>",
        ),
        ({"Fingerprint": -1}, "Invalid value for parameter Fingerprint, value: -1, valid min value: 0"),
        (
            {"Fingerprint": 2**64},
            "Invalid value for parameter Fingerprint, value: 18446744073709551616, valid max value: 18446744073709551615",
        ),
        (
            {"Fingerprint": "0123456789abcde"},
            "Invalid value for parameter Fingerprint, value: 0123456789abcde, valid pattern: ^[0-9a-fA-F]{16}$",
        ),
        (
            {"Fingerprint": "0x0123456789abcd"},
            "Invalid value for parameter Fingerprint, value: 0x0123456789abcd, valid pattern: ^[0-9a-fA-F]{16}$",
        ),
        (
            {"Fingerprint": "0123456789abcdeg"},
            "Invalid value for parameter Fingerprint, value: 0123456789abcdeg, valid pattern: ^[0-9a-fA-F]{16}$",
        ),
        (
            {"Fingerprint": "0123456789abcdef\n"},
            "Invalid value for parameter Fingerprint, value: 0123456789abcdef\n, valid pattern: ^[0-9a-fA-F]{16}$",
        ),
    ],
)
def test_embedding_and_fingerprint_are_checked_like_botocore(extra, line):
    with pytest.raises(ParamValidationError) as raised:
        ml.client("feedback").publish(**VALID, **extra)
    assert raised.value.report == [line]


def test_every_problem_is_reported_at_once():
    with pytest.raises(ParamValidationError) as raised:
        ml.client("feedback").publish(ConfigId="cfg", ModelInput="x", ModelPrediction=[1], Embedding=[], Fingerprint="x")
    assert raised.value.report == [
        "Invalid type for parameter ModelInput, value: x, type: <class 'str'>, valid types: <class 'bytes'>, <class 'bytearray'>",
        "Invalid length for parameter Embedding, value: [], valid min length: 1",
        "Invalid value for parameter Fingerprint, value: x, valid pattern: ^[0-9a-fA-F]{16}$",
    ]


class Published:
    """Stands in for the IPC client: keeps what publish_to_topic is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def publish_to_topic(self, *, topic: str, publish_message: Any) -> None:
        self.calls.append((topic, publish_message))

    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(message.binary_message.message) for _, message in self.calls]


@pytest.fixture
def published(monkeypatch) -> Published:
    stub = Published()
    monkeypatch.setattr(_ipc, "ipc_client", lambda: stub)
    monkeypatch.delenv("ML_FEEDBACK_REQUEST_TOPIC", raising=False)
    return stub


def test_a_v1_call_sends_neither_field(published):
    feedback = ml.client("feedback")
    feedback.publish(**VALID, Metadata={"n": 6})
    [(topic, _)] = published.calls
    assert topic == "ml/feedback/requests"
    assert published.documents() == [
        {"ConfigId": "cfg", "ModelInput": "eA==", "ModelPrediction": [1], "Metadata": {"n": 6}, "RequestId": feedback.last_request_id}
    ]


def test_embedding_is_sent_as_a_list_of_floats(published):
    ml.client("feedback").publish(**VALID, Embedding=[1, 2.5, -3])
    ml.client("feedback").publish(**VALID, Embedding=(0.25,))
    ml.client("feedback").publish(**VALID, Embedding=np.array([0.5, 0.1, -2], dtype=np.float32))
    ml.client("feedback").publish(**VALID, Embedding=np.arange(3, dtype=np.int64))
    ml.client("feedback").publish(**VALID, Embedding=[np.float32(0.5), np.int16(7)])
    bodies = [message.binary_message.message for _, message in published.calls]
    assert b'"Embedding": [1.0, 2.5, -3.0]' in bodies[0]
    # float32 0.1 is 0.100000001490116119384765625: its shortest float64 text
    assert b'"Embedding": [0.5, 0.10000000149011612, -2.0]' in bodies[2]
    embeddings = [document["Embedding"] for document in published.documents()]
    assert embeddings == [[1.0, 2.5, -3.0], [0.25], [0.5, 0.10000000149011612, -2.0], [0.0, 1.0, 2.0], [0.5, 7.0]]
    assert all(type(number) is float for embedding in embeddings for number in embedding)
    assert all("Fingerprint" not in document for document in published.documents())


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (0, "0000000000000000"),
        (1, "0000000000000001"),
        (0x0123456789ABCDEF, "0123456789abcdef"),
        (2**64 - 1, "ffffffffffffffff"),
        (np.uint64(2**64 - 1), "ffffffffffffffff"),
        ("0123456789ABCDEF", "0123456789abcdef"),
        ("FfFfFfFf00000000", "ffffffff00000000"),
        ("0123456789abcdef", "0123456789abcdef"),
    ],
)
def test_fingerprint_is_sent_as_16_lowercase_hex_digits(published, given, sent):
    ml.client("feedback").publish(**VALID, Fingerprint=given)
    [document] = published.documents()
    assert document["Fingerprint"] == sent
    assert "Embedding" not in document


def test_the_component_reads_back_what_the_sdk_sends(published):
    feedback = ml.client("feedback")
    image = np.tile(np.arange(9, dtype=np.uint8), (8, 1))
    feedback.publish(**VALID, Embedding=np.array([0.5, -1.25]), Fingerprint=ml.fingerprint(image))
    [(_, message)] = published.calls
    request = messages.parse_feedback_request(message.binary_message.message, "unused")
    assert (request.request_id, request.embedding, request.fingerprint) == (feedback.last_request_id, [0.5, -1.25], "ffffffffffffffff")
    assert (messages.parse_embedding(request.embedding), messages.parse_fingerprint(request.fingerprint)) == ([0.5, -1.25], 2**64 - 1)


def test_nothing_is_sent_when_a_check_fails(published):
    feedback = ml.client("feedback")
    with pytest.raises(ParamValidationError):
        feedback.publish(**VALID, Embedding=[float("nan")])
    assert published.calls == []
    assert feedback.last_request_id is None


def test_numpy_is_imported_only_for_an_array():
    script = """
import sys
import greengrass_machine_learning_sdk as ml
from greengrass_machine_learning_sdk import _ipc
assert "numpy" not in sys.modules, "import greengrass_machine_learning_sdk"
class Stub:
    def publish_to_topic(self, **_):
        pass
_ipc.ipc_client = lambda: Stub()
ml.client("feedback").publish(ConfigId="cfg", ModelInput=b"x", ModelPrediction=[1], Embedding=[0.5, 1], Fingerprint="00000000000000ff")
assert "numpy" not in sys.modules, "publish with a list"
ml.fingerprint
assert "numpy" not in sys.modules, "ml.fingerprint"
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
