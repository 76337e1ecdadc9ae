"""What every inference backend takes and gives back, and how it fails."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..messages import VALIDATION_ERROR


@dataclass(frozen=True)
class Invocation:
    """One call of a backend: the body and the SageMaker-named fields (service defaults under request values)."""

    body: bytes
    fields: Mapping[str, str]
    request_id: str


@dataclass(frozen=True)
class RealTimeResult:
    body: bytes
    content_type: str | None
    invoked_variant: str | None = None
    custom_attributes: str | None = None


@dataclass(frozen=True)
class AsyncResult:
    inference_id: str | None
    output_location: str | None
    failure_location: str | None = None


class BackendError(Exception):
    """A failed call; `code` is one of the reply error codes in messages."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Backend(Protocol):
    """The router calls invoke_async / invoke_stream only where ServiceConfig.mode_problem allows the mode."""

    # False when nothing in the backend itself bounds a call (a Python model): the router then answers Timeout.
    enforces_timeout: bool

    def invoke(self, call: Invocation) -> RealTimeResult: ...
    def invoke_async(self, call: Invocation) -> AsyncResult: ...
    def invoke_stream(self, call: Invocation, on_part: Callable[[bytes], None]) -> str | None: ...
    def close(self) -> None: ...


class RealTimeOnly:
    """Async and Stream for a backend that has neither (the router checks first; this is the second line)."""

    def invoke_async(self, call: Invocation) -> AsyncResult:
        raise BackendError(VALIDATION_ERROR, "InvocationMode Async needs the sagemaker backend")

    def invoke_stream(self, call: Invocation, on_part: Callable[[bytes], None]) -> str | None:
        raise BackendError(VALIDATION_ERROR, "InvocationMode Stream needs the sagemaker backend")

    def close(self) -> None:
        return None
