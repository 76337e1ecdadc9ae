"""Argument checks for the v1 API, reported in botocore's words.

v1 code that matches on the text of a `ParamValidationError` keeps working:
every line here is one of botocore's `validate.py` templates.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import sys
from collections.abc import Callable
from typing import Any

from .exceptions import ParamValidationError

# A check gets the parameter's name and value and returns the report line, or None.
Check = Callable[[str, Any], str | None]


def validate(kwargs: dict[str, Any], required: dict[str, Check], optional: dict[str, Check]) -> None:
    report: list[str] = []
    known = {**required, **optional}
    for name in required:
        if name not in kwargs:
            report.append(f'Missing required parameter in input: "{name}"')
    for name, value in kwargs.items():
        check = known.get(name)
        if check is None:
            report.append(f'Unknown parameter in input: "{name}", must be one of: {", ".join(known)}')
            continue
        problem = check(name, value)
        if problem:
            report.append(problem)
    if report:
        raise ParamValidationError(report)


def invalid_type(name: str, value: Any, valid_types: str) -> str:
    return f"Invalid type for parameter {name}, value: {value}, type: {type(value)}, valid types: {valid_types}"


def type_check(*types: type, label: str) -> Check:
    def check(name: str, value: Any) -> str | None:
        if isinstance(value, types) and not isinstance(value, bool):
            return None
        return invalid_type(name, value, label)

    return check


def text_matching(pattern: re.Pattern[str]) -> Check:
    """A string that must match `pattern` (the pattern line is ours: botocore leaves patterns to the service)."""

    def check(name: str, value: Any) -> str | None:
        if not isinstance(value, str):
            return invalid_type(name, value, "<class 'str'>")
        if not pattern.match(value):
            return f"Invalid value for parameter {name}, value: {value}, valid pattern: {pattern.pattern}"
        return None

    return check


def json_document(*types: type, label: str) -> Check:
    """A value of `types` that strict JSON can carry: no NaN, no Infinity, nothing but JSON types inside."""
    of_type = type_check(*types, label=label)

    def check(name: str, value: Any) -> str | None:
        problem = of_type(name, value)
        if problem:
            return problem
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as error:
            return f"Invalid parameter {name} must be json serializable: {error}"
        return None

    return check


def is_numpy_array(value: Any) -> bool:
    """Whether `value` is a numpy array, without importing numpy: none exists unless numpy was imported."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.ndarray)


def finite_floats(name: str, value: Any) -> tuple[list[float] | None, str | None]:
    """A non-empty list or tuple of finite numbers, or a 1-D numpy array of them, as floats; or the report
    line of its first problem. The length line is botocore's; the array and finite lines are ours, worded like it."""
    if is_numpy_array(value):
        if value.ndim != 1:
            return None, f"Invalid value for parameter {name}, value: {value}, valid values: 1-D arrays, not shape {value.shape}"
        items = value.tolist()  # numpy scalars as Python ones
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return None, invalid_type(name, value, "<class 'list'>, <class 'tuple'>, <class 'numpy.ndarray'>")
    if not len(items):
        return None, f"Invalid length for parameter {name}, value: {value}, valid min length: 1"
    floats = []
    for index, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            return None, invalid_type(f"{name}[{index}]", item, "<class 'float'>, <class 'int'>")
        try:
            number = float(item)
        except OverflowError:  # an int beyond a double
            number = math.inf
        if not math.isfinite(number):
            return None, f"Invalid value for parameter {name}[{index}], value: {item}, valid values: finite numbers"
        floats.append(number)
    return floats, None


def finite_number_list(name: str, value: Any) -> str | None:
    return finite_floats(name, value)[1]
