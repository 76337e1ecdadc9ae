"""One log line a minute about what the component did (issue 12): otherwise a successful upload shows nowhere in the log.

Every final status the component publishes is counted here (`count`, a dict
increment under a lock: it runs once per request, which is benchmarked). A
periodic caller asks `due()` for the line to log; it gets one at most once per
`interval`, and none while nothing happens, so an idle component stays quiet.
A window opens at the first check that sees work and the line comes when it is
`interval` old, so its counts are those of the last minute, not of an idle hour
plus a minute. `final()` is the line for the shutdown, whatever the time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .messages import FAIL, SAMPLE_DROPPED, SUCCESS

INTERVAL_SECONDS = 60.0


class WorkSummary:
    def __init__(self, clock: Callable[[], float] = time.monotonic, interval: float = INTERVAL_SECONDS) -> None:
        self._clock, self._interval = clock, interval
        self._lock = threading.Lock()
        self._recent: dict[str, int] = {}  # final statuses since the last line, by status
        self._total: dict[str, int] = {}  # final statuses in the lines logged so far
        self._waiting_shown = 0
        self._opened: float | None = None  # when the window of the next line opened

    def count(self, status: str) -> None:
        """One final status published (`success`, `sample_dropped_by_strategy` or `fail`)."""
        with self._lock:
            self._recent[status] = self._recent.get(status, 0) + 1

    def due(self, waiting: int | None) -> str | None:
        """The line to log now, or None; `waiting`: samples in the spool now (None: no spool, not shown).

        A change of `waiting` alone is work too: while S3 is unreachable, spooled samples get no status for a while.
        """
        now = self._clock()
        with self._lock:
            if not any(self._recent.values()) and (waiting or 0) == self._waiting_shown:
                self._opened = None
                return None
            if self._opened is None:
                self._opened = now
            if now - self._opened < self._interval:
                return None
            recent, span = _counts(self._recent), now - self._opened
            self._fold_locked(waiting)
            return f"work summary: {recent} in the last {span:.0f} s{_spool(waiting)}; since start {_counts(self._total)}"

    def final(self, waiting: int | None) -> str:
        """The line for the shutdown: everything since the start, even when a line was logged a moment ago."""
        with self._lock:
            self._fold_locked(waiting)
            return f"work summary at stop: {_counts(self._total)} since start{_spool(waiting)}"

    def _fold_locked(self, waiting: int | None) -> None:
        for status, number in self._recent.items():
            self._total[status] = self._total.get(status, 0) + number
        self._recent.clear()
        self._waiting_shown = waiting or 0
        self._opened = None


def _counts(counts: dict[str, int]) -> str:
    """'dropped by strategy', not 'dropped': a reader must not take a sample the strategy did not select for a lost one."""
    return f"{counts.get(SUCCESS, 0)} uploaded, {counts.get(SAMPLE_DROPPED, 0)} dropped by strategy, {counts.get(FAIL, 0)} failed"


def _spool(waiting: int | None) -> str:
    return "" if waiting is None else f"; {waiting} waiting in the spool"
