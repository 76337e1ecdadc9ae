"""One lasting Python thread state for the IPC connection's event-loop thread.

awscrt calls Python from its own native event-loop thread and brackets each
callback with PyGILState_Ensure/Release. That thread has no Python thread state
of its own, so CPython creates one for every callback and destroys it after
(on 3.11 and later also mapping and unmapping a fresh frame stack): about 20
times per feedback request (the request, and a response and a close per
publish), an eighth of the component's CPU. One extra Ensure, held from
connect to disconnect, keeps one state for the connection's life; every
callback in between reuses it. Thread-local values then also survive from one
callback to the next, as on any other thread.
"""

from __future__ import annotations

import threading
from typing import Any

_held = threading.local()


def _c_api() -> tuple[Any, Any]:
    """PyGILState_Ensure and PyGILState_Release, or None twice (no ctypes, or not CPython: callbacks stay correct, only slower)."""
    try:
        import ctypes

        ensure, release = ctypes.pythonapi.PyGILState_Ensure, ctypes.pythonapi.PyGILState_Release
    except (ImportError, AttributeError):
        return None, None
    ensure.restype = ctypes.c_int
    release.argtypes = [ctypes.c_int]
    return ensure, release


_ensure, _release = _c_api()


def keep_thread_state() -> None:
    """Call on the event-loop thread when the connection is up (LifecycleHandler.on_connect)."""
    if _ensure is not None and getattr(_held, "state", None) is None:
        _held.state = _ensure()


def release_thread_state() -> None:
    """Call on the same thread when the connection ends (LifecycleHandler.on_disconnect).

    The state is then destroyed as awscrt's own callback returns, before the
    interpreter can shut down under it.
    """
    state = getattr(_held, "state", None)
    if _release is not None and state is not None:
        del _held.state
        _release(state)
