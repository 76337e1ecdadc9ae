"""The strategies' fast paths decide exactly as the plain definitions do (issue 10's benchmark made them fast).

Each check of a thousand-box prediction is a C-speed pass, with shortcuts (a sum for finiteness, a count
of the commonest type, a subscript before `dict.get`) that fall back to the plain check when they cannot
settle a case; NOVELTY writes its products into a buffer kept for the purpose. The plain definitions are
written out here, one check at a time, and compared with the fast ones on random and hostile input.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from ml_feedback.config import parse_config
from ml_feedback.messages import FeedbackRequest
from ml_feedback.sampling import (
    Detections,
    _detection_problem,
    _finite_numbers,
    _probabilities,
    detection_count,
    detection_uncertainty,
    detections,
    entropy,
    label_text,
    novelty,
)
from ml_feedback.selection import Selector

# -- the plain definitions ---------------------------------------------------------------------------


def plain_finite_numbers(values: list[Any]) -> bool:
    return all(type(v) in (int, float) for v in values) and all(math.isfinite(v) for v in values)  # may raise OverflowError


def plain_detections(prediction: Any) -> tuple[list[Any], list[Any], bool] | str:
    """(scores, labels, class ids?) of a well-formed prediction, else `_detection_problem`'s words."""
    try:
        if type(prediction) is dict:
            rows = prediction.get("prediction")
            if len(prediction) == 1 and type(rows) is list and all(type(r) is list and len(r) == 6 for r in rows):
                scores, ids = [r[1] for r in rows], [r[0] for r in rows]
                if plain_finite_numbers(scores) and all(0 <= s <= 1 for s in scores) and plain_finite_numbers(ids):
                    return scores, ids, True
        elif type(prediction) is list and all(type(item) is dict for item in prediction):
            scores = [item.get("score") for item in prediction]
            labels = [item.get("label") for item in prediction]
            boxes = [item.get("box") for item in prediction]
            if (
                plain_finite_numbers(scores)
                and all(0 <= s <= 1 for s in scores)
                and all(label is None or type(label) is str for label in labels)
                and all(box is None or (type(box) is list and len(box) == 4) for box in boxes)
            ):
                return scores, labels, False
    except OverflowError:
        pass
    return _detection_problem(prediction)


def plain_count(scores: list[Any], labels: list[Any], class_ids: bool, wanted: frozenset[str] | None, test: Any) -> int:
    chosen = (s for s, label in zip(scores, labels, strict=True) if wanted is None or _matches(label, wanted, class_ids))
    return sum(1 for s in chosen if test(s))


def _matches(label: Any, wanted: frozenset[str], class_ids: bool) -> bool:
    if not class_ids:
        return label in wanted
    return any(label == float(text) for text in wanted if _is_number(text))


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def plain_entropy(probabilities: list[Any]) -> float:
    peak = max(probabilities)
    scaled = [p / peak for p in probabilities]
    total = math.fsum(scaled)
    return -math.fsum((p / total) * math.log(p / total) for p in scaled if p > 0)


# -- hostile input -----------------------------------------------------------------------------------

ODD = [None, True, False, 0, 1, 2, -1, 0.0, 1.0, -0.0, 1.0000000000000002, -1e-300, 5e-324, math.nan, math.inf, -math.inf]
ODD += [10**400, -(10**400), 2**53 + 1, "0.5", "", [], {}, [1, 2, 3, 4], (1, 2, 3, 4), 1e308]


class Subclass(dict):  # never out of JSON, but a caller could hand one in
    pass


