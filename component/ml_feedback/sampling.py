"""Sampling strategies as pure functions: the v1 connector's four, then ours (SPEC §10).

Seed 001: RANDOM_SAMPLING uploads when a uniform random number is below
`rate`; LEAST_CONFIDENCE when the top probability is at most `threshold`;
MARGIN when the top two differ by at most `threshold`; ENTROPY when the
natural-log entropy of the normalised prediction exceeds `threshold`
([.5, .25, .25] -> 1.03972).

Ours: DETECTION_UNCERTAINTY and DETECTION_COUNT read a detector's boxes;
NOVELTY and NEAR_DUPLICATE compare a request with the configuration's recent
uploads, which `selection.py` remembers and hands in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .messages import shown
from .numbers import finite

RANDOM_SAMPLING = "RANDOM_SAMPLING"
LEAST_CONFIDENCE = "LEAST_CONFIDENCE"
MARGIN = "MARGIN"
ENTROPY = "ENTROPY"
V1_STRATEGIES = (RANDOM_SAMPLING, LEAST_CONFIDENCE, MARGIN, ENTROPY)
DETECTION_UNCERTAINTY = "DETECTION_UNCERTAINTY"
DETECTION_COUNT = "DETECTION_COUNT"
NOVELTY = "NOVELTY"
NEAR_DUPLICATE = "NEAR_DUPLICATE"
STRATEGIES = (*V1_STRATEGIES, DETECTION_UNCERTAINTY, DETECTION_COUNT, NOVELTY, NEAR_DUPLICATE)
USES_PREDICTION = (LEAST_CONFIDENCE, MARGIN, ENTROPY)
USES_DETECTIONS = (DETECTION_UNCERTAINTY, DETECTION_COUNT)
DETECTION_SHAPE = (
    'a list of detections [{"label": "text" (optional), "score": 0..1, "box": [x, y, w, h] (optional)}, ...] '
    'or SageMaker\'s object-detection output {"prediction": [[class_id, score, xmin, ymin, xmax, ymax], ...]}'
)


@dataclass(frozen=True)
class Strategy:
    """One `sampling-strategy` object; each name uses only its own keys (the others keep their defaults)."""

    name: str
    rate: float | None = None
    threshold: float | None = None
    low: float = 0.0
    high: float = 1.0
    min_count: int = 1
    labels: frozenset[str] | None = None
    min_score: float = 0.0
    more_than: int | None = None
    less_than: int | None = None
    window: int = 256
    max_distance: int = 6
    window_seconds: float = 60.0


@dataclass(frozen=True)
class Detection:
    score: float
    label: str | None = None


def label_text(label: Any) -> str:
    """A label or class id as the text `labels` are matched against: 3 and 3.0 are "3"."""
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label)


def detections(prediction: Any) -> list[Detection] | str:
    """A detector's prediction as its detections, or why it is not one (with the shape expected)."""
    if isinstance(prediction, dict):
        rows = prediction.get("prediction")
        if set(prediction) != {"prediction"} or not isinstance(rows, list):
            return f"ModelPrediction must be {DETECTION_SHAPE}"
        found = []
        for index, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != 6 or not all(_number(value) for value in row):
                return f"ModelPrediction.prediction[{index}] must be [class_id, score, xmin, ymin, xmax, ymax], got {shown(row)}"
            if not 0 <= row[1] <= 1:
                return f"ModelPrediction.prediction[{index}] has score {row[1]!r}; a score is between 0 and 1"
            found.append(Detection(float(row[1]), label_text(row[0])))
        return found
    if not isinstance(prediction, list):
        return f"ModelPrediction must be {DETECTION_SHAPE}"
    found = []
    for index, item in enumerate(prediction):
        if not isinstance(item, dict):
            return f"ModelPrediction[{index}] is not a detection object; ModelPrediction must be {DETECTION_SHAPE}"
        if "score" not in item:
            return f"ModelPrediction[{index}] has no score; ModelPrediction must be {DETECTION_SHAPE}"
        score, label, box = item["score"], item.get("label"), item.get("box")
        if not _number(score) or not 0 <= score <= 1:
            return f"ModelPrediction[{index}].score must be a number between 0 and 1, got {shown(score)}"
        if label is not None and not isinstance(label, str):
            return f"ModelPrediction[{index}].label must be text, got {shown(label)}"
        if box is not None and (not isinstance(box, list) or len(box) != 4 or not all(_number(value) for value in box)):
            return f"ModelPrediction[{index}].box must be [x, y, w, h], got {shown(box)}"
        found.append(Detection(float(score), label))
    return found


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and finite(value, text_allowed=False) is not None


