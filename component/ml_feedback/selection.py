"""The upload decision of a feedback configuration: its strategies in order, then its budget (SPEC §10).

The strategies are pure functions (`sampling.py`); what they compare a request
with lives here: each configuration's last uploads (NOVELTY's embeddings,
NEAR_DUPLICATE's fingerprints) and its budget's count, which is kept in a file
so a restart does not hand out a fresh budget. A sample is remembered when it
is selected, at intake, not when S3 has it: the next request is decided
against it at once, however long the upload waits.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import messages
from .messages import FeedbackRequest, RequestProblem
from .sampling import (
    DETECTION_UNCERTAINTY,
    NEAR_DUPLICATE,
    NOVELTY,
    USES_DETECTIONS,
    Detections,
    Strategy,
    detection_count,
    detection_uncertainty,
    detections,
    near_duplicate,
    novelty,
    prediction_problem,
    should_upload,
)
from .strategy_config import PERIOD_SECONDS, Budget

if TYPE_CHECKING:
    from .config import FeedbackConfig

log = logging.getLogger("ml_feedback.selection")
BUDGET = "budget"
MOST_FINGERPRINTS = 10_000  # per configuration: NEAR_DUPLICATE's cost is linear in it
MOST_DIMENSIONS = 4096  # an Embedding's length: a full NOVELTY window then holds at most 10000 x 4096 float32 (164 MB)


@dataclass(frozen=True)
class Decision:
    selected: bool
    reason: str | None = None  # the strategy that dropped the sample, or "budget"


@dataclass
class Prepared:
    """A request checked against its configuration's strategies, with what they need parsed once."""

    request: FeedbackRequest
    found: Detections | None = None
    unit_embedding: Any = None
    fingerprint: int | None = None


class _Memory:
    """One configuration's recent uploads, for the strategies that compare with them."""

    def __init__(self, strategies: tuple[Strategy, ...]) -> None:
        self.strategies = strategies
        self.window = max((s.window for s in strategies if s.name == NOVELTY), default=0)
        self.embeddings: Any = None  # numpy (window, dimension) of unit rows, filled round-robin
        self._similarities: Any = None  # numpy (window,) float32: each request's products with the rows, overwritten
        self.filled = 0
        self.next_row = 0
        self.fingerprints = _Fingerprints() if any(s.name == NEAR_DUPLICATE for s in strategies) else None

    @property
    def dimension(self) -> int | None:
        return None if self.embeddings is None else int(self.embeddings.shape[1])

    def recent_embeddings(self) -> Any:
        return self.embeddings[: self.filled]

    def novel(self, unit_embedding: Any, threshold: float) -> bool:
        """NOVELTY against the filled rows (a contiguous view: the rows are filled from the first, then
        overwritten in turn), with the products written into one buffer kept for the purpose: a full
        window is 10000 rows, and this runs on every request."""
        if not self.filled:
            return novelty(unit_embedding, (), threshold)
        return novelty(unit_embedding, self.embeddings[: self.filled], threshold, out=self._similarities[: self.filled])

    def remember(self, prepared: Prepared, now: float) -> None:
        if prepared.unit_embedding is not None and self.window:
            import numpy

            if self.embeddings is None:
                self.embeddings = numpy.zeros((self.window, len(prepared.unit_embedding)), dtype=numpy.float32)
                self._similarities = numpy.empty(self.window, dtype=numpy.float32)
            self.embeddings[self.next_row] = prepared.unit_embedding
            self.next_row = (self.next_row + 1) % self.window
            self.filled = min(self.filled + 1, self.window)
        if prepared.fingerprint is not None and self.fingerprints is not None:
            self.fingerprints.add(prepared.fingerprint, now)


class _Fingerprints:
    """The last MOST_FINGERPRINTS uploads' fingerprints and times, round-robin in numpy arrays: one request compares
    with all of them in a few vectorised steps instead of a Python loop."""

    def __init__(self) -> None:
        import numpy

        self._numpy = numpy
        self.values = numpy.zeros(MOST_FINGERPRINTS, dtype=numpy.uint64)
        self.times = numpy.full(MOST_FINGERPRINTS, -numpy.inf)
        self._next = 0

    def add(self, fingerprint: int, now: float) -> None:
        self.values[self._next] = fingerprint
        self.times[self._next] = now
        self._next = (self._next + 1) % MOST_FINGERPRINTS

    def since(self, moment: float) -> Any:
        """The fingerprints of the uploads at `moment` or later."""
        return self.values[self.times >= moment]


