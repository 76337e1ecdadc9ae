"""Python models for the `python` backend (loaded by the component through PythonPath)."""

from __future__ import annotations

import json
import time


def probabilities(body: bytes) -> list[float]:
    """A deterministic 'model': three class probabilities from the input bytes."""
    weights = [1 + (sum(body[i::3]) % 7) for i in range(3)]
    return [round(w / sum(weights), 4) for w in weights]


def classify(body: bytes, content_type: str | None, accept: str | None) -> tuple[bytes, str]:
    return json.dumps(probabilities(body)).encode(), "application/json"


def echo(body: bytes, content_type: str | None, accept: str | None) -> tuple[bytes, str | None]:
    return body, content_type


def broken(body: bytes, content_type: str | None, accept: str | None) -> bytes:
    raise ValueError("the model cannot read this input")


def sleepy(body: bytes, content_type: str | None, accept: str | None) -> bytes:
    time.sleep(3)
    return b"late"
