"""The `python` backend: an in-process callable `module:function(body, content_type, accept)`.

It returns `(bytes, content_type)` (or just bytes) and runs on the service's
worker thread, with no hand-off. Nothing can interrupt a Python call, so the
router answers Timeout after TimeoutSeconds; the call keeps its worker until
it returns, and its late result is dropped.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from typing import Any

from .. import messages
from .backend import BackendError, Invocation, RealTimeOnly, RealTimeResult
from .config import ServiceConfig

_path_lock = threading.Lock()


class PythonBackend(RealTimeOnly):
    enforces_timeout = False

    def __init__(self, service: ServiceConfig) -> None:
        self._service = service
        self._function: Callable[..., Any] | None = None

    def _load(self) -> Callable[..., Any]:
        if self._function is None:
            paths = self._service.settings.get("PythonPath", [])
            with _path_lock:
                for path in [paths] if isinstance(paths, str) else paths:
                    if path not in sys.path:
                        sys.path.insert(0, path)
            module_name, _, name = str(self._service.settings["Entrypoint"]).partition(":")
            try:
                function = getattr(importlib.import_module(module_name), name)
            except (ImportError, AttributeError) as exc:
                raise BackendError(messages.SERVICE_UNAVAILABLE, f"cannot load {self._service.settings['Entrypoint']}: {exc}") from exc
            if not callable(function):
                raise BackendError(messages.SERVICE_UNAVAILABLE, f"{self._service.settings['Entrypoint']} is not callable")
            self._function = function
        return self._function

    def invoke(self, call: Invocation) -> RealTimeResult:
        function = self._load()
        try:
            result = function(call.body, call.fields.get("ContentType"), call.fields.get("Accept"))
        except Exception as exc:
            raise BackendError(messages.MODEL_ERROR, f"{type(exc).__name__}: {exc}") from exc
        body, content_type = (result, call.fields.get("Accept")) if isinstance(result, (bytes, bytearray)) else _pair(result)
        return RealTimeResult(bytes(body), content_type)


def _pair(result: Any) -> tuple[bytes, str | None]:
    if (
        isinstance(result, tuple)
        and len(result) == 2
        and isinstance(result[0], (bytes, bytearray))
        and (result[1] is None or isinstance(result[1], str))
    ):
        return bytes(result[0]), result[1]
    raise BackendError(messages.MODEL_ERROR, f"the model returned {type(result).__name__}; expected bytes or (bytes, content_type)")
