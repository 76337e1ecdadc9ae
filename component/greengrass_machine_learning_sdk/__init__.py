"""Drop-in replacement for the Greengrass v1 Machine Learning SDK, over Greengrass v2 IPC.

    import greengrass_machine_learning_sdk as ml
    ml.client('feedback').publish(ConfigId=..., ModelInput=b'...', ModelPrediction=[...])

v1 code runs unchanged inside a v2 component whose recipe grants it the IPC
permissions (see the README). Beyond v1: `publish` takes an optional `Embedding`
and `Fingerprint`, and `fingerprint(image)` computes the latter from a decoded image.
"""

from __future__ import annotations

from typing import Any

from .exceptions import InferenceServiceError, InferenceTimeoutError, ParamValidationError
from .image_fingerprint import fingerprint  # imports numpy only when it is called

__all__ = ["InferenceServiceError", "InferenceTimeoutError", "ParamValidationError", "client", "fingerprint"]

CLIENTS = ("feedback", "inference")


def client(name: str, **_: Any) -> Any:
    """`client('feedback')` or `client('inference')`, as in the v1 SDK."""
    if name == "feedback":
        from .feedback import FeedbackClient

        return FeedbackClient()
    if name == "inference":
        from .inference import InferenceClient

        return InferenceClient()
    raise ValueError(f"Unknown client name {name!r}: valid names are {', '.join(repr(c) for c in CLIENTS)}")
