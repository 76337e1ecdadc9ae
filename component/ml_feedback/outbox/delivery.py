"""The outbox: spooled samples uploaded by worker threads until S3 has them, each answered exactly once (SPEC §9).

Intake (`accept`, on the feedback service's threads) makes room under
`SpoolFullPolicy` and writes the sample to the spool; it never waits for S3
nor for the disk flush. The flusher thread puts what was written on stable
storage in groups and only then makes it due for upload. The upload workers take what the
`Backlog` says is due, and settle each attempt: stored, worth a retry, or
refused for good. A sample leaves the spool only after its final answer has
been handed to IPC, so a crash at any point means it is sent again to the
same key, never lost and never stored twice.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .. import messages
from ..config import DROP_OLDEST, MIB, ComponentConfig
from ..uploader import UNREACHED, PartUploader, UploadError, endpoint_answers
from .schedule import Backlog, Waiting
from .spool import Progress, SampleRecord, Spool, Spooled

log = logging.getLogger("ml_feedback.outbox")

GAUGE_SECONDS = 30.0  # SpoolSamples / SpoolBytes while samples wait (SPEC §9.7: at least once a minute)
HOUSEKEEPING_SECONDS = 1.0  # how often expiry is checked while samples wait
MIN_PART_BYTES = 8 * MIB
MAX_PARTS = 10_000
MAX_SEGMENT_BYTES = 4 * MIB
MIN_SEGMENT_BYTES = 16 * 1024


class Answers(Protocol):
    """Where the outbox's outcomes become v1 messages (the feedback service).

    A final answer returns the futures of its publishes: the sample leaves the spool once the nucleus has them all.
    A future that fails with an exception whose `lost` is true never reached the nucleus (the connection ended):
    the sample then stays in the spool and is answered again after the next start.
    """

    def uploaded(self, record: SampleRecord, response: dict[str, Any]) -> Sequence[Future[Any]]: ...
    def given_up(self, record: SampleRecord, code: str, error_message: str) -> Sequence[Future[Any]]: ...
    def queued(self, record: SampleRecord) -> None: ...
    def gauge(self, samples: int, disk_bytes: int) -> None: ...


def segment_bytes(spool_max_bytes: int) -> int:
    """Segments small enough that a sample still waiting keeps little else on disk, large enough to batch writes."""
    return max(MIN_SEGMENT_BYTES, min(MAX_SEGMENT_BYTES, spool_max_bytes // 64))


def part_bytes(size: int) -> int:
    """Parts of at least 8 MiB, whole MiB, and never more than S3's 10,000."""
    return max(MIN_PART_BYTES, math.ceil(size / MAX_PARTS / MIB) * MIB)


@dataclass(frozen=True)
class _Stored:
    response: dict[str, Any]


