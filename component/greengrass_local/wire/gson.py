"""The nucleus parses free-form JSON maps with Gson, which reads every number as a double.

So `{"n": 1}` published through local pub/sub, merged with UpdateConfiguration
or passed in a local deployment's configuration comes back as `{"n": 1.0}`.
The emulator does the same, so a component that breaks on floats breaks here
first, not on the device.
"""

from __future__ import annotations

from typing import Any


def as_doubles(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {key: as_doubles(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_doubles(item) for item in value]
    return value