def random_prediction(rng: random.Random) -> Any:
    def number() -> Any:
        roll = rng.random()
        return rng.random() if roll < 0.85 else rng.choice([0, 1, 0.0, 1.0]) if roll < 0.9 else rng.choice(ODD)

    def detection() -> Any:
        item: dict[str, Any] = {}
        if rng.random() < 0.97:
            item["score"] = number()
        if rng.random() < 0.8:
            item["label"] = rng.choice(["person", "car", "dog"]) if rng.random() < 0.97 else rng.choice(ODD)
        if rng.random() < 0.8:
            item["box"] = [rng.random() for _ in range(4)] if rng.random() < 0.97 else rng.choice([*ODD, [1, 2, 3], "abcd"])
        roll = rng.random()
        return Subclass(item) if roll < 0.005 else rng.choice(ODD) if roll < 0.01 else item

    def row() -> Any:
        values = [rng.choice([0, 1, 3.0, 7.0]) if rng.random() < 0.95 else rng.choice(ODD), number(), 0.1, 0.2, 0.3, 0.4]
        roll = rng.random()
        if roll < 0.01:
            return values[: rng.randrange(6)]
        if roll < 0.02:
            values[rng.randrange(6)] = rng.choice(ODD)
        return tuple(values) if roll > 0.995 else values

    count = rng.choice([0, 1, 2, 3, 10, 60])
    roll = rng.random()
    if roll < 0.45:
        return [detection() for _ in range(count)]
    if roll < 0.9:
        document: dict[str, Any] = {"prediction": [row() for _ in range(count)]}
        if rng.random() < 0.02:
            document["extra"] = 1
        return document
    return [number() for _ in range(count)] if roll < 0.95 else rng.choice(ODD)


def outcome(prediction: Any) -> tuple[list[Any], list[Any], bool] | str:
    found = detections(prediction)
    return found if isinstance(found, str) else (found.scores, found.raw_labels, found.class_ids)


# -- detections ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_detections_accept_and_refuse_exactly_what_the_plain_checks_do(seed):
    rng = random.Random(seed)
    wanted_sets = [None, frozenset({"person"}), frozenset({"car", "dog"}), frozenset({"0", "3", "x"}), frozenset({"1", "7.0"})]
    accepted = refused = 0
    for _ in range(3000):
        prediction = random_prediction(rng)
        expected = plain_detections(prediction)
        assert outcome(prediction) == expected, prediction
        if isinstance(expected, str):
            refused += 1
            continue
        accepted += 1
        scores, labels, class_ids = expected
        found = Detections(scores, labels, class_ids)
        for wanted in wanted_sets:
            low, high, least = rng.choice([0.0, 0.3, 0.5]), rng.choice([0.5, 0.7, 1.0]), rng.choice([1, 2, 5])
            unsure = plain_count(scores, labels, class_ids, wanted, lambda s, low=low, high=high: low <= s <= high)
            assert detection_uncertainty(found, low, high, least, wanted) is (unsure >= least)
            min_score, more, fewer = rng.choice([0.0, 0.5, 1.0]), rng.choice([None, 0, 3]), rng.choice([None, 1, 5])
            counted = plain_count(scores, labels, class_ids, wanted, lambda s, min_score=min_score: s >= min_score)
            assert detection_count(found, min_score, more, fewer, wanted) is (
                (more is not None and counted > more) or (fewer is not None and counted < fewer)
            )
    assert accepted > 500 and refused > 500  # both sides were exercised


def test_the_shortcuts_fall_back_where_they_cannot_settle_a_case():
    # Large finite values whose sum overflows, and two infinities whose sum is NaN: looked at one by one.
    assert _finite_numbers([1e308, 1e308]) and not _finite_numbers([math.inf, -math.inf]) and not _finite_numbers([0.5, math.nan])
    # Ints too large for a double that cancel in an exact int sum: still refused, as `math.isfinite` refuses them.
    with pytest.raises(OverflowError):
        _finite_numbers([10**400, -(10**400)])
    assert not _probabilities([10**400, -(10**400), 0.5])
    ids = {"prediction": [[10**400, 0.5, 0, 0, 1, 1], [-(10**400), 0.5, 0, 0, 1, 1]]}
    assert outcome(ids) == plain_detections(ids) and isinstance(outcome(ids), str)
    # A bool among the scores is not a number, though it sums and compares like one.
    assert isinstance(outcome([{"score": 0.5}, {"score": True}]), str)
    # Some detections without a label or a box: None in their place, the others' boxes still counted.
    mixed = [{"score": 0.5, "box": [1, 2, 3, 4]}, {"score": 1, "label": "cat"}, {"score": 0.0, "box": None}]
    assert outcome(mixed) == ([0.5, 1, 0.0], [None, "cat", None], False)
    assert isinstance(outcome([*mixed, {"score": 0.5, "box": [1, 2, 3]}]), str)


