"""The v1 ML Feedback connector's four sampling strategies, as pure functions.

Seed 001: RANDOM_SAMPLING uploads when a uniform random number is below
`rate`; LEAST_CONFIDENCE when the top probability is at most `threshold`;
MARGIN when the top two differ by at most `threshold`; ENTROPY when the
natural-log entropy of the normalised prediction exceeds `threshold`
([.5, .25, .25] -> 1.03972).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .messages import shown
from .numbers import finite

RANDOM_SAMPLING = "RANDOM_SAMPLING"
LEAST_CONFIDENCE = "LEAST_CONFIDENCE"
MARGIN = "MARGIN"
ENTROPY = "ENTROPY"
STRATEGIES = (RANDOM_SAMPLING, LEAST_CONFIDENCE, MARGIN, ENTROPY)
USES_PREDICTION = (LEAST_CONFIDENCE, MARGIN, ENTROPY)


@dataclass(frozen=True)
class Strategy:
    name: str
    rate: float | None = None
    threshold: float | None = None


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
    """The upload decision; `draw` is a uniform random number in [0, 1) (RANDOM_SAMPLING only).

    Call `prediction_problem` first: predictions it rejects are not accepted here.
    """
    if strategy is None:
        return True
    if strategy.name == RANDOM_SAMPLING:
        assert strategy.rate is not None
        return draw < strategy.rate
    assert strategy.threshold is not None
    if strategy.name == LEAST_CONFIDENCE:
        return least_confidence(prediction, strategy.threshold)
    if strategy.name == MARGIN:
        return margin(prediction, strategy.threshold)
    return entropy(prediction) > strategy.threshold