class BudgetCounts:
    """Samples and bytes each configuration's budget has spent in its current period, kept in a JSON file.

    `save()` replaces the file whole (a rename, atomic); the worker that takes a
    counted sample calls it before the sample is spooled, so a restart or a crash
    of the component keeps the count, and the intake thread never writes a file.
    A file that cannot be read is reported once and counts start from zero.
    Not thread-safe: the Selector serialises calls.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._counts: dict[str, dict[str, Any]] = {}
        self.changed = False
        if path is not None and path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                self._counts = {str(k): dict(v) for k, v in loaded.items() if _well_formed(v)}
                if len(self._counts) != len(loaded):
                    log.warning("sampling budgets: %d malformed entries in %s start from zero", len(loaded) - len(self._counts), path)
            except (OSError, ValueError, TypeError, AttributeError) as exc:
                log.warning("sampling budgets start from zero: %s cannot be read (%s)", path, exc)

    def allows(self, config_id: str, budget: Budget, size: int, now: float) -> bool:
        spent = self._spent(config_id, budget, now)
        if budget.max_samples is not None and spent["samples"] + 1 > budget.max_samples:
            return False
        return budget.max_bytes is None or spent["bytes"] + size <= budget.max_bytes

    def spend(self, config_id: str, budget: Budget, size: int, now: float) -> None:
        spent = self._spent(config_id, budget, now)
        spent["samples"] += 1
        spent["bytes"] += size
        self._counts[config_id] = spent
        self.changed = True

    def _spent(self, config_id: str, budget: Budget, now: float) -> dict[str, Any]:
        current = self._counts.get(config_id)
        window = budget.window(now)
        if current is None or current.get("per") != budget.per or current.get("window") != window:
            return {"per": budget.per, "window": window, "samples": 0, "bytes": 0}
        return current

    def snapshot(self) -> str:
        self.changed = False
        return json.dumps(self._counts, sort_keys=True)

    def save(self, text: str) -> None:
        if self._path is None:
            return
        temporary = self._path.with_name(self._path.name + ".tmp")
        try:
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, self._path)
        except OSError as exc:
            log.warning("sampling budgets could not be saved to %s (%s); a restart would forget this period's count", self._path, exc)


def _well_formed(entry: Any) -> bool:
    """A saved count as `spend` writes it: anything else (a hand edit, a disk error) starts that budget from zero."""
    if not isinstance(entry, dict) or entry.get("per") not in PERIOD_SECONDS:
        return False
    return all(type(entry.get(key)) is int and entry[key] >= 0 for key in ("window", "samples", "bytes"))


class Selector:
    """Decides, for each request, whether its configuration uploads it; thread-safe."""

    def __init__(
        self, budget_file: Path | None = None, clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        """`clock` places budgets in calendar periods; `monotonic` times NEAR_DUPLICATE's window (a wall clock can jump)."""
        self._clock, self._monotonic = clock, monotonic
        self._lock = threading.Lock()
        self._memories: dict[str, _Memory] = {}
        self._budgets = BudgetCounts(budget_file)
        self._saving = threading.Lock()

    def prepare(self, target: FeedbackConfig, request: FeedbackRequest) -> Prepared:
        """Checks the request has what each strategy needs, in the shape it needs; raises RequestProblem otherwise."""
        prepared = Prepared(request)
        for strategy in target.strategies:
            if strategy.name in USES_DETECTIONS:
                if prepared.found is None:
                    found = detections(request.prediction)
                    if isinstance(found, str):
                        raise RequestProblem(messages.INVALID_MODEL_PREDICTION, found, request.request_id)
                    prepared.found = found
                continue
            problem = prediction_problem(strategy, request.prediction)
            if problem:
                raise RequestProblem(messages.INVALID_MODEL_PREDICTION, problem, request.request_id)
            if strategy.name == NOVELTY and prepared.unit_embedding is None:
                prepared.unit_embedding = self._unit_embedding(target, request)
            if strategy.name == NEAR_DUPLICATE and prepared.fingerprint is None:
                if request.fingerprint is None:
                    reason = f"NEAR_DUPLICATE needs a Fingerprint: {messages.FINGERPRINT_SHAPE}"
                    raise RequestProblem(messages.INVALID_REQUEST, reason, request.request_id)
                try:
                    prepared.fingerprint = messages.parse_fingerprint(request.fingerprint)
                except ValueError as exc:
                    raise RequestProblem(messages.INVALID_REQUEST, str(exc), request.request_id) from None
        return prepared

    def _unit_embedding(self, target: FeedbackConfig, request: FeedbackRequest) -> Any:
        if request.embedding is None:
            raise RequestProblem(messages.INVALID_REQUEST, f"NOVELTY needs an Embedding: {messages.EMBEDDING_SHAPE}", request.request_id)
        try:
            numbers = messages.parse_embedding(request.embedding)
        except ValueError as exc:
            raise RequestProblem(messages.INVALID_REQUEST, str(exc), request.request_id) from None
        if len(numbers) > MOST_DIMENSIONS:
            reason = f"Embedding has {len(numbers)} numbers; NOVELTY takes at most {MOST_DIMENSIONS}"
            raise RequestProblem(messages.INVALID_REQUEST, reason, request.request_id)
        import numpy

        vector = numpy.asarray(numbers, dtype=numpy.float64)
        length = math.sqrt(float(vector @ vector))
        if not length or not math.isfinite(length):
            reason = "Embedding has no direction (all zeros) or is too large; NOVELTY compares directions"
            raise RequestProblem(messages.INVALID_REQUEST, reason, request.request_id)
        with self._lock:
            _check_dimension(self._memory(target), target, prepared_length=len(vector), request_id=request.request_id)
        return (vector / length).astype(numpy.float32)

    def decide(
        self, target: FeedbackConfig, prepared: Prepared, size: int, draw: float, admit: Callable[[], None] | None = None
    ) -> Decision:
        """Every strategy in order must select the sample, then the budget must have room; then `admit` may still refuse
        it (raising RequestProblem). Only a sample admitted is counted and remembered, so a refused one never counts."""
        now, moment = self._clock(), self._monotonic()
        with self._lock:
            memory = self._memory(target)
            if prepared.unit_embedding is not None:  # another request may have set the window's dimension since prepare
                _check_dimension(memory, target, len(prepared.unit_embedding), prepared.request.request_id)
            for strategy in target.strategies:
                if not self._selects(strategy, prepared, memory, draw, moment):
                    return Decision(False, strategy.name)
            budget = target.budget
            if budget is not None and not self._budgets.allows(target.config_id, budget, size, now):
                return Decision(False, BUDGET)
            if admit is not None:
                admit()
            if budget is not None:
                self._budgets.spend(target.config_id, budget, size, now)
            memory.remember(prepared, moment)
        return Decision(True)

    def save_budgets(self) -> None:
        """Writes the budget counts if a sample was counted since the last write (a worker thread calls this)."""
        with self._saving:
            with self._lock:
                if not self._budgets.changed:
                    return
                text = self._budgets.snapshot()
            self._budgets.save(text)

    def _selects(self, strategy: Strategy, prepared: Prepared, memory: _Memory, draw: float, now: float) -> bool:
        if strategy.name == NOVELTY:
            return memory.novel(prepared.unit_embedding, strategy.threshold or 0.0)
        if strategy.name == NEAR_DUPLICATE:
            fingerprint = prepared.fingerprint
            assert fingerprint is not None and memory.fingerprints is not None
            return not near_duplicate(fingerprint, memory.fingerprints.since(now - strategy.window_seconds), strategy.max_distance)
        if strategy.name in USES_DETECTIONS:
            assert prepared.found is not None
            if strategy.name == DETECTION_UNCERTAINTY:
                return detection_uncertainty(prepared.found, strategy.low, strategy.high, strategy.min_count, strategy.labels)
            return detection_count(prepared.found, strategy.min_score, strategy.more_than, strategy.less_than, strategy.labels)
        return should_upload(strategy, prepared.request.prediction, draw)

    def _memory(self, target: FeedbackConfig) -> _Memory:  # under self._lock
        """A configuration whose strategies changed starts with an empty memory."""
        memory = self._memories.get(target.config_id)
        if memory is None or memory.strategies != target.strategies:
            memory = self._memories[target.config_id] = _Memory(target.strategies)
        return memory


def _check_dimension(memory: _Memory, target: FeedbackConfig, prepared_length: int, request_id: str) -> None:
    dimension = memory.dimension
    if dimension is not None and prepared_length != dimension:
        reason = (
            f"Embedding has {prepared_length} numbers; configuration {target.config_id}'s NOVELTY window holds embeddings "
            f"of {dimension} (send one model's embeddings to one configuration)"
        )
        raise RequestProblem(messages.INVALID_REQUEST, reason, request_id)
