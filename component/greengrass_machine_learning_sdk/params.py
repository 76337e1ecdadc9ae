"""Argument checks for the v1 API, reported in botocore's words.

v1 code that matches on the text of a `ParamValidationError` keeps working:
every line here is one of botocore's `validate.py` templates.
"""

from __future__ import annotations

import json
import re
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
