"""One lasting Python thread state for the IPC client's event-loop thread.

awscrt calls Python from its own native event-loop thread and brackets each
callback with PyGILState_Ensure/Release. That thread has no Python thread state
of its own, so CPython creates one for every callback and destroys it after,
mapping and unmapping a fresh frame stack each time: about 20 times per
feedback request (the request, and a response and a close per publish), an
eighth of the component's CPU. One extra Ensure, never released, keeps a state
for the thread's whole life; every later callback reuses it. Thread-local
values then also survive from one callback to the next, as on any other thread.
"""

from __future__ import annotations

import threading

_kept: set[int] = set()
_lock = threading.Lock()


def keep_thread_state() -> None:
    """Call on the event-loop thread (say, from LifecycleHandler.on_connect); once per thread is enough."""
    with _lock:
        if threading.get_ident() in _kept:
            return
        _kept.add(threading.get_ident())
    try:
        import ctypes

        ensure = ctypes.pythonapi.PyGILState_Ensure
    except (ImportError, AttributeError):  # no ctypes, or not CPython: callbacks stay correct, only slower
        return
    ensure.restype = ctypes.c_int
    ensure()
