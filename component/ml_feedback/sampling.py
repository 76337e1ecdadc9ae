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

import functools
import math
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
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
class Detections:
    """A detector's output: each detection's score and label, in order (a label is None where there is none)."""

    scores: list[float]
    raw_labels: list[Any]
    class_ids: bool = False  # SageMaker's rows: labels are class ids, matched as text

    @property
    def labels(self) -> list[str | None]:
        return [label_text(label) for label in self.raw_labels] if self.class_ids else self.raw_labels


def label_text(label: Any) -> str:
    """A label or class id as the text `labels` are matched against: 3 and 3.0 are "3"."""
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label)


def detections(prediction: Any) -> Detections | str:
    """A detector's prediction as its detections, or why it is not one (with the shape expected).

    Boxes are checked for their form (four values) but not read: no strategy uses them. A busy
    detector sends a thousand boxes in every request, so the common, well-formed case is checked
    a column at a time at C speed; only a request that fails it is walked box by box, for the message.
    """
    try:
        found = _well_formed_detections(prediction)
    except (TypeError, AttributeError, OverflowError, ValueError):
        found = None
    return found if found is not None else _detection_problem(prediction)


def _well_formed_detections(prediction: Any) -> Detections | None:
    """The detections of a well-formed prediction, else None (or an exception): `_detection_problem` then says why.

    This runs on every request of a detector configuration, a thousand boxes each, within the intake
    thread's budget of a millisecond (`bench/selection.py`): each check is one pass at C speed over a
    column, with as few passes as the checks allow.
    """
    if type(prediction) is dict:
        rows = prediction.get("prediction")
        if len(prediction) != 1 or type(rows) is not list or not _typed(rows, list) or not _all_equal(map(len, rows), 6, len(rows)):
            return None
        scores, ids = [row[1] for row in rows], [row[0] for row in rows]
        return Detections(scores, ids, class_ids=True) if _fractions(scores) and _finite_numbers(ids) else None
    if type(prediction) is not list or not _typed(prediction, dict):
        return None
    try:
        scores = [item["score"] for item in prediction]
    except KeyError:
        return None  # a detection without a score
    labels, boxes = _column(prediction, "label"), _column(prediction, "box")
    if not _fractions(scores) or not _typed(labels, str, type(None)):
        return None
    kinds = list(map(type, boxes))
    if kinds.count(list) != len(kinds):  # some detections without a box (None): the others' are counted
        if not set(kinds) <= {list, type(None)}:
            return None
        boxes = [box for box in boxes if box is not None]
    return Detections(scores, labels) if _all_equal(map(len, boxes), 4, len(boxes)) else None


def _typed(values: list[Any], *kinds: type) -> bool:
    """Whether each value's type is one of `kinds`, exactly (a bool is not an int here).

    Counting the first kind in a list of types is cheaper than building a set of them, and settles the
    common case (all floats, all dicts); a mix is then checked as a set.
    """
    found = list(map(type, values))
    return found.count(kinds[0]) == len(found) or set(found) <= set(kinds)


def _all_equal(values: Iterator[Any], expected: Any, count: int) -> bool:
    """Whether all `count` of `values` equal `expected` (a row's or a box's length): `list.count` compares at C speed."""
    return list(values).count(expected) == count


def _column(items: list[dict[str, Any]], key: str) -> list[Any]:
    """Each detection's `key`, None where it has none (a subscript per item is cheaper than `dict.get`; most have every key)."""
    try:
        return [item[key] for item in items]
    except KeyError:
        return list(map(dict.get, items, repeat(key)))


def _finite_numbers(values: list[Any]) -> bool:
    """Ints and floats only (not bools), all finite."""
    return _typed(values, float, int) and _all_finite(values)


def _all_finite(values: list[Any]) -> bool:
    """Whether every number is finite; an int too large for a double raises OverflowError, as `math.isfinite` does.

    `math.fsum` at C speed settles the common case: it takes each value as a double (raising for an int
    too large for one), and a NaN or an infinity among them makes the sum one. Only when the sum is not
    finite, or raises, are the values looked at one by one.
    """
    try:
        if math.isfinite(math.fsum(values)):
            return True
    except (OverflowError, ValueError):  # a value too large for a double, an overflow of the sum, or -inf + inf
        pass
    return all(map(math.isfinite, values))


def _probabilities(values: list[Any]) -> bool:
    """Finite, non-negative numbers (ints too large for a double are not)."""
    try:
        return _finite_numbers(values) and min(values) >= 0
    except OverflowError:
        return False


def _fractions(values: list[Any]) -> bool:
    """Finite numbers from 0 to 1 (once all are finite, `min` and `max` are exact: no NaN to hide behind)."""
    return _finite_numbers(values) and (not values or (min(values) >= 0 and max(values) <= 1))


def _detection_problem(prediction: Any) -> str:
    """The first thing wrong with a prediction that is not a well-formed detection list, in words."""
    if isinstance(prediction, dict):
        rows = prediction.get("prediction")
        if len(prediction) != 1 or not isinstance(rows, list):
            return f"ModelPrediction must be {DETECTION_SHAPE}"
        for index, row in enumerate(rows):
            if type(row) is not list or len(row) != 6 or not _number(row[0]) or not _number(row[1]):
                return f"ModelPrediction.prediction[{index}] must be [class_id, score, xmin, ymin, xmax, ymax], got {shown(row)}"
            if not 0 <= row[1] <= 1:
                return f"ModelPrediction.prediction[{index}] has score {row[1]!r}; a score is between 0 and 1"
        return f"ModelPrediction must be {DETECTION_SHAPE}"
    if not isinstance(prediction, list):
        return f"ModelPrediction must be {DETECTION_SHAPE}"
    for index, item in enumerate(prediction):
        if type(item) is not dict:
            return f"ModelPrediction[{index}] is not a detection object; ModelPrediction must be {DETECTION_SHAPE}"
        score = item.get("score")
        if score is None:
            return f"ModelPrediction[{index}] has no score; ModelPrediction must be {DETECTION_SHAPE}"
        if not _number(score) or not 0 <= score <= 1:
            return f"ModelPrediction[{index}].score must be a number between 0 and 1, got {shown(score)}"
        label = item.get("label")
        if label is not None and type(label) is not str:
            return f"ModelPrediction[{index}].label must be text, got {shown(label)}"
        box = item.get("box")
        if box is not None and (type(box) is not list or len(box) != 4):
            return f"ModelPrediction[{index}].box must be [x, y, w, h], got {shown(box)}"
    return f"ModelPrediction must be {DETECTION_SHAPE}"