def test_a_detections_value_with_a_label_missing_for_a_score_is_refused_not_misread():
    with pytest.raises(ValueError):
        detection_count(Detections([0.5, 0.6], ["a"]), 0.5, 0, None, frozenset({"a"}))


def test_class_ids_match_labels_as_numbers():
    found = detections({"prediction": [[3, 0.5, 0, 0, 1, 1], [3.0, 0.6, 0, 0, 1, 1], [7, 0.7, 0, 0, 1, 1]]})
    assert isinstance(found, Detections)
    assert detection_count(found, 0.0, 1, None, frozenset({label_text(3)})) and not detection_count(found, 0.0, 2, None, frozenset({"3"}))


# -- entropy ---------------------------------------------------------------------------------------


def test_entropy_is_the_term_by_term_sum_to_the_bit():
    rng = np.random.default_rng(11)
    predictions = [rng.dirichlet(np.full(n, a)).astype(np.float32).tolist() for n in (2, 3, 10, 1000) for a in (0.05, 0.5, 5)]
    predictions += [[0.5, 0.25, 0.25], [2, 1, 1], [1, 0, 0], [1e308, 1e308], [0.0, 5e-324, 1.0], [3, 0.0, 1e-300, 7]]
    for prediction in predictions:
        assert entropy(prediction) == plain_entropy(prediction), prediction
    with pytest.raises(ZeroDivisionError):  # as before: a prediction of zeros has no largest value to scale by
        entropy([0, 0])


# -- NOVELTY: a window partly filled, full, and written over ------------------------------------------


def test_novelty_decides_as_a_fresh_product_with_the_window_as_it_fills_and_wraps_around():
    """The Selector's window (products written into a kept buffer) against the plain computation: a ring of the
    same rows and `ring[:filled] @ unit`, each request's threshold set at the nearest row's distance and just
    either side of it, so that a product differing in its last bit would flip a decision."""
    rng = np.random.default_rng(3)
    window, dimension = 7, 33
    target = parse_config(
        {
            "FeedbackConfigurationMap": {
                "Cfg": {
                    "s3-bucket-name": "bkt",
                    "content-type": "image/jpeg",
                    "sampling-strategy": {"strategy-name": "NOVELTY", "threshold": 0.0, "window": window},
                }
            }
        }
    ).feedback["Cfg"]
    selector = Selector()
    ring, filled, next_row = np.zeros((window, dimension), dtype=np.float32), 0, 0
    for index in range(3 * window + 2):
        embedding = rng.standard_normal(dimension).tolist()
        prepared = selector.prepare(target, FeedbackRequest("Cfg", b"x", None, [], embedding=embedding))
        unit = prepared.unit_embedding
        memory = selector._memory(target)
        if filled == 0:
            assert memory.novel(unit, 2.0) and memory.novel(unit, 0.0)
        else:
            distance = 1.0 - float((ring[:filled] @ unit).max())
            for threshold in (math.nextafter(distance, -math.inf), distance, math.nextafter(distance, math.inf)):
                assert memory.novel(unit, threshold) is (distance > threshold), (index, threshold)
                assert novelty(unit, ring[:filled], threshold) is (distance > threshold)
        assert selector.decide(target, prepared, 1, 0.0).selected  # threshold 0: every random direction is novel
        ring[next_row], next_row, filled = unit, (next_row + 1) % window, min(filled + 1, window)
        assert memory.filled == filled and np.array_equal(memory.recent_embeddings(), ring[:filled])
