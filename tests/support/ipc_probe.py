"""Imported by test components: run IPC calls with the official client and record the outcome.

Each component writes `results.json` into its work folder ({work:path}, its
working directory), which the test reads once the component has finished.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

RESULTS: dict[str, Any] = {}


def client(**kwargs: Any) -> GreengrassCoreIPCClientV2:
    return GreengrassCoreIPCClientV2(**kwargs)


def outcome(name: str, call: Callable[[], Any]) -> Any:
    """Record `["ok", value]` or `[ErrorClass, message]` under `name`."""
    try:
        value = call()
    except Exception as exc:  # the point is to record it
        RESULTS[name] = [type(exc).__name__, getattr(exc, "message", None) or str(exc)]
        return None
    RESULTS[name] = ["ok", _plain(value)]
    return value


def _plain(value: Any) -> Any:
    """JSON-safe form of a client result; a streaming call's (response, operation) keeps the response."""
    if isinstance(value, tuple) and len(value) == 2 and hasattr(value[1], "close"):
        value = value[0]
    if hasattr(value, "_to_payload"):
        return value._to_payload()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool, dict)):
        return value
    return type(value).__name__


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


_SAVING = threading.Lock()


def save(**extra: Any) -> None:
    """Results so far, replaced whole; a callback thread and the main thread may both save, one at a time."""
    with _SAVING:
        RESULTS.update(extra)
        with open(os.path.join(os.getcwd(), "results.json.tmp"), "w", encoding="utf-8") as handle:
            json.dump(RESULTS, handle)
        os.replace("results.json.tmp", "results.json")
