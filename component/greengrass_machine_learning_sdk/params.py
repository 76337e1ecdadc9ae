"""botocore-style argument checks for the v1 API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .exceptions import ParamValidationError

Check = Callable[[Any], str | None]


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
        problem = check(value)
        if problem:
            report.append(f"Invalid {problem} for parameter {name}, value: {_short(value)}, type: {type(value)}")
    if report:
        raise ParamValidationError(report)


def type_check(*types: type, label: str) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, types) and not isinstance(value, bool):
            return None
        return f"type (valid types: {label})"

    return check


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
