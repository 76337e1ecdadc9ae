"""The feedback service: request -> throttle -> validate -> sample -> upload -> publish.

The v1 connector's semantics, order and messages (SPEC §4.2). `accept()` runs
on the IPC thread and waits for nothing but room for its publishes: it
throttles, parses, validates and samples there (microseconds), answers a
refused or dropped request at once, and hands only a selected sample to the
bounded worker pool. `process()` is the same pipeline on one thread; S3 and
the outgoing messages come in through the `Uploader` and `Publisher` it is
given, so the whole pipeline runs in unit tests without I/O.

With a spool (SPEC §9), a selected sample goes to the durable `Outbox`
instead of straight to S3, and its request counts against `RequestLimit`
only until it is on disk. Either way its answer is built by `V1Answers`.
"""

from __future__ import annotations

import datetime
import logging
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from . import messages
from .config import ComponentConfig, FeedbackConfig
from .inputs import InputRefused, open_input
from .messages import FeedbackRequest, NewId, RequestProblem, UndecodableMessage, parse_feedback_request
from .outbox import InputChanged, Outbox, SampleRecord
from .selection import BUDGET, Selector
from .uploader import PartUploader, Uploader, UploadError

log = logging.getLogger("ml_feedback.feedback")
# A request as it arrives over IPC (JSON text or bytes, a JsonMessage's dict, or what the IPC client could not decode),
# or one the inference service made.
Incoming = bytes | str | dict[str, Any] | UndecodableMessage | FeedbackRequest
__all__ = ["FeedbackService", "Publisher", "Uploader", "V1Answers"]


class Publisher(Protocol):
    """Where the service's messages go (IoT Core and local pub/sub, or a list in tests).

    `status` and `prediction` may return the futures of their publishes, done once the nucleus has them.
    """

    def status(self, message: dict[str, Any]) -> Sequence[Future[Any]] | None: ...
    def prediction(self, message: dict[str, Any]) -> Sequence[Future[Any]] | None: ...
    def metric(self, message: dict[str, Any]) -> None: ...


class V1Answers:
    """A selected sample's outcome as the v1 connector's messages, in v1's order (used by both upload paths and the outbox)."""

    def __init__(self, publisher: Publisher, config: Callable[[], ComponentConfig]) -> None:
        self._publisher, self._config = publisher, config

    def uploaded(self, record: SampleRecord, response: dict[str, Any]) -> list[Future[Any]]:
        """Returns the futures of the status and prediction publishes."""
        namespace = self._config().metrics_namespace
        s3_response = {**messages.json_safe(response), "bucket": record.bucket, "key": record.key}
        published = list(self._publisher.status(messages.status_success(record.request_id, s3_response)) or ())
        self._publisher.metric(messages.metric(messages.SAMPLE_UPLOAD_SUCCESS, namespace))
        prediction = messages.prediction_message(record.bucket, record.key, record.prediction, record.config_id, record.metadata)
        published += self._publisher.prediction(prediction) or ()
        self._publisher.metric(messages.metric(messages.SAMPLE_AND_PREDICTION_PUBLISHED, namespace))
        return published

    def given_up(self, record: SampleRecord, code: str, error_message: str) -> list[Future[Any]]:
        """Returns the futures of the status publishes."""
        published = list(self._publisher.status(messages.status_fail(record.request_id, code, error_message)) or ())
        self._publisher.metric(messages.metric(messages.SAMPLE_UPLOAD_FAILURE, self._config().metrics_namespace))
        return published

    def queued(self, record: SampleRecord) -> None:
        self._publisher.metric(messages.metric(messages.SAMPLE_QUEUED, self._config().metrics_namespace))

    def gauge(self, samples: int, disk_bytes: int) -> None:
        namespace = self._config().metrics_namespace
        self._publisher.metric(messages.metric(messages.SPOOL_SAMPLES, namespace, samples))
        self._publisher.metric(messages.metric(messages.SPOOL_BYTES, namespace, disk_bytes, messages.BYTES))


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _new_id() -> str:
    return str(uuid.uuid4())


_PLACEHOLDER_ID = "0" * 36  # as long as a UUID: the size check before a sample is counted sees the key's real length


