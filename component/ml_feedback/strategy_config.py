"""`sampling-strategy` and `sampling-budget` of a feedback configuration -> `Strategy`s and a `Budget`.

v1's single strategy object (or the JSON string v1 took) keeps its exact
rules and messages; a list of strategy objects and the strategies and
budgets of SPEC §10 are ours. Every problem names its key and what it takes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .numbers import finite, whole
from .sampling import (
    DETECTION_COUNT,
    DETECTION_UNCERTAINTY,
    ENTROPY,
    NEAR_DUPLICATE,
    NOVELTY,
    RANDOM_SAMPLING,
    STRATEGIES,
    USES_DETECTIONS,
    USES_PREDICTION,
    V1_STRATEGIES,
    Strategy,
    label_text,
)

PERIOD_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Budget:
    """`sampling-budget`: at most `max_samples` samples and/or `max_bytes` bytes per calendar minute, hour or day (UTC)."""

    per: str
    max_samples: int | None = None
    max_bytes: int | None = None

    def window(self, now: float) -> int:
        """The number of the period `now` falls in: a budget starts afresh at each period's start."""
        return int(now // PERIOD_SECONDS[self.per])


KEYS = {
    **{name: ("rate", "threshold") for name in V1_STRATEGIES},  # v1 let either key through for any of its four
    DETECTION_UNCERTAINTY: ("low", "high", "min-count", "labels"),
    DETECTION_COUNT: ("min-score", "more-than", "less-than", "labels"),
    NOVELTY: ("threshold", "window"),
    NEAR_DUPLICATE: ("max-distance", "window-seconds"),
}
BUDGET_KEYS = ("max-samples", "max-bytes", "per")
MOST_WINDOW = 10_000
MOST_WINDOW_SECONDS = 7 * 86400
MOST_COUNT = 1_000_000


def json_object(value: Any, key: str, problems: list[str], *, json_string_allowed: bool) -> dict[str, Any] | None:
    """An object, or (v1's form) a JSON string holding one; None with a problem otherwise."""
    if json_string_allowed and isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except ValueError as exc:
            problems.append(f"{key}: not a well-formed JSON string ({exc})")
            return None
    if not isinstance(value, dict):
        problems.append(f"{key}: must be an object{' or a JSON string holding one' if json_string_allowed else ''}")
        return None
    return value


def parse_strategies(value: Any, key: str, problems: list[str]) -> tuple[tuple[Strategy, ...], bool]:
    """The strategies, all of which must select a sample, and whether they were given as a list (ours)."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError as exc:
            problems.append(f"{key}: not a well-formed JSON string ({exc})")
            return (), True
    if not isinstance(value, list):
        strategy = parse_strategy(value, key, problems)
        return ((strategy,) if strategy else ()), False
    if not value:
        problems.append(f"{key}: a list of strategies needs at least one strategy object")
    parsed = [parse_strategy(item, f"{key}[{index}]", problems, json_string_allowed=False) for index, item in enumerate(value)]
    strategies = tuple(strategy for strategy in parsed if strategy is not None)
    names = [strategy.name for strategy in strategies]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        problems.append(f"{key}: {', '.join(repeated)} appears more than once; a list names each strategy once")
    if any(name in USES_PREDICTION for name in names) and any(name in USES_DETECTIONS for name in names):
        problems.append(
            f"{key}: {', '.join(n for n in names if n in USES_PREDICTION + USES_DETECTIONS)} need different predictions "
            "(probabilities and detections); no request could satisfy both"
        )
    return strategies, True


def parse_strategy(value: Any, key: str, problems: list[str], *, json_string_allowed: bool = True) -> Strategy | None:
    spec = json_object(value, key, problems, json_string_allowed=json_string_allowed)
    if spec is None:
        return None
    name = spec.get("strategy-name")
    if name not in STRATEGIES:
        problems.append(f"{key}.strategy-name: must be one of {', '.join(STRATEGIES)}, got {name!r}")
        return None
    known = KEYS[name]
    unknown = sorted(set(spec) - {"strategy-name", *known})
    if unknown:
        problems.append(
            f"{key}: unknown key(s) {', '.join(unknown)}" + ("" if name in V1_STRATEGIES else f" ({name} takes {', '.join(known)})")
        )
    if name in V1_STRATEGIES:
        return _v1_strategy(name, spec, key, problems)
    before = len(problems)
    strategy = {
        DETECTION_UNCERTAINTY: _detection_uncertainty,
        DETECTION_COUNT: _detection_count,
        NOVELTY: _novelty,
        NEAR_DUPLICATE: _near_duplicate,
    }[name](spec, key, problems)
    return strategy if len(problems) == before else None


def _v1_strategy(name: str, spec: dict[str, Any], key: str, problems: list[str]) -> Strategy | None:
    if name == RANDOM_SAMPLING:
        rate = finite(spec.get("rate"))
        if rate is None or not 0 <= rate <= 1:
            problems.append(f"{key}.rate: RANDOM_SAMPLING needs a rate between 0.0 and 1.0, got {spec.get('rate')!r}")
            return None
        return Strategy(name, rate=rate)
    threshold = finite(spec.get("threshold"))
    if name == ENTROPY:
        if threshold is None or threshold < 0:
            problems.append(f"{key}.threshold: ENTROPY needs a threshold of 0.0 or more, got {spec.get('threshold')!r}")
            return None
    elif threshold is None or not 0 <= threshold <= 1:
        problems.append(f"{key}.threshold: {name} needs a threshold between 0.0 and 1.0, got {spec.get('threshold')!r}")
        return None
    return Strategy(name, threshold=threshold)


def _fraction(spec: dict[str, Any], name: str, key: str, problems: list[str], rule: str, high: float = 1.0) -> float:
    number = finite(spec.get(name))
    if number is None or not 0 <= number <= high:
        problems.append(f"{key}.{name}: {rule}, got {spec.get(name)!r}")
        return 0.0
    return number


def _count(spec: dict[str, Any], name: str, key: str, problems: list[str], low: int, high: int, default: int | None) -> int | None:
    if spec.get(name) is None:
        return default
    number = whole(spec[name], low, high)
    if number is None:
        problems.append(f"{key}.{name}: must be a whole number from {low} to {high}, got {spec[name]!r}")
    return number


def _labels(spec: dict[str, Any], key: str, problems: list[str]) -> frozenset[str] | None:
    labels = spec.get("labels")
    if labels is None:
        return None
    if (
        not isinstance(labels, list)
        or not labels
        or not all(isinstance(x, str) or finite(x, text_allowed=False) is not None for x in labels)
    ):
        problems.append(f"{key}.labels: must be a non-empty list of labels (text, or class ids for SageMaker's output), got {labels!r}")
        return None
    return frozenset(label_text(label) for label in labels)


def _detection_uncertainty(spec: dict[str, Any], key: str, problems: list[str]) -> Strategy:
    rule = "DETECTION_UNCERTAINTY needs a score between 0.0 and 1.0"
    low, high = _fraction(spec, "low", key, problems, rule), _fraction(spec, "high", key, problems, rule)
    if low > high:
        problems.append(f"{key}: low ({low}) must not be above high ({high})")
    min_count = _count(spec, "min-count", key, problems, 1, MOST_COUNT, 1) or 1
    return Strategy(DETECTION_UNCERTAINTY, low=low, high=high, min_count=min_count, labels=_labels(spec, key, problems))


def _detection_count(spec: dict[str, Any], key: str, problems: list[str]) -> Strategy:
    min_score = _fraction(spec, "min-score", key, problems, "DETECTION_COUNT needs a min-score between 0.0 and 1.0")
    more_than = _count(spec, "more-than", key, problems, 0, MOST_COUNT, None)
    less_than = _count(spec, "less-than", key, problems, 1, MOST_COUNT, None)  # no count is below 0
    if spec.get("more-than") is None and spec.get("less-than") is None:
        problems.append(f"{key}: DETECTION_COUNT needs more-than, less-than or both (whole numbers)")
    return Strategy(DETECTION_COUNT, min_score=min_score, more_than=more_than, less_than=less_than, labels=_labels(spec, key, problems))


def _novelty(spec: dict[str, Any], key: str, problems: list[str]) -> Strategy:
    threshold = _fraction(spec, "threshold", key, problems, "NOVELTY needs a threshold between 0.0 and 2.0 (a cosine distance)", 2.0)
    window = _count(spec, "window", key, problems, 1, MOST_WINDOW, 256) or 256
    return Strategy(NOVELTY, threshold=threshold, window=window)


def _near_duplicate(spec: dict[str, Any], key: str, problems: list[str]) -> Strategy:
    max_distance = _count(spec, "max-distance", key, problems, 0, 64, 6)
    seconds = finite(spec.get("window-seconds", 60))
    if seconds is None or not 0 < seconds <= MOST_WINDOW_SECONDS:
        problems.append(
            f"{key}.window-seconds: must be a number of seconds above 0 and at most {MOST_WINDOW_SECONDS}, got {spec.get('window-seconds')!r}"
        )
        seconds = 60.0
    return Strategy(NEAR_DUPLICATE, max_distance=6 if max_distance is None else max_distance, window_seconds=seconds)


def parse_budget(value: Any, key: str, problems: list[str]) -> Budget | None:
    spec = json_object(value, key, problems, json_string_allowed=False)
    if spec is None:
        return None
    before = len(problems)
    unknown = sorted(set(spec) - set(BUDGET_KEYS))
    if unknown:
        problems.append(f"{key}: unknown key(s) {', '.join(unknown)} (known: {', '.join(BUDGET_KEYS)})")
    per = spec.get("per")
    if per not in PERIOD_SECONDS:
        problems.append(f"{key}.per: must be one of {', '.join(PERIOD_SECONDS)}, got {per!r}")
    max_samples = _count(spec, "max-samples", key, problems, 1, 10**9, None)
    max_bytes = _count(spec, "max-bytes", key, problems, 1, 10**15, None)
    if spec.get("max-samples") is None and spec.get("max-bytes") is None:
        problems.append(f'{key}: needs max-samples, max-bytes or both, e.g. {{"max-samples": 100, "per": "hour"}}')
    if len(problems) != before:
        return None
    return Budget(str(per), max_samples, max_bytes)
