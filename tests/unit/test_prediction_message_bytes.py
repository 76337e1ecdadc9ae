"""The IoT Core size check's arithmetic: a prediction message's length from its prediction's own encoded length."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ml_feedback import messages


def _value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value as a request's ModelPrediction may hold: nested lists and objects, non-ASCII text."""
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([rng.random(), -rng.random() * 1e300, 5e-324, rng.randrange(-(10**20), 10**20)])
    if kind == 2:
        return "".join(rng.choice('ab"\\\n\u00e9\u4e2d\U0001f600/') for _ in range(rng.randrange(8)))
    if kind == 3:
        return rng.randrange(1000)
    if kind in (4, 5):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {f"k{i}\u00e9": _value(rng, depth + 1) for i in range(rng.randrange(5))}


def _length_as_published(bucket: str, key: str, prediction: Any, config_id: str, metadata: dict[str, Any]) -> int:
    return len(messages.json_payload(messages.prediction_message(bucket, key, prediction, config_id, metadata)))


@pytest.mark.parametrize("seed", range(5))
def test_the_length_is_that_of_the_message_as_published(seed: int):
    rng = random.Random(seed)
    for _ in range(400):
        prediction = _value(rng)
        if not isinstance(prediction, (list, dict)):
            prediction = [prediction]
        metadata = {"publish-ts": "2026-12-02 12:00:00.000000", "n\u00e9": _value(rng)}
        key = f"feedback/{rng.randrange(10**6)}/\u00e9.bin"
        prediction_bytes = len(messages.json_payload(prediction))
        computed = messages.prediction_message_bytes("bucket", key, prediction_bytes, "Cfg\u00e9", metadata)
        assert computed == _length_as_published("bucket", key, prediction, "Cfg\u00e9", metadata)


def test_a_detectors_prediction_near_the_limit():
    boxes = [{"label": "car", "score": 0.1234567 + i / 1e6, "box": [0.5, 0.25, 0.125, 1.0]} for i in range(1700)]
    metadata = {"publish-ts": "2026-12-02 12:00:00.000000"}
    length = messages.prediction_message_bytes("b", "k", len(messages.json_payload(boxes)), "Cfg", metadata)
    assert length == _length_as_published("b", "k", boxes, "Cfg", metadata)
    assert 100_000 < length < messages.IOT_CORE_MESSAGE_LIMIT