def _number(value: Any) -> bool:
    """A finite int or float, not a bool (NaN fails every comparison, so `value - value == 0` holds only for finite ones)."""
    kind = type(value)
    return (kind is float and value - value == 0) or kind is int


def _counted(found: Detections, labels: frozenset[str] | None) -> list[float]:
    """The scores of the detections of `labels` (all of them without)."""
    if labels is None:
        return found.scores
    if len(found.scores) != len(found.raw_labels):
        raise ValueError("Detections holds a label for each score")
    # Class ids are compared as numbers, not turned into text one by one: "3" matches 3 and 3.0.
    wanted = _class_ids(labels) if found.class_ids else labels
    return list(compress(found.scores, map(wanted.__contains__, found.raw_labels)))


@functools.lru_cache(maxsize=64)
def _class_ids(labels: frozenset[str]) -> frozenset[float]:
    ids = set()
    for label in labels:
        number = finite(label)
        if number is not None:
            ids.add(number)
    return frozenset(ids)


def detection_uncertainty(found: Detections, low: float, high: float, min_count: int, labels: frozenset[str] | None) -> bool:
    """At least `min_count` detections (of `labels`) the model is unsure of: `low <= score <= high`."""
    return len([score for score in _counted(found, labels) if low <= score <= high]) >= min_count


def detection_count(
    found: Detections, min_score: float, more_than: int | None, less_than: int | None, labels: frozenset[str] | None
) -> bool:
    """An unusual scene: more than `more_than` or fewer than `less_than` detections (of `labels`) scoring `min_score` or more."""
    count = len([score for score in _counted(found, labels) if score >= min_score])
    return (more_than is not None and count > more_than) or (less_than is not None and count < less_than)


def novelty(unit_embedding: Any, unit_window: Any, threshold: float, out: Any = None) -> bool:
    """Farther than `threshold` in cosine distance from every remembered embedding (numpy; all rows of unit length).

    An empty window holds nothing to be near: the first sample is novel. `out`, a float32 array of one
    number per row, takes the products instead of a new array each request (`unit_window.dot` writes them
    with the same BLAS call as `unit_window @ unit_embedding`, so to the bit the same numbers).
    """
    if len(unit_window) == 0:
        return True
    similarities = unit_window @ unit_embedding if out is None else unit_window.dot(unit_embedding, out=out)
    return bool(1.0 - float(similarities.max()) > threshold)


def near_duplicate(fingerprint: int, recent: Any, max_distance: int) -> bool:
    """Some recent upload's fingerprint (a numpy uint64 array) is within `max_distance` bits of this one."""
    import numpy

    if len(recent) == 0:
        return False
    return bool((_popcount(numpy, recent ^ numpy.uint64(fingerprint)) <= max_distance).any())


def _popcount(numpy: Any, values: Any) -> Any:
    """Set bits of each uint64 (numpy 2's bitwise_count, or a byte table on older numpy)."""
    if hasattr(numpy, "bitwise_count"):
        return numpy.bitwise_count(values)
    table = numpy.array([bin(byte).count("1") for byte in range(256)], dtype=numpy.uint8)
    return table[values.view(numpy.uint8)].reshape(-1, 8).sum(axis=1)


def least_confidence(probabilities: Sequence[float], threshold: float) -> bool:
    return max(probabilities) <= threshold


def margin(probabilities: Sequence[float], threshold: float) -> bool:
    first, second = sorted(probabilities, reverse=True)[:2]
    return first - second <= threshold


def entropy(probabilities: Sequence[float]) -> float:
    """-Σ p·ln p over the prediction normalised to sum 1 (zeros contribute nothing).

    Scaled by the largest value first, so values near the float limit cannot overflow the sum.
    Each share is divided out once and the products are summed by `math.fsum` from C-level maps
    (a thousand classes per request): the same roundings, in the same order, as term by term.
    """
    peak = max(probabilities)
    scaled = [p / peak for p in probabilities]
    total = math.fsum(scaled)
    shares = [p / total for p in scaled if p > 0]
    return -math.fsum(map(operator.mul, shares, map(math.log, shares)))


def prediction_problem(strategy: Strategy | None, prediction: Any) -> str | None:
    """Why one of v1's strategies cannot use this prediction, or None when it can (detections: `detections`)."""
    if strategy is None or strategy.name not in USES_PREDICTION:
        return None
    if not isinstance(prediction, list):
        return f"{strategy.name} needs ModelPrediction as a list of probabilities, got an object"
    if not prediction:
        return f"{strategy.name} needs a non-empty ModelPrediction"
    if not _probabilities(prediction):  # the common case at C speed; otherwise find the first bad value for the message
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
    """The decision of one of v1's strategies; `draw` is a uniform random number in [0, 1) (RANDOM_SAMPLING only).

    Call `prediction_problem` first: predictions it rejects are not accepted here. The strategies beyond v1
    are decided by `selection.Selector`, which parses detections once and remembers uploads.
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
