"""Deadlines for calls that nothing else bounds, watched by one thread."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("ml_feedback.inference")


class Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []  # may hold cancelled tokens until their deadline passes
        self._live: dict[int, Callable[[], None]] = {}
        self._condition = threading.Condition()
        self._numbers = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float, on_expiry: Callable[[], None]) -> int:
        """Call `on_expiry` in `seconds` unless cancelled first; returns the token to cancel with."""
        token = next(self._numbers)
        with self._condition:
            self._live[token] = on_expiry
            entry = (time.monotonic() + seconds, token)
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="inference-watchdog", daemon=True)
                self._thread.start()
            if self._heap[0] is entry:  # woken only when it must wait less: a thread switch per request costs
                self._condition.notify()
        return token

    def cancel(self, token: int) -> None:
        with self._condition:
            self._live.pop(token, None)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap:
                    self._condition.wait()
                deadline, token = self._heap[0]
                if token not in self._live:
                    heapq.heappop(self._heap)
                    continue
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    self._condition.wait(remaining)
                    continue
                heapq.heappop(self._heap)
                on_expiry = self._live.pop(token)
            try:
                on_expiry()
            except Exception:  # one failed reply must not stop every later deadline
                log.exception("a deadline callback failed")
