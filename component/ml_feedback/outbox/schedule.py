"""Which waiting sample to try next, and when: the outbox's decisions, with time passed in (SPEC §9.3-9.5).

No threads, no disk, no clock: the delivery shell calls these with the
monotonic time and applies what they return, so the schedule is tested
without sleeping.

While S3 answers, every sample is tried as soon as it arrives, oldest first.
Once an attempt fails in a way worth retrying, S3 counts as unreachable:
one sample at a time probes it, after a jittered backoff that doubles from
1 s up to `MaxRetryIntervalSeconds`, so a backlog of thousands does not
hammer a dead link. The first success ends that: every waiting sample is
due at once (§9.4).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass

FIRST_RETRY_SECONDS = 1.0


def backoff_seconds(failures: int, max_interval: float, draw: float) -> float:
    """The wait after `failures` failed attempts in a row: 1, 2, 4 ... s, capped, scaled by a draw from [0, 1) into [half, full]."""
    ceiling = min(max_interval, FIRST_RETRY_SECONDS * 2.0 ** max(0, failures - 1))
    return max(FIRST_RETRY_SECONDS, ceiling * (0.5 + 0.5 * draw))


@dataclass
class Waiting:
    """A spooled sample as the schedule sees it."""

    entry_id: str
    size: int
    created: float  # wall-clock seconds: the sample's age survives restarts
    arrival: int  # its place in arrival order, which retries keep
    in_flight: bool = False
    queued: bool = False  # SampleQueued already counted for it


class Backlog:
    """The spooled samples in arrival order, and when each may be tried."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, Waiting] = OrderedDict()
        self._ready: deque[str] = deque()  # due now, oldest first
        self._later: list[tuple[float, int, str]] = []  # (due, arrival, id): waiting out a backoff
        self._arrivals = 0
        self.failures = 0  # failed attempts in a row; > 0 means S3 counts as unreachable
        self._probe_at = 0.0
        self.in_flight = 0
        self.bytes = 0  # disk the waiting samples take

    # -- what is waiting -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry_id: str) -> bool:
        return entry_id in self._entries

    @property
    def unreachable(self) -> bool:
        return self.failures > 0

    def get(self, entry_id: str) -> Waiting | None:
        return self._entries.get(entry_id)

    def oldest(self) -> Waiting | None:
        return next(iter(self._entries.values()), None)

    def idle_oldest_first(self) -> Iterator[Waiting]:
        """Samples no attempt is running for, oldest first: what DropOldest gives up, what may expire.

        Remove nothing while iterating: collect first.
        """
        return (entry for entry in self._entries.values() if not entry.in_flight)

    # -- changes -------------------------------------------------------------------------

    def add(self, entry_id: str, size: int, created: float) -> Waiting:
        entry = Waiting(entry_id, size, created, self._arrivals)
        self._arrivals += 1
        self._entries[entry_id] = entry
        self.bytes += size
        self._ready.append(entry_id)
        return entry

    def remove(self, entry_id: str) -> Waiting | None:
        """The sample has its final answer (or was given up); lazily dropped from the queues."""
        entry = self._entries.pop(entry_id, None)
        if entry is not None:
            self.bytes -= entry.size
            self._landed(entry)
        return entry

    def take(self, now: float) -> Waiting | None:
        """The sample to try now, marked in flight; None when nothing may be tried yet."""
        if self.unreachable:
            if now < self._probe_at or self.in_flight:
                return None
            self._release_later(float("inf"))
        else:
            self._release_later(now)
        while self._ready:
            entry = self._entries.get(self._ready.popleft())
            if entry is not None and not entry.in_flight:
                entry.in_flight = True
                self.in_flight += 1
                return entry
        return None

    def _release_later(self, until: float) -> None:
        """Move samples whose backoff is over (all of them when `until` is infinite) to the ready queue, in arrival order."""
        released: list[tuple[int, str]] = []
        while self._later and self._later[0][0] <= until:
            _due, arrival, entry_id = heapq.heappop(self._later)
            if entry_id in self._entries:
                released.append((arrival, entry_id))
        if released:
            released.sort()
            self._ready = deque([entry_id for _, entry_id in released] + list(self._ready))

    def answered(self, entry_id: str) -> bool:
        """S3 answered an attempt for good (stored the sample, or refused it for good): the link works.

        True when this ends an outage: every waiting sample is due now.
        """
        self.remove(entry_id)
        if not self.unreachable:
            return False
        self.failures = 0
        self._release_later(float("inf"))
        return True

    def failed(self, entry_id: str, now: float, max_interval: float, draw: float) -> bool:
        """An attempt failed in a way worth retrying. True when this starts an outage."""
        starts = not self.unreachable
        self.failures += 1
        wait = backoff_seconds(self.failures, max_interval, draw)
        self._probe_at = now + wait
        entry = self._entries.get(entry_id)
        if entry is not None:
            self._landed(entry)
            heapq.heappush(self._later, (now + wait, entry.arrival, entry_id))
        return starts

    def probe_now(self, now: float) -> None:
        """The link looks back (a TCP connect got through): probe at once instead of at the end of the backoff."""
        if self.unreachable and not self.in_flight:
            self._probe_at = min(self._probe_at, now)

    def interrupted(self, entry_id: str) -> None:
        """An attempt was abandoned (the component is stopping): the sample simply waits again."""
        entry = self._entries.get(entry_id)
        if entry is not None:
            self._landed(entry)
            self._ready.appendleft(entry_id)

    def _landed(self, entry: Waiting) -> None:
        if entry.in_flight:
            entry.in_flight = False
            self.in_flight -= 1

    def next_due(self) -> float | None:
        """The monotonic time at which `take` may return a sample, None when only an arrival or an answer can change that."""
        if self.unreachable:
            return None if self.in_flight or not self._entries else self._probe_at
        if self._ready:
            return 0.0
        while self._later and self._later[0][2] not in self._entries:
            heapq.heappop(self._later)
        return self._later[0][0] if self._later else None

    def expired(self, wall_now: float, time_to_live: float) -> list[Waiting]:
        """Samples older than the time to live that no attempt is running for (removed). `time_to_live` 0: never."""
        if time_to_live <= 0:
            return []
        gone = []
        for entry in self.idle_oldest_first():
            if wall_now - entry.created <= time_to_live:
                break  # arrival order is age order
            gone.append(entry)
        for entry in gone:
            self.remove(entry.entry_id)
        return gone
