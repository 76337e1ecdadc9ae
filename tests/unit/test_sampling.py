"""The four strategies against seed 001's worked examples and their mirrors."""

from __future__ import annotations

import math

import pytest

from ml_feedback.sampling import (
    ENTROPY,
    LEAST_CONFIDENCE,
    MARGIN,
    RANDOM_SAMPLING,
    Strategy,
    entropy,
    prediction_problem,
    should_upload,
)


def test_seed_entropy_example():
    assert math.isclose(entropy([0.5, 0.25, 0.25]), 1.03972, abs_tol=5e-6)


def test_entropy_normalises_first():
    assert math.isclose(entropy([2, 1, 1]), entropy([0.5, 0.25, 0.25]))
    assert entropy([1, 0, 0]) == 0


def test_entropy_of_values_near_the_float_limit_does_not_overflow():
    assert math.isclose(entropy([1e308, 1e308]), math.log(2))
    assert (
        prediction_problem(Strategy(ENTROPY, threshold=0.5), [10**400, 1])
        == "ModelPrediction[0] is not a finite number: " + repr(10**400)[:253] + "..."
    )


@pytest.mark.parametrize(
    ("strategy", "prediction", "uploads"),
    [
        (Strategy(LEAST_CONFIDENCE, threshold=0.6), [0.2, 0.2, 0.4, 0.2], True),  # seed: .4 <= .6
        (Strategy(LEAST_CONFIDENCE, threshold=0.6), [0.1, 0.1, 0.7, 0.1], False),
        (Strategy(LEAST_CONFIDENCE, threshold=0.4), [0.3, 0.3, 0.4], True),  # equal counts as within
        (Strategy(MARGIN, threshold=0.02), [0.3, 0.35, 0.34, 0.01], True),  # seed: .35 - .34 <= .02
        (Strategy(MARGIN, threshold=0.02), [0.3, 0.5, 0.19, 0.01], False),
        (Strategy(ENTROPY, threshold=0.75), [0.5, 0.25, 0.25], True),  # seed: 1.03972 > .75
        (Strategy(ENTROPY, threshold=0.75), [0.9, 0.05, 0.05], False),
    ],
)
def test_uncertainty_strategies(strategy, prediction, uploads):
    assert prediction_problem(strategy, prediction) is None
    assert should_upload(strategy, prediction, draw=0.0) is uploads


def test_random_sampling_ignores_the_prediction():
    assert not any(should_upload(Strategy(RANDOM_SAMPLING, rate=0.0), {"any": "thing"}, draw=d) for d in (0.0, 0.5, 0.999))
    assert all(should_upload(Strategy(RANDOM_SAMPLING, rate=1.0), None, draw=d) for d in (0.0, 0.5, 0.999))
    assert should_upload(Strategy(RANDOM_SAMPLING, rate=0.5), [], draw=0.49)
    assert not should_upload(Strategy(RANDOM_SAMPLING, rate=0.5), [], draw=0.5)


def test_no_strategy_uploads_everything():
    assert should_upload(None, {"label": "cat"}, draw=0.99)


@pytest.mark.parametrize(
    ("strategy", "prediction", "problem"),
    [
        (LEAST_CONFIDENCE, [], "needs a non-empty ModelPrediction"),
        (LEAST_CONFIDENCE, {"cat": 0.9}, "needs ModelPrediction as a list"),
        (MARGIN, [1.0], "MARGIN needs at least 2 classes"),
        (ENTROPY, [0.5, float("nan")], "ModelPrediction[1] is not a finite number"),
        (ENTROPY, [0.5, -0.1], "ModelPrediction[1] is negative"),
        (ENTROPY, [0, 0], "does not sum to 0"),
        (LEAST_CONFIDENCE, [0.5, "high"], "ModelPrediction[1] is not a number"),
        (MARGIN, [True, 0.2], "ModelPrediction[0] is not a number"),
    ],
)
def test_predictions_a_strategy_cannot_use(strategy, prediction, problem):
    assert problem in prediction_problem(Strategy(strategy, threshold=0.5), prediction)


def test_any_prediction_will_do_without_an_uncertainty_strategy():
    assert prediction_problem(None, {"anything": [1, "x"]}) is None
    assert prediction_problem(Strategy(RANDOM_SAMPLING, rate=0.5), []) is None