class FeedbackService:
    def __init__(
        self,
        config: ComponentConfig,
        uploader_for: Callable[[ComponentConfig], Uploader],
        publisher: Publisher,
        *,
        clock: Callable[[], datetime.datetime] = _utc_now,
        draw: Callable[[], float] = random.random,
        new_id: Callable[[], str] = _new_id,
        spool_directory: Path | None = None,
        outbox_uploader_for: Callable[[ComponentConfig], PartUploader] | None = None,
        budget_file: Path | None = None,
        selector: Selector | None = None,
    ) -> None:
        """Without `spool_directory` every sample is uploaded at once, as v1 did (unit tests, SpoolMaxBytes 0 alike).

        Without `budget_file`, sampling budgets are counted in memory only.
        """
        self._uploader_for = uploader_for
        self._publisher = publisher
        self._answers = V1Answers(publisher, lambda: self._config)
        self._clock, self._draw, self._new_id = clock, draw, new_id
        self._lock = threading.Lock()
        self._in_process = 0
        self._idle = threading.Condition(self._lock)
        self._config = config
        self._selector = selector or Selector(budget_file)
        self._uploader: Uploader = _FirstUse(uploader_for, config)
        self._pool = ThreadPoolExecutor(max_workers=config.upload_workers, thread_name_prefix="feedback")
        self.durable: Outbox | None = None
        if spool_directory is not None:
            if outbox_uploader_for is None:
                raise ValueError("a spool needs outbox_uploader_for: its uploads resume in parts")
            self.durable = Outbox(spool_directory, lambda: self._config, outbox_uploader_for, self._answers)

    @property
    def config(self) -> ComponentConfig:
        return self._config

    def update_config(self, config: ComponentConfig) -> None:
        """Apply a new configuration to every request not yet started."""
        old = self._config
        uploader = self._uploader
        if (config.s3_endpoint_url, config.upload_workers) != (old.s3_endpoint_url, old.upload_workers):
            uploader = _FirstUse(self._uploader_for, config)
        with self._lock:
            self._config, self._uploader = config, uploader
            if config.upload_workers != old.upload_workers:
                previous, self._pool = self._pool, ThreadPoolExecutor(max_workers=config.upload_workers, thread_name_prefix="feedback")
                previous.shutdown(wait=False)
        if self.durable is not None:
            self.durable.update_config()

    # -- intake (the IPC thread) ------------------------------------------------------------------

    def accept(self, raw: Incoming) -> bool:
        """v1's throttle, then parse, validate and sample on the caller's thread, which waits for no I/O.

        A request counts against RequestLimit while it is in process: for a
        dropped or refused one, the microseconds it takes to decide it; for a
        selected one, until an upload worker is done with it. Returns False when
        it was refused with Queue.Full (or not taken because the component stops).
        """
        with self._lock:
            config = self._config
            refused = self._in_process >= config.request_limit
            if not refused:
                self._in_process += 1
        if refused:
            request_id = _request_id_of(raw) or self._new_id()
            log.warning("[RequestId: %s] refused: %d requests already in process", request_id, config.request_limit)
            self._publisher.status(messages.status_fail(request_id, messages.QUEUE_FULL, messages.queue_full_message(config.request_limit)))
            self._publisher.metric(messages.metric(messages.ERROR_REQUEST_THROTTLED, config.metrics_namespace))
            return False
        new_id = NewId(self._new_id)
        try:
            selected = self._decide(raw, config, new_id)
        except Exception as error:
            self._internal_error(_request_id_of(raw) or new_id(), error, config)
            selected = None
        if selected is None:
            self._finished()
            return True
        with self._lock:
            # Submitted under the lock: update_config cannot shut this pool down in between.
            try:
                self._pool.submit(self._run, selected, config, self._uploader)
                return True
            except RuntimeError:
                log.warning("[RequestId: %s] not taken: the component is stopping", selected.request.request_id)
        selected.close()
        self._finished()
        return False

    def _finished(self) -> None:
        with self._lock:
            self._in_process -= 1
            self._idle.notify_all()

    def _run(self, selected: _Selected, config: ComponentConfig, uploader: Uploader) -> None:
        try:
            self._deliver(selected, config, uploader)
        except Exception as error:
            self._internal_error(selected.request.request_id, error, config)
        finally:
            self._finished()

    def _internal_error(self, request_id: str, error: Exception, config: ComponentConfig) -> None:
        """Never a silent drop (SPEC §4.2): a fault of ours still gets a status."""
        log.error("[RequestId: %s] feedback request failed unexpectedly", request_id, exc_info=error)
        self._publisher.status(
            messages.status_fail(request_id, messages.INTERNAL_ERROR, messages.internal_error_message(request_id, error))
        )
        self._publisher.metric(messages.metric(messages.ERROR_INTERNAL, config.metrics_namespace))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every accepted request is finished (used at shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_process == 0, timeout)

    def close(self) -> None:
        """Stop taking work; requests still in process finish on their own (call wait_idle first to wait)."""
        self._pool.shutdown(wait=False)

    # -- the pipeline ----------------------------------------------------------------------------

    def process(
        self,
        raw: Incoming,
        config: ComponentConfig,
        uploader: Uploader,
        new_id: str | None = None,
    ) -> None:
        """One request, start to finish, on this thread; `new_id` is the RequestId of a request that has none."""
        selected = self._decide(raw, config, NewId(self._new_id) if new_id is None else new_id)
        if selected is not None:
            self._deliver(selected, config, uploader)

    def _decide(self, raw: Incoming, config: ComponentConfig, new_id: str | Callable[[], str]) -> _Selected | None:
        """Everything up to the sampling decision (no waiting on I/O): a refused or dropped request is answered here."""
        namespace = config.metrics_namespace
        try:
            request = raw if isinstance(raw, FeedbackRequest) else parse_feedback_request(raw, new_id)
            target = config.feedback.get(request.config_id)
            if target is None:
                known = ", ".join(sorted(config.feedback)) or "none"
                raise RequestProblem(
                    messages.UNKNOWN_CONFIG_ID,
                    f"ConfigId {messages.shown(request.config_id)} is not in the FeedbackConfigurationMap (configured: {known})",
                    request.request_id,
                )
            prepared = self._selector.prepare(target, request)
            body, size = self._model_input(request, config)
        except RequestProblem as problem:
            self._refuse(problem, namespace)
            return None
        selected = _Selected(request, target, body, size)
        admit = None
        if target.remembers:  # a sample refused after its selection must not count: the size check comes first
            admit = lambda: self._prediction_fits(selected, target.object_key(_PLACEHOLDER_ID), self._metadata(request))  # noqa: E731
        try:
            decision = self._selector.decide(target, prepared, size, self._draw(), admit)
        except RequestProblem as problem:
            selected.close()
            self._publisher.metric(messages.metric(messages.SAMPLE_SIZE, namespace, size, messages.BYTES))
            self._refuse(problem, namespace)
            return None
        if decision.selected:
            return selected
        selected.close()
        self._publisher.metric(messages.metric(messages.SAMPLE_SIZE, namespace, size, messages.BYTES))
        self._publisher.status(messages.status_dropped(request.request_id, None if target.v1 else decision.reason))
        self._publisher.metric(messages.metric(messages.SAMPLE_NOT_USED, namespace))
        if decision.reason == BUDGET:
            self._publisher.metric(messages.metric(messages.SAMPLE_DROPPED_BY_BUDGET, namespace))
        return None

    def _deliver(self, selected: _Selected, config: ComponentConfig, uploader: Uploader) -> None:
        """A selected sample: to the spool, or straight to S3 without one."""
        body = selected.body
        try:
            self._selector.save_budgets()  # before the sample waits anywhere: a crash must not refund its budget
            self._publisher.metric(messages.metric(messages.SAMPLE_SIZE, config.metrics_namespace, selected.size, messages.BYTES))
            record = self._record(selected)
            if self.durable is not None and config.delivery.spooled:
                self._spool(self.durable, record, body)
            else:
                self._upload_now(record, body, uploader)
        except RequestProblem as problem:
            self._refuse(problem, config.metrics_namespace)
        finally:
            selected.close()

    def _refuse(self, problem: RequestProblem, namespace: str) -> None:
        log.warning("[RequestId: %s] %s: %s", problem.request_id, problem.code, problem.reason)
        self._publisher.status(
            messages.status_fail(problem.request_id, problem.code, messages.invalid_request_message(problem.request_id, problem.reason))
        )
        self._publisher.metric(messages.metric(messages.ERROR_INVALID_REQUEST, namespace))

    def _record(self, selected: _Selected) -> SampleRecord:
        """Key and publish-ts are chosen here, once: every retry and replay writes the same object (SPEC §9.2).

        Refused when its prediction message could never reach IoT Core (SPEC §9.11).
        """
        request, target, size = selected.request, selected.target, selected.size
        metadata = self._metadata(request)
        unique = self._new_id()
        key = target.object_key(unique)
        self._prediction_fits(selected, key, metadata)
        return SampleRecord(
            entry_id=unique,
            request_id=request.request_id,
            config_id=target.config_id,
            bucket=target.bucket,
            key=key,
            content_type=target.content_type,
            metadata=metadata,
            prediction=request.prediction,
            created=0.0,  # stamped by the outbox when it spools the sample
            size=size,
        )

    def _metadata(self, request: FeedbackRequest) -> dict[str, Any]:
        return {**request.metadata, "publish-ts": messages.publish_timestamp(self._clock())}

    @staticmethod
    def _prediction_fits(selected: _Selected, key: str, metadata: dict[str, Any]) -> None:
        """Refuses a sample whose prediction message could never reach IoT Core (SPEC §9.11)."""
        request, target = selected.request, selected.target
        length = messages.prediction_message_bytes(target.bucket, key, selected.prediction_bytes(), target.config_id, metadata)
        if length > messages.IOT_CORE_MESSAGE_LIMIT:
            reason = (
                f"the prediction message would be {length} bytes; AWS IoT Core takes at most {messages.IOT_CORE_MESSAGE_LIMIT} "
                "(send a smaller ModelPrediction or Metadata)"
            )
            raise RequestProblem(messages.INVALID_MODEL_PREDICTION, reason, request.request_id)

    def _spool(self, durable: Outbox, record: SampleRecord, body: bytes | BinaryIO) -> None:
        try:
            durable.accept(record, body)
        except InputChanged as changed:
            reason = f"ModelInputPath changed while it was read: {changed}"
            raise RequestProblem(messages.INVALID_MODEL_INPUT, reason, record.request_id) from None

    def _upload_now(self, record: SampleRecord, body: bytes | BinaryIO, uploader: Uploader) -> None:
        """v1's single upload call (botocore's own retries): `fail` on any error."""
        try:
            response = uploader.put(record.bucket, record.key, body, record.content_type, messages.s3_metadata(record.metadata))
        except UploadError as failure:
            log.warning("[RequestId: %s] upload to s3://%s/%s failed: %s", record.request_id, record.bucket, record.key, failure.message)
            self._answers.given_up(record, failure.code, messages.upload_failure_message(record.request_id, failure.code, failure.message))
            return
        self._answers.uploaded(record, response)

    def _model_input(self, request: FeedbackRequest, config: ComponentConfig) -> tuple[bytes | BinaryIO, int]:
        if request.model_input is not None:
            return request.model_input, len(request.model_input)
        try:
            return open_input("ModelInputPath", str(request.model_input_path), config.model_input_directories)
        except InputRefused as refused:
            raise RequestProblem(messages.INVALID_MODEL_INPUT, str(refused), request.request_id) from None