def _counted(found: Sequence[Detection], labels: frozenset[str] | None) -> list[Detection]:
    return list(found) if labels is None else [d for d in found if d.label is not None and d.label in labels]


def detection_uncertainty(found: Sequence[Detection], low: float, high: float, min_count: int, labels: frozenset[str] | None) -> bool:
    """At least `min_count` detections (of `labels`) the model is unsure of: `low <= score <= high`."""
    return sum(1 for d in _counted(found, labels) if low <= d.score <= high) >= min_count


def detection_count(
    found: Sequence[Detection], min_score: float, more_than: int | None, less_than: int | None, labels: frozenset[str] | None
) -> bool:
    """An unusual scene: more than `more_than` or fewer than `less_than` detections (of `labels`) scoring `min_score` or more."""
    count = sum(1 for d in _counted(found, labels) if d.score >= min_score)
    return (more_than is not None and count > more_than) or (less_than is not None and count < less_than)


def novelty(unit_embedding: Any, unit_window: Any, threshold: float) -> bool:
    """Farther than `threshold` in cosine distance from every remembered embedding (numpy; all rows of unit length).

    An empty window holds nothing to be near: the first sample is novel.
    """
    if len(unit_window) == 0:
        return True
    return bool(1.0 - float((unit_window @ unit_embedding).max()) > threshold)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def near_duplicate(fingerprint: int, recent: Iterable[int], max_distance: int) -> bool:
    """Some recent upload's fingerprint is within `max_distance` bits of this one."""
    return any((fingerprint ^ other).bit_count() <= max_distance for other in recent)


def least_confidence(probabilities: Sequence[float], threshold: float) -> bool:
    return max(probabilities) <= threshold


def margin(probabilities: Sequence[float], threshold: float) -> bool:
    first, second = sorted(probabilities, reverse=True)[:2]
    return first - second <= threshold


def entropy(probabilities: Sequence[float]) -> float:
    """-Σ p·ln p over the prediction normalised to sum 1 (zeros contribute nothing).

    Scaled by the largest value first, so values near the float limit cannot overflow the sum.
    """
    peak = max(probabilities)
    scaled = [p / peak for p in probabilities]
    total = math.fsum(scaled)
    return -math.fsum((p / total) * math.log(p / total) for p in scaled if p > 0)


def prediction_problem(strategy: Strategy | None, prediction: Any) -> str | None:
    """Why a strategy cannot use this prediction, or None when it can."""
    if strategy is not None and strategy.name in USES_DETECTIONS:
        found = detections(prediction)
        return found if isinstance(found, str) else None
    if strategy is None or strategy.name not in USES_PREDICTION:
        return None
    if not isinstance(prediction, list):
        return f"{strategy.name} needs ModelPrediction as a list of probabilities, got an object"
    if not prediction:
        return f"{strategy.name} needs a non-empty ModelPrediction"
    for index, value in enumerate(prediction):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"ModelPrediction[{index}] is not a number: {shown(value)}"
        if finite(value, text_allowed=False) is None:
            return f"ModelPrediction[{index}] is not a finite number: {shown(value)}"
        if value < 0:
            return f"ModelPrediction[{index}] is negative: {value!r}"
    if strategy.name == MARGIN and len(prediction) < 2:
        return "MARGIN needs at least 2 classes in ModelPrediction"
    if strategy.name == ENTROPY and not any(prediction):
        return "ENTROPY needs a ModelPrediction that does not sum to 0"
    return None


def should_upload(strategy: Strategy | None, prediction: Any, draw: float) -> bool:
    """The decision of a strategy that needs no memory; `draw` is a uniform random number in [0, 1) (RANDOM_SAMPLING only).

    Call `prediction_problem` first: predictions it rejects are not accepted here.
    NOVELTY and NEAR_DUPLICATE are decided by `selection.Selector`, which remembers.
    """
    if strategy is None:
        return True
    if strategy.name in USES_DETECTIONS:
        found = detections(prediction)
        assert not isinstance(found, str)
        if strategy.name == DETECTION_UNCERTAINTY:
            return detection_uncertainty(found, strategy.low, strategy.high, strategy.min_count, strategy.labels)
        return detection_count(found, strategy.min_score, strategy.more_than, strategy.less_than, strategy.labels)
    if strategy.name == RANDOM_SAMPLING:
        assert strategy.rate is not None
        return draw < strategy.rate
    assert strategy.threshold is not None
    if strategy.name == LEAST_CONFIDENCE:
        return least_confidence(prediction, strategy.threshold)
    if strategy.name == MARGIN:
        return margin(prediction, strategy.threshold)
    return entropy(prediction) > strategy.threshold
