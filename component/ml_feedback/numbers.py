"""Numbers from configuration and requests: finite values a double can hold, nothing else.

One definition, so every key rejects NaN, infinities, booleans and integers too
large for a double the same way (as a problem to report, never an exception).
"""

from __future__ import annotations

import math
from typing import Any


def finite(value: Any, *, text_allowed: bool = True) -> float | None:
    """`value` as a finite float, or None. Numeric strings count when `text_allowed` (v1 configurations hold them)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not text_allowed:
            return None
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def whole(value: Any, low: int, high: int) -> int | None:
    """`value` as an int in [low, high] (1, 1.0 and "1" alike), or None."""
    number = finite(value)
    if number is None or number != int(number) or not low <= number <= high:
        return None
    return int(number)


def non_finite(value: Any, path: str) -> str | None:
    """Where in a JSON-like value a NaN or an infinity sits (strict JSON cannot carry them), or None.

    Most values hold none: they are walked once without building paths (a detector's thousand boxes
    are thousands of numbers); only a value that holds one is walked again for its path.
    """
    return _path_of_non_finite(value, path) if _holds_non_finite(value) else None


def _holds_non_finite(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is float:
            if item - item != 0:  # NaN and the infinities only
                return True
        elif kind is list:
            pending.extend(item)
        elif kind is dict:
            pending.extend(item.values())
        elif isinstance(item, float):  # a float subclass: rare, checked the slow way
            if not math.isfinite(item):
                return True
        elif isinstance(item, (list, dict)):
            pending.extend(item.values() if isinstance(item, dict) else item)
    return False


def _path_of_non_finite(value: Any, path: str) -> str | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        return next((p for k, v in value.items() if (p := _path_of_non_finite(v, f"{path}.{k}"))), None)
    if isinstance(value, list):
        return next((p for i, v in enumerate(value) if (p := _path_of_non_finite(v, f"{path}[{i}]"))), None)
    return None