class Outbox:
    def __init__(
        self,
        directory: Path,
        config: Callable[[], ComponentConfig],
        uploader_for: Callable[[ComponentConfig], PartUploader],
        answers: Answers,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._config = config
        self._uploader_for = uploader_for
        self._answers = answers
        self._clock, self._wall, self._draw = clock, wall, draw
        self.spool = Spool(directory, segment_bytes(config().delivery.spool_max_bytes))
        self._backlog = Backlog()
        self._spooled: dict[str, Spooled] = {}
        self._progress: dict[str, Progress] = {}
        self._reserved = 0  # disk promised to samples being written and flushed
        self._unflushed: list[Spooled] = []  # written by intake, not yet on stable storage
        self._flusher = threading.Thread(target=self._flush_samples, name="outbox-flush", daemon=True)
        # One lock, two conditions: the upload workers wait on `_changed`, the flusher on `_to_flush`. A sample
        # written wakes only the flusher; a flushed group wakes as many workers as it has samples.
        lock = threading.RLock()
        self._changed = threading.Condition(lock)
        self._to_flush = threading.Condition(lock)
        self._stopping = False
        self._workers: list[threading.Thread] = []
        self._uploader: tuple[Any, PartUploader] | None = None
        self._uploader_lock = threading.Lock()
        self._last_error = ""
        self._last_unreached = False  # the last failure never reached S3: worth watching the link
        self._link_checked_at = 0.0
        self._unreachable_since = 0.0
        self._gauge_at = 0.0
        self._gauge_shown = False

    # -- start and stop -------------------------------------------------------------------------

    def start(self) -> int:
        """Read back what the spool holds and start uploading; returns how many samples were waiting."""
        waiting, damaged = self.spool.open()
        for record in damaged:
            reason = f"the spooled sample was found damaged on disk at start and moved to {self.spool.directory / 'corrupt'}"
            self._fail(record, messages.SPOOL_WRITE_ERROR, reason)
        with self._changed:
            for spooled, progress in waiting:
                entry_id = spooled.record.entry_id
                self._backlog.add(entry_id, spooled.disk_bytes, spooled.record.created)
                self._spooled[entry_id] = spooled
                if progress.upload_id:
                    self._progress[entry_id] = progress
            self._resize_locked()
        self._flusher.start()
        if waiting or self._config().delivery.spooled:
            self._current_uploader()  # now, not in the middle of the first burst of requests
        if waiting:
            log.info("spool: %d samples (%d bytes) waiting from before the start; uploading them", len(waiting), self._backlog.bytes)
        return len(waiting)

    def update_config(self) -> None:
        """The configuration changed: the number of workers and the uploader may follow."""
        with self._changed:
            self.spool.segment_bytes = segment_bytes(self._config().delivery.spool_max_bytes)
            self._resize_locked()
            self._changed.notify_all()

    def stop(self, timeout: float) -> bool:
        """Stop uploading; waiting samples stay in the spool for the next start. True when every worker ended in time."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            self._to_flush.notify()
        deadline = self._clock() + timeout
        threads = [thread for thread in [self._flusher, *self._workers] if thread.ident is not None]
        for thread in threads:
            thread.join(max(0.0, deadline - self._clock()))
        ended = not any(thread.is_alive() for thread in threads)
        if ended:
            self.spool.close()
        return ended

    def _resize_locked(self) -> None:
        wanted = self._config().upload_workers
        self._workers = [worker for worker in self._workers if worker.is_alive()]
        while len(self._workers) < wanted and not self._stopping:
            worker = threading.Thread(target=self._work, args=(len(self._workers),), name=f"outbox-{len(self._workers)}", daemon=True)
            self._workers.append(worker)
            worker.start()

    # -- intake ---------------------------------------------------------------------------------

    def accept(self, record: SampleRecord, body: bytes | BinaryIO) -> None:
        """Spool a selected sample; it is answered later, or now when the spool cannot take it.

        Raises spool.InputChanged when a ModelInputPath file shrinks while it is copied.
        """
        settings = self._config().delivery
        record = replace(record, created=self._wall())  # the outbox's clock decides its expiry
        need = Spool.disk_bytes_of(record)
        with self._changed:
            victims = self._make_room(need, settings.spool_max_bytes, settings.spool_full_policy)
            refused = victims is None
            if not refused:
                self._reserved += need
        for spooled in victims or []:
            reason = (
                f"the spool is full (SpoolMaxBytes {settings.spool_max_bytes}): "
                "SpoolFullPolicy DropOldest gave this sample up for a newer one"
            )
            self._give_up(spooled, messages.SPOOL_FULL, reason)
        if refused:
            with self._changed:
                waiting, used = len(self._backlog), self._backlog.bytes
            reason = (
                f"the spool is full ({waiting} samples, {used} bytes waiting for S3; SpoolMaxBytes {settings.spool_max_bytes}, "
                f"SpoolFullPolicy {settings.spool_full_policy})"
            )
            self._fail(record, messages.SPOOL_FULL, reason)
            return
        try:
            spooled = self.spool.append(record, body)
        except OSError as error:
            self._not_written(record, need, error)
            return
        except BaseException:
            with self._changed:
                self._reserved -= need
            raise
        with self._changed:
            self._unflushed.append(spooled)
            self._to_flush.notify()

    def _not_written(self, record: SampleRecord, reserved: int, error: OSError) -> Sequence[Future[Any]]:
        with self._changed:
            self._reserved -= reserved
        log.error("[RequestId: %s] spool: cannot write the sample to %s: %s", record.request_id, self.spool.directory, error)
        return self._fail(record, messages.SPOOL_WRITE_ERROR, f"the sample could not be written to the spool: {error}")

    def _flush_samples(self) -> None:
        """The flusher thread: what intake wrote goes to stable storage in groups, then becomes due for upload (SPEC §9.1)."""
        while True:
            with self._changed:
                while not self._unflushed and not self._stopping:
                    self._to_flush.wait()
                batch, self._unflushed = self._unflushed, []
                if not batch and self._stopping:
                    return
            try:
                self.spool.flush()
            except OSError as error:
                for spooled in batch:
                    self._done_when_handed_over(spooled, self._not_written(spooled.record, spooled.disk_bytes, error))
                continue
            queued = []
            with self._changed:
                for spooled in batch:
                    record = spooled.record
                    self._reserved -= spooled.disk_bytes
                    entry = self._backlog.add(record.entry_id, spooled.disk_bytes, record.created)
                    self._spooled[record.entry_id] = spooled
                    if self._backlog.unreachable:
                        entry.queued = True
                        queued.append(record)
                self._changed.notify(len(batch))
            for record in queued:
                self._answers.queued(record)

    def _make_room(self, need: int, limit: int, policy: str) -> list[Spooled] | None:
        """The samples DropOldest gives up so `need` more bytes fit (none when they already do); None: refuse the new one."""
        used = self._backlog.bytes + self._reserved
        if used + need <= limit:
            return []
        if policy != DROP_OLDEST:
            return None
        chosen: list[Waiting] = []
        for entry in self._backlog.idle_oldest_first():
            chosen.append(entry)
            used -= entry.size
            if used + need <= limit:
                break
        else:
            return None  # giving up every idle sample would not make room: the new one gives way
        for entry in chosen:
            self._backlog.remove(entry.entry_id)
        return [self._spooled.pop(entry.entry_id) for entry in chosen]

    # -- the workers -------------------------------------------------------------------------------

    def _work(self, index: int) -> None:
        while True:
            job = self._next_job(index)
            if job is None:
                return
            try:
                job()
            except Exception:
                log.exception("outbox worker: unexpected failure")

    def _next_job(self, index: int) -> Callable[[], None] | None:
        with self._changed:
            while True:
                if self._stopping or index >= self._config().upload_workers:
                    return None
                now, wall = self._clock(), self._wall()
                expired = self._backlog.expired(wall, self._config().delivery.time_to_live)
                if expired:
                    spooled = [self._spooled.pop(entry.entry_id) for entry in expired]
                    return lambda: self._expire(spooled, wall)
                gauge = self._gauge_due(now, wall)
                if gauge is not None:
                    samples, disk = gauge
                    return lambda: self._answers.gauge(samples, disk)
                if self._backlog.unreachable and self._last_unreached and now - self._link_checked_at >= HOUSEKEEPING_SECONDS:
                    self._link_checked_at = now
                    return self._check_link
                entry = self._backlog.take(now)
                if entry is not None:
                    spooled_entry = self._spooled[entry.entry_id]
                    return lambda: self._attempt(spooled_entry)
                self._changed.wait(self._sleep_seconds(now))

    def _sleep_seconds(self, now: float) -> float | None:
        """Until the next sample is due; at most HOUSEKEEPING_SECONDS while samples wait (expiry, gauges)."""
        if not len(self._backlog):
            return None
        due = self._backlog.next_due()
        return max(0.0, min(now + HOUSEKEEPING_SECONDS, due if due is not None else math.inf) - now)

    def _gauge_due(self, now: float, wall: float) -> tuple[int, int] | None:
        """SpoolSamples / SpoolBytes: every GAUGE_SECONDS while samples wait, and once when the wait is over."""
        waiting = len(self._backlog)
        oldest = self._backlog.oldest()
        backlogged = oldest is not None and (self._backlog.unreachable or wall - oldest.created > GAUGE_SECONDS)
        if backlogged and now >= self._gauge_at:
            self._gauge_at = now + GAUGE_SECONDS
            self._gauge_shown = True
            return waiting, self._backlog.bytes
        if self._gauge_shown and not waiting:
            self._gauge_shown = False
            self._gauge_at = 0.0
            return 0, 0
        return None

    def _check_link(self) -> None:
        """While S3 cannot be reached, a TCP connect each second: once it gets through, probe now, not at the end of the backoff."""
        if endpoint_answers(self._current_uploader().endpoint_url):
            with self._changed:
                self._backlog.probe_now(self._clock())
                self._changed.notify_all()

    # -- one attempt ------------------------------------------------------------------------------------

    def _current_uploader(self) -> PartUploader:
        config = self._config()
        identity = (config.s3_endpoint_url, config.upload_workers)
        current = self._uploader
        if current is not None and current[0] == identity:
            return current[1]
        with self._uploader_lock:  # not the schedule's lock: making a boto3 client takes a while
            if self._uploader is None or self._uploader[0] != identity:
                self._uploader = (identity, self._uploader_for(config))
            return self._uploader[1]

    def _attempt(self, spooled: Spooled) -> None:
        record = spooled.record
        try:
            uploader = self._current_uploader()
            if record.entry_id in self._progress or record.size > self._config().delivery.multipart_threshold:
                outcome: _Stored | UploadError = _Stored(self._upload_in_parts(uploader, spooled))
            else:
                body = self.spool.read(spooled)
                metadata = messages.s3_metadata(record.metadata)
                outcome = _Stored(uploader.put(record.bucket, record.key, body, record.content_type, metadata))
        except UploadError as failure:
            outcome = failure
        except OSError as error:
            outcome = UploadError(messages.INTERNAL_ERROR, f"the sample could not be read back from the spool: {error}")
        self._settle(spooled, outcome)

    def _upload_in_parts(self, uploader: PartUploader, spooled: Spooled) -> dict[str, Any]:
        """A large sample, resuming after the last part S3 confirmed (SPEC §9.9)."""
        record = spooled.record
        progress = self._progress.setdefault(record.entry_id, Progress())
        if progress.upload_id is None:
            metadata = messages.s3_metadata(record.metadata)
            progress.upload_id = uploader.create_multipart(record.bucket, record.key, record.content_type, metadata)
            progress.etags.clear()
            self.spool.note_upload(spooled, progress.upload_id)
        size = part_bytes(record.size)
        count = max(1, math.ceil(record.size / size))
        try:
            for number in range(1, count + 1):
                if number in progress.etags:
                    continue
                start = (number - 1) * size
                data = self.spool.read(spooled, start, min(size, record.size - start))
                progress.etags[number] = uploader.upload_part(record.bucket, record.key, progress.upload_id, number, data)
                self.spool.note_part(spooled, number, progress.etags[number])
            etags = [progress.etags[number] for number in range(1, count + 1)]
            return uploader.complete_multipart(record.bucket, record.key, progress.upload_id, etags)
        except UploadError as failure:
            if failure.code == "NoSuchUpload":  # aborted or expired on S3's side: start over, later
                self._progress.pop(record.entry_id, None)
                self.spool.note_restart(spooled)
                raise UploadError(failure.code, failure.message, retryable=True) from failure
            raise

    def _settle(self, spooled: Spooled, outcome: _Stored | UploadError) -> None:
        if isinstance(outcome, UploadError) and outcome.retryable:
            self._retry_later(spooled, outcome)
        else:
            self._finish(spooled, outcome)

    def _interrupted_locked(self, spooled: Spooled) -> bool:
        """Stopping: the outcome is dropped and the sample answered after the next start, from the spool."""
        if self._stopping:
            self._backlog.interrupted(spooled.record.entry_id)
        return self._stopping

    def _retry_later(self, spooled: Spooled, failure: UploadError) -> None:
        with self._changed:
            if self._interrupted_locked(spooled):
                return
            now_waiting = self._wait_again_locked(spooled.record, failure)
            self._changed.notify_all()
        for record in now_waiting:
            self._answers.queued(record)

    def _finish(self, spooled: Spooled, outcome: _Stored | UploadError) -> None:
        """Stored, or refused for good: the final answer."""
        record = spooled.record
        with self._changed:
            if self._interrupted_locked(spooled):
                return
            still_waiting, progress = self._end_locked(record)
            if still_waiting is not None:  # the outage is over: every waiting sample is due now
                self._changed.notify_all()
        if still_waiting is not None:
            since = self._clock() - self._unreachable_since
            log.info("S3 reachable again after %.0f s: uploading %d waiting samples", since, still_waiting)
        if isinstance(outcome, _Stored):
            published = self._answers.uploaded(record, outcome.response)
        else:
            self._abort(record, progress)
            log.warning("[RequestId: %s] upload to s3://%s/%s failed: %s", record.request_id, record.bucket, record.key, outcome.message)
            message = messages.upload_failure_message(record.request_id, outcome.code, outcome.message)
            published = self._answers.given_up(record, outcome.code, message)
        self._done_when_handed_over(spooled, published)

    def _wait_again_locked(self, record: SampleRecord, failure: UploadError) -> list[SampleRecord]:
        """A retryable failure: the sample waits. Returns the samples that start waiting for S3 now (SampleQueued):

        this one, and when this failure starts an outage, every sample spooled before it was known.
        """
        now = self._clock()
        starts = self._backlog.failed(record.entry_id, now, self._config().delivery.max_retry_interval, self._draw())
        self._last_error = f"{failure.code}: {failure.message}"[:300]
        self._last_unreached = failure.code in UNREACHED
        if starts:
            self._unreachable_since = now
            log.warning("S3 unreachable: %d samples waiting (%s)", len(self._backlog), self._last_error)
            candidates = [entry for entry in self._backlog.idle_oldest_first() if not entry.queued]
        else:
            entry = self._backlog.get(record.entry_id)
            candidates = [entry] if entry is not None and not entry.queued else []
        for entry in candidates:
            entry.queued = True
        return [self._spooled[entry.entry_id].record for entry in candidates]

    def _end_locked(self, record: SampleRecord) -> tuple[int | None, Progress | None]:
        """S3 answered (stored, or refused for good): the sample leaves the schedule.

        Returns how many samples are still waiting when this answer ends an outage (None otherwise), and any multipart progress.
        """
        ends_outage = self._backlog.answered(record.entry_id)
        still_waiting = len(self._backlog) if ends_outage else None
        self._spooled.pop(record.entry_id, None)
        return still_waiting, self._progress.pop(record.entry_id, None)

    # -- giving up -------------------------------------------------------------------------------------

    def _expire(self, spooled: list[Spooled], wall: float) -> None:
        time_to_live = self._config().delivery.time_to_live
        for item in spooled:
            age = wall - item.record.created
            reason = f"the sample waited {age:.0f} s for S3, longer than SampleTimeToLiveSeconds ({time_to_live})"
            if self._last_error:
                reason += f"; last error: {self._last_error}"
            self._give_up(item, messages.EXPIRED, reason)

    def _give_up(self, spooled: Spooled, code: str, reason: str) -> None:
        record = spooled.record
        with self._changed:
            progress = self._progress.pop(record.entry_id, None)
        self._abort(record, progress)
        self._done_when_handed_over(spooled, self._fail(record, code, reason))

    def _fail(self, record: SampleRecord, code: str, reason: str) -> Sequence[Future[Any]]:
        """A sample given up without an S3 error of its own (SpoolFull, Expired, SpoolWriteError): v1's failure message."""
        return self._answers.given_up(record, code, messages.upload_failure_message(record.request_id, code, reason))

    def _done_when_handed_over(self, spooled: Spooled, published: Sequence[Future[Any]]) -> None:
        """The sample leaves the spool once the nucleus has its answer.

        Not before: a crash in between sends the answer again after the restart (at least once), where marking
        it done first could lose it in the IPC client's send queue.
        """
        pending = [future for future in published if not future.done()]
        if not pending:
            self._handed_over(spooled, published)
            return
        remaining = [len(pending)]
        lock = threading.Lock()

        def one_more(_future: Future[Any]) -> None:
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                self._handed_over(spooled, published)

        for future in pending:
            future.add_done_callback(one_more)

    def _handed_over(self, spooled: Spooled, published: Sequence[Future[Any]]) -> None:
        if any(getattr(future.exception(), "lost", False) for future in published):
            log.warning(
                "[RequestId: %s] its answer did not reach the nucleus; it is given again after the next start", spooled.record.request_id
            )
            return
        self.spool.done(spooled)

    def _abort(self, record: SampleRecord, progress: Progress | None) -> None:
        """A multipart upload of a sample that was given up is aborted, best effort (an S3 lifecycle rule catches the rest)."""
        if progress is None or progress.upload_id is None:
            return
        try:
            self._current_uploader().abort_multipart(record.bucket, record.key, progress.upload_id)
        except UploadError as failure:
            log.info("could not abort the multipart upload of s3://%s/%s: %s", record.bucket, record.key, failure.code)

    # -- for the metrics and tests ---------------------------------------------------------------------

    def waiting(self) -> tuple[int, int]:
        with self._changed:
            return len(self._backlog), self._backlog.bytes
