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


def keep_thread_state() -> None:
    """Call on the event-loop thread when the connection is up (LifecycleHandler.on_connect)."""
    if getattr(_held, "state", None) is not None:
        return
    ensure = _c_api("PyGILState_Ensure")
    if ensure is not None:
        ensure.restype = _c_int()
        _held.state = ensure()


def release_thread_state() -> None:
    """Call on the same thread when the connection ends (LifecycleHandler.on_disconnect).

    The state is then destroyed as awscrt's own callback returns, before the
    interpreter can shut down under it.
    """
    state = getattr(_held, "state", None)
    release = _c_api("PyGILState_Release")
    if state is None or release is None:
        return
    del _held.state
    release.argtypes = [_c_int()]
    release(state)


def _c_api(name: str) -> Any:
    """A CPython C-API function, or None (no ctypes, or not CPython: callbacks stay correct, only slower)."""
    try:
        import ctypes

        return getattr(ctypes.pythonapi, name)
    except (ImportError, AttributeError):
        return None


def _c_int() -> Any:
    import ctypes

    return ctypes.c_int