@dataclass
class _Selected:
    """A request its strategy selected, with its input (bytes, or the open ModelInputPath file)."""

    request: FeedbackRequest
    target: FeedbackConfig
    body: bytes | BinaryIO
    size: int
    _prediction_bytes: int | None = field(default=None, init=False, repr=False)

    def prediction_bytes(self) -> int:
        """The prediction's length as published, encoded once: a remembering strategy's size check and the record's both ask."""
        if self._prediction_bytes is None:
            self._prediction_bytes = len(messages.json_payload(self.request.prediction))
        return self._prediction_bytes

    def close(self) -> None:
        if not isinstance(self.body, bytes):
            self.body.close()


class _FirstUse:
    """The direct (v1) uploader, made at its first upload: with a spool, the outbox's own S3 client does the uploads."""

    def __init__(self, make: Callable[[ComponentConfig], Uploader], config: ComponentConfig) -> None:
        self._make, self._config = make, config
        self._made: Uploader | None = None
        self._lock = threading.Lock()

    def put(self, bucket: str, key: str, body: bytes | BinaryIO, content_type: str, metadata: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            if self._made is None:
                self._made = self._make(self._config)
        return self._made.put(bucket, key, body, content_type, metadata)


def _request_id_of(raw: Incoming) -> str | None:
    if isinstance(raw, FeedbackRequest):
        return raw.request_id
    try:
        return messages.request_id_of(raw)
    except Exception:  # the id is only for the answer: a request nothing can be read from gets a new one
        return None
